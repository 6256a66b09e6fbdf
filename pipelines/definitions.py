"""The Dagster code location: every asset, check, job, sensor and resource of mixer.

`workspace.yaml` loads this module (``python_module: pipelines.definitions``); `dagster
dev -w workspace.yaml` serves it. Each kind of definition is a list below, so a new
stage is one import and one list entry.
"""

from __future__ import annotations

from dagster import Definitions

from assets import DATA_ASSETS, DATA_CHECKS
from assets.evaluation import mixer_evaluation, model_beats_noop, test_split_is_large_enough
from assets.training import mixer_lora
from pipelines.jobs import ingest_job
from pipelines.resources import MixerConfigResource, MlflowResource, PathsResource
from pipelines.retraining import retrain_job, retrain_schedule
from pipelines.sensors import artist_folder_sensor

ASSETS = [*DATA_ASSETS, mixer_lora, mixer_evaluation]
ASSET_CHECKS = [*DATA_CHECKS, model_beats_noop, test_split_is_large_enough]
JOBS = [ingest_job, retrain_job]
SENSORS = [artist_folder_sensor]
SCHEDULES = [retrain_schedule]


def build_resources() -> dict[str, object]:
    """Resources keyed as the assets name their parameters; locations come from env vars."""
    return {
        "paths": PathsResource(),
        "mixer_config": MixerConfigResource(),
        "mlflow": MlflowResource(),
    }


defs = Definitions(
    assets=ASSETS,
    asset_checks=ASSET_CHECKS,
    jobs=JOBS,
    sensors=SENSORS,
    schedules=SCHEDULES,
    resources=build_resources(),
)
