"""MLflow tracking/registry on a real SQLite store, and the champion/challenger rule
applied to it."""

from __future__ import annotations

from pathlib import Path

import pytest

from mixer_core.evaluation.promotion import Lead, Scores, already_champion, decide
from pipelines.pyfunc import version_source
from pipelines.resources import MlflowResource, RegistryError
from pipelines.tracking import CHALLENGER, CHAMPION, flatten


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


GOOD, SURE, UNSURE = Scores(0.5, 1.0, 0.05), Lead(0.1, 0.04, 0.16), Lead(0.1, -0.02, 0.2)


@pytest.mark.parametrize(
    ("candidate", "champion", "lead", "enough", "promote", "why"),
    [
        (GOOD, None, SURE, True, True, "no champion yet; lead over no-op +0.1000"),
        (GOOD, None, UNSURE, True, False, "may not beat doing nothing"),
        (GOOD, None, SURE, False, False, "not enough evidence"),
        (GOOD, Scores(0.4, 1.0, 0.05), SURE, True, True, "lead over the champion"),
        (GOOD, Scores(0.4, 1.0, 0.05), UNSURE, True, False, "not a lead the test set supports"),
        (GOOD, Scores(0.4, 1.0, 0.04), SURE, True, False, "more than the champion's 4.0%"),
        (Scores(0.9, 0.95, 0.0), Scores(0.4, 1.0, 0.1), SURE, True, False, "valid-call rate"),
        (GOOD, Scores(0.1, 1.0, 0.3), SURE, False, False, "not enough evidence"),
    ],
)
def test_promotion_needs_evidence(candidate, champion, lead, enough, promote, why) -> None:
    decision = decide(
        candidate, champion, lead, enough, "not enough evidence: 2 songs" if not enough else ""
    )
    assert decision.promote is promote and why in decision.reason
    assert decide(GOOD, None, Lead(0.1, 0.04, 0.16), margin=0.05).promote is False


def _registered_versions(tracking: MlflowResource, tmp_path: Path, count: int) -> list[str]:
    folder = tmp_path / "model"
    folder.mkdir(exist_ok=True)
    (folder / "weights.txt").write_text("w")
    versions = []
    for index in range(count):
        run_id = tracking.start_run(f"v{index}")
        tracking.log_artifacts(run_id, folder, "model")
        versions.append(str(tracking.register(run_id, "model").version))
    return versions


def test_better_version_becomes_champion_worse_stays_challenger(
    tracking: MlflowResource, tmp_path: Path
) -> None:
    first, second, third = _registered_versions(tracking, tmp_path, 3)
    client = tracking.client()

    def tags(version: str) -> dict[str, str]:
        return client.get_model_version(tracking.registered_model, version).tags

    tracking.record_promotion(first, decide(Scores(0.3, 1.0, 0.1), None, SURE))
    assert str(tracking.version_by_alias(CHAMPION).version) == first
    assert tags(first)["promoted_to_champion"] == "true"

    better = decide(Scores(0.5, 1.0, 0.1), Scores(0.3, 1.0, 0.1), SURE)
    tracking.record_promotion(second, better)
    assert str(tracking.version_by_alias(CHAMPION).version) == second
    assert tags(second)["promotion_reason"] == better.reason

    worse = decide(Scores(0.5, 1.0, 0.1), Scores(0.4, 1.0, 0.1), UNSURE)
    tracking.record_promotion(third, worse)
    assert str(tracking.version_by_alias(CHAMPION).version) == second
    assert str(tracking.version_by_alias(CHALLENGER).version) == third
    assert tags(third) == {"promoted_to_champion": "false", "promotion_reason": worse.reason}
    assert "interval -0.0200 to +0.2000" in worse.reason

    tracking.record_promotion(second, already_champion(second))
    assert str(tracking.version_by_alias(CHAMPION).version) == second
    assert "already is the champion" in tags(second)["promotion_reason"]


def test_model_uris_resolve_to_the_version_sources(tracking: MlflowResource, tmp_path: Path):
    first, second = _registered_versions(tracking, tmp_path, 2)
    client = tracking.client()
    name = tracking.registered_model
    source = {v: client.get_model_version(name, v).source for v in (first, second)}
    tracking.set_alias(CHAMPION, first)
    assert version_source(client, f"models:/{name}@{CHAMPION}") == source[first]
    assert version_source(client, f"models:/{name}/{second}") == source[second]
    assert version_source(client, f"models:/{name}/latest") == source[second]
    with pytest.raises(ValueError, match="expected models:/<name>@<alias>"):
        version_source(client, f"models:/{name}")
    with pytest.raises(ValueError, match="has no versions"):
        version_source(client, "models:/nobody/latest")


def test_only_a_missing_alias_means_no_champion(tracking: MlflowResource, tmp_path: Path):
    assert tracking.version_by_alias(CHAMPION) is None  # no registered model yet
    run_id = tracking.start_run("unit")
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "w.txt").write_text("w")
    tracking.log_artifacts(run_id, folder, "model")
    tracking.register(run_id, "model")
    assert tracking.version_by_alias(CHAMPION) is None  # the model, but no such alias
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"this is not a database" * 100)
    unreadable = MlflowResource(tracking_uri=f"sqlite:///{broken}")
    with pytest.raises(RegistryError, match=r"cannot read alias 'champion'.*broken\.db"):
        unreadable.version_by_alias(CHAMPION)
