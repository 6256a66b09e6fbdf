"""Generation: constrained decoding with the value head, then the execution check.

The decoder writes the structure token by token (``constrained``), the value head fills
each value, executing the calls written so far (``execution``: copied when the prompt
states it, else estimated), a call whose stated number only a rival tool's range holds
becomes that tool (``rivals``: "above 7.9 kHz" is a low-pass), and the finished program
is run on the input and revised when unsafe (``execution_check``). What the check and the
value head changed is kept as notes, which ``mixer mix`` prints.

A prompt that states numbers is an instruction, and an instruction names each tool once
(no recipe ever repeats a tool; "compress it at 2:1, then high-pass it at 233 Hz" is one
compressor and one filter). So for those prompts the decoder may not open a tool it has
already written: it takes its next-best tool instead of a second compressor. Blind fixes
state no numbers and may repeat ``apply_eq`` (a filter's undo beside the band
correction).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from mixer_core.language.grammar import format as format_program
from mixer_core.language.grammar import parse
from mixer_core.language.stated import StatedNumber, read_numbers
from mixer_core.model.constrained import TextFilter, constrained_generate
from mixer_core.model.execution import executing_value_writer
from mixer_core.model.execution_check import check_program
from mixer_core.model.features import fft_resample
from mixer_core.model.rivals import carry_out_stated
from mixer_core.model.value_head import WrittenValue

if TYPE_CHECKING:
    from mixer_core.model.mixer_model import MixerModel


_OPENED_TOOL = re.compile(r"(\w+)\($")
_TOOL = re.compile(r"(\w+)\(")


def each_tool_once(stated: Sequence[Sequence[StatedNumber]]) -> TextFilter:
    """Refuses, for the rows whose prompt states numbers, a text that opens a tool it
    already holds."""

    def allowed(row: int, text: str) -> bool:
        opened = _OPENED_TOOL.search(text)
        if not stated[row] or opened is None:
            return True
        return opened.group(1) not in _TOOL.findall(text, 0, opened.start())

    return allowed


@dataclass
class Generation:
    """One generated program: ``program`` (after the execution check), ``written`` (as
    the decoder wrote it), the values the head wrote, and notes on what was fitted or
    revised and why."""

    program: str
    written: str
    values: list[WrittenValue]
    notes: list[str]


def generate(
    model: MixerModel,
    audio: torch.Tensor,
    sample_rate: int,
    prompts: Sequence[str],
    max_new_tokens: int | None = None,
    temperature: float = 0.0,
    seed: int | None = None,
    check: bool = True,
) -> list[Generation]:
    """A program per example of ``model``, constrained by the registry's grammar, then
    run through the execution check (``check=False`` skips it).

    With the value head, values come from it (deterministic even when sampling);
    ``temperature`` then only affects the program's structure.
    """
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    with model.evaluating(), torch.no_grad():
        audio = fft_resample(audio.to(model.device).float(), sample_rate, model.sample_rate)
        batch = model.prepare_batch(audio, model.sample_rate, prompts)
        encoded = model.encode(
            batch["input_features"],
            batch["prompt_input_ids"],
            batch["prompt_attention_mask"],
            batch["prompt_numbers"],
            batch.get("level_features"),
            batch.get("prompt_states"),
        )
        writer, written = None, {}
        stated = [read_numbers(model.text_encoder.read(p)) for p in prompts]
        if model.value_head is not None:
            assert model.level is not None
            writer, written = executing_value_writer(
                model.value_head,
                model.level,
                model.tools,
                model.sample_rate,
                encoded.states,
                audio,
                batch["level_features"],
                batch["prompt_numbers"],
                batch["prompt_number_index"],
                stated,
                model.reference_lufs,
            )
        texts = constrained_generate(
            model.decoder,
            encoded.lead,
            max_new_tokens or model.config.generation.max_new_tokens,
            lead_mask=encoded.lead_mask,
            temperature=temperature,
            generator=generator,
            values=writer,
            text_filter=each_tool_once(stated),
        )
    generations = []
    for row, text in enumerate(texts):
        values, calls, revisions = written.get(row, []), parse(text), []
        if check:
            calls, values, rewrites = carry_out_stated(calls, values, stated[row])
            checked = check_program(
                audio[row].cpu().numpy(),
                model.sample_rate,
                calls,
                values,
                model.tools,
                model.reference_lufs,
                prompts[row],
            )
            calls, revisions = checked.calls, rewrites + checked.notes
        notes = [v.note for v in values if v.note] + revisions
        generations.append(Generation(format_program(calls), text, values, notes))
    return generations
