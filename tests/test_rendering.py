"""Rendering recipes into (input, reference): levels, exact undo, batch == single, guards."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mixer_core.audio.loudness import integrated_lufs
from mixer_core.config import AugmentationConfig
from mixer_core.data.augmentation import Recipe, sample_recipes
from mixer_core.data.rendering import render_batch, render_example
from mixer_core.tools.mixing_tools import MixingTools

SR = 22050
REFERENCE_LUFS = -20.0


def make_segment(seed: int, channels: int = 2, seconds: float = 1.0) -> np.ndarray:
    """Tones over coloured noise, a little different per channel, at a random level."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    out = []
    for _ in range(channels):
        tones = sum(
            rng.uniform(0.05, 0.3) * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
            for f in rng.uniform(60, 6000, size=5)
        )
        noise = np.convolve(rng.standard_normal(t.size), np.ones(8) / 8, mode="same")
        out.append(tones + 0.1 * noise)
    audio = np.stack(out) * 10 ** (rng.uniform(-25, 0) / 20)
    return audio.astype(np.float32)


def config(tools: dict[str, dict], fix_ratio: float, length: int = 2) -> AugmentationConfig:
    return AugmentationConfig.model_validate(
        {
            "fix_ratio": fix_ratio,
            "identity_ratio": 0.0,
            "subtle_ratio": 0.0,
            "chain_length": {"min": length, "max": length},
            "tools": tools,
        }
    )


GAIN_EQ = {
    "change_volume": {"probability": 1.0, "params": {"db": (-12.0, 12.0)}},
    "apply_eq": {
        "probability": 1.0,
        "params": {g: (-12.0, 12.0) for g in ("low_gain", "mid_gain", "high_gain")},
    },
}
EXACT = {**GAIN_EQ, "pan": {"probability": 0.5, "params": {"position": (-0.8, 0.8)}}}
MIXED = {
    **EXACT,
    "compress": {"probability": 0.5, "params": {"threshold_db": (-30.0, -10.0)}},
    "high_pass": {"probability": 0.3, "params": {"freq": (40.0, 400.0)}},
    "stereo_width": {"probability": 0.3, "params": {"width": (0.5, 1.6)}},
    "apply_reverb": {"probability": 0.3, "params": {"wet": (0.1, 0.5)}},
}


@pytest.fixture(scope="module")
def tools() -> MixingTools:
    return MixingTools()


def relative_error_db(actual: np.ndarray, expected: np.ndarray) -> float:
    error = np.sum((actual.astype(np.float64) - expected) ** 2)
    return 10 * np.log10(error / np.sum(expected.astype(np.float64) ** 2) + 1e-30)


def test_fix_target_undoes_gain_and_eq_exactly(tools: MixingTools) -> None:
    recipes = [r for i in range(2) for r in sample_recipes(f"seg{i}", config(GAIN_EQ, 1.0))]
    assert {r.families for r in recipes} >= {("gain", "eq"), ("eq", "gain")}
    for i, recipe in enumerate(recipes):
        model_input, reference = render_example(make_segment(i), SR, recipe, REFERENCE_LUFS, tools)
        assert model_input.dtype == reference.dtype == np.float32
        assert relative_error_db(model_input, reference) > -40  # the chain did something
        undone = tools.apply(model_input, SR, recipe.target_calls())
        assert relative_error_db(undone, reference) < -60, recipe


def test_fix_reference_sits_at_the_reference_loudness(tools: MixingTools) -> None:
    for i, recipe in enumerate(sample_recipes("seg", config(EXACT, 1.0), count=4)):
        segment = make_segment(10 + i)
        _, reference = render_example(segment, SR, recipe, REFERENCE_LUFS, tools)
        assert abs(integrated_lufs(reference, SR) - REFERENCE_LUFS) < 0.5


def test_instruct_input_is_normalised_and_reference_is_the_chain(tools: MixingTools) -> None:
    recipes = sample_recipes("seg", config(MIXED, 0.0), count=3)
    for i, recipe in enumerate(recipes):
        model_input, reference = render_example(make_segment(i), SR, recipe, REFERENCE_LUFS, tools)
        assert recipe.target == recipe.chain
        assert abs(integrated_lufs(model_input, SR) - REFERENCE_LUFS) < 0.5
        expected = tools.apply(model_input, SR, recipe.chain_calls())
        np.testing.assert_allclose(reference, expected, atol=1e-6)


def test_mono_and_silent_segments_render(tools: MixingTools) -> None:
    recipe = sample_recipes("seg", config(EXACT, 1.0), count=1)[0]
    model_input, reference = render_example(make_segment(3, channels=1), SR, recipe, -23.0, tools)
    assert model_input.shape == reference.shape == (1, SR)
    assert abs(integrated_lufs(reference, SR) + 23.0) < 0.5
    silent = np.zeros((2, SR), np.float32)
    model_input, reference = render_example(silent, SR, recipe, REFERENCE_LUFS, tools)
    assert not model_input.any() and not reference.any()
    inputs, references = render_batch(torch.from_numpy(silent)[None], SR, [recipe], -20.0, tools)
    assert not inputs.any() and not references.any()


def test_batch_matches_single_examples(tools: MixingTools) -> None:
    recipes = [r for i in range(2) for r in sample_recipes(f"mix{i}", config(MIXED, 0.5))]
    recipes.append(sample_recipes("leave", config(EXACT, 1.0, length=1), count=1)[0])
    assert {r.mode for r in recipes} == {"fix", "instruct"}
    segments = np.stack([make_segment(20 + i) for i in range(len(recipes))])
    inputs, references = render_batch(torch.from_numpy(segments), SR, recipes, -20.0, tools)
    assert inputs.shape == references.shape == segments.shape
    assert inputs.dtype == references.dtype == torch.float32
    for i, recipe in enumerate(recipes):
        model_input, reference = render_example(segments[i], SR, recipe, -20.0, tools)
        assert relative_error_db(inputs[i].numpy(), model_input) < -50, recipe.chain
        assert relative_error_db(references[i].numpy(), reference) < -50, recipe.chain


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
def test_non_finite_audio_is_an_error_naming_the_recipe(tools: MixingTools) -> None:
    recipe = sample_recipes("seg", config(GAIN_EQ, 1.0), count=1)[0]
    segment = make_segment(0)
    broken = segment.copy()
    broken[0, 100] = np.nan
    with pytest.raises(ValueError, match=r"seg#0.*non-finite"):
        render_example(broken, SR, recipe, REFERENCE_LUFS, tools)
    with pytest.raises(ValueError, match=r"seg#0.*non-finite"):
        render_batch(torch.from_numpy(broken)[None], SR, [recipe], REFERENCE_LUFS, tools)
    # A target level far beyond float32's range overflows: caught after rendering.
    with pytest.raises(ValueError, match=r"seg#0.*normalising to 1000.0 LUFS gave non-finite"):
        render_example(segment, SR, recipe, 1000.0, tools)
    with pytest.raises(ValueError, match=r"seg#0.*normalising to 1000.0 LUFS gave non-finite"):
        render_batch(torch.from_numpy(segment)[None], SR, [recipe], 1000.0, tools)


def test_recipes_from_rows_render_the_same(tools: MixingTools) -> None:
    recipe = sample_recipes("seg", config(EXACT, 1.0), count=1)[0]
    again = Recipe.from_row(recipe.to_row())
    first = render_example(make_segment(5), SR, recipe, REFERENCE_LUFS, tools)
    second = render_example(make_segment(5), SR, again, REFERENCE_LUFS, tools)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
