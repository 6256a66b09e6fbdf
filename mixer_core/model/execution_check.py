"""The execution check: a program is run before it leaves the model, and revised if unsafe.

What a user gets is the program, executed on their audio. So the model runs it on the
input it was written for and revises it, saying why (``CheckedProgram.notes``), when:

0. it contradicts the problems the prompt names ("the bass is slightly weak":
   ``language.problems.correction_bounds``): each estimated or measured correction of
   the fix's normal form (the ``apply_eq`` gains, the final ``change_volume``) is moved
   into the range the words allow, the level measured again after a revised EQ. A
   band the prompt does not name is off by less than a decibel, so a confident EQ the
   model imposes on it (the timbre of its training songs) is taken back;
1. the input is silent or near-silent (below ``SILENCE_LUFS``): nothing can be judged, the
   identity (empty) program is returned;
2. the output is not finite: identity;
3. the output raises the loudness or a band's level (the bands ``apply_eq`` moves) further
   than the program's own values support: each gain the program wrote counts at its value
   plus ``Z`` times the model's uncertainty about it (a stated value is certain), every
   other call at ``OTHER_TOOL_ALLOWANCE_DB``. Such a rise comes from an estimate gone
   wrong (an expander past its threshold boosting everything, a fix imposed on silence),
   so the estimated values are shrunk toward doing nothing (their defaults, a ratio of 1)
   by ×0.5, ×0.25 and then all the way, until the rise is supported (a measured level
   correction is measured again on the revised calls before it); stated values are never
   changed, and if nothing is safe the identity is returned;
4. the output's true peak (4× oversampled) is above 0 dBFS: a final ``limit`` to
   ``LIMIT_CEILING_DB`` is appended, unless every value of the program was stated in the
   prompt: then the over is what the user asked for ("make it 12 dB louder"), the program
   stays exactly that, and the note says so; keeping a file under 0 dBFS is the writer's
   job (``mixer mix`` limits what it writes and says so).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.signal

from mixer_core.audio.loudness import integrated_lufs
from mixer_core.language.grammar import ToolCall, format, value_spans
from mixer_core.language.problems import EQ_GAINS, Bounds, correction_bounds
from mixer_core.language.registry import REGISTRY
from mixer_core.model.value_head import WrittenValue
from mixer_core.tools.levels import band_energies_db
from mixer_core.tools.mixing_tools import MixingTools

SILENCE_LUFS = -60.0
Z = 2.0
TOLERANCE_DB = 1.0
OTHER_TOOL_ALLOWANCE_DB = 3.0
GAIN_PARAMS = {
    "change_volume": ("db",),
    "apply_eq": ("low_gain", "mid_gain", "high_gain"),
    "compress": ("makeup_db",),
}
SHRINK_STEPS = (0.5, 0.25, 0.0)
NEUTRAL_RATIO = 1.0  # a compressor or expander at ratio 1 does nothing
LIMIT_CEILING_DB = -1.0
_OVERSAMPLE = 4


@dataclass
class CheckedProgram:
    """The program that leaves the model, and what the check changed and why."""

    calls: list[ToolCall]
    notes: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return format(self.calls)


def true_peak_dbfs(audio: np.ndarray) -> float:
    """Peak of the 4× oversampled signal (BS.1770's true peak, approximately), dBFS."""
    audio = np.asarray(audio, dtype=np.float64)
    if audio.size == 0:
        return -math.inf
    upsampled = scipy.signal.resample_poly(audio, _OVERSAMPLE, 1, axis=-1)
    peak = float(np.max(np.abs(upsampled)))
    return 20.0 * math.log10(peak) if peak > 0 else -math.inf


def _levels(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """(loudness, low, mid, high band energy) in dB."""
    return np.array([integrated_lufs(audio, sample_rate), *band_energies_db(audio, sample_rate)])


def _allowance(calls: Sequence[ToolCall], scales: dict[tuple[int, str], float]) -> np.ndarray:
    """How far the program may raise (loudness, low, mid, high), in dB."""
    overall, bands, spread = 0.0, np.zeros(3), 0.0
    for index, call in enumerate(calls):
        if call.name not in GAIN_PARAMS:
            overall += OTHER_TOOL_ALLOWANCE_DB
            continue
        values = call.resolved()
        for name in GAIN_PARAMS[call.name]:
            spread += scales.get((index, name), 0.0) ** 2
        if call.name == "apply_eq":
            gains = np.maximum([values[n] for n in GAIN_PARAMS["apply_eq"]], 0.0)
            # a shelf reaches into its neighbours, so each band may also rise by half of
            # the others' boosts; loudness by the largest boost
            bands += gains + 0.5 * (gains.sum() - gains)
            overall += float(gains.max())
        else:
            overall += max(0.0, values[GAIN_PARAMS[call.name][0]])
    slack = Z * math.sqrt(spread) + TOLERANCE_DB
    return np.array([overall, *(bands + overall)]) + slack


def _scales(calls: Sequence[ToolCall], written: Sequence[WrittenValue]) -> dict:
    """(call index, parameter) -> the uncertainty (in the parameter's unit) of its value."""
    spans = value_spans(format(calls))
    if len(spans) != len(written):
        return {}
    return {
        (span.call, span.param): value.scale for span, value in zip(spans, written, strict=True)
    }


def _shrunk(
    calls: Sequence[ToolCall], written: Sequence[WrittenValue], factor: float
) -> list[ToolCall]:
    """``calls`` with every estimated value moved ``factor`` of the way from its default."""
    spans = value_spans(format(calls))
    if len(spans) != len(written):
        return [ToolCall(c.name, {}) for c in calls] if factor == 0.0 else list(calls)
    args = [dict(call.args) for call in calls]
    for span, value in zip(spans, written, strict=True):
        if value.source != "estimated":
            continue
        param = REGISTRY[span.tool].param(span.param)
        assert param is not None
        neutral = NEUTRAL_RATIO if param.unit == "ratio" else param.default
        args[span.call][span.param] = param.nearest(neutral + factor * (span.value - neutral))
    return [ToolCall(call.name, a) for call, a in zip(calls, args, strict=True)]


def _remeasured(
    audio: np.ndarray,
    sample_rate: int,
    calls: Sequence[ToolCall],
    written: Sequence[WrittenValue],
    tools: MixingTools,
    reference_lufs: float,
) -> list[ToolCall]:
    """``calls`` with each measured level correction measured again on the output of the
    calls before it (after a revision changed them)."""
    spans = value_spans(format(calls))
    if len(spans) != len(written):
        return list(calls)
    calls = list(calls)
    for span, value in zip(spans, written, strict=True):
        if value.source != "measured":
            continue
        before = tools.apply(audio, sample_rate, calls[: span.call]) if span.call else audio
        loudness = integrated_lufs(before, sample_rate)
        if loudness > SILENCE_LUFS:
            param = REGISTRY[span.tool].param(span.param)
            assert param is not None
            args = {**calls[span.call].args, span.param: param.nearest(reference_lufs - loudness)}
            calls[span.call] = ToolCall(span.tool, args)
    return calls


def _normal_form(calls: Sequence[ToolCall], index: int) -> bool:
    """Whether ``calls[index]`` is a correction of a fix's normal form: an ``apply_eq`` of
    band gains only (not a filter's shelf), or the final ``change_volume``."""
    call = calls[index]
    if call.name == "change_volume":
        return index == len(calls) - 1
    return call.name == "apply_eq" and set(call.args) <= set(EQ_GAINS)


def _held_to_prompt(
    calls: Sequence[ToolCall], written: Sequence[WrittenValue], bounds: Bounds
) -> tuple[list[ToolCall], list[str]]:
    """``calls`` with every correction the prompt's words bound moved into its range
    (a stated value is left as the user stated it), and a note per move."""
    spans = value_spans(format(calls))
    if len(spans) != len(written):
        return list(calls), []
    pairs = zip(spans, written, strict=True)
    stated = {(span.call, span.param) for span, value in pairs if value.source == "stated"}
    revised, notes = [], []
    for index, call in enumerate(calls):
        args = dict(call.args)
        if _normal_form(calls, index):
            values = call.resolved()
            for name, value in values.items():
                if (call.name, name) not in bounds or (index, name) in stated:
                    continue
                low, high = bounds[(call.name, name)]
                param = call.tool.param(name)
                assert param is not None
                moved = param.nearest(min(max(value, low), high))
                if moved != value:
                    args[name] = moved
                    notes.append(
                        f"{call.name} {name} {value:+g} moved to {moved:+g}: the prompt's "
                        f"words allow {_range(low, high)} dB"
                    )
        revised.append(ToolCall(call.name, args))
    return revised, notes


def _range(low: float, high: float) -> str:
    if math.isinf(high):
        return f"{low:+g} or more"
    if math.isinf(low):
        return f"{high:+g} or less"
    return f"{low:+g} to {high:+g}"


def check_program(
    audio: np.ndarray,
    sample_rate: int,
    calls: Sequence[ToolCall],
    written: Sequence[WrittenValue],
    tools: MixingTools,
    reference_lufs: float,
    prompt: str = "",
) -> CheckedProgram:
    """Run ``calls`` on ``audio`` (``(channels, samples)``) and revise them as the module
    docstring says; ``written`` are the values the head wrote, in program order, and a
    measured level correction is measured again (to ``reference_lufs``) after a revision.
    ``prompt`` is what the program answers (its named problems bound the corrections)."""
    audio = np.asarray(audio, dtype=np.float32)
    if not calls:
        return CheckedProgram([])
    before = _levels(audio, sample_rate)
    if not np.isfinite(audio).all() or before[0] <= SILENCE_LUFS:
        return CheckedProgram([], [f"the input is silent (below {SILENCE_LUFS:g} LUFS): no change"])
    notes: list[str] = []
    bounds = correction_bounds(prompt)
    if bounds:
        calls, eq_notes = _held_to_prompt(calls, written, bounds)
        calls = _remeasured(audio, sample_rate, calls, written, tools, reference_lufs)
        calls, level_notes = _held_to_prompt(calls, written, bounds)
        notes = list(dict.fromkeys([*eq_notes, *level_notes]))
    scales = _scales(calls, written)
    candidates = [
        list(calls),
        *(
            _remeasured(
                audio, sample_rate, _shrunk(calls, written, f), written, tools, reference_lufs
            )
            for f in SHRINK_STEPS
        ),
    ]
    chosen, output = None, audio
    for step, candidate in enumerate(candidates):
        output = tools.apply(audio, sample_rate, candidate)
        if not np.isfinite(output).all():
            notes.append(f"{format(candidate)!r} gave non-finite audio")
            continue
        rise = _levels(output, sample_rate) - before
        allowed = _allowance(candidate, scales)
        over = rise - allowed
        if np.all(over <= 0.0):
            chosen = candidate
            break
        worst = int(np.argmax(over))
        what = ("loudness", "the low band", "the mid band", "the high band")[worst]
        factor = SHRINK_STEPS[step] if step < len(SHRINK_STEPS) else None
        then = f"; estimates shrunk ×{factor:g}" if factor is not None else ""
        notes.append(
            f"{format(candidate)!r} raises {what} by {rise[worst]:.1f} dB, more than its "
            f"values support ({allowed[worst]:.1f} dB){then}"
        )
    if chosen is None:
        notes.append("no revision was safe: no change")
        return CheckedProgram([], notes)
    peak = true_peak_dbfs(output)
    if peak > 0.0 and written and all(value.source == "stated" for value in written):
        notes.append(f"the output's true peak is {peak:+.1f} dBFS, as the stated values ask")
    elif peak > 0.0:
        chosen = [*chosen, ToolCall("limit", {"threshold_db": LIMIT_CEILING_DB})]
        notes.append(
            f"the output's true peak is {peak:+.1f} dBFS: limited to {LIMIT_CEILING_DB:g} dBFS"
        )
    return CheckedProgram(chosen, notes)
