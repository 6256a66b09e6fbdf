"""The EQ and high/low-pass filters against independent references.

Our filters run by FFT; the references are the RBJ cookbook coefficients written out
again here, evaluated by ``scipy.signal.freqz``, ``scipy.signal.butter`` and, where
installed, pedalboard (JUCE). Responses are measured by filtering an impulse.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
import scipy.signal
import torch

from mixer_core.dsp import filters

SAMPLE_RATES = (16000, 22050, 44100, 48000)
TEST_FREQS = np.array([30.0, 60.0, 125.0, 250.0, 500.0, 1000.0, 2000.0, 3500.0, 5000.0, 7000.0])


def rbj_peaking(gain_db: float, freq: float, q: float, sr: int) -> tuple[np.ndarray, np.ndarray]:
    a = 10 ** (gain_db / 40)
    w0 = 2 * np.pi * freq / sr
    alpha = np.sin(w0) / (2 * q)
    b = [1 + alpha * a, -2 * np.cos(w0), 1 - alpha * a]
    den = [1 + alpha / a, -2 * np.cos(w0), 1 - alpha / a]
    return np.array(b), np.array(den)


def rbj_shelf(gain_db: float, freq: float, sr: int, high: bool) -> tuple[np.ndarray, np.ndarray]:
    a = 10 ** (gain_db / 40)
    w0 = 2 * np.pi * freq / sr
    cos, alpha = np.cos(w0), np.sin(w0) / 2 * np.sqrt(2.0)  # shelf slope S = 1
    k = 2 * np.sqrt(a) * alpha
    if high:
        b = [
            a * ((a + 1) + (a - 1) * cos + k),
            -2 * a * ((a - 1) + (a + 1) * cos),
            a * ((a + 1) + (a - 1) * cos - k),
        ]
        den = [
            (a + 1) - (a - 1) * cos + k,
            2 * ((a - 1) - (a + 1) * cos),
            (a + 1) - (a - 1) * cos - k,
        ]
    else:
        b = [
            a * ((a + 1) - (a - 1) * cos + k),
            2 * a * ((a - 1) - (a + 1) * cos),
            a * ((a + 1) - (a - 1) * cos - k),
        ]
        den = [
            (a + 1) + (a - 1) * cos + k,
            -2 * ((a - 1) + (a + 1) * cos),
            (a + 1) + (a - 1) * cos - k,
        ]
    return np.array(b), np.array(den)


def measured_db(
    fn: Callable[..., torch.Tensor], sr: int, freqs: np.ndarray, seconds: int = 1, **params: float
) -> np.ndarray:
    """Magnitude (dB) of ``fn``'s impulse response at whole-Hz ``freqs``.

    An FFT of a whole number of seconds has bins on whole Hz. ``seconds`` must cover
    the response's decay: a +24 dB, Q = 10 peak at 100 Hz rings for seconds.
    """
    impulse = torch.zeros(1, 1, seconds * sr)
    impulse[..., 0] = 1.0
    tensors = {k: torch.tensor([v]) for k, v in params.items()}
    h = fn(impulse, sr, **tensors)[0, 0].double().numpy()
    return 20 * np.log10(np.abs(np.fft.rfft(h)[np.round(freqs * seconds).astype(int)]))


def reference_db(h: np.ndarray, sr: int, freqs: np.ndarray) -> np.ndarray:
    """Magnitude (dB) at whole-Hz ``freqs`` of a reference impulse response ``sr`` long."""
    return 20 * np.log10(np.abs(np.fft.rfft(h, n=sr)[np.round(freqs).astype(int)]))


def eq_params(**overrides: float) -> dict[str, float]:
    params = dict(
        low_gain=0.0,
        mid_gain=0.0,
        high_gain=0.0,
        low_freq=200.0,
        mid_freq=1000.0,
        high_freq=5000.0,
        mid_q=0.71,
    )
    params.update(overrides)
    return params


EQ_SETTINGS = [
    eq_params(low_gain=6.0, mid_gain=-4.0, high_gain=3.0),
    eq_params(low_gain=-12.0, low_freq=80.0, mid_gain=9.0, mid_freq=400.0, mid_q=4.0),
    eq_params(high_gain=-9.0, high_freq=3000.0, mid_gain=-12.0, mid_freq=2500.0, mid_q=0.3),
    eq_params(low_gain=24.0, low_freq=20.0, mid_gain=24.0, mid_freq=100.0, mid_q=10.0),
]


@pytest.mark.parametrize("sr", SAMPLE_RATES)
@pytest.mark.parametrize("setting", EQ_SETTINGS)
def test_eq_matches_rbj_cookbook(sr: int, setting: dict[str, float]) -> None:
    sections = [
        rbj_shelf(setting["low_gain"], setting["low_freq"], sr, high=False),
        rbj_peaking(setting["mid_gain"], setting["mid_freq"], setting["mid_q"], sr),
        rbj_shelf(setting["high_gain"], setting["high_freq"], sr, high=True),
    ]
    expected = np.zeros(TEST_FREQS.size)
    for b, a in sections:
        _, h = scipy.signal.freqz(b, a, worN=TEST_FREQS, fs=sr)
        expected += 20 * np.log10(np.abs(h))
    ours = measured_db(filters.apply_eq, sr, TEST_FREQS, seconds=10, **setting)
    np.testing.assert_allclose(ours, expected, atol=0.1)


@pytest.mark.parametrize("sr", SAMPLE_RATES)
@pytest.mark.parametrize(
    ("kind", "cutoff"), [("high", 20.0), ("high", 300.0), ("low", 1000.0), ("low", 6000.0)]
)
def test_high_and_low_pass_match_butterworth(sr: int, kind: str, cutoff: float) -> None:
    b, a = scipy.signal.butter(2, cutoff, btype=kind, fs=sr)
    _, h = scipy.signal.freqz(b, a, worN=TEST_FREQS, fs=sr)
    expected = 20 * np.log10(np.abs(h))
    fn = filters.high_pass if kind == "high" else filters.low_pass
    ours = measured_db(fn, sr, TEST_FREQS, freq=cutoff)
    audible = expected > -80  # far in the stop band both are below float32's floor
    np.testing.assert_allclose(ours[audible], expected[audible], atol=0.1)


def test_filter_matches_scipy_lfilter_in_phase_too() -> None:
    """The FFT route is the causal IIR filter itself, not just its magnitude."""
    sr = 22050
    x = np.random.default_rng(0).standard_normal(sr).astype(np.float32)
    b, a = scipy.signal.butter(2, 150.0, btype="high", fs=sr)
    expected = scipy.signal.lfilter(b, a, x)
    ours = filters.high_pass(torch.from_numpy(x)[None, None], sr, freq=torch.tensor([150.0]))
    np.testing.assert_allclose(ours[0, 0].numpy(), expected, atol=1e-5)


def test_frequencies_above_nyquist_are_limited_to_049_sr() -> None:
    sr = 16000
    limited = measured_db(filters.low_pass, sr, TEST_FREQS, freq=20000.0)
    at_limit = measured_db(filters.low_pass, sr, TEST_FREQS, freq=0.49 * sr)
    np.testing.assert_allclose(limited, at_limit, atol=1e-6)
    eq_high = eq_params(high_gain=6.0, high_freq=20000.0)
    eq_limit = eq_params(high_gain=6.0, high_freq=0.49 * sr)
    np.testing.assert_allclose(
        measured_db(filters.apply_eq, sr, TEST_FREQS, **eq_high),
        measured_db(filters.apply_eq, sr, TEST_FREQS, **eq_limit),
        atol=1e-6,
    )


def test_batch_rows_use_their_own_settings() -> None:
    sr = 22050
    audio = torch.randn(3, 2, sr // 4)
    gains = torch.tensor([6.0, 0.0, -6.0])
    settings = {k: torch.full((3,), v) for k, v in eq_params().items() if "gain" not in k}
    zeros = torch.zeros(3)
    batched = filters.apply_eq(
        audio, sr, low_gain=gains, mid_gain=zeros, high_gain=zeros, **settings
    )
    for row in range(3):
        single = filters.apply_eq(
            audio[row : row + 1],
            sr,
            low_gain=gains[row : row + 1],
            mid_gain=zeros[:1],
            high_gain=zeros[:1],
            **{k: v[:1] for k, v in settings.items()},
        )
        torch.testing.assert_close(batched[row : row + 1], single, atol=1e-6, rtol=0)
    torch.testing.assert_close(batched[1], audio[1], atol=1e-6, rtol=0)


@pytest.mark.parametrize("sr", [22050, 44100])
def test_shelves_and_peak_match_pedalboard(sr: int) -> None:
    """JUCE's shelf at Q = 1/sqrt 2 is the RBJ shelf at slope 1; its peak filter is RBJ's."""
    pedalboard = pytest.importorskip("pedalboard")
    impulse = np.zeros((1, sr), dtype=np.float32)
    impulse[0, 0] = 1.0
    cases = [
        (
            pedalboard.LowShelfFilter(cutoff_frequency_hz=150, gain_db=7.5, q=1 / math.sqrt(2)),
            eq_params(low_gain=7.5, low_freq=150.0),
        ),
        (
            pedalboard.PeakFilter(cutoff_frequency_hz=1200, gain_db=-9.0, q=2.5),
            eq_params(mid_gain=-9.0, mid_freq=1200.0, mid_q=2.5),
        ),
        (
            pedalboard.HighShelfFilter(cutoff_frequency_hz=4000, gain_db=-6.0, q=1 / math.sqrt(2)),
            eq_params(high_gain=-6.0, high_freq=4000.0),
        ),
    ]
    for plugin, params in cases:
        reference = reference_db(plugin(impulse, sr)[0].astype(np.float64), sr, TEST_FREQS)
        np.testing.assert_allclose(
            measured_db(filters.apply_eq, sr, TEST_FREQS, **params), reference, atol=0.1
        )


def test_pass_filters_agree_with_pedalboard_at_cutoff() -> None:
    """pedalboard's high/low-pass are first order (6 dB/octave), ours second order
    (12 dB/octave), so only the -3 dB point at the cutoff is comparable; the slopes
    are checked against scipy's Butterworth instead."""
    pedalboard = pytest.importorskip("pedalboard")
    sr = 44100
    impulse = np.zeros((1, sr), dtype=np.float32)
    impulse[0, 0] = 1.0
    for plugin, fn, cutoff in [
        (pedalboard.HighpassFilter(cutoff_frequency_hz=500), filters.high_pass, 500.0),
        (pedalboard.LowpassFilter(cutoff_frequency_hz=3000), filters.low_pass, 3000.0),
    ]:
        at_cutoff = np.array([cutoff])
        reference = reference_db(plugin(impulse, sr)[0].astype(np.float64), sr, at_cutoff)[0]
        ours = measured_db(fn, sr, at_cutoff, freq=cutoff)[0]
        assert abs(ours - reference) < 0.1
        assert abs(ours + 10 * np.log10(2)) < 0.05
