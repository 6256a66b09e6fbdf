"""Where MLflow tracking lives and how values reach it; ``resources.MlflowResource`` uses it.

The embedded default keeps runs in ``sqlite:///<state>/mlflow.db`` and a SQLite store's
artifacts in ``mlartifacts/`` beside its database (MLflow 3 refuses the bare ``./mlruns``
file store); production sets ``MLFLOW_TRACKING_URI`` to the tracking server. Model
versions move between the aliases ``challenger`` (every new version) and ``champion``
(promoted by evaluation).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipelines.state import state_dir

CHALLENGER = "challenger"
CHAMPION = "champion"
_PARAM_VALUE_LIMIT = 6000


def default_tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{state_dir() / 'mlflow.db'}"


def sqlite_path(tracking_uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` tracking URI (None for any other store)."""
    if not tracking_uri.startswith("sqlite:///"):
        return None
    return Path(tracking_uri.removeprefix("sqlite:///"))


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested config -> ``{"default.batch_size": "8", ...}`` for MLflow params."""
    flat: dict[str, str] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = str(value)[:_PARAM_VALUE_LIMIT]
    return flat
