"""Gain, balance and mid/side width: memoryless, so exactly invertible."""

from __future__ import annotations

import torch

PAN_DB_PER_UNIT = 6.0


def db_to_amplitude(db: torch.Tensor) -> torch.Tensor:
    return torch.pow(10.0, db / 20.0)


def change_volume(audio: torch.Tensor, sample_rate: int, *, db: torch.Tensor) -> torch.Tensor:
    """Multiply by ``10^(db/20)``; ``-db`` undoes it to float precision."""
    return audio * db_to_amplitude(db.to(audio)).reshape(-1, 1, 1)


def pan(audio: torch.Tensor, sample_rate: int, *, position: torch.Tensor) -> torch.Tensor:
    """Balance by ``∓6·position`` dB on left/right; a documented no-op on mono."""
    if audio.shape[1] != 2:
        return audio
    offset = PAN_DB_PER_UNIT * position.to(audio).reshape(-1)
    gains = torch.stack([db_to_amplitude(-offset), db_to_amplitude(offset)], dim=1)
    return audio * gains[:, :, None]


def stereo_width(audio: torch.Tensor, sample_rate: int, *, width: torch.Tensor) -> torch.Tensor:
    """Scale the side signal by ``width``; a documented no-op on mono."""
    if audio.shape[1] != 2:
        return audio
    mid = 0.5 * (audio[:, 0] + audio[:, 1])
    side = 0.5 * (audio[:, 0] - audio[:, 1]) * width.to(audio).reshape(-1, 1)
    return torch.stack([mid + side, mid - side], dim=1)
