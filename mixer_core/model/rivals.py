"""A stated number picks between tools that differ only in range.

``high_pass`` and ``low_pass`` each take one frequency, on ranges that meet at 1 kHz. A
prompt tells them apart by one word ("roll off everything *above* 7.9 kHz"), which a
briefly trained decoder confuses (on real music the model wrote ``high_pass(freq=1000.0)``
for that prompt: the pointer copied 7,933 Hz, and the value had to be fitted into the
high-pass range). The number settles what the word left open: only one of the two can
carry it out. So a one-parameter call whose stated value its range cannot hold is written
as the one-parameter tool of the same physical unit whose range does hold it, with the
value exactly as stated, and a note says so. A stated value that no tool of its unit can
hold is left as the value head fitted it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from mixer_core.language.grammar import ToolCall, format, format_value, value_spans
from mixer_core.language.registry import REGISTRY, TOOLS, Param, Tool
from mixer_core.language.stated import StatedNumber, slot_value
from mixer_core.model.value_head import WrittenValue


def _single_unit(tool: Tool) -> Param | None:
    """The parameter of a tool that has exactly one, with a physical unit."""
    if len(tool.params) != 1 or not tool.params[0].unit:
        return None
    return tool.params[0]


def rival(tool_name: str, number: StatedNumber) -> tuple[str, float] | None:
    """The other one-parameter tool of ``tool_name``'s unit whose range holds what
    ``number`` states, with that value; ``None`` when ``tool_name`` holds it itself or no
    such tool exists."""
    own = _single_unit(REGISTRY[tool_name])
    if own is None or own.contains(slot_value(number, own)):
        return None
    for tool in TOOLS:
        param = _single_unit(tool)
        if tool.name == tool_name or param is None or param.unit != own.unit:
            continue
        value = slot_value(number, param)
        if param.contains(value):
            return tool.name, param.nearest(value)
    return None


def carry_out_stated(
    calls: Sequence[ToolCall], written: Sequence[WrittenValue], stated: Sequence[StatedNumber]
) -> tuple[list[ToolCall], list[WrittenValue], list[str]]:
    """``calls`` and ``written`` with each call whose stated value had to be fitted into
    its range rewritten as the :func:`rival` that holds it, and a note per rewrite.
    ``written`` are the head's values in program order, ``stated`` the prompt's numbers
    they point into."""
    calls, written = list(calls), list(written)
    spans = value_spans(format(calls))
    if len(spans) != len(written):
        return calls, written, []
    notes = []
    for k, (span, value) in enumerate(zip(spans, written, strict=True)):
        if value.source != "stated" or value.number is None:
            continue
        found = rival(span.tool, stated[value.number])  # None when its own range holds it
        if found is None:
            continue
        name, exact = found
        param = REGISTRY[name].params[0]
        call = ToolCall(name, {param.name: exact})
        notes.append(
            f"{format([calls[span.call]])!r} cannot carry out the stated "
            f"{stated[value.number].value:g} {param.unit}: wrote {format([call])!r}"
        )
        calls[span.call] = call
        written[k] = replace(value, text=format_value(exact, param), value=exact, note=None)
    return calls, written, notes
