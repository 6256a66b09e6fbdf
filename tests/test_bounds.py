"""Every in-range program on finite input gives finite output, and its gain stays bounded."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mixer_core.data.generator import generate_song
from mixer_core.language.grammar import ToolCall, parse
from mixer_core.tools.bounds import gain_bound_db
from mixer_core.tools.mixing_tools import MixingTools
from tests.strategies import programs

RATE = 16000
TOOLS = MixingTools()
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _inputs() -> dict[str, np.ndarray]:
    t = np.arange(RATE) / RATE
    sine = 0.3 * np.sin(2 * np.pi * 440.0 * t)
    rng = np.random.default_rng(0)
    return {
        "song": generate_song(3, 1.0, RATE),
        "noise": (0.1 * rng.standard_normal((2, RATE))).astype(np.float32),
        "sine": np.stack([sine, 0.5 * sine]).astype(np.float32),
        "quiet": (1e-4 * rng.standard_normal((2, RATE))).astype(np.float32),
    }


INPUTS = _inputs()


def _rms(audio: np.ndarray) -> float:
    return math.sqrt(float(np.mean(np.square(audio, dtype=np.float64))))


def _check(audio: np.ndarray, calls: list[ToolCall]) -> None:
    out = TOOLS.apply(audio, RATE, calls)
    assert np.isfinite(out).all(), calls
    bound = 10.0 ** (gain_bound_db(calls) / 20.0)
    assert _rms(out) <= _rms(audio) * bound * 1.02 + 1e-9, (calls, _rms(out), _rms(audio))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs(max_size=3), st.sampled_from(sorted(INPUTS)))
def test_a_random_program_is_finite_and_bounded(calls: list[ToolCall], kind: str) -> None:
    _check(INPUTS[kind], calls)


@pytest.mark.parametrize(
    "program",
    [
        "expand(threshold_db=-60.0, ratio=20.0, attack_ms=0.1, release_ms=5.0)",
        "expand(threshold_db=0.0, ratio=20.0)",
        "compress(threshold_db=-60.0, ratio=20.0, attack_ms=0.1, release_ms=5.0, makeup_db=24.0)",
        "change_volume(db=24.0) apply_eq(low_gain=24.0, mid_gain=24.0, high_gain=24.0)",
        "apply_eq(mid_gain=24.0, mid_q=10.0, mid_freq=440.0)",
        "delay(time_ms=1.0, feedback=0.9, mix=1.0)",
        "apply_reverb(room_size=1.0, damping=0.0, wet=1.0, dry=1.0)",
        "pan(position=-1.0) stereo_width(width=2.0)",
        "limit(threshold_db=-24.0, release_ms=1.0) change_volume(db=24.0)",
    ],
)
@pytest.mark.parametrize("kind", sorted(INPUTS))
def test_extreme_settings_are_finite_and_bounded(program: str, kind: str) -> None:
    _check(INPUTS[kind], parse(program))


def test_the_bound_is_tight_for_a_gain() -> None:
    audio = INPUTS["noise"]
    out = TOOLS.apply(audio, RATE, parse("change_volume(db=6.0)"))
    assert _rms(out) / _rms(audio) == pytest.approx(10 ** (6 / 20), rel=1e-4)
    assert gain_bound_db(parse("change_volume(db=6.0) change_volume(db=-6.0)")) == 0.0
