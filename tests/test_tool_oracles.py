"""Tools and the model's resampler checked against independent oracles, not themselves.

A round trip through an inverse passes for any law with g(p)·g(-p) = 1, so these tests
hold each tool to its documented formula on signals whose answer is known: the pan law
and its sign per channel in dB, width 0 and 2, the resampler against scipy on a sine,
the limiter's ceiling and how close loud material stays to it, and the reverb's RT60 at
the documented endpoints measured from the impulse response itself.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.signal
import torch

from mixer_core.dsp.space import MAX_DECAY_S, MIN_DECAY_S, impulse_response
from mixer_core.language.grammar import parse
from mixer_core.model.features import fft_resample
from mixer_core.tools.mixing_tools import MixingTools

RATE = 16000
TOOLS = MixingTools()


def _db(x: np.ndarray) -> float:
    return 10.0 * math.log10(float(np.mean(np.square(x, dtype=np.float64))))


def _noise(seconds: float = 1.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (0.1 * rng.standard_normal((2, int(RATE * seconds)))).astype(np.float32)


@pytest.mark.parametrize("position", [-1.0, -0.5, -0.1, 0.25, 1.0])
def test_pan_follows_its_documented_law_and_sign(position: float) -> None:
    """pan(p): left −6p dB, right +6p dB (registry text): negative p is louder left."""
    audio = _noise()
    out = TOOLS.apply(audio, RATE, parse(f"pan(position={position})"))
    left = _db(out[0]) - _db(audio[0])
    right = _db(out[1]) - _db(audio[1])
    assert left == pytest.approx(-6.0 * position, abs=1e-3)
    assert right == pytest.approx(6.0 * position, abs=1e-3)
    assert (left > right) == (position < 0)


def test_width_zero_is_mono_and_two_doubles_the_side() -> None:
    audio = _noise()
    mono = TOOLS.apply(audio, RATE, parse("stereo_width(width=0.0)"))
    np.testing.assert_allclose(mono[0], mono[1], atol=1e-7)
    np.testing.assert_allclose(mono[0], audio.mean(axis=0), atol=1e-6)
    wide = TOOLS.apply(audio, RATE, parse("stereo_width(width=2.0)"))
    side, mid = (audio[0] - audio[1]) / 2, (audio[0] + audio[1]) / 2
    np.testing.assert_allclose((wide[0] - wide[1]) / 2, 2.0 * side, atol=1e-6)
    np.testing.assert_allclose((wide[0] + wide[1]) / 2, mid, atol=1e-6)


@pytest.mark.parametrize(("source", "target"), [(44100, 22050), (16000, 22050), (48000, 16000)])
def test_the_model_resampler_matches_scipy_on_a_sine(source: int, target: int) -> None:
    t = np.arange(source) / source
    sine = (0.5 * np.sin(2 * np.pi * 1000.0 * t)).astype(np.float32)
    ours = fft_resample(torch.from_numpy(sine)[None, None], source, target)[0, 0].numpy()
    reference = scipy.signal.resample_poly(sine, target, source)
    assert ours.shape == reference.shape == (target,)
    inner = slice(target // 10, -target // 10)  # away from the edges' filter transients
    np.testing.assert_allclose(ours[inner], reference[inner], atol=2e-3)
    spectrum = np.abs(np.fft.rfft(ours))
    assert np.argmax(spectrum) == 1000  # 1 Hz bins over one second: the tone is kept
    assert _db(ours[inner]) == pytest.approx(_db(sine), abs=0.05)  # and its level


@pytest.mark.parametrize("threshold", [-1.0, -6.0, -12.0])
def test_the_limiter_holds_its_ceiling_and_does_not_mute(threshold: float) -> None:
    t = np.arange(RATE) / RATE
    loud = (np.sin(2 * np.pi * 220.0 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3.0 * t))).astype(
        np.float32
    )
    audio = np.stack([loud, 0.9 * loud])
    out = TOOLS.apply(audio, RATE, parse(f"limit(threshold_db={threshold})"))
    ceiling = 10 ** (threshold / 20)
    assert np.max(np.abs(out)) <= ceiling * 1.01
    # loud material stays within 1 dB of the ceiling: the limiter limits, it does not mute
    steady = out[:, RATE // 4 :]
    assert 20 * math.log10(float(np.max(np.abs(steady)))) >= threshold - 1.0


@pytest.mark.parametrize(("room_size", "rt60"), [(0.0, MIN_DECAY_S), (1.0, MAX_DECAY_S)])
def test_reverb_rt60_at_its_documented_endpoints(room_size: float, rt60: float) -> None:
    """The registry documents a decay of 0.2 s at room_size 0 and 4 s at 1: measured here
    by Schroeder backward integration of the undamped response (T20, extrapolated)."""
    assert (MIN_DECAY_S, MAX_DECAY_S) == (0.2, 4.0)
    rate = 8000
    response = impulse_response(torch.tensor([room_size]), torch.tensor([0.0]), 1, rate)
    energy = response[0, 0].double().numpy() ** 2
    decay = 10 * np.log10(np.cumsum(energy[::-1])[::-1] / energy.sum())
    start = int(np.argmax(decay <= -5.0))
    end = int(np.argmax(decay <= -25.0))
    measured = 3.0 * (end - start) / rate  # 20 dB of decay, times 3 for 60 dB
    assert measured == pytest.approx(rt60, rel=0.1)
