"""In-process runs of the model half of the graph, for ``mixer train`` and ``mixer demo``.

The same asset definitions as ``dagster dev`` serves, materialized on the persistent
embedded instance, so every run the CLI makes is visible in the UI afterwards.

``--resume`` re-executes the newest training that did not finish (killed, or failed on
MLflow) the way Dagster's own retry does: the new run carries the old one's root run id,
which keys the training's folder, so the loop continues from that folder's checkpoint.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from dagster import AssetKey, DagsterInstance, EventLogRecord, materialize

from assets.evaluation import REPORT_FILENAME, TrainedVersion, evaluation_dir, mixer_evaluation
from assets.training import mixer_lora
from mixer_core.config import DEFAULT_CONFIG_PATH, load_config
from pipelines.definitions import ASSET_CHECKS, ASSETS
from pipelines.ingest import failure_message
from pipelines.resources import MixerConfigResource, MlflowResource, PathsResource
from pipelines.state import state_dir


def resolved_config_file(
    config_path: Path | None, overrides: Mapping[str, Any], folder: Path | None = None
) -> Path:
    """Write the config with CLI overrides applied into the state folder; return its path.

    The assets read their configuration from a file, so a command-line override becomes a
    new, validated file that stays beside the runs that used it.
    """
    source = Path(config_path) if config_path else DEFAULT_CONFIG_PATH
    cfg = load_config(source, overrides={k: dict(v) for k, v in overrides.items()})
    folder = folder or state_dir() / "configs"
    folder.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
    path = folder / f"{source.stem}-{hashlib.sha256(text.encode()).hexdigest()[:12]}.yaml"
    path.write_text(text)
    return path


class NothingToResume(ValueError):
    """``--resume`` found no unfinished training; the message says what the last one did."""


@dataclass(frozen=True)
class Resume:
    """The run a resume re-executes; ``train`` is false when only its evaluation is left."""

    run_id: str
    root_run_id: str
    train: bool


def _latest_materialization(instance: DagsterInstance, key: AssetKey) -> EventLogRecord | None:
    records = instance.fetch_materializations(key, limit=1).records
    return records[0] if records else None


def find_resume(instance: DagsterInstance, evaluate: bool) -> Resume:
    """The newest run that was to train, when it did not finish (or, with ``evaluate``,
    when its version was never evaluated); else :class:`NothingToResume`.

    A run killed with its process stays "started" in the instance, so the newest planned
    training is taken whatever its status; a training that is really still running in
    another process must not be resumed beside it.
    """
    planned = instance.get_latest_planned_materialization_info(mixer_lora.key)
    if planned is None:
        raise NothingToResume(
            f"nothing to resume: no training has run on the Dagster instance at "
            f"{instance.root_directory}"
        )
    run = instance.get_run_by_id(planned.run_id)
    root = (run.root_run_id if run else None) or planned.run_id
    trained = _latest_materialization(instance, mixer_lora.key)
    if trained is None or trained.run_id != planned.run_id:
        return Resume(planned.run_id, root, train=True)
    evaluated = _latest_materialization(instance, mixer_evaluation.key)
    unevaluated = evaluated is None or evaluated.storage_id < trained.storage_id
    if evaluate and unevaluated:
        return Resume(planned.run_id, root, train=False)
    version = TrainedVersion.from_metadata(trained.asset_materialization.metadata).version
    raise NothingToResume(
        f"nothing to resume: run {planned.run_id} trained and registered version {version}"
        + (" (add --evaluate to evaluate it)" if unevaluated else "")
    )


def train_and_evaluate(
    paths: PathsResource,
    config_path: Path,
    instance: DagsterInstance,
    evaluate: bool = True,
    resume: Resume | None = None,
) -> dict[str, Any]:
    """Materialize ``mixer_lora`` (and ``mixer_evaluation``); say what this run made.

    Returns the trained version (``version``, ``run_id``, ``model_dir``), read from the
    run's own materialization (the resumed run's, when only its evaluation was left), and
    with ``evaluate`` the evaluation's JSON and markdown. Raises ``RuntimeError`` with
    the failing step's message when the run fails.
    """
    selection = [mixer_lora.key, mixer_evaluation.key] if evaluate else [mixer_lora.key]
    tags = {}
    if resume is not None:
        tags = {"dagster/parent_run_id": resume.run_id, "dagster/root_run_id": resume.root_run_id}
        if not resume.train:
            selection = [mixer_evaluation.key]
    result = materialize(
        [*ASSETS, *ASSET_CHECKS],
        selection=selection,
        instance=instance,
        resources={
            "paths": paths,
            "mixer_config": MixerConfigResource(path=str(config_path)),
            "mlflow": MlflowResource(),
        },
        raise_on_error=False,
        tags=tags,
    )
    if not result.success:
        raise RuntimeError(failure_message(result))
    if mixer_lora.key in selection:
        (training,) = result.asset_materializations_for_node(mixer_lora.key.path[-1])
    else:
        training = _latest_materialization(instance, mixer_lora.key).asset_materialization
    trained = TrainedVersion.from_metadata(training.metadata)
    made: dict[str, Any] = {
        "version": trained.version,
        "run_id": trained.run_id,
        "model_dir": str(trained.model_dir),
    }
    if evaluate:
        report_dir = evaluation_dir(trained.model_dir)
        made["evaluation"] = json.loads((report_dir / REPORT_FILENAME).read_text())
        made["evaluation_markdown"] = (report_dir / "evaluation.md").read_text()
    return made
