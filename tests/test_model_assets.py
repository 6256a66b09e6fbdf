"""The model half of the graph on an ephemeral Dagster instance and a real SQLite MLflow:
training registers a challenger, evaluation scores every baseline and applies the
promotion rule, the pyfunc loads by alias, and the retrain job and schedule exist.
"""

from __future__ import annotations

import json
from pathlib import Path

import mlflow.pyfunc
import pandas as pd
import pytest
import yaml
from dagster import DagsterInstance, materialize

from assets.evaluation import mixer_evaluation
from assets.training import LATEST_POINTER, mixer_lora
from mixer_core.instructions import parse
from pipelines.definitions import ASSET_CHECKS, ASSETS, defs
from pipelines.promotion import Scores, decide
from pipelines.resources import MixerConfigResource, PathsResource
from pipelines.retraining import DEFAULT_RETRAIN_CRON
from pipelines.tracking import CHALLENGER, CHAMPION, MlflowResource
from tests.training_fixtures import make_processed_tree, tiny_training_config

BASELINES = {"model", "noop", "oracle", "heuristic"}


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("model_assets")
    cfg = tiny_training_config()
    cfg.default.max_steps = 4
    cfg.default.eval_every_steps = 2
    cfg.default.log_every_steps = 2
    config_path = root / "mixer_config.yaml"
    config_path.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    processed = make_processed_tree(root, cfg)
    paths = PathsResource(
        raw_dir=str(root / "raw"),
        processed_dir=str(processed),
        models_dir=str(root / "models"),
        dataset_file=str(root / "dataset.parquet"),
    )
    tracking = MlflowResource(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    return paths, config_path, tracking


def _materialize(setup, instance: DagsterInstance, run_config: dict | None = None):
    paths, config_path, tracking = setup
    result = materialize(
        [*ASSETS, *ASSET_CHECKS],
        selection=[mixer_lora.key, mixer_evaluation.key],
        instance=instance,
        resources={
            "paths": paths,
            "mixer_config": MixerConfigResource(path=str(config_path)),
            "mlflow": tracking,
        },
        run_config=run_config
        or {"ops": {"mixer_evaluation": {"config": {"heuristic_fit_examples": 4}}}},
    )
    assert result.success
    return result


def _metadata(result, node: str) -> dict:
    (event,) = result.asset_materializations_for_node(node)
    return {key: value.value for key, value in event.metadata.items()}


def _scores(summary: list[dict], name: str) -> Scores:
    row = next(r for r in summary if r["predictor"] == name)
    return Scores(row["recovery_pooled"], row["valid_call_rate"])


def test_train_register_evaluate_promote_and_load_by_alias(setup, monkeypatch) -> None:
    paths, _config_path, tracking = setup
    monkeypatch.setenv("MIXER_STATE_DIR", str(Path(paths.models_dir).parent / "state"))
    instance = DagsterInstance.ephemeral()

    first = _materialize(setup, instance)
    training = _metadata(first, "mixer_lora")
    assert training["model_version"] == 1 and training["steps"] == 4
    assert "data:image/png;base64," in training["loss_curve"]
    assert str(tracking.version_by_alias(CHALLENGER).version) == "1"
    run = tracking.client().get_run(training["mlflow_run_id"])
    assert run.data.params["default.max_steps"] == "4"
    for metric in ("loss", "lr", "grad_norm", "val_loss"):
        history = tracking.client().get_metric_history(run.info.run_id, metric)
        assert [m.step for m in history] == [2, 4], metric
    assert paths.dataset_path.is_file()

    pointer = json.loads((paths.models_path / LATEST_POINTER).read_text())
    report = json.loads(
        (Path(pointer["model_dir"]).parent / "evaluation" / "evaluation.json").read_text()
    )
    summary = report["report"]["summary"]
    assert {row["predictor"] for row in summary} == BASELINES
    assert {row["mode"] for row in report["report"]["by_mode"]} <= {"fix", "instruct"}
    assert report["report"]["by_family"]
    assert _scores(summary, "model").valid_call_rate == 1.0
    assert _scores(summary, "noop").recovery_pooled == 0.0
    leads = {row["over"]: row for row in report["report"]["leads"]}
    assert set(leads) == BASELINES - {"model"}
    evaluation = _metadata(first, "mixer_evaluation")
    assert evaluation["lead_over_heuristic"] == pytest.approx(leads["heuristic"]["lead"])
    assert evaluation["recovery_ci95"].startswith("[")
    eval_metrics = tracking.client().get_run(training["mlflow_run_id"]).data.metrics
    assert "eval.model.lead_over_heuristic.ci_low" in eval_metrics
    expected = decide(_scores(summary, "model"), None)
    assert report["promoted"] is expected.promote
    champion = tracking.version_by_alias(CHAMPION)
    assert (champion is not None and str(champion.version) == "1") is expected.promote
    listening = Path(pointer["model_dir"]).parent / "evaluation" / "listening"
    assert sorted(p.name for p in next(listening.iterdir()).iterdir()) == [
        "corrected.wav",
        "model_input.wav",
        "programs.txt",
        "reference.wav",
        "spectrograms.png",
    ]
    (check,) = first.get_asset_check_evaluations()
    assert check.passed is (_scores(summary, "model").recovery_pooled > 0)

    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking.tracking_uri)
    model = mlflow.pyfunc.load_model(f"models:/{tracking.registered_model}@{CHALLENGER}")
    segment = Path(paths.processed_dir) / make_first_segment(paths)
    programs = model.predict(pd.DataFrame({"audio_path": [str(segment)], "prompt": ["fix it"]}))
    assert len(programs) == 1
    parse(programs[0])

    tracking.set_alias(CHAMPION, "1")
    second = _materialize(setup, instance)
    assert _metadata(second, "mixer_lora")["model_version"] == 2
    pointer = json.loads((paths.models_path / LATEST_POINTER).read_text())
    report = json.loads(
        (Path(pointer["model_dir"]).parent / "evaluation" / "evaluation.json").read_text()
    )
    summary = report["report"]["summary"]
    assert {row["predictor"] for row in summary} == BASELINES | {CHAMPION}
    expected = decide(_scores(summary, "model"), _scores(summary, CHAMPION))
    assert report["promoted"] is expected.promote and report["reason"] == expected.reason
    assert str(tracking.version_by_alias(CHAMPION).version) == ("2" if expected.promote else "1")
    assert str(tracking.version_by_alias(CHALLENGER).version) == "2"


def make_first_segment(paths: PathsResource) -> str:
    table = pd.read_parquet(next(Path(paths.processed_dir).glob("*/segments.parquet")))
    return str(table["segment_path"].iloc[0])


def test_retrain_job_and_schedule_are_defined() -> None:
    job = defs.resolve_job_def("retrain")
    assert {key.to_user_string() for key in job.asset_layer.selected_asset_keys} == {
        "mixer_lora",
        "mixer_evaluation",
    }
    schedule = defs.resolve_schedule_def("weekly_retrain")
    assert schedule.cron_schedule == DEFAULT_RETRAIN_CRON
    assert schedule.job_name == "retrain"
    assert defs.resolve_assets_def("mixer_lora").op.pool == "gpu"
    assert int(job.tags["dagster/max_runtime"]) > 0
