"""``segments``: one artist's songs resampled and cut into fixed-length clips.

The cutting, the silence filter and the atomic replacement of the artist's folder live in
``mixer_core.segmenting.write_artist_segments``; this asset feeds it the readable songs of
the ``raw_audio`` inventory and describes the result. Re-materializing one artist swaps
that artist's folder only, so other partitions' files are never touched.
"""

from pathlib import Path

import pandas as pd
from dagster import AssetExecutionContext, Failure, MaterializeResult, MetadataValue, asset

from assets.metadata import histogram_markdown, markdown_table
from assets.raw_audio import raw_audio, readable_songs
from mixer_core.data.segmenting import write_artist_segments
from mixer_core.data.tables import StageTableError, read_stage_table
from mixer_core.progress import throttled
from pipelines.partitions import artist_partitions
from pipelines.resources import MixerConfigResource, PathsResource


def read_inventory(paths: PathsResource, artist: str) -> pd.DataFrame:
    path = paths.inventory_path(artist)
    if not path.is_file():
        raise Failure(
            description=f"{path}: no inventory for artist '{artist}'; materialize raw_audio first"
        )
    try:
        return read_stage_table(path, "raw_audio", artist)
    except StageTableError as exc:
        raise Failure(description=str(exc)) from exc


@asset(
    partitions_def=artist_partitions,
    group_name="data",
    deps=[raw_audio],
    kinds={"parquet"},
    description=(
        "Fixed-length segments of each readable song (resampled, silent segments dropped) "
        "under data/processed/<artist>/, indexed by segments.parquet."
    ),
)
def segments(
    context: AssetExecutionContext, paths: PathsResource, mixer_config: MixerConfigResource
) -> MaterializeResult:
    artist = context.partition_key
    data_cfg = mixer_config.load().data
    songs = readable_songs(read_inventory(paths, artist))
    pairs = [(row.song, Path(row.path)) for row in songs.itertuples(index=False)]

    now_and_then = throttled(context.log.info)

    def progress(done: int, total: int) -> None:
        line = f"segmented {done}/{total} songs of {artist}"
        (context.log.info if done == total else now_and_then)(line)

    index = write_artist_segments(pairs, artist, paths.processed_path, data_cfg, progress)
    if index.empty:
        raise Failure(
            description=(
                f"{paths.artist_processed_dir(artist)}: no segment kept from {len(pairs)} "
                f"songs; each is shorter than data.segment_seconds={data_cfg.segment_seconds} "
                f"or has every segment quieter than data.silence_threshold_db="
                f"{data_cfg.silence_threshold_db} dBFS"
            )
        )

    per_song = index.groupby("song").size()
    songs_without = sorted(set(songs["song"]) - set(per_song.index))
    preview = index[["segment_id", "start_s", "duration_s", "lufs", "peak_dbfs", "rms_dbfs"]]
    return MaterializeResult(
        metadata={
            "segments": len(index),
            "songs": int(per_song.size),
            "songs_without_segments": MetadataValue.json(songs_without),
            "total_duration_s": float(index["duration_s"].sum()),
            "segment_seconds": float(data_cfg.segment_seconds),
            "sample_rate": int(data_cfg.sample_rate),
            "preview": markdown_table(preview),
            "segments_per_song": markdown_table(
                per_song.rename("segments").reset_index(), max_rows=50
            ),
            "lufs_histogram": histogram_markdown(
                index["lufs"], "segment loudness", "integrated loudness (LUFS)"
            ),
            "index": MetadataValue.path(str(paths.segment_index_path(artist))),
        }
    )
