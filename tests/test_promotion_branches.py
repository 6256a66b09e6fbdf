"""Both promotion branches of ``mixer_evaluation`` on a real SQLite registry, and the
test-split check passing.

A module fixture trains version 1 through the real ``mixer_lora`` asset on two artists
(enough evidence for a decision) and evaluates it. Each promotion test then makes
version 1 the champion by hand, trains a new version and evaluates it against a
champion whose programs are forced: the real registered model is loaded from the
registry (``MlflowResource.load_predictor``) and wrapped so that it answers either a
program far worse than anything (``change_volume(db=-20.0)`` on every recipe: the
challenger must be promoted), the tuned heuristic's programs (clearly better than a
4-step model: the challenger must not be), or the challenger's own programs (a lead of
exactly 0, refused by the interval rule). Each test resets the alias first, so none
depends on another having run.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from dagster import DagsterInstance, materialize

from assets.evaluation import REPORT_FILENAME, evaluation_dir, mixer_evaluation
from assets.training import mixer_lora
from mixer_core.config import load_config
from mixer_core.data.splits import resolve_splits
from mixer_core.evaluation.baselines import HeuristicBaseline
from mixer_core.evaluation.runner import fit_heuristic_on_split
from mixer_core.language.grammar import ToolCall, parse
from mixer_core.model import MixerPredictor
from mixer_core.training import load_training_table
from pipelines.definitions import ASSET_CHECKS, ASSETS
from pipelines.resources import MixerConfigResource, MlflowResource, PathsResource
from pipelines.tracking import CHALLENGER, CHAMPION
from tests.test_model_assets import _ingested, _metadata
from tests.training_fixtures import make_processed_tree, promotion_config

ARTISTS = ("artist_a", "artist_b")
HEURISTIC_FIT_EXAMPLES = 4
WORSE_PROGRAM = "change_volume(db=-20.0)"

# every URI the forced champions loaded, so a test can tell which version was scored
champion_loads: list[str] = []


class _ForcedPrograms:
    """A really loaded champion whose programs are replaced by ``answer``'s."""

    def __init__(self, loaded: Any, answer: Any) -> None:
        self.loaded = loaded
        self.answer = answer

    def predict_batch(
        self, audios: Sequence[np.ndarray], sample_rate: int, prompts: Sequence[str]
    ) -> list[list[ToolCall]]:
        return self.answer(audios, sample_rate, prompts)


class ForcedChampionMlflow(MlflowResource):
    """The real resource, except that the champion it loads answers a forced program:
    ``champion_program`` on every recipe, the programs of the heuristic baseline
    serialised in ``champion_heuristic`` (``HeuristicBaseline.to_dict`` JSON), or, with
    ``champion_as_challenger``, the programs of the version under test itself."""

    champion_program: str = ""
    champion_heuristic: str = ""
    champion_as_challenger: bool = False

    def load_predictor(self, uri: str) -> Any:
        loaded = super().load_predictor(uri)
        assert isinstance(loaded, MixerPredictor)  # the registry's version, really loaded
        champion_loads.append(uri)
        if self.champion_as_challenger:
            challenger = super().load_predictor(f"models:/{self.registered_model}@{CHALLENGER}")
            return _ForcedPrograms(loaded, challenger.predict_batch)
        if self.champion_heuristic:
            heuristic = HeuristicBaseline.from_dict(json.loads(self.champion_heuristic))
            return _ForcedPrograms(loaded, heuristic.predict_batch)
        calls = parse(self.champion_program)
        return _ForcedPrograms(loaded, lambda audios, _rate, _prompts: [calls for _ in audios])


@dataclass(frozen=True)
class Trained:
    root: Path
    paths: PathsResource
    config_path: Path
    tracking: MlflowResource
    first: Any  # the fixture's materialization result (version 1, no champion yet)


def _materialize(trained: Trained, mlflow: MlflowResource):
    instance = DagsterInstance.ephemeral()
    for artist in ARTISTS:
        _ingested(instance, artist)
    result = materialize(
        [*ASSETS, *ASSET_CHECKS],
        selection=[mixer_lora.key, mixer_evaluation.key],
        instance=instance,
        resources={
            "paths": trained.paths,
            "mixer_config": MixerConfigResource(path=str(trained.config_path)),
            "mlflow": mlflow,
        },
        run_config={
            "ops": {
                "mixer_evaluation": {
                    "config": {
                        "heuristic_fit_examples": HEURISTIC_FIT_EXAMPLES,
                        "listening_examples": 1,
                    }
                }
            }
        },
    )
    assert result.success
    return result


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, one_torch_thread: None) -> Iterator[Trained]:
    root = tmp_path_factory.mktemp("promotion_branches")
    cfg = promotion_config()  # song_3 of each artist is a test song
    config_path = root / "mixer_config.yaml"
    config_path.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    for artist in ARTISTS:
        processed = make_processed_tree(root, cfg, artist=artist)
    paths = PathsResource(
        raw_dir=str(root / "raw"),
        processed_dir=str(processed),
        models_dir=str(root / "models"),
        dataset_file=str(root / "dataset.parquet"),
    )
    tracking = MlflowResource(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MIXER_STATE_DIR", str(root / "state"))
        setup = Trained(root, paths, config_path, tracking, None)
        first = _materialize(setup, tracking)
        assert _metadata(first, "mixer_lora")["model_version"] == 1
        yield Trained(root, paths, config_path, tracking, first)


def _forced(trained: Trained, **fields: str) -> ForcedChampionMlflow:
    tracking = trained.tracking
    return ForcedChampionMlflow(
        tracking_uri=tracking.tracking_uri,
        experiment_name=tracking.experiment_name,
        registered_model=tracking.registered_model,
        **fields,
    )


def _report(result) -> dict:
    model_dir = Path(_metadata(result, "mixer_lora")["model_dir"])
    return json.loads((evaluation_dir(model_dir) / REPORT_FILENAME).read_text())


def _recovery(report: dict, predictor: str) -> float:
    summary = report["report"]["summary"]
    return next(r["recovery_pooled"] for r in summary if r["predictor"] == predictor)


def _lead_over_champion(report: dict) -> dict:
    leads = report["report"]["leads"]
    return next(r for r in leads if r["over"] == CHAMPION and r["mode"] == "all")


def _version_tags(tracking: MlflowResource, version: str) -> dict[str, str]:
    return tracking.client().get_model_version(tracking.registered_model, version).tags


def test_a_worse_champion_is_replaced_by_the_challenger(trained: Trained) -> None:
    tracking = trained.tracking
    tracking.set_alias(CHAMPION, "1")
    champion_loads.clear()

    result = _materialize(trained, _forced(trained, champion_program=WORSE_PROGRAM))

    evaluation = _metadata(result, "mixer_evaluation")
    version = str(evaluation["model_version"])
    assert version != "1" and str(tracking.version_by_alias(CHALLENGER).version) == version
    assert champion_loads == [f"models:/{tracking.registered_model}/1"]  # the champion was scored
    report = _report(result)
    assert _recovery(report, CHAMPION) < _recovery(report, "model"), report["report"]["summary"]
    assert _lead_over_champion(report)["lead_ci_low"] > 0.0
    assert evaluation["enough_evidence"] is True
    assert evaluation["promoted_to_champion"] is True, evaluation["promotion_reason"]
    assert evaluation["promotion_reason"].startswith("lead over the champion")
    assert "is above 0" in evaluation["promotion_reason"]
    assert report["promoted"] is True
    assert str(tracking.version_by_alias(CHAMPION).version) == version
    tags = _version_tags(tracking, version)
    assert tags["promoted_to_champion"] == "true"
    assert tags["promotion_reason"] == evaluation["promotion_reason"]
    run = tracking.client().get_run(_metadata(result, "mixer_lora")["mlflow_run_id"])
    assert run.data.tags["promoted_to_champion"] == "true"


def test_a_better_champion_keeps_the_alias(trained: Trained) -> None:
    tracking = trained.tracking
    tracking.set_alias(CHAMPION, "1")
    champion_loads.clear()
    # the tuned heuristic, fitted as the asset fits it (the train split of both artists)
    cfg = load_config(trained.config_path)
    processed = trained.paths.processed_path
    table, _ = resolve_splits(load_training_table(processed, list(ARTISTS)), cfg.data.split)
    heuristic = fit_heuristic_on_split(
        table, processed, cfg.data, max_fit_examples=HEURISTIC_FIT_EXAMPLES, progress=False
    )

    result = _materialize(
        trained, _forced(trained, champion_heuristic=json.dumps(heuristic.to_dict()))
    )

    evaluation = _metadata(result, "mixer_evaluation")
    version = str(evaluation["model_version"])
    assert version != "1" and str(tracking.version_by_alias(CHALLENGER).version) == version
    assert champion_loads == [f"models:/{tracking.registered_model}/1"]
    report = _report(result)
    summary = report["report"]["summary"]
    # the forced champion is the heuristic the asset scores beside it, and clearly better:
    # the whole 95% interval of the challenger's lead over it is below zero
    assert _recovery(report, CHAMPION) == pytest.approx(_recovery(report, "heuristic"))
    assert _recovery(report, CHAMPION) > _recovery(report, "model") + 0.05, summary
    lead = _lead_over_champion(report)
    assert lead["lead_ci_high"] < 0.0, lead
    assert evaluation["enough_evidence"] is True
    assert evaluation["promoted_to_champion"] is False
    assert report["promoted"] is False
    # refused by a comparison with the champion (the 4-step model makes more recipes worse
    # than the input than the heuristic does, which is the first rule it fails)
    reason = evaluation["promotion_reason"]
    assert "the champion's" in reason or "lead over the champion" in reason, reason
    assert str(tracking.version_by_alias(CHAMPION).version) == "1"
    tags = _version_tags(tracking, version)
    assert tags["promoted_to_champion"] == "false"
    assert tags["promotion_reason"] == reason
    run = tracking.client().get_run(_metadata(result, "mixer_lora")["mlflow_run_id"])
    assert run.data.tags["promoted_to_champion"] == "false"


def test_a_champion_the_challenger_only_ties_keeps_the_alias(trained: Trained) -> None:
    """The champion answers the challenger's own programs: every rule but the interval
    passes (equal rates), and a lead of exactly 0 is not a lead the test set supports."""
    tracking = trained.tracking
    tracking.set_alias(CHAMPION, "1")
    champion_loads.clear()

    result = _materialize(trained, _forced(trained, champion_as_challenger=True))

    evaluation = _metadata(result, "mixer_evaluation")
    version = str(evaluation["model_version"])
    assert version != "1" and champion_loads == [f"models:/{tracking.registered_model}/1"]
    report = _report(result)
    assert _recovery(report, CHAMPION) == _recovery(report, "model")
    lead = _lead_over_champion(report)
    assert lead["lead"] == lead["lead_ci_low"] == lead["lead_ci_high"] == 0.0, lead
    assert evaluation["enough_evidence"] is True
    assert evaluation["promoted_to_champion"] is False
    reason = evaluation["promotion_reason"]
    assert reason == (
        "lead over the champion +0.0000 (95% interval +0.0000 to +0.0000) is not above 0: "
        "not a lead the test set supports"
    )
    assert str(tracking.version_by_alias(CHAMPION).version) == "1"
    tags = _version_tags(tracking, version)
    assert tags["promoted_to_champion"] == "false"
    assert tags["promotion_reason"] == reason


def test_split_check_passes_when_the_test_split_meets_the_minimum(trained: Trained) -> None:
    evaluation = _metadata(trained.first, "mixer_evaluation")
    assert evaluation["enough_evidence"] is True
    assert evaluation["evidence"] == "test split: 2 songs of 2 artists (split by song)"
    checks = {c.check_name: c for c in trained.first.get_asset_check_evaluations()}
    large_enough = checks["test_split_is_large_enough"]
    assert large_enough.passed is True and large_enough.severity.value == "WARN"
    assert large_enough.metadata["evidence"].value == evaluation["evidence"]
