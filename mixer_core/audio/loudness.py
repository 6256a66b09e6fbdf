"""Loudness and level measures: ITU-R BS.1770-4 integrated loudness, peak and RMS.

Two implementations of the same LUFS: ``integrated_lufs`` runs pyloudnorm (the
reference, used when indexing segments and normalising references) and
``lufs_torch`` is a batched, device-resident version for the training loop. Both use
pyloudnorm's K-weighting design (RBJ high shelf +4 dB at 1.5 kHz, Q 1/√2; RBJ high
pass at 38 Hz, Q 0.5) and its block boundaries, so they agree to a small fraction of
an LU.

Conventions, chosen so every value is finite and can sit in a parquet column:
silence measures ``LUFS_FLOOR`` (-70 LUFS, the BS.1770 absolute gate; gated
loudness of anything audible is above it) and ``DBFS_FLOOR`` (-120 dBFS) for peak and
RMS. RMS is the plain mean square over all channels and samples, so a full-scale
sine reads -3.01 dBFS.
"""

from __future__ import annotations

import math

import numpy as np
import pyloudnorm
import scipy.fft
import scipy.signal
import torch

LUFS_FLOOR = -70.0
DBFS_FLOOR = -120.0
BLOCK_SECONDS = 0.4
BLOCK_OVERLAP = 0.75
_ABSOLUTE_GATE = -70.0
_RELATIVE_GATE = -10.0
_OFFSET = -0.691
_CHANNEL_GAINS = (1.0, 1.0, 1.0, 1.41, 1.41)
_MAX_CHANNELS = len(_CHANNEL_GAINS)


def _check(audio: np.ndarray) -> np.ndarray:
    audio = np.asarray(audio)
    if audio.ndim == 1:
        audio = audio[None, :]
    if audio.ndim != 2 or audio.shape[0] > _MAX_CHANNELS:
        raise ValueError(
            f"expected audio shaped (channels ≤ {_MAX_CHANNELS}, samples), got {audio.shape}"
        )
    return audio


def k_weighting_coefficients(sample_rate: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The two K-weighting biquads ``(b, a)`` at ``sample_rate``, as pyloudnorm designs them."""
    meter = pyloudnorm.Meter(sample_rate)
    return [(stage.b, stage.a) for stage in meter._filters.values()]


def _short_clip_lufs(audio: np.ndarray, sample_rate: int) -> float:
    weighted = audio.astype(np.float64)
    for b, a in k_weighting_coefficients(sample_rate):
        weighted = scipy.signal.lfilter(b, a, weighted, axis=-1)
    power = float(np.dot(_CHANNEL_GAINS[: audio.shape[0]], np.mean(weighted**2, axis=-1)))
    if power <= 0:
        return LUFS_FLOOR
    loudness = _OFFSET + 10.0 * math.log10(power)
    return loudness if loudness >= _ABSOLUTE_GATE else LUFS_FLOOR


def integrated_lufs(audio: np.ndarray, sample_rate: int) -> float:
    """Gated integrated loudness (LUFS) of ``(channels, samples)`` audio, via pyloudnorm.

    Silence, or audio whose every block is below the -70 LUFS gate, gives
    ``LUFS_FLOOR``. Clips shorter than one 400 ms block have no gating blocks; they
    are measured as a single block of their own length (K-weighted mean square, the
    absolute gate only), which equals the BS.1770 momentary loudness of a stationary
    signal.
    """
    audio = _check(audio)
    if audio.shape[1] == 0:
        return LUFS_FLOOR
    if audio.shape[1] < BLOCK_SECONDS * sample_rate:
        return _short_clip_lufs(audio, sample_rate)
    meter = pyloudnorm.Meter(sample_rate, block_size=BLOCK_SECONDS, overlap=BLOCK_OVERLAP)
    loudness = float(meter.integrated_loudness(audio.T.astype(np.float64)))
    return loudness if math.isfinite(loudness) else LUFS_FLOOR


def _to_db(value: float, factor: float) -> float:
    return factor * math.log10(value) if value > 0 else DBFS_FLOOR


def peak_dbfs(audio: np.ndarray) -> float:
    """Sample peak over all channels in dBFS (not true peak); silence gives ``DBFS_FLOOR``."""
    audio = np.asarray(audio)
    if audio.size == 0:
        return DBFS_FLOOR
    return max(_to_db(float(np.max(np.abs(audio))), 20.0), DBFS_FLOOR)


def rms_dbfs(audio: np.ndarray) -> float:
    """RMS over all channels and samples in dBFS; silence gives ``DBFS_FLOOR``."""
    audio = np.asarray(audio)
    if audio.size == 0:
        return DBFS_FLOOR
    mean_square = float(np.mean(np.square(audio, dtype=np.float64)))
    return max(_to_db(mean_square, 10.0), DBFS_FLOOR)


def normalize_lufs(
    audio: np.ndarray, sample_rate: int, target_lufs: float
) -> tuple[np.ndarray, float]:
    """Scale audio to ``target_lufs``; returns the audio and the gain applied in dB.

    Gated loudness is homogeneous in gain, so one measured gain lands on the target.
    Silence is returned unchanged with a gain of 0 dB. No limiting: a loud target can
    push peaks above 0 dBFS, which the caller sees in ``peak_dbfs``.
    """
    audio = _check(audio)
    current = integrated_lufs(audio, sample_rate)
    if current <= LUFS_FLOOR:
        return audio.astype(np.float32, copy=True), 0.0
    gain_db = float(target_lufs - current)
    scaled = audio.astype(np.float64) * 10.0 ** (gain_db / 20.0)
    return scaled.astype(np.float32), gain_db


def _biquad_response(
    b: np.ndarray, a: np.ndarray, n_fft: int, device: torch.device
) -> torch.Tensor:
    omega = torch.linspace(0.0, math.pi, n_fft // 2 + 1, dtype=torch.float64, device=device)
    z1 = torch.exp(-1j * omega)
    z2 = z1 * z1
    numerator = float(b[0]) + float(b[1]) * z1 + float(b[2]) * z2
    denominator = float(a[0]) + float(a[1]) * z1 + float(a[2]) * z2
    return numerator / denominator


def _block_bounds(samples: int, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    step = 1.0 - BLOCK_OVERLAP
    seconds = samples / sample_rate
    count = round((seconds - BLOCK_SECONDS) / (BLOCK_SECONDS * step)) + 1
    j = np.arange(count)
    lower = (BLOCK_SECONDS * (j * step) * sample_rate).astype(np.int64)
    upper = (BLOCK_SECONDS * (j * step + 1) * sample_rate).astype(np.int64)
    return lower, np.minimum(upper, samples)


def lufs_torch(audio: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """Batched BS.1770-4 integrated loudness of ``(batch, channels, samples)`` → ``(batch,)``.

    K-weighting is applied in the frequency domain (the biquads' responses multiplied
    into a zero-padded FFT, long enough that the filters' decaying tails do not wrap),
    then 400 ms blocks with 75 % overlap are gated at -70 LUFS absolute and -10 LU
    relative. Stays on the input's device; not differentiable through the gates.
    Short clips and silence follow ``integrated_lufs``.
    """
    if audio.ndim != 3 or audio.shape[1] > _MAX_CHANNELS:
        raise ValueError(
            f"lufs_torch: expected (batch, channels ≤ {_MAX_CHANNELS}, samples), "
            f"got {tuple(audio.shape)}"
        )
    batch, channels, samples = audio.shape
    device = audio.device
    if samples == 0:
        return torch.full((batch,), LUFS_FLOOR, device=device)
    n_fft = scipy.fft.next_fast_len(samples + max(sample_rate // 2, 1024), real=True)
    spectrum = torch.fft.rfft(audio.to(torch.float64), n=n_fft)
    for b, a in k_weighting_coefficients(sample_rate):
        spectrum = spectrum * _biquad_response(b, a, n_fft, device)
    weighted = torch.fft.irfft(spectrum, n=n_fft)[..., :samples]
    gains = torch.tensor(_CHANNEL_GAINS[:channels], dtype=torch.float64, device=device)
    squared = weighted.square()
    if samples < BLOCK_SECONDS * sample_rate:
        channel_power = squared.mean(dim=-1)[:, None, :]
    else:
        lower, upper = _block_bounds(samples, sample_rate)
        energy = torch.nn.functional.pad(squared.cumsum(dim=-1), (1, 0))
        lo = torch.as_tensor(lower, device=device)
        hi = torch.as_tensor(upper, device=device)
        block_energy = energy[..., hi] - energy[..., lo]
        channel_power = (block_energy / (BLOCK_SECONDS * sample_rate)).transpose(1, 2)
    block_loudness = _loudness((channel_power * gains).sum(dim=-1))
    absolute = block_loudness >= _ABSOLUTE_GATE
    relative_threshold = _loudness(_gated_power(channel_power, gains, absolute)) + _RELATIVE_GATE
    kept = absolute & (block_loudness > relative_threshold[:, None])
    result = _loudness(_gated_power(channel_power, gains, kept))
    result = torch.where(kept.any(dim=1), result, torch.full_like(result, LUFS_FLOOR))
    return result.to(audio.dtype if audio.is_floating_point() else torch.float32)


def _loudness(power: torch.Tensor) -> torch.Tensor:
    return _OFFSET + 10.0 * torch.log10(power.clamp_min(1e-30))


def _gated_power(
    channel_power: torch.Tensor, gains: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """Gain-weighted sum over channels of each channel's mean power over the kept blocks."""
    weights = mask.to(channel_power.dtype)
    count = weights.sum(dim=1, keepdim=True).clamp_min(1.0)
    mean_per_channel = (channel_power * weights[..., None]).sum(dim=1) / count
    return (mean_per_channel * gains).sum(dim=-1)
