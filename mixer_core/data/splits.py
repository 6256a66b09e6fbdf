"""Train/val/test assignment by a stable hash, per song (or per artist).

Segments of one song share its sound, so splitting by segment would leak the test set
into training; the split is decided once per song. The hash is sha256, not Python's
salted ``hash()``, so a song keeps its split across runs, machines and re-materialized
partitions, and adding songs never moves existing ones. The manifest records the split
by song; training and evaluation resolve the configured one (``resolve_splits``): by
song, or by artist (music the model never heard: the honest held-out measure, the
default once the corpus has enough artists), with a minimum size for the test split.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
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


@dataclass(frozen=True)
class SplitPlan:
    """How a corpus was split: the unit (``by``), the recipes/songs/artists per split, and
    whether the test split meets the configured minimum (``enough``, and why not)."""

    by: Literal["song", "artist"]
    sizes: dict[str, dict[str, int]]
    enough: bool
    reason: str
    filled: tuple[str, ...] = ()

    def table(self) -> pd.DataFrame:
        """One row per split: songs, artists and recipes."""
        return pd.DataFrame(
            [{"split": name, **self.sizes.get(name, {})} for name in SPLITS]
        ).fillna(0)


def resolve_splits(table: pd.DataFrame, split: SplitConfig) -> tuple[pd.DataFrame, SplitPlan]:
    """``table`` (rows with ``artist`` and ``song``) with its ``split`` column assigned as
    configured, and the plan.

    Units (songs, or artists) take their split from a stable hash of their name, so a unit
    never moves when others are added, unless it had to fill a split up (``filled``):
    when the test split holds fewer than ``min_test_songs`` songs or ``min_test_artists``
    artists, training units join it, the highest hash first, until it does, as long as
    one unit stays for training; an empty validation split (with a share above 0) then
    takes the next training unit. When the corpus cannot meet the minimum, the plan says
    so and the evaluation must not be taken as evidence.
    """
    artists = sorted(table["artist"].astype(str).unique())
    by: Literal["song", "artist"] = (
        ("artist" if len(artists) >= split.auto_artists else "song")
        if split.by == "auto"
        else split.by
    )
    songs = table["artist"].astype(str) + "/" + table["song"].astype(str)
    units = table["artist"].astype(str) if by == "artist" else songs
    names = sorted(units.unique())
    if by == "song" and "split" in table.columns:
        # by song, the manifest already holds the assignment ingest made (the same hash)
        assigned = dict(zip(units, table["split"].astype(str), strict=True))
    else:
        assigned = {name: _split_of(unit_hash(name), split) for name in names}
    song_of_unit = pd.DataFrame({"unit": units, "song": songs, "artist": table["artist"]})

    def test_counts() -> tuple[int, int]:
        rows = song_of_unit[song_of_unit["unit"].map(assigned) == "test"]
        return rows["song"].nunique(), rows["artist"].nunique()

    filled: list[str] = []
    candidates = sorted((n for n in names if assigned[n] == "train"), key=unit_hash, reverse=True)
    for name in candidates:
        test_songs, test_artists = test_counts()
        if test_songs >= split.min_test_songs and test_artists >= split.min_test_artists:
            break
        if sum(1 for n in names if assigned[n] == "train") <= 1:
            break
        unit_artists = set(song_of_unit.loc[song_of_unit["unit"] == name, "artist"])
        in_test = set(song_of_unit.loc[song_of_unit["unit"].map(assigned) == "test", "artist"])
        if test_songs >= split.min_test_songs and unit_artists <= in_test:
            continue  # only new artists help now
        assigned[name] = "test"
        filled.append(name)
    train = sorted((n for n in names if assigned[n] == "train"), key=unit_hash, reverse=True)
    if split.val > 0 and "val" not in assigned.values() and len(train) > 1:
        assigned[train[0]] = "val"  # validation (best weights, val loss) needs a unit too
        filled.append(train[0])
    resolved = table.assign(split=units.map(assigned).to_numpy())
    sizes = {
        name: {
            "songs": int(songs[resolved["split"] == name].nunique()),
            "artists": int(resolved.loc[resolved["split"] == name, "artist"].nunique()),
            "recipes": int((resolved["split"] == name).sum()),
        }
        for name in SPLITS
    }
    test = sizes["test"]
    enough = test["songs"] >= split.min_test_songs and test["artists"] >= split.min_test_artists
    reason = (
        f"test split: {test['songs']} songs of {test['artists']} artists (split by {by})"
        if enough
        else (
            f"not enough evidence: the test split has {test['songs']} songs of "
            f"{test['artists']} artists, fewer than data.split.min_test_songs="
            f"{split.min_test_songs} / min_test_artists={split.min_test_artists} "
            f"(the corpus has {len(artists)} artists; split by {by})"
        )
    )
    return resolved, SplitPlan(by, sizes, enough, reason, tuple(filled))
