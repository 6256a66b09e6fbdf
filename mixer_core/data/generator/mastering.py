"""Mastering a generated mix to its drawn tone: room, band balance, width, crest, loudness.

The arrangement and voices give each song its own timbre; mastering then sets the
statistics that a blind fix is confused by, to values drawn from real music
(``style.SongTone``), so that no single balance is "the clean one":

1. **room**: a per-song impulse response (decaying, damped stereo noise with early
   reflections; not the ``apply_reverb`` tool's, so the model never sees its own room
   baked into clean songs);
2. **band balance**: a smooth gain curve (two shelves with per-song corners and
   slopes) moves the low and high bands relative to the mid band onto their targets;
3. **width**: the side signal is scaled to the target side-to-mid energy;
4. **crest**: a peak limiter's threshold (or, for a mix less dynamic than its target,
   an upward expander's ratio) is searched until the crest factor reaches its target;
5. **loudness**: gain to the target LUFS, then a soft knee that keeps the sample peak
   under ``PEAK_CEILING``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import scipy.signal

from mixer_core.audio.loudness import LUFS_FLOOR, integrated_lufs, rms_dbfs
from mixer_core.data.statistics import crest_db, stereo_width_db
from mixer_core.language.grammar import ToolCall
from mixer_core.tools.levels import band_levels_db
from mixer_core.tools.mixing_tools import MixingTools

PEAK_CEILING = 0.985
MAX_SHELF_DB = 48.0
MAX_SIDE_GAIN = 4.0
MAX_EXPANSION_RATIO = 4.0
_TONE_ITERATIONS = 8
_TONE_TOLERANCE_DB = 0.3
_CREST_ITERATIONS = 7
_CREST_TOLERANCE_DB = 0.4


def add_room(mix: np.ndarray, sample_rate: int, wet: float, rng: np.random.Generator) -> np.ndarray:
    """``mix`` plus ``wet`` × its convolution with a fresh stereo room response."""
    if wet <= 0.0:
        return mix
    rt60 = rng.uniform(0.3, 2.5)
    length = int(min(rt60, 2.0) * sample_rate)
    t = np.arange(length) / sample_rate
    decay = np.exp(-t * math.log(1000.0) / rt60)
    damping = scipy.signal.butter(
        1, rng.uniform(2500.0, 0.45 * sample_rate), "lowpass", fs=sample_rate, output="sos"
    )
    tails = []
    for _ in range(mix.shape[0]):
        noise = scipy.signal.sosfilt(damping, rng.standard_normal(length)) * decay
        for delay, gain in zip(rng.uniform(0.005, 0.04, 4), rng.uniform(0.2, 0.6, 4), strict=True):
            noise[int(delay * sample_rate)] += gain
        tails.append(noise / math.sqrt(float(np.sum(noise**2))))
    wet_signal = np.stack(
        [scipy.signal.fftconvolve(channel, tail)[: mix.shape[1]] for channel, tail in
         zip(mix, tails, strict=True)]
    )  # fmt: skip
    return mix + wet * wet_signal


def _shelf_curves(freqs: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Low and high shelf shapes (0..1) in log frequency with per-song corners and slopes."""
    octave = np.log2(np.maximum(freqs, 1.0))
    low_corner = math.log2(200.0) + rng.uniform(-0.7, 0.7)
    high_corner = math.log2(5000.0) + rng.uniform(-0.7, 0.7)
    slope = rng.uniform(1.5, 4.0)
    low = 1.0 / (1.0 + np.exp(slope * (octave - low_corner)))
    high = 1.0 / (1.0 + np.exp(-slope * (octave - high_corner)))
    return low, high


def match_bands(
    mix: np.ndarray,
    sample_rate: int,
    low_minus_mid_db: float,
    high_minus_mid_db: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """The mix with its low and high bands moved relative to the mid band onto targets."""
    spectrum = np.fft.rfft(mix, axis=-1)
    freqs = np.fft.rfftfreq(mix.shape[-1], 1.0 / sample_rate)
    low_shape, high_shape = _shelf_curves(freqs, rng)
    targets = np.array([low_minus_mid_db, high_minus_mid_db])

    def differences(audio: np.ndarray) -> np.ndarray:
        low, mid, high = band_levels_db(audio, sample_rate)
        return np.array([low - mid, high - mid])

    def shaped_by(gains: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        curve = 10.0 ** ((gains[0] * low_shape + gains[1] * high_shape) / 20.0)
        audio = np.fft.irfft(spectrum * curve, n=mix.shape[-1], axis=-1)
        return audio, differences(audio)

    # per band, a secant step on (shelf gain -> band difference): a shelf also moves part
    # of the mid band, so one dB of gain moves the difference by less than one dB
    gains, slope = np.zeros(2), np.ones(2)
    shaped, measured = mix, differences(mix)
    for _ in range(_TONE_ITERATIONS):
        error = targets - measured
        if np.all(np.abs(error) <= _TONE_TOLERANCE_DB):
            break
        step = error / slope
        new_gains = np.clip(gains + step, -MAX_SHELF_DB, MAX_SHELF_DB)
        shaped, new_measured = shaped_by(new_gains)
        moved = new_gains - gains
        with np.errstate(divide="ignore", invalid="ignore"):
            observed = np.where(np.abs(moved) > 1e-6, (new_measured - measured) / moved, slope)
        slope = np.clip(observed, 0.1, 2.0)
        gains, measured = new_gains, new_measured
    return shaped


def match_width(mix: np.ndarray, width_db: float) -> np.ndarray:
    """Stereo with the side signal scaled so side/mid energy is ``width_db``."""
    if mix.shape[0] != 2:
        return mix
    mid, side = (mix[0] + mix[1]) / 2.0, (mix[0] - mix[1]) / 2.0
    gain = min(10.0 ** ((width_db - stereo_width_db(mix)) / 20.0), MAX_SIDE_GAIN)
    side = side * gain
    return np.stack([mid + side, mid - side])


def _bisect(
    render: Callable[[float], np.ndarray], low: float, high: float, target: float, rising: bool
) -> np.ndarray:
    """The output of ``render(x)`` whose crest is nearest ``target``, ``x`` in [low, high]
    by bisection; ``rising`` says whether the crest grows with ``x``."""
    best, best_error = None, math.inf
    for _ in range(_CREST_ITERATIONS):
        x = round((low + high) / 2.0, 1)
        output = render(x)
        error = crest_db(output) - target
        if abs(error) < best_error:
            best, best_error = output, abs(error)
        if abs(error) <= _CREST_TOLERANCE_DB:
            break
        if (error > 0) == rising:
            high = x
        else:
            low = x
    assert best is not None
    return best


def match_crest(
    mix: np.ndarray, sample_rate: int, crest_target_db: float, release_ms: float
) -> np.ndarray:
    """The mix with its crest factor moved to about ``crest_target_db``: peak-limited when
    it is above, its peaks expanded upward when it is below."""
    peak = float(np.max(np.abs(mix)))
    crest = crest_db(mix)
    if peak <= 0.0 or abs(crest - crest_target_db) <= _CREST_TOLERANCE_DB:
        return mix
    tools = MixingTools()
    audio = (mix / peak).astype(np.float32)
    timing = {"release_ms": float(round(release_ms))}
    if crest > crest_target_db:

        def limit(threshold: float) -> np.ndarray:
            call = ToolCall("limit", {"threshold_db": threshold, **timing})
            return tools.apply(audio, sample_rate, [call])

        result = _bisect(limit, -24.0, 0.0, crest_target_db, rising=True)
    else:
        threshold = float(np.clip(round(rms_dbfs(audio) + 3.0, 1), -60.0, 0.0))

        def expand(ratio: float) -> np.ndarray:
            call = ToolCall("expand", {"threshold_db": threshold, "ratio": ratio, **timing})
            return tools.apply(audio, sample_rate, [call])

        result = _bisect(expand, 1.0, MAX_EXPANSION_RATIO, crest_target_db, rising=True)
    return result.astype(np.float64)


def soft_ceiling(mix: np.ndarray) -> np.ndarray:
    """A soft knee above 0.8 so the sample peak stays under ``PEAK_CEILING``."""
    knee = 0.8
    magnitude = np.abs(mix)
    over = magnitude > knee
    room = PEAK_CEILING - knee
    magnitude[over] = knee + room * np.tanh((magnitude[over] - knee) / room)
    return np.clip(np.sign(mix) * magnitude, -PEAK_CEILING, PEAK_CEILING)


def master(
    mix: np.ndarray,
    sample_rate: int,
    targets: dict[str, float],
    room: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """The finished song, float32 ``(channels, samples)``, mastered to ``targets``."""
    mix = add_room(mix, sample_rate, room, rng)
    mix = match_bands(
        mix,
        sample_rate,
        targets["low_db"] - targets["mid_db"],
        targets["high_db"] - targets["mid_db"],
        rng,
    )
    mix = match_width(mix, targets["width_db"])
    mix = match_crest(mix, sample_rate, targets["crest_db"], rng.uniform(20.0, 300.0))
    loudness = integrated_lufs(mix.astype(np.float32), sample_rate)
    if loudness > LUFS_FLOOR:
        mix = mix * 10.0 ** ((targets["loudness_lufs"] - loudness) / 20.0)
    return soft_ceiling(mix).astype(np.float32)
