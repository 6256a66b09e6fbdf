"""``raw_audio``: the inventory of one artist's folder of songs.

Songs sit directly in ``<raw_dir>/<artist>/`` (``<song>.<wav|flac|ogg|mp3>``, plus m4a/aac
when the optional pydub extra is installed); subfolders are not searched, because a song's
name (its file stem) must be unique within the artist, and they are reported as skipped.
Hidden files (leading ``.``) are ignored silently.

Every other entry becomes a row of the inventory parquet
(``<processed_dir>/_inventory/<artist>.parquet``): readable songs with their format,
duration, rate, channels and content hash, and skipped entries with the reason in the
``error`` column (unreadable, empty, not audio, reserved or duplicate song name, over
the song limit).
Keeping skipped entries lets the sensor recognise an unchanged folder from the inventory
alone. The stage only reads the raw folder; it never writes, renames or touches a file
there.
"""

import hashlib
from pathlib import Path

import pandas as pd
from dagster import (
    AssetExecutionContext,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)
from pydantic import Field

from assets.metadata import counts_table, markdown_table
from mixer_core.audio.channels import fold_problem
from mixer_core.audio.io import AUDIO_SUFFIXES, PYDUB_SUFFIXES, AudioFileError, audio_info
from mixer_core.data.tables import write_parquet_atomic
from pipelines.partitions import artist_partitions
from pipelines.resources import PathsResource

SONG_SUFFIXES: tuple[str, ...] = tuple(AUDIO_SUFFIXES) + tuple(PYDUB_SUFFIXES)

INVENTORY_COLUMNS = [
    "artist",
    "song",
    "file",
    "path",
    "format",
    "duration_s",
    "sample_rate",
    "channels",
    "frames",
    "size_bytes",
    "sha256",
    "error",
]
_INTEGER_COLUMNS = ["sample_rate", "channels", "frames", "size_bytes"]


class RawAudioConfig(Config):
    max_songs: int | None = Field(
        default=None,
        gt=0,
        description=(
            "keep at most this many readable songs (the first in file-name order); the "
            "rest are listed as skipped. `mixer ingest --limit N` sets it."
        ),
    )


def has_song_suffix(name: str) -> bool:
    """A visible file name whose suffix names an audio format we can read."""
    return not name.startswith(".") and Path(name).suffix.lower() in SONG_SUFFIXES


def is_song_file(path: Path) -> bool:
    return has_song_suffix(path.name) and path.is_file()


def folder_entries(folder: Path) -> list[Path]:
    """Visible entries directly inside ``folder``, in name order (stable song order)."""
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


def file_sha256(path: Path, chunk_bytes: int = 1 << 20) -> str:
    """Content hash of a file, streamed so large songs never sit in memory."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def _skipped_row(artist: str, entry: Path, reason: str) -> dict[str, object]:
    size, sha = None, None
    if entry.is_file():
        try:
            size, sha = entry.stat().st_size, file_sha256(entry)
        except OSError as exc:
            reason = f"{reason}; cannot read the file ({exc.strerror})"
    return {
        "artist": artist,
        "song": entry.stem,
        "file": entry.name,
        "path": str(entry),
        "size_bytes": size,
        "sha256": sha,
        "error": reason,
    }


def build_inventory(folder: Path, artist: str, max_songs: int | None = None) -> pd.DataFrame:
    """One row per visible entry of ``folder``; ``error`` is null exactly for usable songs."""
    rows: list[dict[str, object]] = []
    songs_taken: set[str] = set()
    readable = 0
    for entry in folder_entries(folder):
        if entry.is_dir():
            rows.append(
                _skipped_row(artist, entry, "subfolder: songs must sit directly in the folder")
            )
            continue
        if entry.suffix.lower() not in SONG_SUFFIXES:
            reason = f"not an audio file (expected one of {', '.join(SONG_SUFFIXES)})"
            rows.append(_skipped_row(artist, entry, reason))
            continue
        if entry.stem.startswith("_"):
            reason = "song names must not start with '_' (reserved for stage folders)"
            rows.append(_skipped_row(artist, entry, reason))
            continue
        if entry.stem in songs_taken:
            reason = f"duplicate song name '{entry.stem}' (another file has the same stem)"
            rows.append(_skipped_row(artist, entry, reason))
            continue
        try:
            info = audio_info(entry)
        except AudioFileError as exc:
            rows.append(_skipped_row(artist, entry, exc.problem))
            continue
        if info.frames <= 0 or info.duration_s <= 0:
            rows.append(_skipped_row(artist, entry, "empty (no audio frames)"))
            continue
        if problem := fold_problem(info.channels):  # listed here, not failed in segments
            rows.append(_skipped_row(artist, entry, problem))
            continue
        if max_songs is not None and readable >= max_songs:
            rows.append(_skipped_row(artist, entry, f"over the song limit (max_songs={max_songs})"))
            continue
        songs_taken.add(entry.stem)
        readable += 1
        rows.append(
            {
                "artist": artist,
                "song": entry.stem,
                "file": entry.name,
                "path": str(entry),
                "format": info.format,
                "duration_s": float(info.duration_s),
                "sample_rate": int(info.sample_rate),
                "channels": int(info.channels),
                "frames": int(info.frames),
                "size_bytes": int(info.size_bytes),
                "sha256": info.sha256,
                "error": None,
            }
        )
    frame = pd.DataFrame(rows, columns=INVENTORY_COLUMNS)
    frame = frame.astype({column: "Int64" for column in _INTEGER_COLUMNS})
    return frame.astype({"duration_s": "float64", "error": "object"})


def readable_songs(inventory: pd.DataFrame) -> pd.DataFrame:
    """The inventory rows that downstream stages use."""
    return inventory[inventory["error"].isna()]


@asset(
    partitions_def=artist_partitions,
    group_name="data",
    kinds={"parquet"},
    description=(
        "Inventory of data/raw/<artist>/: one row per file with format, duration, rate, "
        "channels and sha256; unreadable files are listed with the reason and skipped."
    ),
)
def raw_audio(
    context: AssetExecutionContext, config: RawAudioConfig, paths: PathsResource
) -> MaterializeResult:
    artist = context.partition_key
    folder = paths.artist_raw_dir(artist)
    if not folder.is_dir():
        raise Failure(description=f"artist folder {folder} does not exist (partition '{artist}')")

    inventory = build_inventory(folder, artist, config.max_songs)
    songs = readable_songs(inventory)
    skipped = inventory.loc[inventory["error"].notna(), ["file", "error"]]
    for row in skipped.itertuples(index=False):
        context.log.warning(f"skipped {row.file}: {row.error}")
    if songs.empty:
        raise Failure(
            description=(
                f"{folder}: no readable song ({len(skipped)} entries skipped; "
                f"expected audio files {', '.join(SONG_SUFFIXES)} directly in the folder)"
            ),
            metadata={"skipped_files": markdown_table(skipped, max_rows=50)},
        )

    path = write_parquet_atomic(inventory, paths.inventory_path(artist))
    preview = songs[["song", "format", "duration_s", "sample_rate", "channels"]]
    return MaterializeResult(
        metadata={
            "songs": len(songs),
            "total_duration_s": float(songs["duration_s"].sum()),
            "skipped": len(skipped),
            "skipped_files": markdown_table(skipped, max_rows=50),
            "formats": counts_table(songs, ["format"]),
            "preview": markdown_table(preview),
            "folder": MetadataValue.path(str(folder)),
            "inventory": MetadataValue.path(str(path)),
        }
    )
