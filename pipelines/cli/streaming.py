"""Running a program over a file too long to hold: blocks with the program's memory around them.

``mixer apply`` and ``mixer mix`` hold a song whole, since the tools filter by FFT over
the whole clip. That needs several times the decoded size (a two-hour 44.1 kHz stereo
file is 2.5 GB decoded), so a file over :data:`STREAM_ABOVE_SAMPLES` is run in blocks.

Every tool is causal and forgets: its output at a sample depends on the input up to a
bounded time before it (a filter's tail, the reverb's impulse, the echo train of a
delay, the release of a dynamics processor) and at most one control block after it
(the limiter's look-ahead). Each block is therefore run with the program's
:func:`memory_seconds` of input before it and :data:`LOOKAHEAD_S` after it, and only
its own samples are kept: the result equals the whole-file run to float precision
(``tests/test_audio_shapes.py`` compares them), in memory for one padded block. Blocks
start on the dynamics processors' control grid, which a whole-file run counts from
sample 0, so each block sees the same control blocks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np

from mixer_core.dsp.dynamics import CONTROL_PERIOD_S, LIMITER_PERIOD_S
from mixer_core.dsp.space import ECHO_FLOOR, MAX_DECAY_S, MAX_PREDELAY_S
from mixer_core.language.grammar import ToolCall
from mixer_core.tools.mixing_tools import MixingTools

# Above this many decoded samples (frames x channels: about 10 minutes of 48 kHz
# stereo) a file is streamed; below it, it is held whole as before.
STREAM_ABOVE_SAMPLES = 48_000 * 2 * 600
# Each block, without the memory around it, holds about this many samples.
BLOCK_SAMPLES = 48_000 * 2 * 60
LOOKAHEAD_S = 0.05
# A filter's tail falls below -120 dB within half a second at the registry's extremes
# (Q 10 at 100 Hz); a cascade of three (apply_eq) within 1.5 s.
FILTER_MEMORY_S = 2.0
# Time constants after which two dynamics runs that started apart agree (e^-16).
FORGET_CONSTANTS = 16.0


def _dynamics(values: dict[str, float]) -> float:
    return FORGET_CONSTANTS * (values.get("attack_ms", 0.0) + values["release_ms"]) / 1000.0


def _expander(values: dict[str, float]) -> float:
    # The expander feeds its own output back: its loop forgets ``ratio`` times slower.
    return _dynamics(values) * values["ratio"]


def _delay(values: dict[str, float]) -> float:
    period = values["time_ms"] / 1000.0
    if values["mix"] <= ECHO_FLOOR:
        return 0.0
    if values["feedback"] <= 0.0:
        return period
    echoes = math.log(ECHO_FLOOR / values["mix"]) / math.log(min(values["feedback"], 0.99))
    return period * (2.0 + echoes)


_MEMORY: dict[str, Callable[[dict[str, float]], float]] = {
    "change_volume": lambda _: 0.0,
    "pan": lambda _: 0.0,
    "stereo_width": lambda _: 0.0,
    "apply_eq": lambda _: FILTER_MEMORY_S,
    "high_pass": lambda _: FILTER_MEMORY_S,
    "low_pass": lambda _: FILTER_MEMORY_S,
    "apply_reverb": lambda _: MAX_DECAY_S + MAX_PREDELAY_S,
    "delay": _delay,
    "compress": _dynamics,
    "expand": _expander,
    "limit": _dynamics,
}
TOOLS_WITH_MEMORY = frozenset(_MEMORY)


def memory_seconds(calls: Sequence[ToolCall]) -> float:
    """How far back the program's output at a sample depends on its input.

    A chain's memory is the sum of its calls'. A tool without an entry here is refused
    rather than guessed at (``tests/test_audio_shapes.py`` checks every registry tool
    has one).
    """
    total = 0.0
    for call in calls:
        if call.name not in _MEMORY:
            raise ValueError(f"{call.name}: no known memory, cannot be run on a long file")
        total += _MEMORY[call.name](call.resolved())
    return total


def control_grid(sample_rate: int) -> int:
    """Frames between block starts that every dynamics processor's control grid shares."""
    hops = (max(1, round(sample_rate * period)) for period in (CONTROL_PERIOD_S, LIMITER_PERIOD_S))
    return math.lcm(*hops)


def _round_up(frames: float, grid: int) -> int:
    return max(grid, math.ceil(frames / grid) * grid)


def block_frames(calls: Sequence[ToolCall], sample_rate: int, channels: int) -> tuple[int, int]:
    """(frames per block, frames of memory before it), both on the control grid.

    A block is at least as long as its memory, so at most half of what is computed is
    thrown away.
    """
    grid = control_grid(sample_rate)
    before = _round_up(memory_seconds(calls) * sample_rate, grid)
    block = _round_up(max(BLOCK_SAMPLES / channels, before), grid)
    return block, before


def run_in_blocks(
    blocks: Iterable[np.ndarray],
    sample_rate: int,
    calls: Sequence[ToolCall],
    before: int,
    tools: MixingTools | None = None,
) -> Iterator[np.ndarray]:
    """The program's output, block by block, for ``blocks`` of the input in order.

    ``blocks`` are consecutive ``(channels, frames)`` pieces of the input, each a
    multiple of :func:`control_grid` long except the last; ``before`` frames of
    memory (a multiple of the grid too) are run ahead of each.
    """
    tools = tools or MixingTools()
    after = round(LOOKAHEAD_S * sample_rate)
    history: np.ndarray | None = None
    pending: np.ndarray | None = None
    for block in _with_end(blocks):
        if pending is not None:
            ahead = block[:, :after] if block is not None else pending[:, :0]
            parts = [history, pending, ahead] if history is not None else [pending, ahead]
            padded = np.concatenate(parts, axis=1)
            start = 0 if history is None else history.shape[1]
            out = tools.apply(padded, sample_rate, calls)
            yield np.ascontiguousarray(out[:, start : start + pending.shape[1]])
            seen = pending if history is None else np.concatenate([history, pending], axis=1)
            history = seen[:, max(0, seen.shape[1] - before) :] if before else None
        pending = block


def _with_end(blocks: Iterable[np.ndarray]) -> Iterator[np.ndarray | None]:
    yield from blocks
    yield None
