#!/usr/bin/env bash
# The README's main command: set up .venv, then run the whole graph on the embedded
# default (SQLite Dagster + MLflow in .mixer/, CPU, small model). Generated sample audio
# goes to data/raw/ unless you put your own there first. Training runs for its time
# budget (MIXER_DEMO_TRAIN_MINUTES, default 12), not a number of epochs. Extra flags go
# to `mixer demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/mixer demo --max_minutes "${MIXER_DEMO_TRAIN_MINUTES:-12}" --num_epochs 1000 "$@"
