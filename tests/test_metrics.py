"""Metrics on cases whose answer is known by hand, and auraloss checked against a direct STFT."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mixer_core.evaluation.metrics import (
    MRSTFT,
    MRSTFT_FFT_SIZES,
    MRSTFT_HOP_SIZES,
    MRSTFT_WIN_LENGTHS,
    SpectralReference,
    mrstft_distance,
    parameter_errors,
    parameter_unit,
    read_prediction,
    recovery_lead_interval,
    recovery_median,
    recovery_pooled,
    recovery_pooled_interval,
    tool_set_f1,
    valid_call_rate,
)
from mixer_core.language import grammar
from mixer_core.language.grammar import ToolCall
from tests.strategies import programs

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SR = 16000


@pytest.fixture(scope="module")
def noise() -> np.ndarray:
    return (0.1 * np.random.default_rng(0).standard_normal((2, SR))).astype(np.float32)


def _direct_stft_loss(
    x: torch.Tensor, y: torch.Tensor, fft: int, hop: int, win: int
) -> torch.Tensor:
    """Spectral convergence + mean |log magnitude difference|, written out by hand."""
    window = torch.hann_window(win)

    def magnitude(audio: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(audio, fft, hop, win, window, return_complex=True)
        return torch.sqrt(torch.clamp(spec.real**2 + spec.imag**2, min=1e-8))

    xm, ym = magnitude(x), magnitude(y)
    sc = torch.linalg.norm(ym - xm) / torch.linalg.norm(ym)
    return sc + torch.mean(torch.abs(torch.log(xm) - torch.log(ym)))


def test_resolutions_are_auralosss_defaults() -> None:
    assert tuple(MRSTFT.fft_sizes) == MRSTFT_FFT_SIZES == (1024, 2048, 512)
    assert tuple(MRSTFT.hop_sizes) == MRSTFT_HOP_SIZES == (120, 240, 50)
    assert tuple(MRSTFT.win_lengths) == MRSTFT_WIN_LENGTHS == (600, 1200, 240)


def test_distance_matches_a_direct_stft_computation(noise: np.ndarray) -> None:
    estimate = noise * np.linspace(0.2, 1.0, noise.shape[1], dtype=np.float32)
    x, y = torch.from_numpy(estimate), torch.from_numpy(noise)
    per_resolution = [
        float(_direct_stft_loss(x, y, fft, hop, win))
        for fft, hop, win in zip(
            MRSTFT_FFT_SIZES, MRSTFT_HOP_SIZES, MRSTFT_WIN_LENGTHS, strict=True
        )
    ]
    assert mrstft_distance(estimate, noise) == pytest.approx(np.mean(per_resolution), rel=1e-5)


def test_identical_audio_is_at_distance_zero(noise: np.ndarray) -> None:
    assert mrstft_distance(noise, noise.copy()) == 0.0


def test_scaled_audio_has_the_distance_of_its_gain(noise: np.ndarray) -> None:
    # Every bin shrinks by 0.5: spectral convergence 0.5, log-magnitude term ln 2.
    assert mrstft_distance(0.5 * noise, noise) == pytest.approx(0.5 + math.log(2), rel=1e-4)


def test_a_kept_reference_gives_auralosss_distances_bit_for_bit(noise: np.ndarray) -> None:
    rng = np.random.default_rng(3)
    estimates = [
        noise,
        0.5 * noise,
        -noise,
        (0.9 * noise + 0.05 * rng.standard_normal(noise.shape)).astype(np.float32),
    ]
    reference = SpectralReference(noise)
    together = reference.distances(estimates)
    y = torch.from_numpy(noise)[None]
    by_auraloss = [float(MRSTFT(torch.from_numpy(e)[None], y)) for e in estimates]
    assert together == by_auraloss  # the same figures as auraloss, not just close
    assert [reference.distance(e) for e in estimates] == together
    # magnitudes only: a flipped sign is at distance 0 too
    assert together[0] == together[2] == 0.0 and min(together[1], together[3]) > 0.0


def test_distance_rejects_mismatched_shapes(noise: np.ndarray) -> None:
    with pytest.raises(ValueError, match="differ"):
        mrstft_distance(noise, noise[:, :-1])
    with pytest.raises(ValueError, match="differ"):
        SpectralReference(noise).distances([noise, noise[:, :-1]])


def test_recovery_formulas_on_known_numbers() -> None:
    d_model, d_noop = [1.0, 0.0, 3.0], [2.0, 2.0, 4.0]
    assert recovery_pooled(d_model, d_noop) == pytest.approx(1 - 4 / 8)
    assert recovery_median(d_model, d_noop) == pytest.approx(np.median([0.5, 1.0, 0.25]))


def test_median_skips_examples_without_damage_and_pooled_counts_them() -> None:
    assert recovery_median([5.0, 1.0], [0.0, 2.0]) == pytest.approx(0.5)
    assert recovery_pooled([5.0, 1.0], [0.0, 2.0]) == pytest.approx(1 - 6 / 2)
    assert math.isnan(recovery_median([1.0], [0.0]))
    assert math.isnan(recovery_pooled([], []))


def test_recovery_rejects_unequal_lengths() -> None:
    with pytest.raises(ValueError, match="equal-length"):
        recovery_pooled([1.0], [1.0, 2.0])


distances = st.lists(st.floats(0.01, 100.0), min_size=1, max_size=20)


@given(distances, st.floats(0.01, 100.0))
def test_recovery_of_no_op_is_zero_and_scale_free(d_noop: list[float], scale: float) -> None:
    assert recovery_pooled(d_noop, d_noop) == pytest.approx(0.0, abs=1e-12)
    assert recovery_median(d_noop, d_noop) == 0.0
    half = [0.5 * d for d in d_noop]
    scaled = [scale * d for d in d_noop]
    assert recovery_pooled([scale * h for h in half], scaled) == pytest.approx(0.5)
    assert recovery_pooled([0.0] * len(d_noop), d_noop) == 1.0


def _calls(text: str) -> list[ToolCall]:
    return grammar.parse(text)


def test_tool_set_f1_edge_cases() -> None:
    assert tool_set_f1([], []) == 1.0
    assert tool_set_f1(_calls("change_volume(db=1.0)"), []) == 0.0
    assert tool_set_f1([], _calls("change_volume(db=1.0)")) == 0.0
    both = _calls("change_volume(db=1.0) apply_eq(low_gain=2.0)")
    assert tool_set_f1(both, _calls("apply_eq(mid_gain=-3.0)")) == pytest.approx(2 / 3)
    repeated = _calls("apply_eq() apply_eq(low_gain=1.0)")
    assert tool_set_f1(repeated, _calls("apply_eq(high_gain=2.0)")) == 1.0


def test_parameter_errors_compare_resolved_values() -> None:
    predicted = _calls("apply_eq(low_gain=2.0) pan(position=0.5)")
    target = _calls("apply_eq(low_gain=-1.0, low_freq=300.0) change_volume(db=3.0)")
    errors = parameter_errors(predicted, target)
    assert set(errors) == {f"apply_eq.{p}" for p in target[0].tool.defaults()}
    assert errors["apply_eq.low_gain"] == pytest.approx(3.0)
    assert errors["apply_eq.low_freq"] == pytest.approx(100.0)  # default 200 vs 300
    assert errors["apply_eq.mid_gain"] == 0.0


def test_parameter_errors_pair_repeated_tools_in_order() -> None:
    predicted = _calls("change_volume(db=1.0) change_volume(db=-2.0)")
    target = _calls("change_volume(db=0.0) change_volume(db=2.0)")
    errors = parameter_errors(predicted, target)
    assert errors == {"change_volume.db": 1.0, "change_volume#1.db": 4.0}
    assert parameter_unit("change_volume#1.db") == "dB"
    assert parameter_unit("apply_eq.low_freq") == "Hz"


def test_read_prediction_judges_text_and_calls_alike() -> None:
    calls, text = read_prediction("apply_eq(low_gain=2.0)  change_volume(db=-1.5)")
    assert calls == _calls("apply_eq(low_gain=2.0) change_volume(db=-1.5)")
    assert text == "apply_eq(low_gain=2.0)  change_volume(db=-1.5)"
    assert read_prediction("apply_eq(low_gain=2.0")[0] is None
    assert read_prediction("change_volume(db=99.0)")[0] is None
    out_of_range, text = read_prediction([ToolCall("change_volume", {"db": 99.0})])
    assert out_of_range is None and text == "change_volume(db=99.0)"
    assert read_prediction([ToolCall("no_such_tool", {})])[0] is None
    assert read_prediction([]) == ([], "")


def test_valid_call_rate_counts_the_share_that_parses() -> None:
    predictions = ["change_volume(db=1.0)", "garbage(", [], "pan(position=2.0)"]
    assert valid_call_rate(predictions) == 0.5
    assert math.isnan(valid_call_rate([]))


@settings(max_examples=50, deadline=None)
@given(programs(on_grid=False))
def test_every_in_range_program_is_valid_as_calls_and_as_text(program: list[ToolCall]) -> None:
    assert valid_call_rate([program, grammar.format(program)]) == 1.0
    calls, _ = read_prediction(grammar.format(program))
    assert calls == program


def test_recovery_interval_holds_the_estimate_and_narrows_with_more_examples() -> None:
    rng = np.random.default_rng(3)
    noop = rng.uniform(0.5, 2.0, 400)
    model = noop * rng.uniform(0.0, 0.8, 400)
    few = recovery_pooled_interval(model[:12], noop[:12])
    many = recovery_pooled_interval(model, noop)
    assert few[0] <= recovery_pooled(model[:12], noop[:12]) <= few[1]
    assert many[0] <= recovery_pooled(model, noop) <= many[1]
    assert many[1] - many[0] < 0.5 * (few[1] - few[0])
    assert recovery_pooled_interval(model, noop) == many
    assert recovery_pooled_interval(model, noop, seed=1) != many


def test_recovery_interval_edge_cases() -> None:
    assert recovery_pooled_interval([0.5, 0.5], [1.0, 1.0]) == pytest.approx((0.5, 0.5))
    assert all(math.isnan(b) for b in recovery_pooled_interval([], []))
    assert all(math.isnan(b) for b in recovery_pooled_interval([1.0], [0.0]))
    with pytest.raises(ValueError, match="confidence"):
        recovery_pooled_interval([1.0], [1.0], confidence=1.0)


@given(st.lists(st.tuples(st.floats(0.0, 50.0), st.floats(0.01, 50.0)), min_size=1, max_size=30))
def test_recovery_interval_lies_between_the_examples_recoveries(
    pairs: list[tuple[float, float]],
) -> None:
    """A resample's pooled recovery is a d_noop-weighted mean of per-example recoveries."""
    d_model, d_noop = (list(v) for v in zip(*pairs, strict=True))
    each = [1.0 - m / n for m, n in pairs]
    low, high = recovery_pooled_interval(d_model, d_noop, draws=200)
    assert min(each) - 1e-9 <= low <= high <= max(each) + 1e-9


def test_a_paired_lead_is_resolved_where_the_separate_intervals_overlap() -> None:
    """Hard and easy examples are shared by both predictors; pairing takes that out."""
    rng = np.random.default_rng(5)
    noop = np.ones(40)
    other = rng.uniform(0.1, 0.9, 40)
    model = other - 0.03
    model_ci = recovery_pooled_interval(model, noop)
    other_ci = recovery_pooled_interval(other, noop)
    assert model_ci[0] < other_ci[1]
    low, high = recovery_lead_interval(model, other, noop)
    assert low == pytest.approx(0.03) and high == pytest.approx(0.03)
    assert recovery_lead_interval(other, other, noop) == (0.0, 0.0)


def test_an_interval_over_songs_is_wider_than_one_over_their_recipes() -> None:
    """Sixteen recipes of one song share its difficulty: resampled as if independent they
    claim a precision that eight songs cannot give; resampled by song they do not."""
    rng = np.random.default_rng(7)
    songs = np.repeat(np.arange(8), 16)
    hardness = rng.uniform(0.0, 0.9, 8)[songs]
    noop = np.ones(songs.size)
    model = noop * (hardness + rng.normal(0.0, 0.02, songs.size)).clip(0.0, 2.0)
    by_recipe = recovery_pooled_interval(model, noop)
    by_song = recovery_pooled_interval(model, noop, [f"song{s}" for s in songs])
    assert by_song[1] - by_song[0] > 3.0 * (by_recipe[1] - by_recipe[0])
    assert by_song[0] <= recovery_pooled(model, noop) <= by_song[1]
    one_per_song = recovery_pooled_interval(model, noop, [f"r{i}" for i in range(songs.size)])
    # every example its own cluster: the plain bootstrap (in distribution)
    assert one_per_song == pytest.approx(by_recipe, abs=0.01)
    with pytest.raises(ValueError, match="clusters"):
        recovery_pooled_interval(model, noop, ["a"])
