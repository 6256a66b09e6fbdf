"""The instruction language: ``name(key=value, ...)`` calls separated by whitespace.

This module owns the grammar. ``parse`` accepts any spacing and argument order and
checks every name and value against the registry; ``format`` writes canonical text
(single spaces between calls, ``", "`` between arguments in registry order, numbers
with the parameter's fixed decimals), so ``format(parse(t)) == t`` for canonical
``t``. ``prefix.CanonicalPrefix`` answers, for constrained decoding, whether a partial
text can still grow into a canonical program.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from mixer_core.language.registry import REGISTRY, Param, Tool

_EXCERPT = 72  # characters of the program shown above the caret


def _excerpt(text: str, position: int) -> tuple[str, int]:
    """The part of ``text`` around ``position`` as one printable line, and the caret's
    column in it: newlines and tabs would move the caret off the problem, control
    characters would reach the terminal, and a long program would bury the message."""
    start = max(0, min(position - _EXCERPT // 2, len(text) - _EXCERPT))
    end = min(len(text), start + _EXCERPT)
    shown = "".join(" " if c.isspace() else c if c.isprintable() else "?" for c in text[start:end])
    before = "..." if start > 0 else ""
    after = "..." if end < len(text) else ""
    return before + shown + after, len(before) + position - start


def _shorten(token: str, limit: int = 40) -> str:
    """``token`` for a message, cut when a pasted run of digits or letters is long."""
    return token if len(token) <= limit else token[: limit - 3] + "..."


class InstructionError(ValueError):
    """A program that does not parse or breaks the registry's rules.

    ``position`` is the 0-based character offset of the problem in ``text``
    (``0 <= position <= len(text)``); ``problem`` is the message without it.
    """

    def __init__(self, message: str, text: str, position: int) -> None:
        self.problem = message
        self.text = text
        self.position = position
        shown, caret = _excerpt(text, position)
        super().__init__(f"at position {position}: {message}\n  {shown}\n  {' ' * caret}^")


@dataclass(frozen=True)
class ToolCall:
    """One call. ``args`` holds the arguments as written; omitted ones take defaults."""

    name: str
    args: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "args", dict(self.args))

    def __hash__(self) -> int:
        return hash((self.name, tuple(sorted(self.args.items()))))

    @property
    def tool(self) -> Tool:
        return REGISTRY[self.name]

    def resolved(self) -> dict[str, float]:
        """Every parameter's value: the given ones, defaults for the rest."""
        return {**self.tool.defaults(), **self.args}

    def __str__(self) -> str:
        return format([self])


def inverse_calls(call: ToolCall) -> list[ToolCall] | None:
    """The registry's undo of ``call`` at its resolved values (``None``: no inverse there)."""
    tool = call.tool
    specs = tool.inverse(call.resolved()) if tool.inverse else None
    return None if specs is None else [ToolCall(name, args) for name, args in specs]


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER_CHARS = re.compile(r"[-+0-9.eE]+")
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def format_value(value: float, param: Param) -> str:
    """Fixed decimals from the parameter's step; more only when needed to stay exact."""
    value = float(value) + 0.0  # turns -0.0 into 0.0
    text = f"{value:.{param.decimals}f}"
    if float(text) == value:
        return text
    text = f"{Decimal(repr(value)):f}"  # shortest exact digits, never an exponent
    return text if "." in text else text + ".0"


def format(calls: Iterable[ToolCall]) -> str:
    """Canonical text for a program; the inverse of :func:`parse`."""
    parts = []
    for call in calls:
        tool = REGISTRY[call.name]
        args = ", ".join(
            f"{p.name}={format_value(call.args[p.name], p)}"
            for p in tool.params
            if p.name in call.args
        )
        parts.append(f"{tool.name}({args})")
    return " ".join(parts)


@dataclass(frozen=True)
class ValueSpan:
    """Where one argument's number sits in a program's text: ``text[start:end]``.

    ``call`` is the index of the call it belongs to in the program.
    """

    start: int
    end: int
    tool: str
    param: str
    value: float
    call: int


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.values: list[ValueSpan] = []
        self.call_index = 0

    def error(self, message: str, position: int | None = None) -> InstructionError:
        return InstructionError(message, self.text, self.pos if position is None else position)

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def describe_here(self) -> str:
        return repr(self.peek()) if not self.at_end() else "end of text"

    def name(self, what: str) -> tuple[str, int]:
        match = _NAME.match(self.text, self.pos)
        if not match:
            raise self.error(f"expected {what}, found {self.describe_here()}")
        self.pos = match.end()
        return match.group(), match.start()

    def program(self) -> list[ToolCall]:
        calls: list[ToolCall] = []
        self.skip_space()
        while not self.at_end():
            if self.peek() == ")":
                raise self.error("unbalanced parenthesis: ')' without a matching '('")
            self.call_index = len(calls)
            calls.append(self.call())
            self.skip_space()
        return calls

    def call(self) -> ToolCall:
        name, start = self.name("a tool name")
        tool = REGISTRY.get(name)
        if tool is None:
            raise self.error(
                f"unknown tool {_shorten(name)!r}; expected one of: {', '.join(REGISTRY)}", start
            )
        self.skip_space()
        if self.peek() != "(":
            raise self.error(f"expected '(' after {_shorten(name)!r}, found {self.describe_here()}")
        open_at = self.pos
        self.pos += 1
        args: dict[str, float] = {}
        self.skip_space()
        if self.peek() == ")":
            self.pos += 1
            return ToolCall(name, args)
        while True:
            if self.at_end():
                raise self.error(
                    f"unbalanced parenthesis: '(' at position {open_at} is never closed"
                )
            key, value = self.argument(tool, args)
            args[key] = value
            self.skip_space()
            if self.peek() == ",":
                self.pos += 1
                self.skip_space()
                continue
            if self.peek() == ")":
                self.pos += 1
                return ToolCall(name, args)
            if self.at_end():
                raise self.error(
                    f"unbalanced parenthesis: '(' at position {open_at} is never closed"
                )
            raise self.error(f"expected ',' or ')', found {self.describe_here()}")

    def argument(self, tool: Tool, seen: Mapping[str, float]) -> tuple[str, float]:
        key, start = self.name(f"a parameter name of {tool.name}")
        param = tool.param(key)
        if param is None:
            names = ", ".join(p.name for p in tool.params)
            raise self.error(
                f"unknown parameter {_shorten(key)!r} for {tool.name}; expected one of: {names}",
                start,
            )
        if key in seen:
            raise self.error(f"repeated parameter {key!r} for {tool.name}", start)
        self.skip_space()
        if self.peek() != "=":
            raise self.error(f"expected '=' after {_shorten(key)!r}, found {self.describe_here()}")
        self.pos += 1
        self.skip_space()
        return key, self.number(tool, param)

    def number(self, tool: Tool, param: Param) -> float:
        start = self.pos
        if self.peek() in ("'", '"'):
            raise self.error(f"{tool.name}.{param.name} takes a number, not a string")
        match = _NUMBER_CHARS.match(self.text, self.pos)
        if not match:
            raise self.error(
                f"missing value for {tool.name}.{param.name}: expected a number "
                f"in [{param.low}, {param.high}] {param.unit}, found {self.describe_here()}"
            )
        token = match.group()
        if not _NUMBER.fullmatch(token):
            raise self.error(f"bad number {_shorten(token)!r} for {tool.name}.{param.name}", start)
        self.pos = match.end()
        value = float(token)
        if not param.contains(value):
            raise self.error(
                f"{tool.name}.{param.name}={_shorten(token)} is out of range "
                f"[{param.low}, {param.high}] {param.unit}".rstrip(),
                start,
            )
        self.values.append(
            ValueSpan(start, self.pos, tool.name, param.name, value, self.call_index)
        )
        return value


def _text(program: object) -> str:
    """A program read from a table cell may be ``None`` or NaN; that is a bad program
    (an :class:`InstructionError` a check can report), not a crash in the parser."""
    if not isinstance(program, str):
        raise InstructionError(f"a program is text, not {type(program).__name__}", "", 0)
    return program


def parse(text: str) -> list[ToolCall]:
    """Parse a program; raises :class:`InstructionError` naming the position and problem."""
    return _Parser(_text(text)).program()


def value_spans(text: str) -> list[ValueSpan]:
    """Every argument value of a program with its character span, in text order.

    The value head learns from these (the token before ``start`` predicts the value);
    raises :class:`InstructionError` as :func:`parse` does.
    """
    parser = _Parser(_text(text))
    parser.program()
    return parser.values
