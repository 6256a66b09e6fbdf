"""``augmentation_manifest``: the training recipes for one artist's segments.

A recipe is data (seed, mode, distortion chain, target program, prompt), so the audio
is rendered on the fly at training time and the manifest alone reproduces it. Each row
also carries ``split``, assigned per song (``artist/song`` hashed), never per segment:
segments of one song are near-duplicates, and letting them straddle splits would leak
the test set into training. The manifest is written atomically to
``<processed_dir>/_manifests/<artist>.parquet``.
"""

import pandas as pd
from dagster import AssetExecutionContext, Failure, MaterializeResult, MetadataValue, asset

from assets.metadata import bar_chart_markdown, counts_table, markdown_table
from assets.segments import segments
from mixer_core.config import Config
from mixer_core.data.augmentation import sample_recipes
from mixer_core.data.splits import assign_split, assign_split_by_artist, resolve_splits
from mixer_core.data.tables import StageTableError, read_stage_table, write_parquet_atomic
from pipelines.partitions import artist_partitions
from pipelines.resources import MixerConfigResource, PathsResource


def build_manifest(index: pd.DataFrame, artist: str, cfg: Config) -> pd.DataFrame:
    """N recipes per segment of ``index``, with ``split``, ``artist`` and ``song`` columns."""
    rows: list[dict[str, object]] = []
    for song, song_segments in index.groupby("song", sort=True):
        split = assign_split(artist, str(song), cfg.data.split)
        for segment_id in song_segments["segment_id"]:
            for recipe in sample_recipes(segment_id, cfg.augmentation):
                rows.append({**recipe.to_row(), "split": split, "artist": artist, "song": song})
    return pd.DataFrame(rows)


def family_counts(manifest: pd.DataFrame) -> pd.Series:
    """Recipes per distortion family; ``families`` is comma-separated, one recipe may count
    for several and an empty chain for none."""
    exploded = manifest["families"].str.split(",").explode()
    exploded = exploded[exploded != ""]
    return exploded.value_counts().sort_index()


def _corpus_splits(
    context: AssetExecutionContext, paths: PathsResource, artist: str, manifest: pd.DataFrame
) -> pd.DataFrame:
    """Artist, song and per-song split of every manifest materialized so far and this one:
    what training and evaluation will resolve the split on (by artist once there are
    enough artists), shown here so the UI tells where this artist's songs will go."""
    others = set(context.instance.get_materialized_partitions(context.assets_def.key)) - {artist}
    columns = ["artist", "song", "split"]
    frames = [manifest[columns]]
    for other in sorted(others):
        path = paths.manifest_path(other)
        if path.is_file():
            try:
                frames.append(read_stage_table(path, "augmentation_manifest", other, columns))
            except StageTableError as exc:
                context.log.warning(f"{exc}; left out of the corpus split shown here")
    return pd.concat(frames, ignore_index=True).drop_duplicates()


def read_artist_index(paths: PathsResource, artist: str) -> pd.DataFrame:
    path = paths.segment_index_path(artist)
    if not path.is_file():
        raise Failure(
            description=(
                f"{path}: no segment index for artist '{artist}'; materialize segments first"
            )
        )
    try:
        return read_stage_table(path, "segments", artist)
    except StageTableError as exc:
        raise Failure(description=str(exc)) from exc


@asset(
    partitions_def=artist_partitions,
    group_name="data",
    deps=[segments],
    kinds={"parquet"},
    description=(
        "Augmentation recipes (seed, mode, chain, target, prompt) for every segment, with "
        "the train/val/test split assigned per song, in data/processed/_manifests/<artist>."
    ),
)
def augmentation_manifest(
    context: AssetExecutionContext, paths: PathsResource, mixer_config: MixerConfigResource
) -> MaterializeResult:
    artist = context.partition_key
    cfg = mixer_config.load()
    index = read_artist_index(paths, artist)
    manifest = build_manifest(index, artist, cfg)
    if manifest.empty:
        raise Failure(description=f"{paths.segment_index_path(artist)}: the index has no segments")
    path = write_parquet_atomic(manifest, paths.manifest_path(artist))
    context.log.info(f"{len(manifest)} recipes for {len(index)} segments of {artist}")

    families = family_counts(manifest)
    songs_per_split = manifest.groupby("split")["song"].nunique().reset_index(name="songs")
    corpus, plan = resolve_splits(_corpus_splits(context, paths, artist, manifest), cfg.data.split)
    this_artist = corpus[corpus["artist"] == artist]
    return MaterializeResult(
        metadata={
            "recipes": len(manifest),
            "segments": int(manifest["segment_id"].nunique()),
            "recipes_per_mode_and_split": counts_table(manifest, ["mode", "split"]),
            "songs_per_split": markdown_table(songs_per_split),
            "split_when_by_artist": MetadataValue.text(
                assign_split_by_artist(artist, cfg.data.split)
            ),
            "corpus_split_by": MetadataValue.text(plan.by),
            "corpus_split_sizes": markdown_table(plan.table(), max_rows=3),
            "corpus_split_of_this_artist": markdown_table(
                this_artist.groupby("split")["song"].nunique().reset_index(name="songs")
            ),
            "corpus_evidence": MetadataValue.text(plan.reason),
            "families": markdown_table(families.rename("recipes").reset_index()),
            "families_histogram": bar_chart_markdown(families, "distortion families", "family"),
            "preview": markdown_table(manifest[["recipe_id", "mode", "split", "target", "prompt"]]),
            "manifest": MetadataValue.path(str(path)),
        }
    )
