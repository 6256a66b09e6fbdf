"""Jobs: named selections of the asset graph that sensors, schedules and the UI launch."""

from __future__ import annotations

from dagster import define_asset_job

from assets import DATA_ASSETS
from pipelines.partitions import artist_partitions

ingest_job = define_asset_job(
    "ingest",
    selection=DATA_ASSETS,
    partitions_def=artist_partitions,
    description=(
        "Inventory, segment and write augmentation recipes for one artist partition "
        "(raw_audio → segments → augmentation_manifest, with their checks)."
    ),
)
