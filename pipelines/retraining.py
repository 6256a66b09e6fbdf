"""Scheduled retraining: ``mixer_lora`` then ``mixer_evaluation`` on a cron.

``mixer_lora`` trains on every artist whose ``augmentation_manifest`` partition is
materialized, so each retraining picks up all artists added since the last one. The
cron is ``default.retrain_cron`` of the configuration (default weekly, Monday 03:00);
``MIXER_RETRAIN_CRON`` overrides it for one deployment. The schedule starts STOPPED
unless ``MIXER_RETRAIN_SCHEDULE_STATUS=RUNNING``: an unattended weekly GPU job is
something a team turns on deliberately, in the UI or by that variable. Runs carry
``dagster/max_runtime`` (``MIXER_TRAIN_MAX_RUNTIME_S``, default 6 h), which run
monitoring enforces in production, so a hung training frees its GPU.
"""

from __future__ import annotations

import os

from dagster import AssetSelection, DefaultScheduleStatus, ScheduleDefinition, define_asset_job

from mixer_core.config import ConfigError
from pipelines.resources import MixerConfigResource

DEFAULT_SCHEDULE_STATUS = DefaultScheduleStatus.STOPPED


def retrain_cron() -> str:
    """``MIXER_RETRAIN_CRON`` when set, else the configuration's ``default.retrain_cron``."""
    override = os.environ.get("MIXER_RETRAIN_CRON")
    if override:
        return override
    return MixerConfigResource().load().default.retrain_cron


def schedule_status() -> DefaultScheduleStatus:
    """``MIXER_RETRAIN_SCHEDULE_STATUS`` (RUNNING or STOPPED), default STOPPED."""
    value = os.environ.get("MIXER_RETRAIN_SCHEDULE_STATUS", DEFAULT_SCHEDULE_STATUS.value)
    try:
        return DefaultScheduleStatus[value.upper()]
    except KeyError:
        raise ConfigError(
            f"MIXER_RETRAIN_SCHEDULE_STATUS={value!r}: expected RUNNING or STOPPED"
        ) from None


retrain_job = define_asset_job(
    "retrain",
    selection=AssetSelection.assets("mixer_lora", "mixer_evaluation"),
    description="Retrain on every materialized artist and evaluate; promotes on success.",
    tags={"dagster/max_runtime": os.environ.get("MIXER_TRAIN_MAX_RUNTIME_S", str(6 * 3600))},
)


def build_retrain_schedule() -> ScheduleDefinition:
    """The schedule as the environment and configuration say at code-location load."""
    return ScheduleDefinition(
        name="weekly_retrain",
        job=retrain_job,
        cron_schedule=retrain_cron(),
        default_status=schedule_status(),
        description=(
            "Retrain on every materialized artist and evaluate (cron: default.retrain_cron "
            "or MIXER_RETRAIN_CRON)."
        ),
    )


retrain_schedule = build_retrain_schedule()
