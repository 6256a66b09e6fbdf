"""Where training runs: the device from ``default.device`` and the autocast dtype."""

from __future__ import annotations

import logging

import torch

from mixer_core.config import TrainingConfig

log = logging.getLogger(__name__)


class TrainingError(RuntimeError):
    """Training cannot go on; the message names the step and the reason."""


def resolve_device(spec: str) -> torch.device:
    """``auto`` picks CUDA when present; an explicit CUDA device must exist."""
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(spec)
    except RuntimeError as exc:
        raise TrainingError(f"default.device: {spec!r} is not a device ({exc})") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise TrainingError(f"default.device: {spec!r} requested but CUDA is not available")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise TrainingError(
                f"default.device: {spec!r} but only {torch.cuda.device_count()} CUDA device(s)"
            )
    elif device.type != "cpu":
        raise TrainingError(f"default.device: {spec!r}; expected auto, cpu, cuda or cuda:N")
    return device


def autocast_dtype(tc: TrainingConfig, device: torch.device) -> torch.dtype | None:
    if tc.mixed_precision == "no":
        return None
    if device.type != "cuda":
        log.info(
            "mixed_precision=%s ignored on %s (autocast is CUDA-only here)",
            tc.mixed_precision,
            device,
        )
        return None
    if tc.mixed_precision == "bf16" and not torch.cuda.is_bf16_supported():
        raise TrainingError(f"default.mixed_precision: bf16 is not supported on {device}")
    return torch.bfloat16 if tc.mixed_precision == "bf16" else torch.float16
