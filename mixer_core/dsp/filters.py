"""Equalisation and high/low-pass filtering: RBJ cookbook biquads, batched.

Every corner frequency is limited to 0.49 x the sample rate (a filter cannot act
above Nyquist), so a 20 kHz shelf at 16 kHz sampling acts at 7.84 kHz. Because the
limit depends only on the sample rate, an EQ and its negated-gain inverse are
limited identically and still cancel exactly.
"""

from __future__ import annotations

import torch

from mixer_core.dsp import biquad


def _on(audio: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(value, device=audio.device).to(torch.float64).reshape(-1)


def apply_eq(
    audio: torch.Tensor,
    sample_rate: int,
    *,
    low_gain: torch.Tensor,
    mid_gain: torch.Tensor,
    high_gain: torch.Tensor,
    low_freq: torch.Tensor,
    mid_freq: torch.Tensor,
    high_freq: torch.Tensor,
    mid_q: torch.Tensor,
) -> torch.Tensor:
    """Low shelf, peaking band and high shelf (gains in dB; shelf slope 1).

    Each band at ``-g`` is the exact reciprocal of the band at ``+g``, so the
    registry's inverse (negated gains, same frequencies) undoes it to float precision.
    """
    gains = [_on(audio, g) for g in (low_gain, mid_gain, high_gain)]
    if not any(bool(g.ne(0).any()) for g in gains):
        return audio
    sections = [
        biquad.low_shelf(gains[0], _on(audio, low_freq), sample_rate),
        biquad.peaking(gains[1], _on(audio, mid_freq), _on(audio, mid_q), sample_rate),
        biquad.high_shelf(gains[2], _on(audio, high_freq), sample_rate),
    ]
    return biquad.filter_audio(audio, sample_rate, sections)


def high_pass(audio: torch.Tensor, sample_rate: int, *, freq: torch.Tensor) -> torch.Tensor:
    """2nd-order Butterworth high-pass (RBJ, Q = 1/sqrt 2), -3 dB at ``freq``."""
    coefficients = biquad.butterworth_high_pass(_on(audio, freq), sample_rate)
    return biquad.filter_audio(audio, sample_rate, [coefficients])


def low_pass(audio: torch.Tensor, sample_rate: int, *, freq: torch.Tensor) -> torch.Tensor:
    """2nd-order Butterworth low-pass (RBJ, Q = 1/sqrt 2), -3 dB at ``freq``.

    At or above 0.49 x the sample rate the cutoff is held there, so the filter
    still rolls off the top of the band rather than doing nothing.
    """
    coefficients = biquad.butterworth_low_pass(_on(audio, freq), sample_rate)
    return biquad.filter_audio(audio, sample_rate, [coefficients])
