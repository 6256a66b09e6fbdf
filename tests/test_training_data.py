"""The training table and dataset: joins, splits (test never served), caching, collate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from mixer_core.audio.io import read_audio
from mixer_core.config import Config
from mixer_core.training.data import (
    DatasetError,
    RecipeDataset,
    collate,
    load_training_table,
    write_dataset_file,
)
from tests.training_fixtures import (
    SEGMENTS_PER_SONG,
    SONG_SPLITS,
    make_processed_tree,
    tiny_training_config,
)


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[Config, Path, pd.DataFrame]:
    cfg = tiny_training_config()
    processed = make_processed_tree(tmp_path_factory.mktemp("data"), cfg)
    return cfg, processed, load_training_table(processed)


def _dataset(tree, split: str, **kwargs) -> RecipeDataset:
    cfg, processed, table = tree
    return RecipeDataset(table, processed, split, cfg.data.sample_rate, cfg.data.channels, **kwargs)


def test_training_table_joins_every_recipe_with_its_segment(tree) -> None:
    cfg, processed, table = tree
    recipes = len(SONG_SPLITS) * SEGMENTS_PER_SONG * cfg.augmentation.recipes_per_segment
    assert len(table) == recipes
    assert table["recipe_id"].is_unique
    assert list(table["recipe_id"]) == sorted(table["recipe_id"])
    for row in table.itertuples():
        assert row.segment_path == f"{row.segment_id}.wav"
        assert (processed / row.segment_path).is_file()
    assert set(table["split"]) == {"train", "val", "test"}
    assert table.groupby("song")["split"].nunique().max() == 1


def test_stale_manifest_is_an_error_naming_the_missing_segments(tmp_path: Path) -> None:
    processed = make_processed_tree(tmp_path, tiny_training_config())
    manifest = processed / "_manifests" / "artist_a.parquet"
    rows = pd.read_parquet(manifest)
    rows.loc[0, "segment_id"] = "artist_a/gone/0000"
    rows.to_parquet(manifest, index=False)
    with pytest.raises(DatasetError, match=r"1 recipe segment.*artist_a/gone/0000"):
        load_training_table(processed)


def test_no_manifests_is_an_error_naming_the_folder(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="_manifests"):
        load_training_table(tmp_path)


def test_test_split_is_never_served(tree) -> None:
    with pytest.raises(DatasetError, match="test split is held out"):
        _dataset(tree, "test")
    with pytest.raises(DatasetError, match="unknown split"):
        _dataset(tree, "holdout")
    _, _, table = tree
    test_ids = set(table.loc[table["split"] == "test", "recipe_id"])
    for split in ("train", "val"):
        served = {_dataset(tree, split)[i][1].recipe_id for i in range(len(_dataset(tree, split)))}
        assert served == set(table.loc[table["split"] == split, "recipe_id"])
        assert not served & test_ids


def test_items_are_the_segment_audio_and_its_recipe(tree) -> None:
    cfg, processed, table = tree
    cached = _dataset(tree, "train")
    uncached = _dataset(tree, "train", cache_budget_bytes=0)
    assert cached.cached and not uncached.cached
    assert len(cached) == (table["split"] == "train").sum()
    for i in range(len(cached)):
        segment, recipe = cached[i]
        assert segment.dtype == torch.float32
        assert segment.shape == (2, int(cfg.data.segment_seconds * cfg.data.sample_rate))
        expected, _ = read_audio(processed / f"{recipe.segment_id}.wav")
        np.testing.assert_array_equal(segment.numpy(), expected)
        again, same_recipe = uncached[i]
        assert torch.equal(segment, again) and same_recipe == recipe


def test_collate_stacks_and_cuts_to_the_shortest(tree) -> None:
    dataset = _dataset(tree, "train")
    (a, ra), (b, rb) = dataset[0], dataset[1]
    segments, recipes = collate([(a, ra), (b[:, :-100], rb)])
    assert segments.shape == (2, 2, a.shape[-1] - 100)
    assert torch.equal(segments[0], a[:, :-100])
    assert recipes == [ra, rb]
    with pytest.raises(DatasetError, match="empty batch"):
        collate([])


def test_dataset_file_round_trips_atomically(tree, tmp_path: Path) -> None:
    _, _, table = tree
    path = write_dataset_file(table, tmp_path / "out" / "dataset.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(path), table)
    assert [p.name for p in path.parent.iterdir()] == ["dataset.parquet"]
