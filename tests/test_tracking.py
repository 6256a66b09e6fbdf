"""MLflow tracking/registry on a real SQLite store, and the champion/challenger rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.promotion import Scores, decide
from pipelines.tracking import CHALLENGER, CHAMPION, MlflowResource, flatten


@pytest.fixture
def tracking(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> MlflowResource:
    monkeypatch.setenv("MIXER_STATE_DIR", str(tmp_path / "state"))
    return MlflowResource(tracking_uri=f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}")


def test_flatten_nested_config() -> None:
    assert flatten({"a": {"b": 1, "c": {"d": [1, 2]}}, "e": None}) == {
        "a.b": "1",
        "a.c.d": "[1, 2]",
        "e": "None",
    }


def test_run_params_metrics_artifacts_and_versions(tracking: MlflowResource, tmp_path: Path):
    run_id = tracking.start_run("unit", tags={"k": "v"})
    tracking.log_params(run_id, {"default": {"batch_size": 8}, "seed": 0})
    tracking.log_metrics(run_id, {"loss": 1.5, "nan_is_dropped": float("nan")}, step=3)
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "weights.txt").write_text("w")
    tracking.log_artifacts(run_id, folder, "model")
    first = tracking.register(run_id, "model")
    tracking.end_run(run_id)

    client = tracking.client()
    run = client.get_run(run_id)
    assert run.data.params == {"default.batch_size": "8", "seed": "0"}
    assert run.data.metrics == {"loss": 1.5}
    assert client.get_metric_history(run_id, "loss")[0].step == 3
    assert run.info.status == "FINISHED"
    assert tracking.version_by_alias(CHALLENGER).version == first.version
    assert tracking.version_by_alias(CHAMPION) is None
    stored = Path(first.source.removeprefix("file://"))
    assert stored.joinpath("weights.txt").exists()
    assert stored.is_relative_to(tmp_path / "store" / "mlartifacts")
    assert not (tmp_path / "state").exists()

    tracking.set_alias(CHAMPION, first.version)
    second = tracking.register(tracking.start_run("again"), "model")
    assert tracking.version_by_alias(CHALLENGER).version == second.version
    assert tracking.version_by_alias(CHAMPION).version == first.version


@pytest.mark.parametrize(
    ("candidate", "champion", "promote", "why"),
    [
        (Scores(0.4, 1.0), None, True, "beats no-op"),
        (Scores(-0.1, 1.0), None, False, "does not beat no-op"),
        (Scores(0.5, 1.0), Scores(0.4, 1.0), True, "beats the champion"),
        (Scores(0.3, 1.0), Scores(0.4, 1.0), False, "does not beat"),
        (Scores(0.4, 1.0), Scores(0.4, 1.0), False, "does not beat"),
        (Scores(0.9, 0.95), Scores(0.4, 1.0), False, "valid-call rate"),
    ],
)
def test_promotion_rule(candidate: Scores, champion: Scores | None, promote: bool, why: str):
    decision = decide(candidate, champion)
    assert decision.promote is promote and why in decision.reason
