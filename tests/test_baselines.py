"""The baselines: no-op, oracle, and the tuned heuristic on generated songs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mixer_core.audio.loudness import integrated_lufs, normalize_lufs
from mixer_core.data.augmentation import Recipe
from mixer_core.data.generator import generate_song
from mixer_core.evaluation.baselines import (
    SHRINKAGE_GRID,
    HeuristicBaseline,
    NoOpBaseline,
    OracleBaseline,
)
from mixer_core.evaluation.metrics import mrstft_distance, recovery_pooled
from mixer_core.language import grammar
from mixer_core.language.grammar import ToolCall
from mixer_core.language.registry import REGISTRY
from mixer_core.tools.levels import BAND_EDGES_HZ, band_levels_db
from mixer_core.tools.mixing_tools import MixingTools

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SR = 16000
SECONDS = 1.5
REFERENCE_LUFS = -20.0
TOOLS = MixingTools()


def _clean(seed: int) -> np.ndarray:
    song = generate_song(seed, SECONDS, SR)
    return normalize_lufs(song, SR, REFERENCE_LUFS)[0]


@pytest.fixture(scope="module")
def train_clean() -> list[np.ndarray]:
    return [_clean(seed) for seed in range(4)]


@pytest.fixture(scope="module")
def test_clean() -> list[np.ndarray]:
    return [_clean(seed) for seed in range(100, 104)]


def _distort(clean: list[np.ndarray], chains: list[str]) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(TOOLS.apply(ref, SR, chain), ref) for ref, chain in zip(clean, chains, strict=True)]


@pytest.fixture(scope="module")
def fitted(train_clean: list[np.ndarray]) -> HeuristicBaseline:
    chains = [
        "apply_eq(low_gain=6.0)",
        "change_volume(db=-5.0) apply_eq(high_gain=-6.0)",
        "apply_eq(mid_gain=5.0, high_gain=4.0)",
        "change_volume(db=4.0)",
    ]
    return HeuristicBaseline.fit(train_clean, SR, _distort(train_clean, chains))


def test_band_levels_ignore_gain_and_follow_an_eq(test_clean: list[np.ndarray]) -> None:
    audio = test_clean[0]
    levels = band_levels_db(audio, SR)
    assert band_levels_db(audio * np.float32(3.0), SR) == pytest.approx(levels, abs=1e-6)
    boosted = band_levels_db(TOOLS.apply(audio, SR, "apply_eq(low_gain=9.0)"), SR)
    assert boosted[0] > levels[0] + 1.0
    assert boosted[2] < levels[2]
    assert np.sum(10 ** (levels / 10)) == pytest.approx(1.0)


def test_band_edges_are_the_eq_default_corners() -> None:
    defaults = REGISTRY["apply_eq"].defaults()
    assert BAND_EDGES_HZ[1:] == (defaults["low_freq"], defaults["high_freq"])
    t = np.arange(SR) / SR
    tone = np.sin(2 * np.pi * 100.0 * t)[None].astype(np.float32)
    low, mid, high = band_levels_db(tone, SR)
    assert low > -0.01 and mid < -40 and high < -40


def test_fitted_statistics_and_shrinkage(
    fitted: HeuristicBaseline, train_clean: list[np.ndarray]
) -> None:
    assert fitted.target_lufs == pytest.approx(REFERENCE_LUFS, abs=0.01)
    expected = np.mean([band_levels_db(a, SR) for a in train_clean], axis=0)
    assert fitted.band_levels == pytest.approx(tuple(expected))
    assert 0.0 <= fitted.shrinkage <= 1.0
    assert fitted.shrinkage in SHRINKAGE_GRID
    assert list(fitted.fit_curve) == list(SHRINKAGE_GRID)
    assert fitted.fit_curve[fitted.shrinkage] == min(fitted.fit_curve.values())


def test_heuristic_undoes_gain_only_distortions(
    fitted: HeuristicBaseline, test_clean: list[np.ndarray]
) -> None:
    chains = [
        "change_volume(db=-9.0)",
        "change_volume(db=6.5)",
        "change_volume(db=-3.0)",
        "change_volume(db=12.0)",
    ]
    pairs = _distort(test_clean, chains)
    d_model, d_noop = [], []
    for audio, reference in pairs:
        program = fitted.predict(audio, SR)
        output = TOOLS.apply(audio, SR, program)
        assert integrated_lufs(output, SR) == pytest.approx(fitted.target_lufs, abs=0.1)
        d_model.append(mrstft_distance(output, reference))
        d_noop.append(mrstft_distance(audio, reference))
    assert recovery_pooled(d_model, d_noop) > 0.8


def test_predictions_are_canonical_in_range_programs(fitted: HeuristicBaseline) -> None:
    t = np.arange(SR) / SR
    extreme = (1e-3 * np.sin(2 * np.pi * 60.0 * t))[None].astype(np.float32)
    program = fitted.predict(extreme, SR)
    assert [call.name for call in program] == ["apply_eq", "change_volume"]
    for call in program:
        for name, value in call.args.items():
            param = call.tool.param(name)
            assert param is not None and param.contains(value)
            assert round(value / param.step) * param.step == pytest.approx(value)
    assert grammar.parse(grammar.format(program)) == program
    assert fitted.predict(np.zeros((2, SR), np.float32), SR) == []


def test_shrinkage_zero_only_normalises_loudness(
    fitted: HeuristicBaseline, test_clean: list[np.ndarray]
) -> None:
    plain = HeuristicBaseline(SR, fitted.target_lufs, fitted.band_levels, shrinkage=0.0)
    program = plain.predict(test_clean[1] * np.float32(0.5), SR)
    assert [call.name for call in program] == ["change_volume"]
    assert program[0].args["db"] == pytest.approx(6.0, abs=0.11)


def test_persistence_round_trip(fitted: HeuristicBaseline, test_clean: list[np.ndarray]) -> None:
    restored = HeuristicBaseline.from_dict(json.loads(json.dumps(fitted.to_dict())))
    assert restored == fitted
    audio = test_clean[2]
    assert restored.predict(audio, SR) == fitted.predict(audio, SR)


def test_from_dict_names_the_problem(fitted: HeuristicBaseline) -> None:
    data = fitted.to_dict()
    with pytest.raises(ValueError, match=r"base\.json: not a heuristic"):
        HeuristicBaseline.from_dict({**data, "kind": "oracle"}, source="base.json")
    with pytest.raises(ValueError, match=r"missing key.*shrinkage"):
        HeuristicBaseline.from_dict({k: v for k, v in data.items() if k != "shrinkage"})
    with pytest.raises(ValueError, match="band_edges_hz"):
        HeuristicBaseline.from_dict({**data, "band_edges_hz": [20.0, 250.0, 5000.0]})


def test_fit_and_predict_refuse_unusable_input(fitted: HeuristicBaseline) -> None:
    with pytest.raises(ValueError, match="no reference"):
        HeuristicBaseline.fit([], SR)
    with pytest.raises(ValueError, match="silent"):
        HeuristicBaseline.fit([np.zeros((2, SR), np.float32)], SR)
    with pytest.raises(ValueError, match="fitted at 16000 Hz but got audio at 22050"):
        fitted.predict(np.zeros((2, 100), np.float32), 22050)


def test_without_pairs_the_shrinkage_is_designs_default(train_clean: list[np.ndarray]) -> None:
    assert HeuristicBaseline.fit(train_clean, SR).shrinkage == 0.5


def test_no_op_and_oracle() -> None:
    audio = np.zeros((2, 10), np.float32)
    assert NoOpBaseline().predict_batch([audio, audio], SR, ["a", "b"]) == [[], []]
    recipe = Recipe(
        recipe_id="a/s/0000#0",
        segment_id="a/s/0000",
        seed=1,
        mode="fix",
        chain="change_volume(db=-3.0)",
        target="change_volume(db=3.0)",
        prompt="Fix the mix.",
        families=("gain",),
    )
    assert OracleBaseline().predict_targets([recipe]) == [[ToolCall("change_volume", {"db": 3.0})]]
