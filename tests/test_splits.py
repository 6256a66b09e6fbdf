"""Splits: stable per song (or artist), never shared between splits, ratios honoured."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mixer_core.config import SplitConfig
from mixer_core.data.splits import (
    SPLITS,
    assign_split,
    assign_split_by_artist,
    resolve_splits,
    split_by_song,
    unit_hash,
)

DEFAULT = SplitConfig()
names = st.text(min_size=1, max_size=20)


@settings(max_examples=200, deadline=None)
@given(artist=names, song=names)
def test_assignment_is_stable(artist: str, song: str) -> None:
    split = assign_split(artist, song, DEFAULT)
    assert split in SPLITS
    assert assign_split(artist, song, DEFAULT) == split
    assert assign_split_by_artist(artist, DEFAULT) == assign_split_by_artist(artist, DEFAULT)


def test_assignment_does_not_depend_on_python_hash_salt() -> None:
    songs = [(f"artist{i % 7}", f"song {i}") for i in range(40)]
    code = (
        "from mixer_core.config import SplitConfig; "
        "from mixer_core.data.splits import assign_split; "
        f"print(','.join(assign_split(a, s, SplitConfig()) for a, s in {songs!r}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parent.parent,
        env={**os.environ, "PYTHONHASHSEED": "999"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip().split(",") == [assign_split(a, s, DEFAULT) for a, s in songs]


@settings(max_examples=60, deadline=None)
@given(
    songs=st.lists(st.tuples(names, names), min_size=1, max_size=30, unique=True),
    segments=st.lists(st.integers(1, 5), min_size=30, max_size=30),
)
def test_no_song_is_in_two_splits(songs: list[tuple[str, str]], segments: list[int]) -> None:
    rows = [
        {"artist": artist, "song": song, "segment": k}
        for (artist, song), count in zip(songs, segments, strict=False)
        for k in range(count)
    ]
    df = pd.DataFrame(rows).sample(frac=1.0, random_state=0)
    splits = split_by_song(df, DEFAULT)
    assert splits.index.equals(df.index)
    per_song = df.assign(split=splits).groupby(["artist", "song"])["split"].nunique()
    assert (per_song == 1).all()
    for (_, row), split in zip(df.iterrows(), splits, strict=True):
        assert split == assign_split(row["artist"], row["song"], DEFAULT)


@pytest.mark.parametrize(
    "shares", [(0.8, 0.1, 0.1), (0.6, 0.2, 0.2), (0.5, 0.5, 0.0), (1.0, 0.0, 0.0)]
)
def test_ratios_are_honoured_over_many_songs(shares: tuple[float, float, float]) -> None:
    config = SplitConfig(train=shares[0], val=shares[1], test=shares[2])
    count = 20_000
    by_song = Counter(assign_split(f"a{i % 50}", f"s{i}", config) for i in range(count))
    by_artist = Counter(assign_split_by_artist(f"artist {i}", config) for i in range(count))
    for counts in (by_song, by_artist):
        for split, share in zip(SPLITS, shares, strict=True):
            assert abs(counts[split] / count - share) < 0.015, (split, counts)
            if share == 0.0:
                assert counts[split] == 0


def test_adding_songs_never_moves_existing_ones() -> None:
    before = pd.DataFrame({"artist": ["a"] * 20, "song": [f"s{i}" for i in range(20)]})
    after = pd.concat(
        [before, pd.DataFrame({"artist": ["b"] * 50, "song": [f"s{i}" for i in range(50)]})],
        ignore_index=True,
    )
    assert split_by_song(after, DEFAULT)[:20].tolist() == split_by_song(before, DEFAULT).tolist()


def test_missing_columns_are_named() -> None:
    with pytest.raises(ValueError, match=r"missing column\(s\) song"):
        split_by_song(pd.DataFrame({"artist": ["a"], "title": ["t"]}), DEFAULT)


def _corpus(artists: int, songs: int) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"artist": f"artist_{a:02d}", "song": f"song_{s}", "recipe_id": f"{a}/{s}/{k}"}
            for a in range(artists)
            for s in range(songs)
            for k in range(3)
        ]
    )


def test_by_artist_keeps_every_song_of_an_artist_together_and_is_stable() -> None:
    cfg = SplitConfig(by="artist", min_test_songs=1, min_test_artists=1)
    table, plan = resolve_splits(_corpus(12, 4), cfg)
    assert plan.by == "artist"
    assert (table.groupby("artist")["split"].nunique() == 1).all()
    grown, grown_plan = resolve_splits(_corpus(30, 4), cfg)
    # a unit keeps its split when others are added, unless it filled a split up
    kept = sorted(set(table["artist"]) - set(plan.filled) - set(grown_plan.filled))
    first = table.groupby("artist")["split"].first()[kept]
    assert len(kept) >= 10
    assert (grown.groupby("artist")["split"].first()[kept] == first).all()


def test_auto_splits_by_artist_from_the_configured_number_of_artists() -> None:
    cfg = SplitConfig(auto_artists=8, min_test_songs=1, min_test_artists=1)
    assert resolve_splits(_corpus(7, 5), cfg)[1].by == "song"
    assert resolve_splits(_corpus(8, 5), cfg)[1].by == "artist"


def test_the_test_minimum_is_met_deterministically_or_said() -> None:
    cfg = SplitConfig(by="artist", min_test_songs=6, min_test_artists=3)
    table, plan = resolve_splits(_corpus(10, 2), cfg)
    assert plan.enough and plan.sizes["test"]["artists"] >= 3 and plan.sizes["test"]["songs"] >= 6
    assert resolve_splits(_corpus(10, 2), cfg)[0]["split"].tolist() == table["split"].tolist()
    assert (
        plan.sizes["train"]["artists"] >= 1
        and plan.sizes["val"]
        == resolve_splits(
            _corpus(10, 2), SplitConfig(by="artist", min_test_songs=1, min_test_artists=1)
        )[1].sizes["val"]
    )
    # which units fill the test split: the training artists of highest hash, in that order
    artists = sorted(_corpus(10, 2)["artist"].unique())
    hashed = {artist: assign_split_by_artist(artist, cfg) for artist in artists}
    by_hash = sorted((a for a in artists if hashed[a] == "train"), key=unit_hash, reverse=True)
    needed = cfg.min_test_artists - list(hashed.values()).count("test")  # 2 songs an artist
    assert needed >= 1 and "val" not in hashed.values()  # this corpus exercises both fills
    per_artist = table.groupby("artist")["split"].first()
    expected_test = sorted([a for a in artists if hashed[a] == "test"] + by_hash[:needed])
    assert sorted(per_artist[per_artist == "test"].index) == expected_test
    # the empty validation split then takes the next training artist
    assert plan.filled == (*by_hash[:needed], by_hash[needed])
    assert per_artist[by_hash[needed]] == "val"
    unmoved = [a for a in artists if a not in plan.filled]
    assert per_artist[unmoved].to_dict() == {a: hashed[a] for a in unmoved}
    # the order of the rows does not matter
    for seed in (0, 1, 2):
        shuffled = _corpus(10, 2).sample(frac=1.0, random_state=seed)
        again, again_plan = resolve_splits(shuffled, cfg)
        assert again["split"].sort_index().tolist() == table["split"].tolist()
        assert again_plan == plan
    few, short = resolve_splits(_corpus(1, 3), SplitConfig(by="song", min_test_artists=2))
    assert not short.enough and "not enough evidence" in short.reason
    assert (few["split"] == "train").any()
    assert set(plan.table()["split"]) == {"train", "val", "test"}
