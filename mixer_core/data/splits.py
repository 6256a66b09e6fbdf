"""Train/val/test assignment by a stable hash, per song (or per artist).

Segments of one song share its sound, so splitting by segment would leak the test set
into training; the split is decided once per song. The hash is sha256, not Python's
salted ``hash()``, so a song keeps its split across runs, machines and re-materialized
partitions, and adding songs never moves existing ones. With few artists, evaluation on
real music splits by artist instead (DESIGN), which ``assign_split_by_artist`` gives.
"""

from __future__ import annotations

import hashlib
from typing import Literal

import pandas as pd

from mixer_core.config import SplitConfig

Split = Literal["train", "val", "test"]
SPLITS: tuple[Split, ...] = ("train", "val", "test")


def unit_hash(key: str) -> float:
    """``key`` mapped to [0, 1) by the first 8 bytes of its sha256."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def _split_of(point: float, split: SplitConfig) -> Split:
    if point < split.train:
        return "train"
    if point < split.train + split.val:
        return "val"
    return "test" if split.test > 0 else ("val" if split.val > 0 else "train")


def assign_split(artist: str, song: str, split: SplitConfig) -> Split:
    return _split_of(unit_hash(f"{artist}/{song}"), split)


def assign_split_by_artist(artist: str, split: SplitConfig) -> Split:
    return _split_of(unit_hash(artist), split)


def split_by_song(df: pd.DataFrame, split: SplitConfig) -> pd.Series:
    """The split of each row's song; needs ``artist`` and ``song`` columns."""
    missing = [column for column in ("artist", "song") if column not in df.columns]
    if missing:
        raise ValueError(
            f"split_by_song: missing column(s) {', '.join(missing)} "
            f"(have: {', '.join(map(str, df.columns))})"
        )
    keys = df["artist"].astype(str) + "/" + df["song"].astype(str)
    lookup = {key: _split_of(unit_hash(key), split) for key in keys.unique()}
    return keys.map(lookup).rename("split")
