"""The Dagster code location: every asset, check, job, sensor and resource of mixer.

`workspace.yaml` loads this module (``python_module: pipelines.definitions``); `dagster
dev -w workspace.yaml` serves it. Each kind of definition is a list below, so a new
stage is one import and one list entry.
"""

from __future__ import annotations

from dagster import Definitions

from assets import DATA_ASSETS, DATA_CHECKS
from pipelines.jobs import ingest_job
from pipelines.resources import MixerConfigResource, PathsResource
from pipelines.sensors import artist_folder_sensor

ASSETS = [*DATA_ASSETS]
ASSET_CHECKS = [*DATA_CHECKS]
JOBS = [ingest_job]
SENSORS = [artist_folder_sensor]
SCHEDULES: list = []


def build_resources() -> dict[str, object]:
    """Resources keyed as the assets name their parameters; locations come from env vars."""
    return {"paths": PathsResource(), "mixer_config": MixerConfigResource()}


defs = Definitions(
    assets=ASSETS,
    asset_checks=ASSET_CHECKS,
    jobs=JOBS,
    sensors=SENSORS,
    schedules=SCHEDULES,
    resources=build_resources(),
)
