"""Asset checks on the files the data stages leave on disk.

The checks are partitioned like their assets (``partitions_def=artist_partitions``, a
preview feature in Dagster 1.13): a run for artist A checks A's files and records the
result against partition A, so a failure points at one artist. They read the files
themselves rather than the assets' metadata, so tampering after materialization (a
deleted segment, an edited manifest) is caught by re-running the check.

The segment checks are blocking: an artist whose segments disagree with their index gets
no augmentation manifest in the same run.
"""

import pandas as pd
import soundfile
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    MetadataValue,
    asset_check,
)

from assets.augmentation_manifest import augmentation_manifest
from assets.metadata import markdown_table
from assets.raw_audio import raw_audio, readable_songs
from assets.segments import segments
from mixer_core.audio.io import AUDIO_SUFFIXES
from mixer_core.language.grammar import InstructionError, parse
from pipelines.partitions import artist_partitions
from pipelines.resources import MixerConfigResource, PathsResource

_ERROR = AssetCheckSeverity.ERROR


def _missing(path: object, what: str) -> AssetCheckResult:
    return AssetCheckResult(passed=False, severity=_ERROR, description=f"{path}: no {what} on disk")


@asset_check(asset=raw_audio, partitions_def=artist_partitions)
def songs_have_duration(
    context: AssetCheckExecutionContext, paths: PathsResource
) -> AssetCheckResult:
    """Every song the inventory calls readable has frames and a positive duration."""
    path = paths.inventory_path(context.partition_key)
    if not path.is_file():
        return _missing(path, "inventory")
    songs = readable_songs(pd.read_parquet(path))
    bad = songs[(songs["duration_s"] <= 0) | (songs["frames"] <= 0)]
    return AssetCheckResult(
        passed=bad.empty and not songs.empty,
        severity=_ERROR,
        metadata={
            "songs": len(songs),
            "songs_without_duration": markdown_table(bad[["file", "duration_s", "frames"]]),
        },
    )


@asset_check(asset=segments, partitions_def=artist_partitions, blocking=True)
def index_matches_files(
    context: AssetCheckExecutionContext, paths: PathsResource
) -> AssetCheckResult:
    """The segment index and the audio files under the artist's folder are the same set."""
    artist = context.partition_key
    index_path = paths.segment_index_path(artist)
    if not index_path.is_file():
        return _missing(index_path, "segment index")
    index = pd.read_parquet(index_path)
    root = paths.processed_path
    indexed = set(index["segment_path"])
    on_disk = {
        path.relative_to(root).as_posix()
        for path in paths.artist_processed_dir(artist).rglob("*")
        if path.is_file() and path.suffix.lower() in AUDIO_SUFFIXES
    }
    missing = sorted(indexed - on_disk)
    unindexed = sorted(on_disk - indexed)
    wrong_artist = int((index["artist"] != artist).sum())
    return AssetCheckResult(
        passed=not missing and not unindexed and wrong_artist == 0,
        severity=_ERROR,
        metadata={
            "segments_indexed": len(indexed),
            "files_on_disk": len(on_disk),
            "missing_files": MetadataValue.json(missing[:50]),
            "files_not_in_index": MetadataValue.json(unindexed[:50]),
            "rows_of_another_artist": wrong_artist,
        },
    )


@asset_check(asset=segments, partitions_def=artist_partitions, blocking=True)
def segment_durations(
    context: AssetCheckExecutionContext, paths: PathsResource, mixer_config: MixerConfigResource
) -> AssetCheckResult:
    """Each segment file is exactly ``data.segment_seconds`` long, within one sample."""
    artist = context.partition_key
    index_path = paths.segment_index_path(artist)
    if not index_path.is_file():
        return _missing(index_path, "segment index")
    data_cfg = mixer_config.load().data
    expected_frames = round(data_cfg.segment_seconds * data_cfg.sample_rate)
    problems: list[dict[str, object]] = []
    for row in pd.read_parquet(index_path).itertuples(index=False):
        path = paths.processed_path / row.segment_path
        try:
            info = soundfile.info(str(path))
        except (OSError, RuntimeError) as exc:
            problems.append({"segment": row.segment_id, "problem": f"unreadable: {exc}"})
            continue
        if info.samplerate != data_cfg.sample_rate:
            problem = f"sample rate {info.samplerate}, expected {data_cfg.sample_rate}"
        elif abs(info.frames - expected_frames) > 1:
            problem = f"{info.frames} frames, expected {expected_frames}"
        elif abs(row.duration_s - data_cfg.segment_seconds) > 1.0 / data_cfg.sample_rate:
            problem = f"index says {row.duration_s} s, expected {data_cfg.segment_seconds}"
        else:
            continue
        problems.append({"segment": row.segment_id, "problem": problem})
    return AssetCheckResult(
        passed=not problems,
        severity=_ERROR,
        metadata={
            "expected_frames": expected_frames,
            "problems": markdown_table(pd.DataFrame(problems, columns=["segment", "problem"])),
        },
    )


def _read_manifest(paths: PathsResource, artist: str) -> pd.DataFrame | AssetCheckResult:
    path = paths.manifest_path(artist)
    return pd.read_parquet(path) if path.is_file() else _missing(path, "manifest")


@asset_check(asset=augmentation_manifest, partitions_def=artist_partitions)
def one_split_per_song(
    context: AssetCheckExecutionContext, paths: PathsResource
) -> AssetCheckResult:
    """No song has recipes in two splits (the split is per song, never per segment)."""
    manifest = _read_manifest(paths, context.partition_key)
    if isinstance(manifest, AssetCheckResult):
        return manifest
    splits = manifest.groupby(["artist", "song"])["split"].agg(lambda s: sorted(set(s)))
    straddling = splits[splits.map(len) > 1]
    table = straddling.map(", ".join).rename("splits").reset_index()
    return AssetCheckResult(
        passed=straddling.empty,
        severity=_ERROR,
        metadata={
            "songs": len(splits),
            "songs_in_several_splits": markdown_table(table),
        },
    )


@asset_check(asset=augmentation_manifest, partitions_def=artist_partitions)
def programs_parse(context: AssetCheckExecutionContext, paths: PathsResource) -> AssetCheckResult:
    """Every recipe's chain and target program parses against the tool registry."""
    manifest = _read_manifest(paths, context.partition_key)
    if isinstance(manifest, AssetCheckResult):
        return manifest
    failures: list[dict[str, str]] = []
    for row in manifest.itertuples(index=False):
        for column in ("chain", "target"):
            try:
                parse(getattr(row, column))
            except InstructionError as exc:
                failures.append({"recipe": row.recipe_id, "column": column, "error": exc.problem})
    return AssetCheckResult(
        passed=not failures,
        severity=_ERROR,
        metadata={
            "recipes": len(manifest),
            "unparsable": markdown_table(
                pd.DataFrame(failures, columns=["recipe", "column", "error"])
            ),
        },
    )


DATA_CHECKS = [
    songs_have_duration,
    index_matches_files,
    segment_durations,
    one_split_per_song,
    programs_parse,
]
