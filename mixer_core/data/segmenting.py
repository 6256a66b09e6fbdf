"""Cutting songs into fixed-length segments and keeping one parquet index per artist.

Segments are what every later stage reads, so an artist's folder is replaced as a
whole: a new version is built in a staging folder beside it and swapped in at once
(``mixer_core.data.atomic``). A crash or a kill mid-way leaves the previous folder
(audio and index) as it was, two runs of one artist at once queue on a lock and the
later one's version wins whole, and re-segmenting one artist never touches another's
files. Only one song's audio is held in memory at a time.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from mixer_core.audio.io import read_audio, write_audio
from mixer_core.audio.loudness import integrated_lufs, peak_dbfs, rms_dbfs
from mixer_core.config import DataConfig
from mixer_core.data.atomic import exclusive_lock, recover, replace_folder
from mixer_core.data.tables import read_stage_table

SEGMENT_COLUMNS: list[str] = [
    "segment_id",
    "artist",
    "song",
    "source_path",
    "segment_path",
    "start_s",
    "duration_s",
    "sample_rate",
    "channels",
    "lufs",
    "peak_dbfs",
    "rms_dbfs",
]
SEGMENT_DTYPES: dict[str, str] = {
    "segment_id": "str",
    "artist": "str",
    "song": "str",
    "source_path": "str",
    "segment_path": "str",
    "start_s": "float64",
    "duration_s": "float64",
    "sample_rate": "int64",
    "channels": "int64",
    "lufs": "float64",
    "peak_dbfs": "float64",
    "rms_dbfs": "float64",
}
INDEX_NAME = "segments.parquet"
_STAGING_SUFFIX = ".staging"
_OLD_SUFFIX = ".old"
_LOCK_SUFFIX = ".lock"


def iter_segments(
    audio: np.ndarray,
    sample_rate: int,
    segment_seconds: float,
    hop_seconds: float,
    silence_threshold_db: float,
    max_segments: int | None = None,
) -> Iterator[tuple[int, float, np.ndarray]]:
    """Yield ``(index, start_s, segment)`` for full-length, non-silent segments.

    ``index`` is the segment's position on the hop grid (start = index × hop), so it
    stays the same whichever neighbours are dropped; ids built from it are stable.
    A segment whose RMS is below ``silence_threshold_db`` is dropped; a trailing
    partial segment is never produced. With ``max_segments``, that many evenly spaced
    segments are kept out of the non-silent ones. Segments are views into ``audio``.
    """
    if audio.ndim != 2:
        raise ValueError(f"iter_segments: expected (channels, samples), got {audio.shape}")
    if segment_seconds <= 0 or hop_seconds <= 0:
        raise ValueError(
            f"iter_segments: segment and hop lengths must be positive, "
            f"got {segment_seconds} and {hop_seconds}"
        )
    if max_segments is not None and max_segments <= 0:
        raise ValueError(f"iter_segments: max_segments must be positive, got {max_segments}")
    length = round(segment_seconds * sample_rate)
    hop = round(hop_seconds * sample_rate)
    total = audio.shape[1]
    if length == 0 or hop == 0:
        raise ValueError(
            f"iter_segments: {segment_seconds} s / {hop_seconds} s round to zero samples "
            f"at {sample_rate} Hz"
        )
    if total < length:
        return
    count = 1 + (total - length) // hop
    starts = np.arange(count) * hop
    levels = np.array([rms_dbfs(audio[:, start : start + length]) for start in starts])
    kept = np.flatnonzero(levels >= silence_threshold_db)
    if max_segments is not None and kept.size > max_segments:
        kept = kept[np.unique(np.round(np.linspace(0, kept.size - 1, max_segments)).astype(int))]
    for index in kept:
        start = int(starts[index])
        yield int(index), start / sample_rate, audio[:, start : start + length]


def _frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=SEGMENT_COLUMNS)
    return frame.astype(SEGMENT_DTYPES)


def configured_segments(
    audio: np.ndarray, data_cfg: DataConfig
) -> Iterator[tuple[int, float, np.ndarray]]:
    """:func:`iter_segments` with the lengths and threshold of the ``data`` section; the
    audio must already be at ``data.sample_rate``."""
    return iter_segments(
        audio,
        data_cfg.sample_rate,
        data_cfg.segment_seconds,
        data_cfg.hop_seconds,
        data_cfg.silence_threshold_db,
        data_cfg.max_segments_per_song,
    )


def segment_song(
    path: Path, artist: str, song: str, artist_dir: Path, data_cfg: DataConfig
) -> list[dict]:
    """Cut one song into ``artist_dir/<song>/<index:04d>.wav``; returns its index rows.

    ``segment_path`` is relative to the processed root (``<artist>/<song>/<index>.wav``)
    whatever ``artist_dir`` is, so rows stay valid after a staging folder is renamed.
    ``source_path`` is ``path`` as given.
    """
    audio, rate = read_audio(path, data_cfg.sample_rate, data_cfg.channels)
    rows = []
    for index, start_s, segment in configured_segments(audio, data_cfg):
        relative = f"{artist}/{song}/{index:04d}.wav"
        write_audio(Path(artist_dir) / song / f"{index:04d}.wav", segment, rate)
        rows.append(
            {
                "segment_id": f"{artist}/{song}/{index:04d}",
                "artist": artist,
                "song": song,
                "source_path": str(path),
                "segment_path": relative,
                "start_s": start_s,
                "duration_s": segment.shape[1] / rate,
                "sample_rate": rate,
                "channels": segment.shape[0],
                "lufs": integrated_lufs(segment, rate),
                "peak_dbfs": peak_dbfs(segment),
                "rms_dbfs": rms_dbfs(segment),
            }
        )
    return rows


def _check_name(kind: str, name: str) -> None:
    if not name or name.startswith(("_", ".")) or "/" in name or os.sep in name:
        raise ValueError(
            f"{kind} name {name!r}: must be non-empty, contain no path separator and not "
            "start with '_' or '.' (those folders are reserved)"
        )


def write_artist_segments(
    songs: Sequence[tuple[str, Path]],
    artist: str,
    processed_dir: Path,
    data_cfg: DataConfig,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Segment every ``(song, path)`` of one artist and replace ``processed_dir/<artist>``.

    The new folder, index (``segments.parquet``) included, is built as
    ``processed_dir/.<artist>.staging`` and swapped in at once; on any error the
    staging folder is removed and the previous folder is left as it was. A run holds
    ``processed_dir/.<artist>.lock`` from start to swap, so a second run of the same
    artist waits for it instead of sharing its staging folder. ``progress`` is called
    with (songs done, songs total). An artist without any segment gets an empty index
    and folder; the caller decides whether that is an error.
    """
    _check_name("artist", artist)
    names = [song for song, _ in songs]
    for song in names:
        _check_name("song", song)
    duplicates = sorted({song for song in names if names.count(song) > 1})
    if duplicates:
        raise ValueError(f"artist {artist!r}: duplicate song names {duplicates}")
    processed_dir = Path(processed_dir)
    processed_dir.mkdir(parents=True, exist_ok=True)
    target = processed_dir / artist
    staging = processed_dir / f".{artist}{_STAGING_SUFFIX}"
    old = processed_dir / f".{artist}{_OLD_SUFFIX}"
    with exclusive_lock(processed_dir / f".{artist}{_LOCK_SUFFIX}"):
        recover(target, staging, old)
        try:
            staging.mkdir()
            rows: list[dict] = []
            for done, (song, path) in enumerate(songs, start=1):
                rows.extend(segment_song(Path(path), artist, song, staging, data_cfg))
                if progress is not None:
                    progress(done, len(songs))
            frame = _frame(rows)
            frame.to_parquet(staging / INDEX_NAME, index=False)
            replace_folder(staging, target, old)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return frame


def read_segment_index(processed_dir: Path, artists: Sequence[str] | None = None) -> pd.DataFrame:
    """Every artist's index as one table (``artists`` limits which; each must exist).

    Folders starting with ``_`` or ``.`` (other stages' outputs, staging folders)
    are skipped. An index that cannot be read is a ``StageTableError`` naming it.
    """
    processed_dir = Path(processed_dir)
    if artists is None:
        paths = sorted(
            path
            for path in processed_dir.glob(f"*/{INDEX_NAME}")
            if not path.parent.name.startswith(("_", "."))
        )
    else:
        for artist in artists:
            _check_name("artist", artist)
        paths = [processed_dir / artist / INDEX_NAME for artist in artists]
        missing = [str(path) for path in paths if not path.is_file()]
        if missing:
            raise FileNotFoundError(f"no segment index at {', '.join(missing)}")
    frames = [read_stage_table(path, "segments", path.parent.name) for path in paths]
    if not frames:
        return _frame([])
    missing_columns = [
        f"{path}: {sorted(set(SEGMENT_COLUMNS) - set(frame.columns))}"
        for path, frame in zip(paths, frames, strict=True)
        if set(SEGMENT_COLUMNS) - set(frame.columns)
    ]
    if missing_columns:
        raise ValueError(f"segment index missing columns: {'; '.join(missing_columns)}")
    table = pd.concat([frame[SEGMENT_COLUMNS] for frame in frames], ignore_index=True)
    return table.astype(SEGMENT_DTYPES)
