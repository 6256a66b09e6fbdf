"""The instruction parser under fuzzing: any text parses or is refused at a position.

Whatever a user types or a model writes, ``parse`` either returns calls that survive
``format`` and ``parse`` again, or raises :class:`InstructionError` carrying a position
inside the text, its own message, and an excerpt whose caret sits under the character
the position names; never another exception. Edits whose right position is known
(a foreign character, an unknown name, a repeated argument, a bad number) check that
the position is that one, and ``mixer apply`` is checked to pass it on with exit code 2.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mixer_core.audio.io import write_audio
from mixer_core.language.grammar import InstructionError, ToolCall, format, parse, value_spans
from mixer_core.language.registry import REGISTRY, TOOLS
from pipelines.cli import main
from tests.strategies import (
    BAD_NUMBERS,
    broken_programs,
    foreign_chars,
    program_texts,
    programs,
    unknown_names,
)

FUZZ = settings(max_examples=300, deadline=None)
_CARET_LINE = re.compile(r"^  ( *)\^$")


def _shown(char: str) -> str:
    return " " if char.isspace() else char if char.isprintable() else "?"


def parse_or_refusal(text: str) -> list[ToolCall] | InstructionError:
    """``parse(text)``, checked either way: accepted calls are stable under format and
    parse, and a refusal names a position in the text with the caret under it. Any
    other exception escapes and fails the test."""
    try:
        calls = parse(text)
    except InstructionError as exc:
        assert exc.text == text and exc.problem
        assert 0 <= exc.position <= len(text)
        header, shown, caret = str(exc).split("\n")
        assert header == f"at position {exc.position}: {exc.problem}"
        assert shown.startswith("  ") and shown.isprintable()
        match = _CARET_LINE.match(caret)
        assert match, caret
        column = len(match.group(1))
        if exc.position < len(text):
            assert shown[2 + column] == _shown(text[exc.position])
        else:
            assert column == len(shown) - 2
        return exc
    canonical = format(calls)
    assert parse(canonical) == calls and format(parse(canonical)) == canonical
    for span in value_spans(text):
        assert float(text[span.start : span.end]) == span.value
    return calls


@pytest.mark.reliability(
    case="arbitrary unicode text as a program (fuzzed)",
    outcome="parsed, or `InstructionError` with the position and a caret under it",
)
@FUZZ
@given(st.text() | st.text(alphabet="change_volumapqrstdb()=,.-+0123456789eE \t\n"))
def test_any_text_is_parsed_or_refused_at_a_position(text: str) -> None:
    parse_or_refusal(text)


@pytest.mark.reliability(
    case="valid program with characters dropped/inserted, tokens swapped, NaN/inf/huge "
    "values, stray parentheses, repeated arguments, unknown names (fuzzed)",
    outcome="parsed and round-trips, or `InstructionError` naming the position",
)
@FUZZ
@given(broken_programs())
def test_edited_programs_are_parsed_or_refused_at_a_position(text: str) -> None:
    parse_or_refusal(text)


@pytest.mark.reliability(
    case="program given as `None` or NaN (an empty table cell)",
    outcome="`InstructionError` at position 0: 'a program is text'",
)
@pytest.mark.parametrize("value", [None, float("nan"), b"change_volume(db=1.0)"])
def test_a_program_that_is_not_text_is_refused(value: object) -> None:
    for read in (parse, value_spans):
        with pytest.raises(InstructionError, match="a program is text") as info:
            read(value)  # type: ignore[arg-type]
        assert info.value.position == 0


def _call_starts(calls: list[ToolCall]) -> list[int]:
    starts, at = [], 0
    for call in calls:
        starts.append(at)
        at += len(format([call])) + 1
    return starts


@pytest.mark.reliability(
    case="a character no program can hold (`@`, `é`, emoji, control) inserted anywhere",
    outcome="refused at that character or at the start of the token it broke",
)
@FUZZ
@given(programs(on_grid=True).filter(bool), st.data())
def test_a_foreign_character_is_refused_where_it_is(calls: list[ToolCall], data) -> None:
    text = format(calls)
    at = data.draw(st.integers(0, len(text)))
    char = data.draw(foreign_chars())
    broken = text[:at] + char + text[at:]
    refusal = parse_or_refusal(broken)
    assert isinstance(refusal, InstructionError)
    call_start = max(start for start in _call_starts(calls) if start <= at)
    assert call_start <= refusal.position <= at


@pytest.mark.reliability(
    case="unknown tool or parameter name in a program (fuzzed names)",
    outcome="refused at the start of the name; the message lists the known ones",
)
@FUZZ
@given(programs(on_grid=True).filter(bool), st.data())
def test_unknown_names_are_refused_at_the_name(calls: list[ToolCall], data) -> None:
    index = data.draw(st.integers(0, len(calls) - 1))
    start = _call_starts(calls)[index]
    call = calls[index]
    text = format(calls)
    if call.args and data.draw(st.booleans()):
        name = data.draw(unknown_names(p.name for p in call.tool.params))
        first = next(p.name for p in call.tool.params if p.name in call.args)
        at = start + len(call.name) + 1
        assert text[at:].startswith(first + "=")
        broken = text[:at] + name + text[at + len(first) :]
        expected = f"unknown parameter {name!r}"
    else:
        name = data.draw(unknown_names(REGISTRY))
        at = start
        broken = text[:at] + name + text[at + len(call.name) :]
        expected = f"unknown tool {name!r}"
    refusal = parse_or_refusal(broken)
    assert isinstance(refusal, InstructionError)
    assert refusal.position == at and expected in refusal.problem


@pytest.mark.reliability(
    case="the same argument twice in one call",
    outcome="refused at the second one: 'repeated parameter'",
)
@FUZZ
@given(programs(on_grid=True).filter(lambda calls: any(c.args for c in calls)), st.data())
def test_a_repeated_argument_is_refused_at_the_repeat(calls: list[ToolCall], data) -> None:
    index = data.draw(st.sampled_from([i for i, c in enumerate(calls) if c.args]))
    text = format(calls)
    at = _call_starts(calls)[index] + len(calls[index].name) + 1
    first = re.match(r"[a-z_]+=[-0-9.]+", text[at:])
    assert first
    broken = text[:at] + first.group() + ", " + text[at:]
    refusal = parse_or_refusal(broken)
    assert isinstance(refusal, InstructionError)
    assert refusal.position == at + len(first.group()) + 2
    assert "repeated parameter" in refusal.problem


@pytest.mark.reliability(
    case="NaN, inf, 1e999, a 400-digit number, `+1.0`, `.5`, a quoted or out-of-range "
    "value for an argument (fuzzed)",
    outcome="refused at the value's first character; never clamped",
)
@FUZZ
@given(st.sampled_from([(t, p) for t in TOOLS for p in t.params]), st.data())
def test_bad_values_are_refused_at_the_value(pair, data) -> None:
    tool, param = pair
    value = data.draw(
        st.sampled_from(BAD_NUMBERS)
        | st.floats().filter(lambda v: not param.contains(v)).map(repr)
        | st.floats(allow_nan=False, allow_infinity=False)
        .map(lambda v: f"{v:f}")
        .filter(lambda text: not param.contains(float(text)))
    )
    prefix = f"{tool.name}({param.name}="
    refusal = parse_or_refusal(f"{prefix}{value})")
    assert isinstance(refusal, InstructionError)
    assert refusal.position == len(prefix)


@pytest.mark.reliability(
    case="unbalanced parentheses: a call never closed, a `)` or `(` too many",
    outcome="refused: 'unbalanced parenthesis' or 'expected a tool name', at the position",
)
@FUZZ
@given(program_texts().filter(bool), st.sampled_from(["drop", "close", "open"]))
def test_unbalanced_parentheses_are_refused(text: str, edit: str) -> None:
    if edit == "drop":
        broken, position, problem = text[:-1], len(text) - 1, "is never closed"
    elif edit == "close":
        broken, position, problem = text + ")", len(text), "')' without a matching '('"
    else:
        broken, position, problem = text + " (", len(text) + 1, "expected a tool name"
    refusal = parse_or_refusal(broken)
    assert isinstance(refusal, InstructionError)
    assert refusal.position == position and problem in refusal.problem


@pytest.mark.reliability(
    case="a 1,100-character program with a 500-digit value",
    outcome="refused at the value; the message shows the 72 characters around it",
)
def test_long_programs_are_shown_around_the_problem() -> None:
    text = "apply_reverb() " * 40 + "change_volume(db=" + "9" * 500 + ")"
    refusal = parse_or_refusal(text)
    assert isinstance(refusal, InstructionError)
    assert refusal.position == text.index("9")
    assert len(str(refusal)) < 400 and "..." in str(refusal)


@pytest.fixture(scope="module")
def wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("apply") / "tone.wav"
    t = np.arange(22050) / 22050
    write_audio(path, np.stack([0.1 * np.sin(2 * np.pi * 440 * t)] * 2), 22050)
    return path


@pytest.mark.reliability(
    case="`mixer apply` given a broken program (fuzzed)",
    outcome="exit 2, 'bad program: at position N' and a caret on stderr; no traceback, "
    "no output file",
)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(broken_programs())
def test_mixer_apply_names_the_position_of_a_bad_program(wav: Path, text: str) -> None:
    refusal = parse_or_refusal(text)
    assume(isinstance(refusal, InstructionError))
    assert isinstance(refusal, InstructionError)
    out = wav.parent / "never.wav"
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):  # "--": a program may start with "-"
        code = main(["apply", "-o", str(out), "--", str(wav), text])
    assert code == 2
    message = stderr.getvalue()
    assert message.startswith(f"mixer apply: bad program: at position {refusal.position}: ")
    assert refusal.problem in message and "Traceback" not in message
    assert not out.exists()
