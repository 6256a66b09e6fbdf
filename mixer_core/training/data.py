"""The training table and the torch dataset over it.

A training example is a clean segment plus a recipe; the dataset serves exactly that
and nothing rendered. Rendering (distortion chain, loudness normalisation) happens in
the training loop on the training device, so augmentation runs on the GPU beside the
model when there is one and the DataLoader only moves small clean segments.

The test split is held out for evaluation: this module refuses to serve it, so no
configuration mistake can leak test songs into training or model selection.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import torch
from torch.utils.data import Dataset

from mixer_core.audio.io import read_audio
from mixer_core.data.augmentation import Recipe
from mixer_core.data.segmenting import read_segment_index
from mixer_core.data.tables import read_stage_table, write_parquet_atomic

MANIFESTS_DIRNAME = "_manifests"
TRAINABLE_SPLITS = ("train", "val")
HELD_OUT_SPLIT = "test"
DEFAULT_CACHE_BUDGET_BYTES = 2 * 1024**3
RECIPE_COLUMNS = tuple(f.name for f in dataclasses.fields(Recipe))
REQUIRED_COLUMNS = (*RECIPE_COLUMNS, "split", "segment_path", "duration_s")


class DatasetError(ValueError):
    """A training table or split that cannot be used; the message says which and why."""


def load_training_table(processed_dir: Path, artists: Sequence[str] | None = None) -> pd.DataFrame:
    """Recipes joined with the segment index, one row per recipe.

    Reads ``processed_dir/_manifests/<artist>.parquet`` of each of ``artists`` (default:
    every manifest there) and the segment index in one call each. A named artist without
    a manifest, or a recipe whose segment is missing from the index (a stale manifest),
    is an error rather than a silently smaller training set.
    """
    processed_dir = Path(processed_dir)
    manifest_dir = processed_dir / MANIFESTS_DIRNAME
    if artists is None:
        paths = sorted(manifest_dir.glob("*.parquet"))
    else:
        paths = [manifest_dir / f"{artist}.parquet" for artist in sorted(artists)]
        absent = [str(path) for path in paths if not path.is_file()]
        if absent:
            raise DatasetError(
                f"no recipe manifest for {len(absent)} materialized artist(s): "
                f"{', '.join(absent)}; re-materialize augmentation_manifest for them"
            )
    if not paths:
        raise DatasetError(f"{manifest_dir}: no recipe manifests (*.parquet); run ingest first")
    manifests = pd.concat(
        [read_stage_table(p, "augmentation_manifest", p.stem) for p in paths], ignore_index=True
    )
    index = read_segment_index(processed_dir)
    if index.empty:
        raise DatasetError(f"{processed_dir}: the segment index is empty")
    segment_columns = [c for c in index.columns if c not in manifests.columns or c == "segment_id"]
    missing = sorted(set(manifests["segment_id"]) - set(index["segment_id"]))
    if missing:
        raise DatasetError(
            f"{manifest_dir}: {len(missing)} recipe segment(s) are not in the segment index "
            f"of {processed_dir} (e.g. {missing[:3]}); re-materialize the manifests"
        )
    table = manifests.merge(index[segment_columns], on="segment_id", how="left", validate="m:1")
    return table.sort_values("recipe_id", kind="stable").reset_index(drop=True)


def write_dataset_file(table: pd.DataFrame, path: Path) -> Path:
    """Write the training table as parquet atomically (temp file, then rename)."""
    return write_parquet_atomic(table, Path(path))


class RecipeDataset(Dataset):
    """(clean segment ``(C, T)`` float32, :class:`Recipe`) for one split.

    Segments are loaded at ``sample_rate``/``channels``. When the split's distinct
    segments fit ``cache_budget_bytes`` they are read once, up front, and kept in memory
    (several recipes share a segment, and DataLoader workers share the cache by fork);
    otherwise each item is read from disk.
    """

    def __init__(
        self,
        table: pd.DataFrame,
        processed_dir: Path,
        split: str,
        sample_rate: int,
        channels: int,
        cache_budget_bytes: int = DEFAULT_CACHE_BUDGET_BYTES,
    ) -> None:
        if split == HELD_OUT_SPLIT:
            raise DatasetError(
                "the test split is held out for evaluation and is never loaded for training"
            )
        if split not in TRAINABLE_SPLITS:
            raise DatasetError(f"unknown split {split!r}; expected one of {TRAINABLE_SPLITS}")
        missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
        if missing:
            raise DatasetError(f"training table lacks column(s) {missing}")
        rows = table[table["split"] == split]
        self.split = split
        self.processed_dir = Path(processed_dir)
        self.sample_rate = sample_rate
        self.channels = channels
        self.recipes = [
            Recipe.from_row({c: row[c] for c in RECIPE_COLUMNS}) for row in rows.to_dict("records")
        ]
        self.segment_paths = dict(zip(rows["segment_id"], rows["segment_path"], strict=True))
        durations = rows.drop_duplicates("segment_id")["duration_s"]
        self.estimated_bytes = int(sum(round(d * sample_rate) for d in durations) * channels * 4)
        self.cached = self.estimated_bytes <= cache_budget_bytes
        self._cache: dict[str, torch.Tensor] = {}
        if self.cached:
            self._cache = {sid: self._read(sid) for sid in self.segment_paths}

    def _read(self, segment_id: str) -> torch.Tensor:
        audio, _ = read_audio(
            self.processed_dir / self.segment_paths[segment_id],
            sample_rate=self.sample_rate,
            channels=self.channels,
        )
        return torch.from_numpy(audio)

    def __len__(self) -> int:
        return len(self.recipes)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, Recipe]:
        recipe = self.recipes[index]
        segment = self._cache.get(recipe.segment_id)
        if segment is None:
            segment = self._read(recipe.segment_id)
        return segment, recipe


def collate(items: Sequence[tuple[torch.Tensor, Recipe]]) -> tuple[torch.Tensor, list[Recipe]]:
    """Stack segments into ``(B, C, T)``; recipes stay a list.

    Segments of one processed tree share a length, but artists segmented under another
    ``segment_seconds`` may differ by a few samples or more: the batch is cut to its
    shortest segment rather than padded, so no example carries silence it never had.
    """
    if not items:
        raise DatasetError("cannot collate an empty batch")
    length = min(segment.shape[-1] for segment, _ in items)
    segments = torch.stack([segment[..., :length] for segment, _ in items])
    return segments, [recipe for _, recipe in items]
