"""Resources the data stages read their locations and configuration from.

Every location defaults from an environment variable, read when the resource is built
(so `dagster dev`, the daemon and `mixer ingest` all honour the same variables):

- ``MIXER_RAW_DIR`` → ``raw_dir`` (default ``data/raw``)
- ``MIXER_PROCESSED_DIR`` → ``processed_dir`` (default ``data/processed``)
- ``MIXER_MODELS_DIR`` → ``models_dir`` (default ``models/finetuned/mixer``)
- ``MIXER_DATASET_FILE`` → ``dataset_file`` (default ``data/processed/dataset.parquet``)
- ``MIXER_CONFIG`` → ``MixerConfigResource.path`` (default: the repository's
  ``config/mixer_config.yaml``, ``mixer_core.config.DEFAULT_CONFIG_PATH``)

Relative paths resolve against the working directory of the process (the repository
root for `dagster dev -w workspace.yaml` and the CLI); the config default is absolute,
so it is found from any working directory.

``PathsResource`` also owns the layout of the processed directory, so that no asset
spells a path by hand: ``<processed>/<artist>/`` holds an artist's segments and their
``segments.parquet`` index, ``<processed>/_inventory/<artist>.parquet`` the raw
inventory and ``<processed>/_manifests/<artist>.parquet`` the augmentation manifest.
Folders starting with ``_`` are never artists.

``MlflowResource`` is where tracking and the registry are reached (``pipelines.tracking``
holds its URI defaults).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from dagster import ConfigurableResource
from mlflow.entities import LoggedModel, Metric, Param
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST, ErrorCode
from mlflow.tracking import MlflowClient
from pydantic import Field

from mixer_core.config import DEFAULT_CONFIG_PATH, Config, load_config
from mixer_core.evaluation.promotion import Decision
from pipelines.pyfunc import load_predictor, save_pyfunc
from pipelines.tracking import (
    CHALLENGER,
    CHAMPION,
    default_tracking_uri,
    flatten,
    sqlite_path,
    tracked_client,
)

INVENTORY_FOLDER = "_inventory"
MANIFEST_FOLDER = "_manifests"
SEGMENT_INDEX_NAME = "segments.parquet"


def _env(name: str, default: str) -> Any:
    return Field(
        default_factory=lambda: os.environ.get(name, default),
        description=f"defaults to ${name}, else '{default}'",
    )


class PathsResource(ConfigurableResource):
    """Where raw audio, processed data, models and the combined dataset live."""

    raw_dir: str = _env("MIXER_RAW_DIR", "data/raw")
    processed_dir: str = _env("MIXER_PROCESSED_DIR", "data/processed")
    models_dir: str = _env("MIXER_MODELS_DIR", "models/finetuned/mixer")
    dataset_file: str = _env("MIXER_DATASET_FILE", "data/processed/dataset.parquet")

    @property
    def raw_path(self) -> Path:
        return Path(self.raw_dir)

    @property
    def processed_path(self) -> Path:
        return Path(self.processed_dir)

    @property
    def models_path(self) -> Path:
        return Path(self.models_dir)

    @property
    def dataset_path(self) -> Path:
        return Path(self.dataset_file)

    def artist_raw_dir(self, artist: str) -> Path:
        return self.raw_path / artist

    def artist_processed_dir(self, artist: str) -> Path:
        return self.processed_path / artist

    def segment_index_path(self, artist: str) -> Path:
        return self.artist_processed_dir(artist) / SEGMENT_INDEX_NAME

    def inventory_path(self, artist: str) -> Path:
        return self.processed_path / INVENTORY_FOLDER / f"{artist}.parquet"

    def manifest_path(self, artist: str) -> Path:
        return self.processed_path / MANIFEST_FOLDER / f"{artist}.parquet"


class MixerConfigResource(ConfigurableResource):
    """The validated `config/mixer_config.yaml`, loaded fresh for every run.

    Loading per run (not per code-server start) means an edited config takes effect on
    the next materialization without restarting `dagster dev`.
    """

    path: str = _env("MIXER_CONFIG", str(DEFAULT_CONFIG_PATH))

    def load(self) -> Config:
        return load_config(Path(self.path))


LOGGED_MODEL_TAG = "logged_model_id"


class RegistryError(RuntimeError):
    """The model registry could not be read; the message names the store and the cause."""


class MlflowResource(ConfigurableResource):
    """Where runs, metrics, artifacts and registered versions go.

    A small resource around ``MlflowClient``, not ``dagster-mlflow`` (that package pins
    pandas<3 and is unmaintained). Every call passes the tracking URI to its client, so
    nothing here redirects the process's global MLflow state.
    """

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
        return tracked_client(self.tracking_uri)  # its errors name the URI

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

    def log_metrics(
        self,
        run_id: str,
        metrics: Mapping[str, float],
        step: int = 0,
        model_id: str | None = None,
    ) -> None:
        """Finite metrics of the run (and of its logged model ``model_id``, when given)."""
        now = int(time.time() * 1000)
        finite = [
            Metric(k, float(v), now, step, model_id=model_id)
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

    def register(
        self,
        run_id: str,
        artifact_path: str | None = None,
        description: str = "",
        logged: LoggedModel | None = None,
    ) -> ModelVersion:
        """New version of a :class:`LoggedModel` (or of a folder logged under the run's
        ``artifact_path``); it becomes the challenger."""
        client = self.client()
        try:
            client.get_registered_model(self.registered_model)
        except MlflowException:
            client.create_registered_model(self.registered_model)
        if logged is not None:
            # the artifact location, not "models:/<id>": the SQL registry resolves that
            # through the process-global tracking URI, which this resource never sets. The
            # model id is passed too: an MLflow server accepts a logged model's location
            # as a source only for that model (a run's source must lie under the run)
            source = logged.artifact_location
        else:
            source = f"{client.get_run(run_id).info.artifact_uri}/{artifact_path}"
        version = client.create_model_version(
            self.registered_model,
            source=source,
            run_id=run_id,
            description=description,
            model_id=None if logged is None else logged.model_id,
        )
        if logged is not None:
            client.set_model_version_tag(
                self.registered_model, version.version, LOGGED_MODEL_TAG, logged.model_id
            )
            client.set_logged_model_tags(
                logged.model_id, {"registered_version": str(version.version)}
            )
        client.set_registered_model_alias(self.registered_model, CHALLENGER, version.version)
        return version

    def version_by_alias(self, alias: str) -> ModelVersion | None:
        """The version holding ``alias``; ``None`` only when the registered model or the
        alias does not exist. A registry that cannot be read is a :class:`RegistryError`,
        never "no champion" (promotion would then crown a version over one it never saw)."""
        try:
            client = self.client()
            try:
                model = client.get_registered_model(self.registered_model)
            except MlflowException as exc:
                if exc.error_code == ErrorCode.Name(RESOURCE_DOES_NOT_EXIST):
                    return None
                raise
            version = model.aliases.get(alias)
            return None if version is None else client.get_model_version(model.name, version)
        except Exception as exc:
            raise RegistryError(
                f"cannot read alias {alias!r} of registered model {self.registered_model!r} "
                f"at {self.tracking_uri}: {exc}"
            ) from exc

    def set_alias(self, alias: str, version: str) -> None:
        self.client().set_registered_model_alias(self.registered_model, alias, version)

    def log_table(self, run_id: str, frame: pd.DataFrame, artifact_file: str) -> None:
        """A table the MLflow UI shows in its artifact view (and compares across runs)."""
        self.client().log_table(run_id, data=frame, artifact_file=artifact_file)

    def log_model(self, run_id: str, model_dir: Path, staging_dir: Path) -> LoggedModel:
        """Log a trained model folder as a pyfunc :class:`LoggedModel` of the run: the
        checkpoint worth keeping, which later metrics (``log_metrics(model_id=...)``)
        attach to, so ``search_logged_models`` ranks the trainings by them."""
        client = self.client()
        logged = client.create_logged_model(
            self.experiment_id(),
            name=self.registered_model,
            source_run_id=run_id,
            model_type="mixer",
        )
        client.log_model_artifacts(logged.model_id, str(save_pyfunc(model_dir, staging_dir)))
        return client.finalize_logged_model(logged.model_id, "READY")

    def load_predictor(self, uri: str) -> Any:
        """The ``MixerPredictor`` of ``models:/name@alias``, ``models:/name/N`` or a run URI."""
        return load_predictor(uri, self.tracking_uri)

    def record_promotion(self, version: str, decision: Decision) -> None:
        """Move ``champion`` when the decision says so; tag the version with why."""
        if decision.promote:
            self.set_alias(CHAMPION, version)
        client = self.client()
        client.set_model_version_tag(
            self.registered_model, version, "promoted_to_champion", str(decision.promote).lower()
        )
        client.set_model_version_tag(
            self.registered_model, version, "promotion_reason", decision.reason
        )
