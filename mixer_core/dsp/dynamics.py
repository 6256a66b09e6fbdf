"""Compressor, expander and limiter: gain computed at a control rate, applied per sample.

Level detection is the stereo-linked peak of each control block (about 1 ms). The
gain in dB is smoothed block by block and interpolated linearly to audio rate, so
the only recursion runs over blocks, never over samples.

The compressor's smoothing (a peak hold that releases, then a one-pole attack) is a
recursion of ``max`` and affine maps; those compose, so it is evaluated as a parallel
prefix scan: a few whole-tensor steps instead of a loop. The gain a block computes is
applied from the next block on, so the gain on any block depends only on audio before
it. That makes the compressor exactly invertible by a feedback expander, which sees
the gain it must undo before it needs it: ``compress`` then ``expand`` with the same
settings cancel to float precision (until the expander's boost cap).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

CONTROL_PERIOD_S = 0.001
LIMITER_PERIOD_S = 0.0005
# An upward expander with a low threshold and a high ratio asks for unbounded gain
# (ratio 20 above -60 dB means +1140 dB at 0 dBFS). Undoing any compression of audio
# peaking below +24 dBFS needs at most 80 dB, so the boost is capped there.
MAX_EXPANSION_DB = 80.0
_SILENCE = 1e-10


def _hop(sample_rate: int, period_s: float) -> int:
    return max(1, round(sample_rate * period_s))


def _param(audio: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """A ``(batch, 1)`` float32 column on the audio's device."""
    return torch.as_tensor(value, device=audio.device).to(torch.float32).reshape(-1, 1)


def _block_peak_db(audio: torch.Tensor, hop: int) -> torch.Tensor:
    """Peak of each block over all channels, in dB: ``(batch, blocks)``."""
    batch, _, samples = audio.shape
    blocks = -(-samples // hop)
    peak = audio.abs().amax(dim=1).to(torch.float32)
    peak = F.pad(peak, (0, blocks * hop - samples)).reshape(batch, blocks, hop).amax(dim=-1)
    return 20.0 * torch.log10(peak.clamp_min(_SILENCE))


def _coefficient(time_ms: torch.Tensor, hop: int, sample_rate: int) -> torch.Tensor:
    """One-pole smoothing coefficient per block for a time constant of ``time_ms``."""
    return torch.exp(-hop * 1000.0 / (sample_rate * time_ms))


def _scan(c: torch.Tensor | None, a: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """Run ``y[n] = max(c[n], a * y[n-1] + d[n])`` from ``y[-1] = 0`` as a prefix scan.

    Maps ``y -> max(c, A y + d)`` (``A >= 0``) compose into maps of the same form,
    so Hillis-Steele doubling evaluates all prefixes in log2(blocks) steps. With
    ``c`` None the recursion is the affine ``y[n] = a y[n-1] + d[n]``.
    """
    gain = a.expand_as(d).clone()
    offset = 1
    while offset < d.shape[-1]:
        late = gain[:, offset:]
        if c is not None:
            c = torch.cat(
                [
                    c[:, :offset],
                    torch.maximum(c[:, offset:], late * c[:, :-offset] + d[:, offset:]),
                ],
                dim=1,
            )
        d = torch.cat([d[:, :offset], late * d[:, :-offset] + d[:, offset:]], dim=1)
        gain = torch.cat([gain[:, :offset], late * gain[:, :-offset]], dim=1)
        offset *= 2
    return d if c is None else torch.maximum(c, d)


def _peak_hold(target: torch.Tensor, release: torch.Tensor) -> torch.Tensor:
    """Jump up to ``target`` at once, fall back towards it with the release coefficient."""
    return _scan(target, release, (1.0 - release) * target)


def _one_pole(target: torch.Tensor, attack: torch.Tensor) -> torch.Tensor:
    return _scan(None, attack, (1.0 - attack) * target)


def _gain_curve(knots: torch.Tensor, start: torch.Tensor, hop: int, samples: int) -> torch.Tensor:
    """Per-sample dB: within block n, linear from ``knots[n-1]`` to ``knots[n]``.

    ``start`` is the value before the first block. Every sample's value lies between
    its block's two knots, which the limiter relies on.
    """
    previous = torch.cat([start, knots[:, :-1]], dim=1)
    ramp = torch.arange(1, hop + 1, device=knots.device, dtype=knots.dtype) / hop
    curve = previous[:, :, None] + (knots - previous)[:, :, None] * ramp
    return curve.reshape(knots.shape[0], -1)[:, :samples]


def _apply_db(audio: torch.Tensor, gain_db: torch.Tensor) -> torch.Tensor:
    return audio * torch.pow(10.0, gain_db / 20.0).to(audio.dtype)[:, None, :]


def compress(
    audio: torch.Tensor,
    sample_rate: int,
    *,
    threshold_db: torch.Tensor,
    ratio: torch.Tensor,
    attack_ms: torch.Tensor,
    release_ms: torch.Tensor,
    makeup_db: torch.Tensor,
) -> torch.Tensor:
    """Hard-knee downward compression of the stereo-linked block peak, plus make-up gain.

    Static curve above the threshold: ``out = thr + (in - thr) / ratio`` (peak levels).
    The gain ramps towards each block's reduction during the following block (1-2 ms
    of detection latency).
    """
    hop = _hop(sample_rate, CONTROL_PERIOD_S)
    level = _block_peak_db(audio, hop)
    slope = 1.0 - 1.0 / _param(audio, ratio)
    target = (level - _param(audio, threshold_db)).clamp_min(0.0) * slope
    held = _peak_hold(target, _coefficient(_param(audio, release_ms), hop, sample_rate))
    reduction = _one_pole(held, _coefficient(_param(audio, attack_ms), hop, sample_rate))
    settled = torch.cat([torch.zeros_like(reduction[:, :1]), reduction[:, :-1]], dim=1)
    curve = _gain_curve(settled, torch.zeros_like(reduction[:, :1]), hop, audio.shape[-1])
    return _apply_db(audio, _param(audio, makeup_db) - curve)


def expand(
    audio: torch.Tensor,
    sample_rate: int,
    *,
    threshold_db: torch.Tensor,
    ratio: torch.Tensor,
    attack_ms: torch.Tensor,
    release_ms: torch.Tensor,
) -> torch.Tensor:
    """Upward expansion above the threshold, ``out = thr + (in - thr) * ratio`` at steady state.

    A feedback expander that runs :func:`compress`'s gain recursion on its own output:
    the boost applied to block ``n`` is already fixed by blocks before it, so each
    block's output level is known exactly and drives the recursion for the next. On
    compressed audio it therefore rebuilds the compressor's input and its gain, block by
    block. The boost is capped at :data:`MAX_EXPANSION_DB`.
    """
    hop = _hop(sample_rate, CONTROL_PERIOD_S)
    batch, channels, samples = audio.shape
    blocks = -(-samples // hop)
    magnitude = F.pad(audio.abs().to(torch.float32), (0, blocks * hop - samples))
    level = 20.0 * torch.log10(magnitude.clamp_min(_SILENCE))
    level = level.reshape(batch, channels, blocks, hop).permute(2, 0, 1, 3).contiguous()
    threshold = _param(audio, threshold_db)[:, 0]
    slope = 1.0 - 1.0 / _param(audio, ratio)[:, 0]
    attack = _coefficient(_param(audio, attack_ms), hop, sample_rate)[:, 0]
    release = _coefficient(_param(audio, release_ms), hop, sample_rate)[:, 0]
    ramp = torch.arange(1, hop + 1, device=audio.device, dtype=torch.float32) / hop
    release_step, attack_step = 1.0 - release, 1.0 - attack

    before = torch.zeros_like(threshold)
    boost = torch.zeros_like(threshold)
    held = torch.zeros_like(threshold)
    curves = []
    for block in level:
        curve = torch.addcmul(before[:, None], (boost - before)[:, None], ramp)
        curve = curve.clamp_max_(MAX_EXPANSION_DB)
        curves.append(curve)
        rebuilt = (block + curve[:, None, :]).amax(dim=(1, 2))
        wanted = (rebuilt - threshold).clamp_min_(0.0).mul_(slope)
        held = torch.maximum(wanted, torch.addcmul(release_step * wanted, release, held))
        before, boost = boost, torch.addcmul(attack_step * held, attack, boost)
    curve = torch.cat(curves, dim=1)[:, :samples]
    return _apply_db(audio, curve)


def limit(
    audio: torch.Tensor, sample_rate: int, *, threshold_db: torch.Tensor, release_ms: torch.Tensor
) -> torch.Tensor:
    """Peak limiter with one block (0.5 ms) of look-ahead: output peaks never exceed the threshold.

    The gain needed by each block is held and released; the knot at the end of block
    ``n`` is the larger of blocks ``n`` and ``n + 1``, so the linear ramp between knots
    reaches each block's reduction before the block starts (a 0.5 ms attack).
    """
    hop = _hop(sample_rate, LIMITER_PERIOD_S)
    needed = (_block_peak_db(audio, hop) - _param(audio, threshold_db)).clamp_min(0.0)
    held = _peak_hold(needed, _coefficient(_param(audio, release_ms), hop, sample_rate))
    knots = torch.maximum(held, torch.cat([held[:, 1:], held[:, -1:]], dim=1))
    return _apply_db(audio, -_gain_curve(knots, held[:, :1], hop, audio.shape[-1]))
