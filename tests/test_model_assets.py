"""The model half of the graph on an ephemeral Dagster instance and a real SQLite MLflow:
training registers a challenger on every materialized artist, evaluation scores every
baseline and applies the promotion rule, the pyfunc loads by alias, the check fails a
model that does not beat no-op, and the retrain job and schedule exist.
"""

from __future__ import annotations

import json
from pathlib import Path

import mlflow.pyfunc
import pandas as pd
import pytest
import yaml
from dagster import AssetMaterialization, DagsterInstance, build_asset_check_context, materialize

from assets.augmentation_manifest import augmentation_manifest
from assets.evaluation import mixer_evaluation, model_beats_noop
from assets.listening import listening_sample
from assets.training import LATEST_POINTER, mixer_lora
from mixer_core.audio.io import read_audio
from mixer_core.config import ConfigError, load_config
from mixer_core.evaluation.promotion import Scores
from mixer_core.language.grammar import parse
from pipelines.definitions import ASSET_CHECKS, ASSETS, defs
from pipelines.partitions import ARTIST_PARTITIONS_NAME
from pipelines.resources import LOGGED_MODEL_TAG, MixerConfigResource, MlflowResource, PathsResource
from pipelines.retraining import DEFAULT_SCHEDULE_STATUS, build_retrain_schedule
from pipelines.tracking import CHALLENGER, CHAMPION
from tests.test_evaluation import MIXED, _examples
from tests.training_fixtures import make_processed_tree, promotion_config

BASELINES = {"model", "noop", "oracle", "heuristic"}


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("model_assets")
    cfg = promotion_config()  # one artist is too few to decide a promotion; two are enough
    config_path = root / "mixer_config.yaml"
    config_path.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    processed = make_processed_tree(root, cfg)
    make_processed_tree(root, cfg, artist="artist_b")
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


def _ingested(instance: DagsterInstance, artist: str) -> None:
    """Record an artist's manifest (written by the fixture) as a materialized partition."""
    instance.add_dynamic_partitions(ARTIST_PARTITIONS_NAME, [artist])
    instance.report_runless_asset_event(
        AssetMaterialization(augmentation_manifest.key, partition=artist)
    )


def _metadata(result, node: str) -> dict:
    (event,) = result.asset_materializations_for_node(node)
    return {key: value.value for key, value in event.metadata.items()}


def _scores(summary: list[dict], name: str) -> Scores:
    row = next(r for r in summary if r["predictor"] == name)
    return Scores(row["recovery_pooled"], row["valid_call_rate"], row["worse_than_noop"])


def test_train_register_evaluate_promote_and_load_by_alias(setup, monkeypatch) -> None:
    paths, _config_path, tracking = setup
    monkeypatch.setenv("MIXER_STATE_DIR", str(Path(paths.models_dir).parent / "state"))
    instance = DagsterInstance.ephemeral()
    _ingested(instance, "artist_a")

    first = _materialize(setup, instance)
    training = _metadata(first, "mixer_lora")
    # progress reaches the run's log as lines (training steps, rendering, evaluating)
    messages = [entry.user_message for entry in instance.all_logs(first.run_id)]
    assert any(m.startswith("step ") and "% of 4 steps" in m for m in messages)
    assert any(m.startswith("evaluate") and "recipe" in m for m in messages)
    assert training["model_version"] == 1 and training["steps"] == 4
    assert training["training_kind"].startswith("full training of the random-init")
    assert training["artists"] == ["artist_a"]  # artist_b's manifest is on disk, not materialized
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
    leads = {r["over"]: r for r in report["report"]["leads"] if r["mode"] == "all"}
    assert set(leads) == BASELINES - {"model"}
    evaluation = _metadata(first, "mixer_evaluation")
    assert evaluation["lead_over_heuristic"] == pytest.approx(leads["heuristic"]["lead"])
    assert evaluation["recovery_ci95"].startswith("[")
    eval_metrics = tracking.client().get_run(training["mlflow_run_id"]).data.metrics
    assert "eval.model.lead_over_heuristic.ci_low" in eval_metrics
    assert eval_metrics["eval.model.lead_over_heuristic"] == pytest.approx(
        leads["heuristic"]["lead"]
    )
    fix_leads = [r for r in report["report"]["leads"] if r["mode"] == "fix"]
    for lead in fix_leads:
        metric = f"eval.model.mode.fix.lead_over_{lead['over']}"
        assert eval_metrics[metric] == pytest.approx(lead["lead"])
    assert report["promoted"] is False and "not enough evidence" in report["reason"]
    assert evaluation["enough_evidence"] is False and evaluation["split_by"] == "song"
    assert "| test" in evaluation["split_sizes"]
    assert tracking.version_by_alias(CHAMPION) is None
    listening = Path(pointer["model_dir"]).parent / "evaluation" / "listening"
    examples = sorted(listening.iterdir())
    assert len(examples) == 4
    for folder in examples:
        mode = "fix" if "mode:       fix" in (folder / "programs.txt").read_text() else "instruct"
        second_panel = "distorted.wav" if mode == "fix" else "target.wav"
        assert sorted(p.name for p in folder.iterdir()) == sorted(
            ["clean.wav", second_panel, "corrected.wav", "programs.txt", "spectrograms.png"]
        )
    tables = {
        a.path for a in tracking.client().list_artifacts(run.info.run_id, "evaluation/tables")
    }
    assert "evaluation/tables/by_family.json" in tables
    assert any(k.startswith("eval.model.family.") for k in eval_metrics)
    version_tags = tracking.client().get_model_version(tracking.registered_model, "1").tags
    assert version_tags["promotion_reason"] == report["reason"]
    checks = {c.check_name: c for c in first.get_asset_check_evaluations()}
    assert checks["model_beats_noop"].passed is (_scores(summary, "model").recovery_pooled > 0)
    too_small = checks["test_split_is_large_enough"]
    assert too_small.passed is False and too_small.severity.value == "WARN"

    tracking.set_alias(CHAMPION, "1")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking.tracking_uri)
    model = mlflow.pyfunc.load_model(f"models:/{tracking.registered_model}@{CHAMPION}")
    segment = Path(paths.processed_dir) / make_first_segment(paths)
    audio, rate = read_audio(segment)
    programs = model.predict(
        pd.DataFrame(
            {
                "audio_path": [str(segment), None],
                "audio": [None, audio.tolist()],
                "sample_rate": [None, rate],
                "prompt": ["fix it", "fix it"],
            }
        )
    )
    assert len(programs) == 2 and programs[0] == programs[1]
    parse(programs[0])
    pyfunc_dir = Path(pointer["model_dir"]).parent / "mlflow_model"
    requirements = (pyfunc_dir / "requirements.txt").read_text().split()
    assert any(r.startswith("torch==") for r in requirements)
    assert not any(r == "mixer" or r.startswith("mixer=") for r in requirements)
    _ingested(instance, "artist_b")
    second = _materialize(setup, instance)
    retrained = _metadata(second, "mixer_lora")
    assert retrained["model_version"] == 2
    assert retrained["artists"] == ["artist_a", "artist_b"]
    assert retrained["train_recipes"] == 2 * training["train_recipes"]
    pointer = json.loads((paths.models_path / LATEST_POINTER).read_text())
    report = json.loads(
        (Path(pointer["model_dir"]).parent / "evaluation" / "evaluation.json").read_text()
    )
    summary = report["report"]["summary"]
    assert {row["predictor"] for row in summary} == BASELINES | {CHAMPION}
    # the champion (version 1, set by hand above) is scored anew on the same recipes
    assert "lead over the champion" in report["reason"] and "95% interval" in report["reason"]
    assert _metadata(second, "mixer_evaluation")["enough_evidence"] is True
    champion_now = str(tracking.version_by_alias(CHAMPION).version)
    assert champion_now == ("2" if report["promoted"] else "1")
    assert str(tracking.version_by_alias(CHALLENGER).version) == "2"

    # each training is a LoggedModel carrying its evaluation: search_logged_models ranks them
    client = tracking.client()
    logged = [_metadata(r, "mixer_lora")["mlflow_logged_model"] for r in (first, second)]
    for version, model_id in zip(("1", "2"), logged, strict=True):
        tags = client.get_model_version(tracking.registered_model, version).tags
        assert tags[LOGGED_MODEL_TAG] == model_id
        assert client.get_logged_model(model_id).tags["registered_version"] == version
    metric = "eval.model.recovery_pooled"
    ranked = client.search_logged_models(
        [tracking.experiment_id()],
        order_by=[{"field_name": f"metrics.{metric}", "ascending": False}],
    )
    assert sorted(m.model_id for m in ranked) == sorted(logged)
    values = [next(x.value for x in m.metrics if x.key == metric) for m in ranked]
    assert values == sorted(values, reverse=True)
    assert all(m.status == "READY" and m.source_run_id for m in ranked)


def make_first_segment(paths: PathsResource) -> str:
    table = pd.read_parquet(next(Path(paths.processed_dir).glob("*/segments.parquet")))
    return str(table["segment_path"].iloc[0])


def test_retrain_job_and_schedule_are_defined(monkeypatch: pytest.MonkeyPatch) -> None:
    job = defs.resolve_job_def("retrain")
    assert {key.to_user_string() for key in job.asset_layer.selected_asset_keys} == {
        "mixer_lora",
        "mixer_evaluation",
    }
    schedule = defs.resolve_schedule_def("weekly_retrain")
    assert schedule.cron_schedule == load_config().default.retrain_cron == "0 3 * * 1"
    assert schedule.default_status == DEFAULT_SCHEDULE_STATUS
    assert schedule.job_name == "retrain"
    assert defs.resolve_assets_def("mixer_lora").op.pool == "gpu"
    assert int(job.tags["dagster/max_runtime"]) > 0


def test_schedule_cron_comes_from_the_config_and_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "mixer_config.yaml"
    data = load_config().model_dump(mode="json")
    data["default"]["retrain_cron"] = "30 1 * * *"
    config.write_text(yaml.safe_dump(data))
    monkeypatch.setenv("MIXER_CONFIG", str(config))
    assert build_retrain_schedule().cron_schedule == "30 1 * * *"
    monkeypatch.setenv("MIXER_RETRAIN_CRON", "0 0 1 * *")
    monkeypatch.setenv("MIXER_RETRAIN_SCHEDULE_STATUS", "running")
    schedule = build_retrain_schedule()
    assert schedule.cron_schedule == "0 0 1 * *"
    assert schedule.default_status.value == "RUNNING"
    monkeypatch.setenv("MIXER_RETRAIN_SCHEDULE_STATUS", "sometimes")
    with pytest.raises(ConfigError, match="MIXER_RETRAIN_SCHEDULE_STATUS='sometimes'"):
        build_retrain_schedule()
    monkeypatch.delenv("MIXER_RETRAIN_CRON")
    data["default"]["retrain_cron"] = "weekly"
    config.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=r"default\.retrain_cron"):
        build_retrain_schedule()


@pytest.mark.parametrize(("recovery", "passed"), [(0.25, True), (0.0, False), (-0.4, False)])
def test_check_fails_a_model_that_does_not_beat_noop(recovery: float, passed: bool) -> None:
    instance = DagsterInstance.ephemeral()
    context = build_asset_check_context(instance=instance)
    assert model_beats_noop(context).passed is False  # never evaluated
    instance.report_runless_asset_event(
        AssetMaterialization(
            mixer_evaluation.key, metadata={"recovery_pooled": recovery, "model_version": 3}
        )
    )
    result = model_beats_noop(context)
    assert result.passed is passed
    assert result.metadata["recovery_pooled"].value == recovery


def test_listening_sample_takes_each_mode_in_turn_and_may_take_none() -> None:
    examples = _examples(MIXED, range(20, 23))
    modes = {ex.recipe.mode for ex in examples}
    assert modes == {"fix", "instruct"}
    picked = listening_sample(examples, 4)
    assert len(picked) == 4 and {ex.recipe.mode for ex in picked} == modes
    assert listening_sample(examples, 0) == []
