"""Reverb and delay: linear, time-invariant effects applied by FFT convolution."""

from __future__ import annotations

import math
from functools import lru_cache

import torch

from mixer_core.dsp.biquad import fft_size

MIN_DECAY_S = 0.2
MAX_DECAY_S = 4.0
MIN_PREDELAY_S = 0.005
MAX_PREDELAY_S = 0.03
# Crossovers of the bands that decay at their own rate; damping shortens the decay of
# higher bands, up to this share for the top band at damping 1.
BAND_EDGES_HZ = (250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0)
MAX_DAMPING = 0.85
CROSSOVER_SHARPNESS = 4.0
# Fixed seed: the same call always renders the same room, on any device.
IMPULSE_SEED = 1729
ECHO_FLOOR = 1e-3
_LN_1000 = math.log(1000.0)


def decay_seconds(room_size: torch.Tensor) -> torch.Tensor:
    """RT60 of the undamped bands: geometric from 0.2 s (room_size 0) to 4 s (room_size 1)."""
    return MIN_DECAY_S * (MAX_DECAY_S / MIN_DECAY_S) ** room_size


def _predelay_seconds(room_size: torch.Tensor) -> torch.Tensor:
    return MIN_PREDELAY_S + (MAX_PREDELAY_S - MIN_PREDELAY_S) * room_size


@lru_cache(maxsize=8)
def _band_noise(sample_rate: int, device: torch.device) -> torch.Tensor:
    """Two independent white noises split into bands: ``(bands, 2, samples)``.

    The bands are complementary (they sum back to the noise), so an undamped room is
    plain exponentially decaying white noise. Long enough for the longest room.
    """
    length = math.ceil((MAX_DECAY_S + MAX_PREDELAY_S) * sample_rate)
    generator = torch.Generator().manual_seed(IMPULSE_SEED)
    noise = torch.randn((2, length), generator=generator, dtype=torch.float64)
    freqs = torch.fft.rfftfreq(length, 1.0 / sample_rate, dtype=torch.float64)
    octaves = torch.log2(freqs.clamp_min(1.0))
    above = [torch.ones_like(freqs)]
    above += [
        torch.sigmoid(CROSSOVER_SHARPNESS * (octaves - math.log2(edge))) for edge in BAND_EDGES_HZ
    ]
    above.append(torch.zeros_like(freqs))
    spectrum = torch.fft.rfft(noise)
    bands = [
        torch.fft.irfft(spectrum * (above[i] - above[i + 1]), n=length)
        for i in range(len(BAND_EDGES_HZ) + 1)
    ]
    return torch.stack(bands).to(device=device, dtype=torch.float32)


def impulse_response(
    room_size: torch.Tensor, damping: torch.Tensor, channels: int, sample_rate: int
) -> torch.Tensor:
    """Unit-energy room responses ``(batch, channels, samples)``, cut at -60 dB.

    Each band is noise under an exponential envelope whose RT60 is the room's decay,
    shortened for higher bands by ``damping``; left and right use independent noise.
    """
    room_size = room_size.to(torch.float64).reshape(-1)
    damping = damping.to(room_size).reshape(-1)
    decay = decay_seconds(room_size)
    predelay = _predelay_seconds(room_size)
    length = math.ceil(float((predelay + decay).max()) * sample_rate)
    bands = _band_noise(sample_rate, room_size.device)[:, :channels, :length]
    time = torch.arange(length, dtype=torch.float64, device=room_size.device) / sample_rate
    since = (time[None, :] - predelay[:, None]).to(torch.float32)
    # Each room ends at its own -60 dB point, whatever else shares the batch.
    inside = (since >= 0) & (since < decay[:, None])
    top = len(BAND_EDGES_HZ)
    response = torch.zeros(room_size.shape[0], channels, length, device=room_size.device)
    for index in range(top + 1):
        band_decay = decay * (1.0 - MAX_DAMPING * damping * index / top)
        rate = (-_LN_1000 / band_decay).to(torch.float32)[:, None]
        envelope = torch.where(inside, torch.exp(rate * since), 0.0)
        response += envelope[:, None, :] * bands[index][None]
    energy = response.square().sum(dim=-1, keepdim=True).clamp_min(1e-20)
    return response / energy.sqrt()


def apply_reverb(
    audio: torch.Tensor,
    sample_rate: int,
    *,
    room_size: torch.Tensor,
    damping: torch.Tensor,
    wet: torch.Tensor,
    dry: torch.Tensor,
) -> torch.Tensor:
    """``dry * x + wet * (x conv IR)``, each channel with its own decorrelated tail.

    The IR has unit energy, so on broadband audio the reverberated part is about as
    loud as the input and the defaults lower the level by only a couple of dB.
    """
    device = audio.device
    response = impulse_response(
        torch.as_tensor(room_size, device=device),
        torch.as_tensor(damping, device=device),
        audio.shape[1],
        sample_rate,
    )
    samples = audio.shape[-1]
    n_fft = fft_size(samples + response.shape[-1] - 1)
    spectrum = torch.fft.rfft(audio.to(torch.float32), n=n_fft) * torch.fft.rfft(response, n=n_fft)
    reverberated = torch.fft.irfft(spectrum, n=n_fft)[..., :samples]
    wet = torch.as_tensor(wet, device=device).to(torch.float32).reshape(-1, 1, 1)
    dry = torch.as_tensor(dry, device=device).to(torch.float32).reshape(-1, 1, 1)
    return (dry * audio + wet * reverberated).to(audio.dtype)


def delay(
    audio: torch.Tensor,
    sample_rate: int,
    *,
    time_ms: torch.Tensor,
    feedback: torch.Tensor,
    mix: torch.Tensor,
) -> torch.Tensor:
    """``x + mix * sum_k feedback^(k-1) x(t - k * time)``, echoes kept while above -60 dB.

    The delay is rounded to whole samples. The truncated echo train has the closed-form
    response ``1 + mix z (1 - (feedback z)^K) / (1 - feedback z)`` with ``z = e^(-jwD)``,
    applied on an FFT grid twice the clip long, so no echo wraps around.
    """
    device = audio.device
    samples = audio.shape[-1]
    time_ms, feedback, mix = (
        torch.as_tensor(v, device=device).to(torch.float64).reshape(-1)
        for v in (time_ms, feedback, mix)
    )
    period = (time_ms * sample_rate / 1000.0).round().clamp_min(1.0)
    audible = mix > ECHO_FLOOR
    below_floor = torch.log(ECHO_FLOOR / mix.clamp_min(ECHO_FLOOR))
    ratio = below_floor / torch.log(feedback.clamp(1e-12, 0.99))
    echoes = torch.where(feedback > 0, 1.0 + torch.floor(ratio), 1.0)
    echoes = torch.where(audible, echoes.clamp(max=(samples - 1) // period), 0.0)
    n_fft = fft_size(2 * samples)
    omega = torch.arange(n_fft // 2 + 1, dtype=torch.float64, device=device) * (2 * math.pi / n_fft)
    z = torch.polar(torch.ones_like(omega), -omega[None, :] * period[:, None])
    loop = feedback[:, None] * z
    train = torch.polar(
        feedback[:, None] ** echoes[:, None], -omega[None, :] * (period * echoes)[:, None]
    )
    response = 1.0 + mix[:, None] * z * (1.0 - train) / (1.0 - loop)
    spectrum = torch.fft.rfft(audio.to(torch.float32), n=n_fft)
    spectrum = spectrum * response.to(torch.complex64)[:, None]
    return torch.fft.irfft(spectrum, n=n_fft)[..., :samples].to(audio.dtype)
