"""RBJ Audio-EQ-Cookbook biquads, applied in the frequency domain.

A recursive (IIR) filter run sample by sample cannot be batched on a GPU without a
Python loop at audio rate. Instead each biquad's complex response is evaluated on an
FFT grid and the audio is filtered by one real FFT, padded long enough that the
filter's decaying tail does not wrap around onto the start. That is exact in
magnitude and phase at every bin, and causal up to the (negligible) wrapped tail.

Coefficients and responses are computed in float64: shelves and high-passes at
20 Hz put poles within 1e-3 of the unit circle, where float32 loses the response.
"""

from __future__ import annotations

import math
from functools import lru_cache

import scipy.fft
import torch

# The filter tail is allowed to wrap once it has decayed by 120 dB.
TAIL_DECAY = 1e-6
MIN_TAIL_SECONDS = 0.05
# A filter cannot act above Nyquist; corner frequencies are limited to this share of
# the sample rate so that high settings at low sample rates stay well defined.
MAX_FREQ_RATIO = 0.49
BUTTERWORTH_Q = 1.0 / math.sqrt(2.0)

Coefficients = tuple[torch.Tensor, torch.Tensor]


def fft_size(length: int) -> int:
    """The next length at least ``length`` that a real FFT handles fast."""
    return scipy.fft.next_fast_len(length, real=True)


def _omega(freq: torch.Tensor, sample_rate: int) -> torch.Tensor:
    freq = freq.to(torch.float64).clamp(max=MAX_FREQ_RATIO * sample_rate)
    return 2.0 * math.pi * freq / sample_rate


def _stack(*terms: torch.Tensor) -> Coefficients:
    """``(b0, b1, b2, a0, a1, a2)`` into ``(b, a)``, each ``(batch, 3)``."""
    return torch.stack(terms[:3], dim=-1), torch.stack(terms[3:], dim=-1)


def peaking(
    gain_db: torch.Tensor, freq: torch.Tensor, q: torch.Tensor, sample_rate: int
) -> Coefficients:
    w0 = _omega(freq, sample_rate)
    amp = torch.pow(10.0, gain_db.to(torch.float64) / 40.0)
    alpha = torch.sin(w0) / (2.0 * q.to(torch.float64))
    cos = torch.cos(w0)
    return _stack(
        1.0 + alpha * amp,
        -2.0 * cos,
        1.0 - alpha * amp,
        1.0 + alpha / amp,
        -2.0 * cos,
        1.0 - alpha / amp,
    )


def _shelf_terms(
    gain_db: torch.Tensor, freq: torch.Tensor, sample_rate: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Shared RBJ shelf terms for slope S = 1, where alpha = sin(w0)/2 * sqrt(2)."""
    w0 = _omega(freq, sample_rate)
    amp = torch.pow(10.0, gain_db.to(torch.float64) / 40.0)
    two_sqrt_a_alpha = 2.0 * torch.sqrt(amp) * torch.sin(w0) / math.sqrt(2.0)
    return amp, torch.cos(w0), two_sqrt_a_alpha


def low_shelf(gain_db: torch.Tensor, freq: torch.Tensor, sample_rate: int) -> Coefficients:
    a, cos, s = _shelf_terms(gain_db, freq, sample_rate)
    return _stack(
        a * ((a + 1) - (a - 1) * cos + s),
        2 * a * ((a - 1) - (a + 1) * cos),
        a * ((a + 1) - (a - 1) * cos - s),
        (a + 1) + (a - 1) * cos + s,
        -2 * ((a - 1) + (a + 1) * cos),
        (a + 1) + (a - 1) * cos - s,
    )


def high_shelf(gain_db: torch.Tensor, freq: torch.Tensor, sample_rate: int) -> Coefficients:
    a, cos, s = _shelf_terms(gain_db, freq, sample_rate)
    return _stack(
        a * ((a + 1) + (a - 1) * cos + s),
        -2 * a * ((a - 1) + (a + 1) * cos),
        a * ((a + 1) + (a - 1) * cos - s),
        (a + 1) - (a - 1) * cos + s,
        2 * ((a - 1) - (a + 1) * cos),
        (a + 1) - (a - 1) * cos - s,
    )


def butterworth_low_pass(freq: torch.Tensor, sample_rate: int) -> Coefficients:
    w0 = _omega(freq, sample_rate)
    cos, alpha = torch.cos(w0), torch.sin(w0) / (2.0 * BUTTERWORTH_Q)
    return _stack((1 - cos) / 2, 1 - cos, (1 - cos) / 2, 1 + alpha, -2 * cos, 1 - alpha)


def butterworth_high_pass(freq: torch.Tensor, sample_rate: int) -> Coefficients:
    w0 = _omega(freq, sample_rate)
    cos, alpha = torch.cos(w0), torch.sin(w0) / (2.0 * BUTTERWORTH_Q)
    return _stack((1 + cos) / 2, -(1 + cos), (1 + cos) / 2, 1 + alpha, -2 * cos, 1 - alpha)


def pole_radius(a: torch.Tensor) -> torch.Tensor:
    """The largest pole magnitude of each denominator ``a0 + a1 z^-1 + a2 z^-2``."""
    a0, a1, a2 = a.unbind(-1)
    disc = torch.complex(a1 * a1 - 4 * a0 * a2, torch.zeros_like(a1)).sqrt()
    first = (-a1 + disc) / (2 * a0)
    second = (-a1 - disc) / (2 * a0)
    return torch.maximum(first.abs(), second.abs())


@lru_cache(maxsize=8)
def _unit_circle(n_fft: int, device: torch.device) -> torch.Tensor:
    """``cos w, sin w, cos 2w, sin 2w`` at the real-FFT bins, ``(4, n_fft // 2 + 1)``."""
    omega = torch.arange(n_fft // 2 + 1, dtype=torch.float64, device=device) * (
        2.0 * math.pi / n_fft
    )
    return torch.stack(
        [torch.cos(omega), torch.sin(omega), torch.cos(2 * omega), torch.sin(2 * omega)]
    )


def _polynomial(c: torch.Tensor, circle: torch.Tensor) -> torch.Tensor:
    """``c0 + c1 z^-1 + c2 z^-2`` on the unit circle, ``(batch, bins)`` complex."""
    cos1, sin1, cos2, sin2 = circle
    c0, c1, c2 = (c[:, i : i + 1] for i in range(3))
    return torch.complex(c0 + c1 * cos1 + c2 * cos2, -(c1 * sin1 + c2 * sin2))


def response(sections: list[Coefficients], n_fft: int) -> torch.Tensor:
    """Complex response of the cascade at the bins of a real FFT of ``n_fft``: ``(batch, bins)``."""
    circle = _unit_circle(n_fft, sections[0][0].device)
    numerator = _polynomial(sections[0][0], circle)
    denominator = _polynomial(sections[0][1], circle)
    for b, a in sections[1:]:
        numerator = numerator * _polynomial(b, circle)
        denominator = denominator * _polynomial(a, circle)
    return numerator / denominator


def tail_length(sections: list[Coefficients], sample_rate: int) -> int:
    """Samples until the slowest pole of any section has decayed by :data:`TAIL_DECAY`."""
    radius = max(float(pole_radius(a).max()) for _, a in sections)
    minimum = math.ceil(MIN_TAIL_SECONDS * sample_rate)
    if radius <= 0.0:
        return minimum
    if radius >= 1.0:
        raise ValueError(f"unstable biquad: pole radius {radius} >= 1")
    return max(minimum, math.ceil(math.log(TAIL_DECAY) / math.log(radius)))


def filter_audio(
    audio: torch.Tensor, sample_rate: int, sections: list[Coefficients]
) -> torch.Tensor:
    """Run ``audio`` ``(batch, channels, samples)`` through the cascade of ``sections``."""
    samples = audio.shape[-1]
    n_fft = fft_size(samples + tail_length(sections, sample_rate))
    total = response(sections, n_fft)
    complex_dtype = torch.complex128 if audio.dtype == torch.float64 else torch.complex64
    spectrum = torch.fft.rfft(audio, n=n_fft) * total.to(complex_dtype)[:, None, :]
    return torch.fft.irfft(spectrum, n=n_fft)[..., :samples].to(audio.dtype)
