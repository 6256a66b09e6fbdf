"""The evaluation routine end to end on generated audio: baselines, invalid outputs, tables."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from mixer_core.audio.io import write_audio
from mixer_core.audio.loudness import normalize_lufs
from mixer_core.config import Config, load_config
from mixer_core.data.augmentation import sample_recipes
from mixer_core.data.generator import generate_dataset, generate_song
from mixer_core.data.rendering import render_example
from mixer_core.evaluation.baselines import (
    SHRINKAGE_GRID,
    HeuristicBaseline,
    NoOpBaseline,
    OracleBaseline,
    evenly_spaced,
)
from mixer_core.evaluation.folder import evaluate_folder
from mixer_core.evaluation.metrics import MRSTFT
from mixer_core.evaluation.report import (
    AUDIBLE_DISTANCE,
    PARAM_PREFIX,
    SUMMARY_COLUMNS,
    EvaluationReport,
)
from mixer_core.evaluation.runner import (
    EvalExample,
    build_examples,
    evaluate,
    fit_heuristic,
    fit_heuristic_on_split,
)
from mixer_core.language.grammar import ToolCall, parse
from mixer_core.tools.mixing_tools import MixingTools

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SR = 16000
SEGMENT_SECONDS = 1.5
REFERENCE_LUFS = -20.0


def _config(augmentation: dict[str, Any]) -> Config:
    return load_config(
        overrides={
            "data": {
                "sample_rate": SR,
                "segment_seconds": SEGMENT_SECONDS,
                "hop_seconds": SEGMENT_SECONDS,
                "reference_lufs": REFERENCE_LUFS,
            },
            "generators": {"sample_rate": SR, "seconds": 2 * SEGMENT_SECONDS},
            "augmentation": augmentation,
        }
    )


INVERTIBLE = _config(
    {
        "recipes_per_segment": 3,
        "fix_ratio": 1.0,
        "identity_ratio": 0.0,
        "subtle_ratio": 0.0,
        "tools": {
            "change_volume": {"probability": 0.5, "params": {"db": [-12.0, 12.0]}},
            "apply_eq": {
                "probability": 0.5,
                "params": {
                    "low_gain": [-12.0, 12.0],
                    "mid_gain": [-12.0, 12.0],
                    "high_gain": [-12.0, 12.0],
                },
            },
            "pan": {"probability": 0.3, "params": {"position": [-0.8, 0.8]}},
            "stereo_width": {"probability": 0.3, "params": {"width": [0.5, 1.6]}},
        },
    }
)
MIXED = _config(
    {
        "recipes_per_segment": 4,
        "fix_ratio": 0.5,
        "chain_length": {"min": 2, "max": 2},
        "tools": {
            "change_volume": {"probability": 0.5, "params": {"db": [-12.0, 12.0]}},
            "apply_eq": {"probability": 0.5, "params": {"low_gain": [-12.0, 12.0]}},
            "apply_reverb": {"probability": 0.3, "params": {"wet": [0.1, 0.5]}},
        },
    }
)


FOLDER = _config({**INVERTIBLE.augmentation.model_dump(), "recipes_per_segment": 1})


def _examples(cfg: Config, seeds: Sequence[int]) -> list[EvalExample]:
    examples = []
    for seed in seeds:
        segment = generate_song(seed, SEGMENT_SECONDS, SR)
        for recipe in sample_recipes(f"artist/song_{seed}/0000", cfg.augmentation):
            model_input, reference = render_example(segment, SR, recipe, REFERENCE_LUFS)
            examples.append(EvalExample(recipe, model_input, reference, "artist"))
    return examples


@pytest.fixture(scope="module")
def invertible_report() -> EvaluationReport:
    predictors = {"noop": NoOpBaseline(), "oracle": OracleBaseline()}
    return evaluate(_examples(INVERTIBLE, range(4)), predictors, SR, progress=False)


@pytest.fixture(scope="module")
def mixed_examples() -> list[EvalExample]:
    return _examples(MIXED, range(10, 13))


class TextPredictor:
    """A model stand-in that writes fixed text, whatever it hears."""

    def __init__(self, texts: Sequence[str]) -> None:
        self.texts = list(texts)

    def predict_batch(
        self, audios: Sequence[np.ndarray], sample_rate: int, prompts: Sequence[str]
    ) -> list[str]:
        return [self.texts[i % len(self.texts)] for i in range(len(audios))]


def test_oracle_recovers_exactly_invertible_families(invertible_report: EvaluationReport) -> None:
    families = set(",".join(invertible_report.examples["families"]).split(","))
    assert families <= {"gain", "eq", "stereo"} and len(families) >= 2
    oracle = invertible_report.scores("oracle")
    assert oracle["recovery_pooled"] >= 0.99
    assert oracle["recovery_median"] >= 0.99
    assert oracle["valid_call_rate"] == 1.0
    assert oracle["tool_set_f1"] == 1.0
    assert oracle["param_error_db"] == 0.0
    assert oracle["lufs_error"] < 0.05


def test_no_op_recovers_exactly_nothing(invertible_report: EvaluationReport) -> None:
    noop = invertible_report.scores("noop")
    assert noop["recovery_pooled"] == 0.0
    assert noop["recovery_median"] == 0.0
    assert noop["mrstft"] == noop["mrstft_noop"] > 0.0
    assert noop["valid_call_rate"] == 1.0
    assert noop["tool_set_f1"] == 0.0
    assert noop["worst_vs_noop"] == 1.0


def test_worst_ratio_counts_only_inputs_that_are_audibly_off(
    mixed_examples: list[EvalExample],
) -> None:
    louder = TextPredictor(["change_volume(db=6.0)"])
    report = evaluate(mixed_examples, {"model": louder}, SR, progress=False)
    rows = report.examples
    off = rows[rows["d_noop"] >= AUDIBLE_DISTANCE]
    expected = (off["d_model"] / off["d_noop"]).max()
    assert report.scores("model")["worst_vs_noop"] == pytest.approx(expected)


def test_invalid_text_counts_as_invalid_and_runs_as_empty(
    mixed_examples: list[EvalExample],
) -> None:
    texts = ["apply_eq(low_gain=2.0", "change_volume(db=99.0)", "change_volume(db=-1.0)"]
    report = evaluate(mixed_examples, {"model": TextPredictor(texts)}, SR, progress=False)
    rows = report.examples
    assert list(rows["prediction"][:3]) == texts
    assert list(rows["valid"][:3]) == [False, False, True]
    invalid = rows[~rows["valid"]]
    assert (invalid["d_model"] == invalid["d_noop"]).all()
    assert report.scores("model")["valid_call_rate"] == (rows["prediction"] == texts[2]).mean()


def test_summary_has_every_metric_per_mode_and_per_family(
    mixed_examples: list[EvalExample],
) -> None:
    heuristic = fit_heuristic(mixed_examples, SR)
    predictors = {"noop": NoOpBaseline(), "oracle": OracleBaseline(), "heuristic": heuristic}
    report = evaluate(mixed_examples, predictors, SR, progress=False, batch_size=5)
    assert list(report.summary.columns) == ["predictor", *SUMMARY_COLUMNS]
    assert list(report.summary["predictor"]) == ["noop", "oracle", "heuristic"]
    assert set(report.by_mode["mode"]) == {"fix", "instruct"}
    assert (report.summary["examples"] == len(mixed_examples)).all()

    family_counts: dict[str, int] = {}
    for ex in mixed_examples:
        assert len(ex.recipe.families) == 2
        for family in ex.recipe.families:
            family_counts[family] = family_counts.get(family, 0) + 1
    oracle = report.by_family[report.by_family["predictor"] == "oracle"]
    assert dict(zip(oracle["family"], oracle["examples"], strict=True)) == family_counts
    assert list(report.by_family.columns) == ["predictor", "family", *SUMMARY_COLUMNS]

    fix = report.by_mode.set_index(["predictor", "mode"]).loc[("oracle", "fix")]
    assert fix["recovery_pooled"] > 0.9
    assert any(c.startswith(PARAM_PREFIX) for c in report.examples.columns)
    assert {"apply_eq.low_gain", "change_volume.db"} <= set(report.per_param["param"])


def test_intervals_bound_the_pooled_figures_and_the_oracle_leads_no_op(
    mixed_examples: list[EvalExample],
) -> None:
    predictors = {"noop": NoOpBaseline(), "oracle": OracleBaseline()}
    report = evaluate(mixed_examples, predictors, SR, progress=False)
    for table in (report.summary, report.by_mode, report.by_family):
        bounded = table.dropna(subset=["recovery_ci_low"])
        assert len(bounded) == len(table)
        assert (bounded["recovery_ci_low"] <= bounded["recovery_pooled"] + 1e-9).all()
        assert (bounded["recovery_pooled"] <= bounded["recovery_ci_high"] + 1e-9).all()
    oracle = report.scores("oracle")
    low, high = report.lead_interval("oracle", "noop")
    assert 0.0 < low <= oracle["recovery_pooled"] <= high
    assert report.lead_interval("noop", "noop") == (0.0, 0.0)
    leads = report.leads.set_index("mode")
    assert list(leads.index) == ["all", *dict.fromkeys(ex.recipe.mode for ex in mixed_examples)]
    lead = leads.loc["all"]
    assert lead["predictor"] == "noop" and lead["over"] == "oracle"
    assert lead["lead_ci_high"] < 0 and lead["lead"] == pytest.approx(-oracle["recovery_pooled"])
    by_mode = report.by_mode.set_index(["predictor", "mode"])["recovery_pooled"]
    fix = leads.loc["fix"]
    assert fix["lead"] == pytest.approx(-by_mode["oracle", "fix"])
    assert (fix["lead_ci_low"], fix["lead_ci_high"]) == report.lead_interval(
        "noop", "oracle", "fix"
    )
    assert "## Paired leads" in report.to_markdown()
    assert report.to_dict()["leads"][0]["over"] == "oracle"
    with pytest.raises(KeyError, match="no predictor 'model'"):
        report.lead_interval("model", "noop")


def test_report_renders_as_markdown_and_strict_json(mixed_examples: list[EvalExample]) -> None:
    report = evaluate(mixed_examples[:4], {"noop": NoOpBaseline()}, SR, progress=False)
    report = EvaluationReport(report.examples, ("fitted on nothing",))
    text = report.to_markdown()
    for heading in ("## Overall", "## By mode", "## By distortion family", "fitted on nothing"):
        assert heading in text
    data = json.loads(report.to_json(include_examples=True))
    assert data["summary"][0]["predictor"] == "noop"
    assert len(data["examples"]) == 4
    assert data["notes"] == ["fitted on nothing"]


def test_concat_equals_one_evaluation(mixed_examples: list[EvalExample]) -> None:
    predictors = {"oracle": OracleBaseline(), "noop": NoOpBaseline()}
    whole = evaluate(mixed_examples, predictors, SR, progress=False)
    halves = [
        evaluate(part, predictors, SR, progress=False)
        for part in (mixed_examples[:5], mixed_examples[5:])
    ]
    joined = EvaluationReport.concat(halves, notes=["two halves"])
    pd.testing.assert_frame_equal(joined.summary, whole.summary)
    assert joined.notes == ("two halves",)


def test_predictors_must_answer_in_full(mixed_examples: list[EvalExample]) -> None:
    with pytest.raises(TypeError, match=r"'odd'.*neither predict_batch nor predict_targets"):
        evaluate(mixed_examples[:1], {"odd": object()}, SR, progress=False)  # type: ignore[dict-item]

    class Short:
        def predict_batch(self, audios: Any, sample_rate: int, prompts: Any) -> list[str]:
            return []

    with pytest.raises(ValueError, match="'short' returned 0 programs for 1"):
        evaluate(mixed_examples[:1], {"short": Short()}, SR, progress=False)


def test_build_examples_renders_one_split_from_the_table(tmp_path: Path) -> None:
    rows = []
    for seed, split in ((1, "test"), (2, "train")):
        segment = generate_song(seed, SEGMENT_SECONDS, SR)
        relative = f"artist/song_{seed}/0000.wav"
        write_audio(tmp_path / relative, segment, SR)
        for recipe in sample_recipes(f"artist/song_{seed}/0000", MIXED.augmentation):
            rows.append({**recipe.to_row(), "split": split, "segment_path": relative})
    table = pd.DataFrame(rows)
    examples = build_examples(table, tmp_path, MIXED.data, split="test")
    assert [ex.recipe.segment_id for ex in examples] == ["artist/song_1/0000"] * 4
    segment = generate_song(1, SEGMENT_SECONDS, SR)
    expected_input, expected_reference = render_example(
        segment, SR, examples[0].recipe, REFERENCE_LUFS
    )
    np.testing.assert_allclose(examples[0].input, expected_input, atol=1e-5)
    np.testing.assert_allclose(examples[0].reference, expected_reference, atol=1e-5)
    assert len(build_examples(table, tmp_path, MIXED.data, split="train", limit=3)) == 3
    with pytest.raises(ValueError, match="no recipes in split 'val'"):
        build_examples(table, tmp_path, MIXED.data, split="val")
    with pytest.raises(ValueError, match=r"lacks column.*segment_path"):
        build_examples(table.drop(columns="segment_path"), tmp_path, MIXED.data)


def test_heuristic_on_a_split_uses_every_segment_and_spreads_its_fit(tmp_path: Path) -> None:
    rows, references = [], []
    for seed in range(6):
        segment = generate_song(seed, SEGMENT_SECONDS, SR)
        relative = f"artist/song_{seed}/0000.wav"
        write_audio(tmp_path / relative, segment, SR)
        split = "test" if seed == 5 else "train"
        if split == "train":
            references.append(normalize_lufs(segment, SR, REFERENCE_LUFS)[0])
        for recipe in sample_recipes(f"artist/song_{seed}/0000", MIXED.augmentation):
            rows.append({**recipe.to_row(), "split": split, "segment_path": relative})
    table = pd.DataFrame(rows)
    fitted = fit_heuristic_on_split(table, tmp_path, MIXED.data, max_fit_examples=5, progress=False)
    expected = HeuristicBaseline.fit(references, SR)
    assert fitted.target_lufs == pytest.approx(expected.target_lufs, abs=1e-3)
    np.testing.assert_allclose(fitted.band_levels, expected.band_levels, atol=1e-3)
    assert set(fitted.fit_curve) == set(SHRINKAGE_GRID)
    assert fitted.shrinkage == min(fitted.fit_curve, key=lambda s: (fitted.fit_curve[s], s))

    fix_rows = table[(table["split"] == "train") & (table["mode"] == "fix")]
    chosen = fix_rows.sort_values("recipe_id").iloc[evenly_spaced(range(len(fix_rows)), 5)]
    assert chosen["segment_path"].nunique() > 1
    pairs = [
        (ex.input, ex.reference) for ex in build_examples(chosen, tmp_path, MIXED.data, "train")
    ]
    again = HeuristicBaseline(SR, fitted.target_lufs, fitted.band_levels)
    again.fit_shrinkage(pairs)
    assert again.fit_curve == pytest.approx(fitted.fit_curve)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("folder")
    paths = generate_dataset(root, 2, 2, SEGMENT_SECONDS, FOLDER.generators)
    (paths[0].parent / "broken.wav").write_bytes(b"not audio")
    return root


class Ears:
    """A predictor that records the prompts it was asked about."""

    def __init__(self) -> None:
        self.prompts: list[str] = []

    def predict_batch(
        self, audios: Sequence[np.ndarray], sample_rate: int, prompts: Sequence[str]
    ) -> list[list[ToolCall]]:
        self.prompts.extend(prompts)
        return [[] for _ in audios]


def test_evaluate_folder_fits_the_heuristic_leave_one_artist_out(folder: Path) -> None:
    ears = Ears()
    report = evaluate_folder(folder, {"model": ears}, FOLDER, progress=False)
    assert report.predictors == ["model", "noop", "oracle", "heuristic"]
    assert "leave-one-artist-out" in report.notes[0]
    assert any("broken.wav" in note for note in report.notes[1:])
    artists = report.examples.groupby("artist")["recipe_id"].nunique()
    assert artists.to_dict() == {"artist_01_ember": 2, "artist_02_river": 2}
    assert len(ears.prompts) == 4
    assert report.scores("oracle")["recovery_pooled"] >= 0.99
    assert report.scores("model")["recovery_pooled"] == 0.0


def test_evaluate_folder_with_one_artist_says_where_the_heuristic_was_fitted(
    folder: Path, tmp_path: Path
) -> None:
    artist = sorted(p for p in folder.iterdir() if p.name.startswith("artist_0"))[0]
    shutil.copytree(artist, tmp_path / artist.name)
    given = HeuristicBaseline(SR, REFERENCE_LUFS, (-2.0, -5.0, -14.0))
    report = evaluate_folder(tmp_path, {}, FOLDER, limit=1, progress=False)
    assert "fitted on the evaluated audio itself" in report.notes[0]
    assert len(report.examples) == 3
    kept = evaluate_folder(tmp_path, {"heuristic": given}, FOLDER, limit=1, progress=False)
    assert kept.notes[0] == "heuristic as given by the caller"
    with pytest.raises(ValueError, match="no audio found"):
        evaluate_folder(tmp_path / artist.name, {}, FOLDER)


def test_a_limit_is_spread_over_every_artist_and_song(tmp_path: Path) -> None:
    generate_dataset(tmp_path, 2, 3, 3 * SEGMENT_SECONDS, FOLDER.generators)
    report = evaluate_folder(tmp_path, {}, FOLDER, limit=6, progress=False)
    songs = report.examples["recipe_id"].str.rsplit("/", n=1).str[0].unique()
    assert report.examples["recipe_id"].nunique() == 6 and len(songs) == 6


def test_what_a_user_asks_is_reported_per_prompt_kind(mixed_examples: list[EvalExample]) -> None:
    """Oracle: every stated value exact, tools in order, nothing made worse; no-op: no value
    written; a wrong fixed gain makes recipes worse than the input."""
    predictors = {
        "loud": TextPredictor(["change_volume(db=12.0)"]),
        "oracle": OracleBaseline(),
        "noop": NoOpBaseline(),
    }
    report = evaluate(mixed_examples, predictors, SR, progress=False)
    oracle, noop, loud = (report.scores(name) for name in ("oracle", "noop", "loud"))
    assert oracle["exact_value_rate"] == 1.0 and oracle["tool_order_accuracy"] == 1.0
    assert oracle["worse_than_noop"] == 0.0 and noop["worse_than_noop"] == 0.0
    assert noop["exact_value_rate"] == 0.0
    assert loud["worse_than_noop"] > 0.5
    kinds = set(report.by_prompt_kind["prompt_kind"])
    assert "instruct" in kinds and kinds <= {"instruct", "named fix", "generic fix"}
    instruct = report.by_prompt_kind.set_index(["predictor", "prompt_kind"])
    assert instruct.loc[("oracle", "instruct"), "exact_value_rate"] == 1.0
    data = report.to_dict()
    assert data["by_prompt_kind"] and "worse_than_noop" in data["summary"][0]
    assert "## By prompt kind" in report.to_markdown()


def test_every_figure_is_auralosss_distance_on_the_executed_program(
    mixed_examples: list[EvalExample],
) -> None:
    """The evaluation keeps each reference's spectra and batches the outputs against it
    (and the heuristic's fit does so over its grid); every distance it reports must be
    what auraloss computes for that output, example by example, as before the speed-up."""
    heuristic = fit_heuristic(mixed_examples, SR, max_fit_examples=6)
    fit_pairs = evenly_spaced(
        [(ex.input, ex.reference) for ex in mixed_examples if ex.recipe.mode == "fix"], 6
    )
    for shrinkage, mean_distance in heuristic.fit_curve.items():
        by_auraloss = [
            _auraloss(heuristic._run(x, shrinkage * heuristic._band_correction(x))[1], y)
            for x, y in fit_pairs
        ]
        assert mean_distance == pytest.approx(float(np.mean(by_auraloss)), rel=1e-6)
    predictors = {"heuristic": heuristic, "noop": NoOpBaseline(), "oracle": OracleBaseline()}
    report = evaluate(mixed_examples, predictors, SR, progress=False, batch_size=3)
    tools = MixingTools()
    by_id = {ex.recipe.recipe_id: ex for ex in mixed_examples}
    rows = report.examples.to_dict("records")
    assert len(rows) == 3 * len(mixed_examples)
    for row in rows:
        example = by_id[row["recipe_id"]]
        output = tools.apply(example.input, SR, parse(row["prediction"]))
        assert row["d_model"] == pytest.approx(_auraloss(output, example.reference), rel=1e-6)
        assert row["d_noop"] == pytest.approx(_auraloss(example.input, example.reference), rel=1e-6)


def _auraloss(estimate: np.ndarray, reference: np.ndarray) -> float:
    x, y = (torch.from_numpy(np.asarray(a, np.float32))[None] for a in (estimate, reference))
    with torch.no_grad():
        return float(MRSTFT(x, y))
