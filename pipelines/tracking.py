"""MLflow tracking and registry, as a small Dagster resource around ``MlflowClient``.

Not ``dagster-mlflow``: that package pins pandas<3 and is unmaintained. The embedded
default keeps runs in ``sqlite:///<state>/mlflow.db`` and a SQLite store's artifacts in
``mlartifacts/`` beside its database (MLflow 3 refuses the bare ``./mlruns`` file store); production
sets ``MLFLOW_TRACKING_URI`` to the tracking server. Model versions are created from a
logged artifact folder with ``create_model_version`` and move between the aliases
``challenger`` (every new version) and ``champion`` (promoted by evaluation).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dagster import ConfigurableResource
from mlflow.entities import Metric, Param
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from pydantic import Field

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


class MlflowResource(ConfigurableResource):
    """Where runs, metrics, artifacts and registered versions go."""

    tracking_uri: str = Field(
        default_factory=default_tracking_uri,
        description="tracking URI (env MLFLOW_TRACKING_URI; default: SQLite in the state dir)",
    )
    experiment_name: str = Field(
        default_factory=lambda: os.environ.get("MIXER_EXPERIMENT", "mixer"),
        description="experiment that training runs are logged to",
    )
    registered_model: str = Field(
        default_factory=lambda: os.environ.get("MIXER_REGISTERED_MODEL", "mixer"),
        description="registered model name; versions carry the aliases challenger/champion",
    )
    ui_url: str = Field(
        default_factory=lambda: os.environ.get("MLFLOW_UI_URL", "http://127.0.0.1:5000"),
        description="base URL of the MLflow UI, for links in Dagster metadata",
    )

    def client(self) -> MlflowClient:
        database = sqlite_path(self.tracking_uri)
        if database is not None:
            database.parent.mkdir(parents=True, exist_ok=True)
        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    def experiment_id(self) -> str:
        client = self.client()
        experiment = client.get_experiment_by_name(self.experiment_name)
        if experiment is not None:
            return experiment.experiment_id
        artifact_location = None
        database = sqlite_path(self.tracking_uri)
        if database is not None:
            artifact_location = (database.parent / "mlartifacts").resolve().as_uri()
        return client.create_experiment(self.experiment_name, artifact_location=artifact_location)

    def start_run(self, run_name: str, tags: Mapping[str, str] | None = None) -> str:
        run = self.client().create_run(
            self.experiment_id(), run_name=run_name, tags=dict(tags or {})
        )
        return run.info.run_id

    def end_run(self, run_id: str, status: str = "FINISHED") -> None:
        self.client().set_terminated(run_id, status=status)

    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        items = [Param(k, v) for k, v in flatten(params).items()]
        for start in range(0, len(items), 100):
            self.client().log_batch(run_id, params=items[start : start + 100])

    def log_metrics(self, run_id: str, metrics: Mapping[str, float], step: int = 0) -> None:
        now = int(time.time() * 1000)
        finite = [
            Metric(k, float(v), now, step)
            for k, v in metrics.items()
            if v is not None and math.isfinite(float(v))
        ]
        if finite:
            self.client().log_batch(run_id, metrics=finite)

    def log_artifacts(self, run_id: str, local_dir: Path, artifact_path: str | None = None) -> None:
        self.client().log_artifacts(run_id, str(local_dir), artifact_path)

    def log_artifact(self, run_id: str, local_file: Path, artifact_path: str | None = None) -> None:
        self.client().log_artifact(run_id, str(local_file), artifact_path)

    def run_url(self, run_id: str) -> str:
        return f"{self.ui_url}/#/experiments/{self.experiment_id()}/runs/{run_id}"

    def register(self, run_id: str, artifact_path: str, description: str = "") -> ModelVersion:
        """New version from a logged MLflow-model folder; it becomes the challenger."""
        client = self.client()
        try:
            client.get_registered_model(self.registered_model)
        except MlflowException:
            client.create_registered_model(self.registered_model)
        source = f"{client.get_run(run_id).info.artifact_uri}/{artifact_path}"
        version = client.create_model_version(
            self.registered_model, source=source, run_id=run_id, description=description
        )
        client.set_registered_model_alias(self.registered_model, CHALLENGER, version.version)
        return version

    def version_by_alias(self, alias: str) -> ModelVersion | None:
        try:
            return self.client().get_model_version_by_alias(self.registered_model, alias)
        except MlflowException:
            return None

    def set_alias(self, alias: str, version: str) -> None:
        self.client().set_registered_model_alias(self.registered_model, alias, version)
