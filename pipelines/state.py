"""The embedded default's state folder: Dagster's home and MLflow's SQLite store.

One gitignored folder (``.mixer`` in the working directory, or ``MIXER_STATE_DIR``)
holds ``dagster/`` (used as ``DAGSTER_HOME`` unless one is set) and ``mlflow.db`` with
``mlartifacts/``, so ``dagster dev`` and ``mlflow ui`` opened on it show the same runs
as the CLI.
"""

from __future__ import annotations

import os
from pathlib import Path


def state_dir() -> Path:
    """Where the state folder is; made by the first writer (naming it writes nothing)."""
    return Path(os.environ.get("MIXER_STATE_DIR", ".mixer")).resolve()
