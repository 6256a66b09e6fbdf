"""Drum kits: one-shots of several kinds and the grooves that place them.

Three kits with different spectra and decays: ``electronic`` (pitch-swept sine kick,
noise snare, bright short hats), ``acoustic`` (struck modes with longer, darker
resonances, toms, a ride) and ``percussion`` (hand drums and a shaker, no kick on the
beat). A song may also have no drums at all (``KITS`` lists what a style draws from).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.signal

KITS: tuple[str, ...] = ("electronic", "acoustic", "percussion")
GROOVES: tuple[tuple[str, str], ...] = (
    ("x.......x.......", "....x.......x..."),
    ("x.....x...x.....", "....x.......x..."),
    ("x.x.....x.......", "....x.......x..x"),
    ("x.......x.x.....", "....x.......x..."),
    ("x..x..x...x..x..", "....x.......x..."),
)


def _bandpass(noise: np.ndarray, low: float, high: float, rate: int, order: int = 2) -> np.ndarray:
    nyquist = 0.5 * rate
    band = scipy.signal.butter(
        order, [low, min(high, 0.95 * nyquist)], "bandpass", fs=rate, output="sos"
    )
    return scipy.signal.sosfilt(band, noise)


def _highpass(noise: np.ndarray, cutoff: float, rate: int) -> np.ndarray:
    high = scipy.signal.butter(4, min(cutoff, 0.6 * 0.5 * rate), "highpass", fs=rate, output="sos")
    return scipy.signal.sosfilt(high, noise)


def _modes(
    t: np.ndarray, frequencies: list[float], decays: list[float], gains: list[float]
) -> np.ndarray:
    return sum(
        g * np.sin(2 * math.pi * f * t) * np.exp(-t / d)
        for f, d, g in zip(frequencies, decays, gains, strict=True)
    )


def one_shot(
    kit: str, kind: str, rate: int, brightness: float, rng: np.random.Generator
) -> np.ndarray:
    """One hit of ``kind`` (kick, snare, hat, open_hat, tom, shaker) from ``kit``."""
    if kind == "kick":
        t = np.arange(int(0.5 * rate)) / rate
        if kit == "acoustic":
            body = _modes(t, [58.0, 96.0, 143.0], [0.22, 0.08, 0.05], [1.0, 0.4, 0.2])
            beater = _bandpass(rng.standard_normal(t.size), 800.0, 4000.0, rate)
            return body + beater * np.exp(-t / 0.004) * (0.3 + 0.5 * brightness)
        sweep = 45.0 + rng.uniform(80.0, 140.0) * np.exp(-t / 0.035)
        body = np.sin(2.0 * math.pi * np.cumsum(sweep) / rate) * np.exp(-t / rng.uniform(0.12, 0.3))
        click = rng.standard_normal(t.size) * np.exp(-t / 0.003) * (0.2 + 0.4 * brightness)
        return body + click
    if kind in ("snare", "tom"):
        t = np.arange(int(0.4 * rate)) / rate
        if kind == "tom":
            pitch = rng.uniform(90.0, 200.0)
            return _modes(t, [pitch, 1.5 * pitch], [0.25, 0.12], [1.0, 0.3])
        tone_hz = rng.uniform(160.0, 240.0)
        tone = np.sin(2.0 * math.pi * tone_hz * t) * np.exp(-t / 0.05)
        decay = 0.14 if kit == "acoustic" else 0.09
        top = 5000.0 + 4000.0 * brightness
        noise = _bandpass(rng.standard_normal(t.size), 900.0, top, rate) * np.exp(-t / decay)
        return 0.6 * tone + 1.4 * noise
    if kind == "shaker":
        t = np.arange(int(0.12 * rate)) / rate
        grains = rng.standard_normal(t.size) * np.sin(math.pi * t / t[-1]) ** 2
        return _bandpass(grains, 4000.0, 10000.0, rate, order=1)
    decay = {"hat": 0.03, "open_hat": 0.16}.get(kind, 0.03)
    if kit == "acoustic":
        decay *= 1.8
    t = np.arange(int(6 * decay * rate)) / rate
    cutoff = 5000.0 + 3000.0 * brightness
    return _highpass(rng.standard_normal(t.size), cutoff, rate) * np.exp(-t / decay)


def place(
    shot: np.ndarray, times: list[float], gains: list[float], n: int, rate: int
) -> np.ndarray:
    """Add a one-shot at each hit; hits are few and shots short, so slices beat convolution."""
    out = np.zeros(n)
    for time, gain in zip(times, gains, strict=True):
        start = round(time * rate)
        if start < n:
            length = min(shot.size, n - start)
            out[start : start + length] += gain * shot[:length]
    return out
