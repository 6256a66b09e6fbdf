"""How much a program can raise the level of any input: a bound from its calls alone.

A program is only safe to run blind when its worst case is known. Each registry tool
declares its largest RMS gain (``Tool.max_gain_db``: linear tools the peak of their
magnitude response, dynamics the gain they may add), so a program's RMS gain on any
finite input is at most the sum of its calls' bounds in dB. ``tests/test_bounds.py``
checks it on random in-range programs, extreme compressor and expander settings included.
"""

from __future__ import annotations

from collections.abc import Sequence

from mixer_core.language.grammar import ToolCall


def call_gain_bound_db(call: ToolCall) -> float:
    """The most ``call`` can raise the RMS level of any input, in dB (may be negative)."""
    return call.tool.max_gain_db(call.resolved())


def gain_bound_db(calls: Sequence[ToolCall]) -> float:
    """The most a program can raise the RMS level of any input, in dB."""
    return sum(call_gain_bound_db(call) for call in calls)
