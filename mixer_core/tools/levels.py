"""Band levels: how much energy sits in the bands ``apply_eq`` moves.

The heuristic baseline, the corpus statistics and the model's execution check all ask
the same question of audio, so the bands are defined once, from the EQ's own defaults:
the low shelf acts below its corner, the high shelf above its corner, and the mid peak
sits between them (its 1 kHz centre is the geometric mean of the two corners, 200 Hz and
5 kHz). The low band starts at 20 Hz so DC offset and rumble below hearing do not count
as bass; the high band ends at Nyquist.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from mixer_core.language.registry import REGISTRY

_EQ_DEFAULTS = REGISTRY["apply_eq"].defaults()
BAND_NAMES: tuple[str, ...] = ("low", "mid", "high")
BAND_EDGES_HZ: tuple[float, float, float] = (
    20.0,
    _EQ_DEFAULTS["low_freq"],
    _EQ_DEFAULTS["high_freq"],
)
POWER_FLOOR = 1e-12


def power_spectrum(audio: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """(power summed over channels, frequencies) of a clip ``(channels, samples)``."""
    audio = np.asarray(audio, dtype=np.float64)
    if audio.ndim == 1:
        audio = audio[None, :]
    power = np.sum(np.abs(np.fft.rfft(audio, axis=-1)) ** 2, axis=0)
    return power, np.fft.rfftfreq(audio.shape[-1], 1.0 / sample_rate)


def relative_db(energy: np.ndarray) -> np.ndarray:
    total = max(float(energy.sum()), POWER_FLOOR)
    return 10.0 * np.log10(np.maximum(energy / total, POWER_FLOOR))


def _band_energy(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    power, freqs = power_spectrum(audio, sample_rate)
    edges = (*BAND_EDGES_HZ, math.inf)
    return np.array(
        [power[(freqs >= lo) & (freqs < hi)].sum() for lo, hi in itertools.pairwise(edges)]
    )


def band_levels_db(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Energy of the low, mid and high bands relative to their sum, in dB.

    Relative levels describe the spectral balance alone, so they do not depend on gain:
    loudness is the volume step's business.
    """
    return relative_db(_band_energy(audio, sample_rate))


def band_energies_db(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Mean power of each band per sample and channel, in dB (absolute: gains move it)."""
    audio = np.asarray(audio)
    count = max(audio.size, 1) * max(audio.shape[-1], 1)
    return 10.0 * np.log10(np.maximum(_band_energy(audio, sample_rate) / count, POWER_FLOOR))
