"""MixingTools end to end: inverses from the registry, robustness, batching, validation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mixer_core.language.grammar import InstructionError, ToolCall, inverse_calls, parse
from mixer_core.language.registry import REGISTRY, TOOLS
from mixer_core.tools.mixing_tools import MixingTools
from tests.strategies import any_value, grid_value, programs

TOOLS_ = MixingTools()
SAMPLE_RATES = (8000, 16000, 22050, 44100, 48000)


def music(sr: int, seconds: float = 1.0, channels: int = 2, seed: int = 0) -> np.ndarray:
    """Noise bursts and a few tones, panned differently per channel: broadband, stereo."""
    rng = np.random.default_rng(seed)
    n = round(seconds * sr)
    t = np.arange(n) / sr
    out = np.zeros((channels, n))
    for freq in (82.0, 220.0, 440.0, 1250.0, 3300.0):
        out += rng.uniform(0.02, 0.1, (channels, 1)) * np.sin(
            2 * np.pi * freq * t + rng.uniform(0, 6)
        )
    for start in rng.uniform(0, seconds - 0.1, 6):
        length = round(0.08 * sr)
        begin = round(start * sr)
        burst = rng.standard_normal((channels, length)) * np.exp(-np.arange(length) / (0.02 * sr))
        out[:, begin : begin + length] += rng.uniform(0.1, 0.4, (channels, 1)) * burst
    return out.astype(np.float32)


def error_db(output: np.ndarray, reference: np.ndarray) -> float:
    """Error energy relative to the reference's energy, in dB."""
    return 10 * math.log10(float(np.sum((output - reference) ** 2) / np.sum(reference**2)) + 1e-30)


def round_trip_db(audio: np.ndarray, sr: int, call: ToolCall) -> tuple[float, float]:
    """(error after the call, error after the call then the registry's inverse)."""
    inverse = inverse_calls(call)
    assert inverse is not None
    distorted = TOOLS_.apply(audio, sr, [call])
    restored = TOOLS_.apply(distorted, sr, inverse)
    return error_db(distorted, audio), error_db(restored, audio)


EXACT_CASES = [
    ToolCall("change_volume", {"db": -7.5}),
    ToolCall("change_volume", {"db": 24.0}),
    ToolCall("apply_eq", {"low_gain": 9.0, "mid_gain": -6.0, "high_gain": 4.5}),
    ToolCall(
        "apply_eq",
        {"low_gain": -24.0, "low_freq": 40.0, "mid_gain": 24.0, "mid_freq": 150.0, "mid_q": 8.0},
    ),
    ToolCall("apply_eq", {"high_gain": 12.0, "high_freq": 12000.0, "mid_q": 0.1, "mid_gain": 3.0}),
    ToolCall("pan", {"position": 0.7}),
    ToolCall("pan", {"position": -1.0}),
    *(ToolCall("stereo_width", {"width": w}) for w in (0.5, 2.0, 0.8, 1.25)),
]


@pytest.mark.parametrize("sr", [16000, 44100])
@pytest.mark.parametrize("call", EXACT_CASES, ids=str)
def test_exact_inverses_round_trip_below_minus_60_db(sr: int, call: ToolCall) -> None:
    assert call.tool.inverse_exact
    audio = music(sr)
    distorted, restored = round_trip_db(audio, sr, call)
    assert distorted > -40
    assert restored < -60


@settings(max_examples=30, deadline=None)
@given(
    data=st.data(),
    name=st.sampled_from(["change_volume", "apply_eq", "pan"]),
    sr=st.sampled_from(SAMPLE_RATES),
)
def test_exact_inverses_round_trip_for_any_grid_values(
    data: st.DataObject, name: str, sr: int
) -> None:
    tool = REGISTRY[name]
    args = {p.name: data.draw(grid_value(p), label=p.name) for p in tool.params}
    audio = music(sr, seconds=0.25, seed=1)
    _, restored = round_trip_db(audio, sr, ToolCall(name, args))
    assert restored < -60


APPROXIMATE_CASES = [
    ToolCall("compress", {"threshold_db": -24.0, "ratio": 4.0}),
    ToolCall("compress", {"threshold_db": -30.0, "ratio": 8.0, "attack_ms": 1.0, "makeup_db": 9.0}),
    ToolCall("expand", {"threshold_db": -20.0, "ratio": 2.0}),
    ToolCall("high_pass", {"freq": 150.0}),
    ToolCall("high_pass", {"freq": 400.0}),
    ToolCall("low_pass", {"freq": 3000.0}),
    ToolCall("low_pass", {"freq": 8000.0}),
]


def spectral_error_db(output: np.ndarray, reference: np.ndarray) -> float:
    """STFT-magnitude error energy relative to the reference's, in dB.

    Phase-blind, like the evaluation's multi-resolution STFT loss: a shelf restores a
    filtered band's level but not the filter's phase shift.
    """
    window = torch.hann_window(1024, dtype=torch.float64)

    def magnitude(x: np.ndarray) -> torch.Tensor:
        spectrum = torch.stft(
            torch.from_numpy(x).double(), 1024, 256, window=window, return_complex=True
        )
        return spectrum.abs()

    ref = magnitude(reference)
    return 10 * math.log10(float((magnitude(output) - ref).pow(2).sum() / ref.pow(2).sum()))


@pytest.mark.parametrize("call", APPROXIMATE_CASES, ids=str)
def test_approximate_inverses_reduce_the_error(call: ToolCall) -> None:
    sr = 22050
    audio = music(sr, seed=2)
    distorted = TOOLS_.apply(audio, sr, [call])
    restored = TOOLS_.apply(distorted, sr, inverse_calls(call))
    assert spectral_error_db(restored, audio) < spectral_error_db(distorted, audio) - 1.0


@pytest.mark.parametrize("tool", TOOLS, ids=lambda tool: tool.name)
@settings(max_examples=20, deadline=None)
@given(data=st.data(), sr=st.sampled_from(SAMPLE_RATES), channels=st.sampled_from([1, 2]))
def test_every_tool_keeps_shape_dtype_and_finiteness(
    tool: object, data: st.DataObject, sr: int, channels: int
) -> None:
    args = {p.name: data.draw(any_value(p), label=p.name) for p in tool.params}
    audio = music(sr, seconds=0.25, channels=channels, seed=3)
    out = TOOLS_.apply(audio, sr, [ToolCall(tool.name, args)])
    assert out.shape == audio.shape
    assert out.dtype == np.float32
    assert np.isfinite(out).all()


@settings(max_examples=10, deadline=None)
@given(
    batch=st.lists(programs(max_size=3), min_size=1, max_size=4), channels=st.sampled_from([1, 2])
)
def test_apply_batch_equals_one_example_at_a_time(
    batch: list[list[ToolCall]], channels: int
) -> None:
    sr = 16000
    clips = [music(sr, 0.25, channels, seed=i) for i in range(len(batch))]
    together = TOOLS_.apply_batch(torch.from_numpy(np.stack(clips)), sr, batch).numpy()
    assert np.isfinite(together).all()
    for clip, program, out in zip(clips, batch, together, strict=True):
        alone = TOOLS_.apply(clip, sr, program)
        np.testing.assert_allclose(out, alone, rtol=1e-4, atol=1e-4 * max(1.0, np.abs(alone).max()))


def test_seed_example_runs_and_gain_lowers_rms_by_3_db() -> None:
    sr = 44100
    audio = music(sr, seconds=2.0)
    seed = (
        "change_volume(db=-3.0) apply_eq(low_gain=2.0, mid_gain=-1.0, high_gain=1.5) apply_reverb()"
    )
    out = TOOLS_.apply(audio, sr, seed)
    assert out.shape == audio.shape and np.isfinite(out).all()
    quieter = TOOLS_.apply(audio, sr, "change_volume(db=-3.0)")

    def rms_db(x: np.ndarray) -> float:
        return 10 * math.log10(float(np.mean(x.astype(np.float64) ** 2)))

    assert rms_db(quieter) - rms_db(audio) == pytest.approx(-3.0, abs=0.01)


@pytest.mark.parametrize(
    "program", ["pan(position=0.8)", "stereo_width(width=0.0)", "stereo_width(width=2.0)"]
)
def test_pan_and_width_leave_mono_unchanged(program: str) -> None:
    mono = music(22050, 0.5, channels=1)
    np.testing.assert_array_equal(TOOLS_.apply(mono, 22050, program), mono)


def test_missing_arguments_take_registry_defaults() -> None:
    audio = music(22050, 0.5)
    explicit = parse(
        "compress(threshold_db=-20.0, ratio=4.0, attack_ms=10.0, release_ms=100.0, makeup_db=0.0)"
    )
    np.testing.assert_array_equal(
        TOOLS_.apply(audio, 22050, "compress()"), TOOLS_.apply(audio, 22050, explicit)
    )


def test_input_is_never_modified() -> None:
    audio = music(22050, 0.5)
    before = audio.copy()
    TOOLS_.apply(audio, 22050, "pan(position=0.0) change_volume(db=6.0) stereo_width(width=1.0)")
    np.testing.assert_array_equal(audio, before)
    batch = torch.from_numpy(np.stack([audio, audio]))
    TOOLS_.apply_batch(batch, 22050, [parse("change_volume(db=6.0)"), []])
    np.testing.assert_array_equal(batch.numpy(), np.stack([before, before]))


@pytest.mark.parametrize(
    ("audio", "message"),
    [
        (np.zeros(100, dtype=np.float32), "2-D"),
        (np.zeros((3, 100), dtype=np.float32), "1 or 2 channels"),
        (np.zeros((100, 2), dtype=np.float32), "1 or 2 channels"),
        (np.zeros((2, 100), dtype=np.float64), "float32"),
        (np.zeros((2, 0), dtype=np.float32), "empty"),
        (np.full((1, 100), np.nan, dtype=np.float32), "NaN"),
    ],
)
def test_bad_audio_is_rejected_with_a_clear_error(audio: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TOOLS_.apply(audio, 22050, "change_volume(db=1.0)")


def test_bad_programs_and_rates_are_rejected() -> None:
    audio = music(22050, 0.1)
    with pytest.raises(InstructionError):
        TOOLS_.apply(audio, 22050, "change_volume(db=99.0)")
    with pytest.raises(ValueError, match=r"change_volume\.db=99"):
        TOOLS_.apply(audio, 22050, [ToolCall("change_volume", {"db": 99.0})])
    with pytest.raises(ValueError, match="no parameter 'gain'"):
        TOOLS_.apply(audio, 22050, [ToolCall("change_volume", {"gain": 1.0})])
    with pytest.raises(ValueError, match="sample_rate"):
        TOOLS_.apply(audio, 4000, "change_volume(db=1.0)")


def test_gain_matches_pedalboard() -> None:
    pedalboard = pytest.importorskip("pedalboard")
    sr = 44100
    audio = music(sr, 0.5)
    reference = pedalboard.Gain(gain_db=-4.7)(audio, sr)
    np.testing.assert_allclose(
        TOOLS_.apply(audio, sr, "change_volume(db=-4.7)"), reference, atol=1e-6
    )


@pytest.mark.parametrize("samples", [1, 7, 300])
def test_every_tool_handles_clips_shorter_than_its_blocks_and_tails(samples: int) -> None:
    audio = music(8000, 1.0, seed=5)[:, :samples]
    program = [ToolCall(tool.name, {}) for tool in TOOLS]
    out = TOOLS_.apply(audio, 8000, program)
    assert out.shape == audio.shape
    assert np.isfinite(out).all()
