"""Scheduled retraining: ``mixer_lora`` then ``mixer_evaluation`` on a cron.

Training reads every artist's manifest on disk, so each retraining picks up all artist
partitions materialized so far. The cron comes from ``MIXER_RETRAIN_CRON`` (default
weekly, Monday 03:00) and the schedule starts STOPPED unless
``MIXER_RETRAIN_SCHEDULE_STATUS=RUNNING``: an unattended weekly GPU job is something a
team turns on deliberately, in the UI or by that variable. Runs carry
``dagster/max_runtime`` (``MIXER_TRAIN_MAX_RUNTIME_S``, default 6 h), which run
monitoring enforces in production, so a hung training frees its GPU.
"""

from __future__ import annotations

import os

from dagster import AssetSelection, DefaultScheduleStatus, ScheduleDefinition, define_asset_job

DEFAULT_RETRAIN_CRON = "0 3 * * 1"

retrain_job = define_asset_job(
    "retrain",
    selection=AssetSelection.assets("mixer_lora", "mixer_evaluation"),
    description="Retrain on every materialized artist and evaluate; promotes on success.",
    tags={"dagster/max_runtime": os.environ.get("MIXER_TRAIN_MAX_RUNTIME_S", str(6 * 3600))},
)

retrain_schedule = ScheduleDefinition(
    name="weekly_retrain",
    job=retrain_job,
    cron_schedule=os.environ.get("MIXER_RETRAIN_CRON", DEFAULT_RETRAIN_CRON),
    default_status=DefaultScheduleStatus[
        os.environ.get("MIXER_RETRAIN_SCHEDULE_STATUS", "STOPPED").upper()
    ],
    description="Retrain and evaluate the mixer model (cron from MIXER_RETRAIN_CRON).",
)
