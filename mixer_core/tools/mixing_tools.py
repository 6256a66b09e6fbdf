"""Execute mixing programs on audio, one clip or a batch with a program per example.

The DSP is looked up only through ``registry.REGISTRY[name].apply``, so a tool added
to the registry is executable here without touching this module.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np
import torch

from mixer_core.language.grammar import ToolCall, parse
from mixer_core.language.registry import REGISTRY

MIN_SAMPLE_RATE = 8000


def _check_calls(calls: Sequence[ToolCall]) -> None:
    """Reject calls built in code that the parser would have refused."""
    for position, call in enumerate(calls):
        tool = REGISTRY.get(call.name)
        if tool is None:
            raise ValueError(f"call {position}: unknown tool {call.name!r}")
        for key, value in call.args.items():
            param = tool.param(key)
            if param is None:
                raise ValueError(f"call {position}: {call.name} has no parameter {key!r}")
            if not param.contains(float(value)):
                raise ValueError(
                    f"call {position}: {call.name}.{key}={value} is out of range "
                    f"[{param.low}, {param.high}] {param.unit}".rstrip()
                )


def _check_sample_rate(sample_rate: int) -> None:
    if int(sample_rate) != sample_rate or sample_rate < MIN_SAMPLE_RATE:
        raise ValueError(
            f"sample_rate must be an integer >= {MIN_SAMPLE_RATE} Hz, got {sample_rate}"
        )


class MixingTools:
    """Runs programs of registry tools on audio.

    ``device`` is where :meth:`apply` computes; :meth:`apply_batch` computes where its
    input tensor lives, so training can render augmentations on the GPU.
    """

    def __init__(self, device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)

    def apply(
        self, audio: np.ndarray, sample_rate: int, program: str | Sequence[ToolCall]
    ) -> np.ndarray:
        """Run ``program`` on ``audio`` ``(channels, samples)`` float32, mono or stereo.

        Missing arguments take the registry's defaults. The input is never modified;
        the result is a new float32 array of the same shape.
        """
        if not isinstance(audio, np.ndarray):
            raise ValueError(f"audio must be a numpy array, got {type(audio).__name__}")
        if audio.ndim != 2:
            raise ValueError(f"audio must be 2-D (channels, samples), got shape {audio.shape}")
        if audio.shape[0] not in (1, 2):
            raise ValueError(
                f"audio must have 1 or 2 channels in its first axis, got shape {audio.shape}"
            )
        if audio.shape[1] == 0:
            raise ValueError("audio is empty (0 samples)")
        if audio.dtype != np.float32:
            raise ValueError(f"audio must be float32, got {audio.dtype}")
        if not np.isfinite(audio).all():
            raise ValueError("audio contains NaN or infinite samples")
        calls = parse(program) if isinstance(program, str) else list(program)
        with torch.inference_mode():
            batch = torch.from_numpy(audio.copy()).to(self.device)[None]
            result = self.apply_batch(batch, sample_rate, [calls])
        return result[0].cpu().numpy().astype(np.float32, copy=False)

    def apply_batch(
        self, audio: torch.Tensor, sample_rate: int, programs: Sequence[Sequence[ToolCall]]
    ) -> torch.Tensor:
        """Run ``programs[i]`` on ``audio[i]``; audio is ``(batch, channels, samples)`` float32.

        Step ``k`` of every program runs together: the examples whose ``k``-th call is
        the same tool are gathered and processed in one call with per-example
        parameter tensors. The input tensor is not modified.
        """
        if audio.ndim != 3 or audio.shape[1] not in (1, 2):
            raise ValueError(
                f"audio must be (batch, channels in {{1, 2}}, samples), got {tuple(audio.shape)}"
            )
        if audio.dtype != torch.float32:
            raise ValueError(f"audio must be float32, got {audio.dtype}")
        if audio.shape[-1] == 0:
            raise ValueError("audio is empty (0 samples)")
        if len(programs) != audio.shape[0]:
            raise ValueError(f"got {len(programs)} programs for a batch of {audio.shape[0]}")
        _check_sample_rate(sample_rate)
        for program in programs:
            _check_calls(program)

        out = audio.clone()
        for step in range(max((len(p) for p in programs), default=0)):
            groups: dict[str, list[int]] = defaultdict(list)
            for index, program in enumerate(programs):
                if step < len(program):
                    groups[program[step].name].append(index)
            for name, indices in groups.items():
                tool = REGISTRY[name]
                values = [programs[i][step].resolved() for i in indices]
                params = {
                    p.name: torch.tensor(
                        [v[p.name] for v in values], dtype=torch.float32, device=out.device
                    )
                    for p in tool.params
                }
                whole = len(indices) == out.shape[0]
                rows = torch.tensor(indices, device=out.device)
                subset = out if whole else out.index_select(0, rows)
                processed = tool.apply(subset, int(sample_rate), **params)
                if processed.shape != subset.shape:
                    raise RuntimeError(
                        f"{name} returned shape {tuple(processed.shape)} for input "
                        f"{tuple(subset.shape)}"
                    )
                processed = processed.to(out.dtype)
                out = processed if whole else out.index_copy_(0, rows, processed)
        return out
