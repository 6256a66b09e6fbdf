"""In-process runs of the model half of the graph, for ``mixer train`` and ``mixer demo``.

The same asset definitions as ``dagster dev`` serves, materialized on the persistent
embedded instance, so every run the CLI makes is visible in the UI afterwards.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from dagster import DagsterInstance, materialize

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


def train_and_evaluate(
    paths: PathsResource,
    config_path: Path,
    instance: DagsterInstance,
    evaluate: bool = True,
) -> dict[str, Any]:
    """Materialize ``mixer_lora`` (and ``mixer_evaluation``); say what this run made.

    Returns the trained version (``version``, ``run_id``, ``model_dir``), read from the
    run's own materialization, and with ``evaluate`` the evaluation's JSON and markdown.
    Raises ``RuntimeError`` with the failing step's message when the run fails.
    """
    selection = [mixer_lora.key, mixer_evaluation.key] if evaluate else [mixer_lora.key]
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
    )
    if not result.success:
        raise RuntimeError(failure_message(result))
    (training,) = result.asset_materializations_for_node(mixer_lora.key.path[-1])
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
