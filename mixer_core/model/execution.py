"""The model executes its own partial program: level features after the calls so far.

In training, ``partial_levels`` measures them on the target program (teacher forcing);
in generation, the value writer handed to constrained decoding measures them on the
program being written. Each open value slot is filled by the value head from the
decoder state, the prompt's numbers, the input's level features and the level features
**after the calls the program has completed**: the writer runs them with
``MixingTools`` (once per example and completed call), so a level written after an EQ
lands where it should whatever the EQ did.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from mixer_core.language.grammar import ToolCall, parse
from mixer_core.language.prefix import CanonicalPrefix
from mixer_core.language.stated import StatedNumber
from mixer_core.model.constrained import ValueWriter
from mixer_core.model.features import LevelFeatures
from mixer_core.model.value_head import ValueHead, WrittenValue, write_values
from mixer_core.tools.mixing_tools import MixingTools


def partial_levels(
    level: LevelFeatures,
    tools: MixingTools,
    sample_rate: int,
    audio: torch.Tensor,
    levels: torch.Tensor,
    programs: Sequence[Sequence[ToolCall]],
) -> torch.Tensor:
    """``(B, max(1, longest program), level dim)``: row ``k`` holds the level features of
    ``audio`` after the first ``k`` calls; rows past a program's end stay zero."""
    depth = max(1, *(len(calls) for calls in programs))
    out = levels.new_zeros((len(programs), depth, levels.shape[-1]))
    out[:, 0] = levels
    state = audio
    for k in range(1, depth):
        rows = [b for b, calls in enumerate(programs) if len(calls) > k]
        index = torch.tensor(rows, device=audio.device)
        stepped = tools.apply_batch(state[index], sample_rate, [[programs[b][k - 1]] for b in rows])
        state = state.index_copy(0, index, stepped)
        out[index, k] = level(stepped)
    return out


def executing_value_writer(
    head: ValueHead,
    level: LevelFeatures,
    tools: MixingTools,
    sample_rate: int,
    states: torch.Tensor,
    audio: torch.Tensor,
    levels: torch.Tensor,
    numbers: torch.Tensor,
    number_index: torch.Tensor,
    stated: Sequence[Sequence[StatedNumber]],
    reference_lufs: float,
) -> tuple[ValueWriter, dict[int, list[WrittenValue]]]:
    """Values for open slots of a batch, and the record of what was written per row.

    ``states`` are the prompt token states, ``audio`` the inputs at ``sample_rate``,
    ``levels`` their level features, ``numbers``/``number_index`` the prompt's number
    features and ``stated`` each row's stated numbers (what a copy writes); a measured
    level brings the output so far to ``reference_lufs``.
    """
    measured: dict[tuple[int, int], torch.Tensor] = {}
    written: dict[int, list[WrittenValue]] = {}

    def after(row: int, text: str) -> torch.Tensor:
        done = parse(CanonicalPrefix.longest_complete(text))
        key = (row, len(done))
        if key not in measured:
            if done:
                output = tools.apply_batch(audio[row : row + 1], sample_rate, [done])
                measured[key] = level(output)[0]
            else:
                measured[key] = levels[row]
        return measured[key]

    def write(
        hidden: torch.Tensor, rows: list[int], slots: list[int], texts: list[str]
    ) -> list[str]:
        index = torch.tensor(rows, device=hidden.device)
        partial = torch.stack([after(row, text) for row, text in zip(rows, texts, strict=True)])
        context = torch.cat([levels[index], partial], dim=-1).to(hidden.dtype)
        slot_ids = torch.tensor(slots, device=hidden.device)
        outputs = head(
            hidden, slot_ids, context, states[index], numbers[index], number_index[index]
        )
        measured = reference_lufs - LevelFeatures.gated_loudness(partial)
        copied = [{v.number for v in written.get(row, []) if v.number is not None} for row in rows]
        values = write_values(
            outputs, slots, [stated[row] for row in rows], measured.tolist(), copied
        )
        for row, value in zip(rows, values, strict=True):
            written.setdefault(row, []).append(value)
        return [value.text for value in values]

    return write, written
