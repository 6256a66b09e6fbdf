"""Segmenting: the hop grid, silence, the per-artist index and its atomic replacement."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mixer_core.audio.io import AudioFileError, read_audio, write_audio
from mixer_core.config import DataConfig
from mixer_core.data.generator import generate_song
from mixer_core.data.segmenting import (
    SEGMENT_COLUMNS,
    iter_segments,
    read_segment_index,
    segment_song,
    write_artist_segments,
)

RATE = 8000


def _cfg(**overrides: object) -> DataConfig:
    values = {"sample_rate": RATE, "channels": 2, "segment_seconds": 1.0, "hop_seconds": 1.0}
    return DataConfig(**{**values, **overrides})


def _noise(seconds: float, rate: int = RATE, channels: int = 2, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (0.1 * rng.standard_normal((channels, round(seconds * rate)))).astype(np.float32)


def _snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {
        p.relative_to(root).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@settings(max_examples=40, deadline=None)
@given(
    samples=st.integers(0, 5000),
    segment=st.integers(1, 1500),
    hop=st.integers(1, 1500),
)
def test_grid_counts_offsets_and_contents(samples: int, segment: int, hop: int) -> None:
    rate = 1000
    audio = _noise(samples / rate, rate)
    found = list(iter_segments(audio, rate, segment / rate, hop / rate, -120.0))

    expected = 0 if samples < segment else 1 + (samples - segment) // hop
    assert [index for index, _, _ in found] == list(range(expected))
    for index, start_s, chunk in found:
        assert start_s == pytest.approx(index * hop / rate)
        assert chunk.shape == (2, segment)
        np.testing.assert_array_equal(chunk, audio[:, index * hop : index * hop + segment])


def test_silent_segments_are_dropped_and_indices_stay_on_the_grid() -> None:
    audio = _noise(6.0)
    audio[:, 2 * RATE : 4 * RATE] *= 1e-4
    found = list(iter_segments(audio, RATE, 1.0, 1.0, -50.0))
    assert [index for index, _, _ in found] == [0, 1, 4, 5]
    assert [start for _, start, _ in found] == [0.0, 1.0, 4.0, 5.0]


def test_max_segments_keeps_evenly_spaced_ones() -> None:
    found = list(iter_segments(_noise(10.0), RATE, 1.0, 1.0, -50.0, max_segments=4))
    assert [index for index, _, _ in found] == [0, 3, 6, 9]
    assert len(list(iter_segments(_noise(3.0), RATE, 1.0, 1.0, -50.0, max_segments=8))) == 3


def test_iter_segments_rejects_bad_lengths() -> None:
    with pytest.raises(ValueError, match="positive"):
        list(iter_segments(_noise(1.0), RATE, 0.0, 1.0, -50.0))
    with pytest.raises(ValueError, match="max_segments"):
        list(iter_segments(_noise(1.0), RATE, 1.0, 1.0, -50.0, max_segments=0))


def test_segment_song_resamples_writes_and_describes(tmp_path: Path) -> None:
    source = write_audio(tmp_path / "raw" / "tune.flac", generate_song(1, 3.5, 16000), 16000)
    cfg = _cfg(hop_seconds=0.5)

    rows = segment_song(source, "artist_x", "tune", tmp_path / "out", cfg)

    assert [row["segment_id"] for row in rows] == [f"artist_x/tune/{i:04d}" for i in range(6)]
    resampled, _ = read_audio(source, RATE, 2)
    for row in rows:
        assert set(row) == set(SEGMENT_COLUMNS)
        assert row["segment_path"] == row["segment_id"] + ".wav"
        assert row["source_path"] == str(source)
        assert (row["sample_rate"], row["channels"], row["duration_s"]) == (RATE, 2, 1.0)
        audio, _ = read_audio(tmp_path / "out" / "tune" / Path(row["segment_path"]).name)
        start = round(row["start_s"] * RATE)
        np.testing.assert_array_equal(audio, resampled[:, start : start + RATE])
        assert -40.0 < row["lufs"] < 0.0
        assert row["rms_dbfs"] < row["peak_dbfs"] <= 0.0


def test_mono_config_downmixes(tmp_path: Path) -> None:
    source = write_audio(tmp_path / "s.wav", _noise(2.0), RATE)
    rows = segment_song(source, "a", "s", tmp_path / "out", _cfg(channels=1))
    assert [row["channels"] for row in rows] == [1, 1]
    audio, _ = read_audio(tmp_path / "out" / "s" / "0000.wav")
    assert audio.shape == (1, RATE)


def _songs(raw: Path, count: int, seconds: float = 2.0) -> list[tuple[str, Path]]:
    return [
        (f"song_{i}", write_audio(raw / f"song_{i}.wav", _noise(seconds, seed=i), RATE))
        for i in range(count)
    ]


def test_artist_index_columns_dtypes_and_read_back(tmp_path: Path) -> None:
    processed = tmp_path / "processed"
    calls: list[tuple[int, int]] = []
    frame = write_artist_segments(
        _songs(tmp_path / "raw", 3),
        "artist_a",
        processed,
        _cfg(),
        progress=lambda *a: calls.append(a),
    )

    assert calls == [(1, 3), (2, 3), (3, 3)]
    assert list(frame.columns) == SEGMENT_COLUMNS
    assert len(frame) == 6
    assert frame["segment_id"].is_unique
    assert pd.api.types.is_string_dtype(frame["segment_id"])
    assert frame["sample_rate"].dtype == np.int64 and frame["channels"].dtype == np.int64
    for column in ("start_s", "duration_s", "lufs", "peak_dbfs", "rms_dbfs"):
        assert frame[column].dtype == np.float64
    assert all((processed / path).is_file() for path in frame["segment_path"])
    pd.testing.assert_frame_equal(read_segment_index(processed), frame)
    assert sorted(p.name for p in processed.iterdir()) == ["artist_a"]


def test_index_of_all_artists_skips_reserved_folders(tmp_path: Path) -> None:
    processed = tmp_path / "processed"
    songs = _songs(tmp_path / "raw", 1)
    a = write_artist_segments(songs, "artist_a", processed, _cfg())
    b = write_artist_segments(songs, "artist_b", processed, _cfg())
    (processed / "_manifests").mkdir()
    a.to_parquet(processed / "_manifests" / "segments.parquet")

    everything = read_segment_index(processed)
    assert len(everything) == len(a) + len(b)
    assert set(everything["artist"]) == {"artist_a", "artist_b"}
    pd.testing.assert_frame_equal(read_segment_index(processed, ["artist_b"]), b)
    with pytest.raises(FileNotFoundError, match="artist_c"):
        read_segment_index(processed, ["artist_c"])
    empty = read_segment_index(tmp_path / "nothing_here")
    assert list(empty.columns) == SEGMENT_COLUMNS and empty.empty


def test_failure_mid_way_keeps_the_previous_folder(tmp_path: Path) -> None:
    processed = tmp_path / "processed"
    good = _songs(tmp_path / "raw", 2)
    write_artist_segments(good, "artist_a", processed, _cfg())
    before = _snapshot(processed)
    broken = tmp_path / "raw" / "broken.wav"
    broken.write_text("not audio")

    with pytest.raises(AudioFileError, match=r"broken\.wav"):
        write_artist_segments(
            [good[0], ("broken", broken), good[1]], "artist_a", processed, _cfg(hop_seconds=0.5)
        )

    assert _snapshot(processed) == before
    assert sorted(p.name for p in processed.iterdir()) == ["artist_a"]
    assert len(read_segment_index(processed)) == 4


def test_replacement_swaps_the_whole_folder(tmp_path: Path) -> None:
    processed = tmp_path / "processed"
    songs = _songs(tmp_path / "raw", 2)
    write_artist_segments(songs, "artist_a", processed, _cfg())
    frame = write_artist_segments(songs[:1], "artist_a", processed, _cfg(hop_seconds=0.5))

    assert len(frame) == 3
    files = {p.relative_to(processed).as_posix() for p in processed.rglob("*.wav")}
    assert files == set(frame["segment_path"])
    assert not (processed / "artist_a" / "song_1").exists()
    pd.testing.assert_frame_equal(read_segment_index(processed), frame)


def test_resegmenting_one_artist_leaves_another_untouched(tmp_path: Path) -> None:
    processed = tmp_path / "processed"
    songs = _songs(tmp_path / "raw", 2)
    write_artist_segments(songs, "artist_b", processed, _cfg())
    other = _snapshot(processed / "artist_b")

    write_artist_segments(songs, "artist_a", processed, _cfg())
    write_artist_segments(songs[:1], "artist_a", processed, _cfg(hop_seconds=0.5))

    assert _snapshot(processed / "artist_b") == other


def test_an_interrupted_swap_is_recovered_before_the_next_run(tmp_path: Path) -> None:
    processed = tmp_path / "processed"
    songs = _songs(tmp_path / "raw", 1)
    write_artist_segments(songs, "artist_a", processed, _cfg())
    before = _snapshot(processed / "artist_a")
    os.rename(processed / "artist_a", processed / ".artist_a.old")
    (processed / ".artist_a.staging" / "song_0").mkdir(parents=True)
    broken = tmp_path / "raw" / "broken.wav"
    broken.write_bytes(b"")

    with pytest.raises(AudioFileError, match="empty"):
        write_artist_segments([("broken", broken)], "artist_a", processed, _cfg())

    assert _snapshot(processed / "artist_a") == before
    assert sorted(p.name for p in processed.iterdir()) == ["artist_a"]


def test_silent_artist_gets_an_empty_index(tmp_path: Path) -> None:
    processed = tmp_path / "processed"
    quiet = write_audio(tmp_path / "quiet.wav", np.zeros((2, 3 * RATE), np.float32), RATE)
    frame = write_artist_segments([("quiet", quiet)], "artist_q", processed, _cfg())
    assert frame.empty and list(frame.columns) == SEGMENT_COLUMNS
    assert read_segment_index(processed, ["artist_q"]).empty


@pytest.mark.parametrize("artist", ["_inventory", ".hidden", "a/b", ""])
def test_reserved_or_unsafe_artist_names_are_refused(tmp_path: Path, artist: str) -> None:
    with pytest.raises(ValueError, match="artist name"):
        write_artist_segments([], artist, tmp_path, _cfg())


def test_duplicate_song_names_are_refused(tmp_path: Path) -> None:
    songs = _songs(tmp_path / "raw", 1)
    with pytest.raises(ValueError, match="duplicate song names"):
        write_artist_segments(songs + songs, "artist_a", tmp_path / "processed", _cfg())
