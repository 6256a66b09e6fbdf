"""Hypothesis strategies over the tool registry, shared by the test modules."""

from __future__ import annotations

import re
import string
from collections.abc import Iterable
from typing import Any

from hypothesis import strategies as st

from mixer_core.language.grammar import ToolCall, format
from mixer_core.language.registry import TOOLS, Param


def grid_value(param: Param) -> st.SearchStrategy[float]:
    """A value on the parameter's step grid, i.e. one that formats canonically."""
    count = round((param.high - param.low) / param.step)
    return st.integers(0, count).map(
        lambda i: round(param.low + i * param.step, param.decimals) + 0.0
    )


def any_value(param: Param) -> st.SearchStrategy[float]:
    return st.floats(param.low, param.high, allow_nan=False, allow_infinity=False)


@st.composite
def tool_calls(draw: st.DrawFn, on_grid: bool = True) -> ToolCall:
    tool = draw(st.sampled_from(TOOLS))
    chosen = draw(st.lists(st.sampled_from(tool.params), unique=True, max_size=len(tool.params)))
    values = grid_value if on_grid else any_value
    return ToolCall(tool.name, {p.name: draw(values(p)) for p in chosen})


def programs(on_grid: bool = True, max_size: int = 4) -> st.SearchStrategy[list[ToolCall]]:
    return st.lists(tool_calls(on_grid), max_size=max_size)


# Programs as text, canonical and broken, for the parser's fuzz tests.

# Characters the grammar gives a meaning to; anything else (and not whitespace) can
# appear in no program, so a parser must stop at or before it.
GRAMMAR_CHARS = frozenset(string.ascii_letters + string.digits + "_()=,.+-")
# Argument values no parameter accepts, each rejected where the value starts.
BAD_NUMBERS = (
    "nan",
    "NaN",
    "inf",
    "-inf",
    "Infinity",
    "1e999",
    "1e5",
    "1e",
    "+1.0",
    "1.",
    ".5",
    "--1",
    "1.2.3",
    "'1'",
    '"1.0"',
    "",
    "\u0663",  # ARABIC-INDIC DIGIT THREE: float() reads it, the language does not
    "9" * 400,
    "-" + "9" * 400,
)


def program_texts(max_size: int = 4) -> st.SearchStrategy[str]:
    """Canonical text of in-grid programs."""
    return programs(on_grid=True, max_size=max_size).map(format)


def foreign_chars() -> st.SearchStrategy[str]:
    """Single characters that have no place anywhere in a program."""
    return st.characters(codec="utf-8").filter(lambda c: c not in GRAMMAR_CHARS and not c.isspace())


def unknown_names(known: Iterable[str]) -> st.SearchStrategy[str]:
    """Identifiers the grammar would read as a name, none of them in ``known``."""
    taken = set(known)
    return st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,30}", fullmatch=True).filter(
        lambda name: name not in taken
    )


_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|[-+0-9.eE]+|\S")


def _swap_tokens(draw: st.DrawFn, text: str) -> str:
    spans = [m.span() for m in _TOKEN.finditer(text)]
    if len(spans) < 2:
        return text
    i, j = sorted(draw(st.lists(st.integers(0, len(spans) - 1), min_size=2, max_size=2)))
    (a, b), (c, d) = spans[i], spans[j]
    return text[:a] + text[c:d] + text[b:c] + text[a:b] + text[d:] if i != j else text


def _mutate_once(draw: st.DrawFn, text: str) -> str:
    kind = draw(
        st.sampled_from(["drop", "insert", "swap", "number", "paren", "duplicate", "replace"])
    )
    at = draw(st.integers(0, len(text)))
    if kind == "drop":
        return text[:at] + text[at + 1 :]
    if kind == "insert":
        piece = draw(st.sampled_from(sorted(GRAMMAR_CHARS)) | st.characters(codec="utf-8"))
        return text[:at] + piece + text[at:]
    if kind == "swap":
        return _swap_tokens(draw, text)
    if kind == "number":
        numbers = list(re.finditer(r"(?<==)[-+0-9.eE]+", text))
        if not numbers:
            return text
        found = draw(st.sampled_from(numbers))
        value = draw(st.sampled_from(BAD_NUMBERS) | st.floats().map(repr))
        return text[: found.start()] + value + text[found.end() :]
    if kind == "paren":
        return text[:at] + draw(st.sampled_from(["(", ")", "((", "))", ""])) + text[at:]
    if kind == "duplicate":
        args = list(re.finditer(r"[a-z_]+=[-0-9.]+", text))
        if not args:
            return text
        found = draw(st.sampled_from(args))
        return text[: found.start()] + found.group() + ", " + text[found.start() :]
    names = list(re.finditer(r"[A-Za-z_]+", text))
    if not names:
        return text
    found = draw(st.sampled_from(names))
    name = draw(unknown_names(()) | st.sampled_from([t.name for t in TOOLS]))
    return text[: found.start()] + name + text[found.end() :]


@st.composite
def broken_programs(draw: st.DrawFn) -> str:
    """A canonical program after one to three random edits: characters dropped or
    inserted (any unicode), tokens swapped, values replaced by NaN/inf/huge/odd numbers,
    parentheses added, arguments repeated, names replaced. Most no longer parse."""
    text = draw(program_texts())
    for _ in range(draw(st.integers(1, 3))):
        text = _mutate_once(draw, text)
    return text


# YAML-shaped data for the configuration loader's fuzz tests.

# Keys that survive ``yaml.safe_dump`` -> ``yaml.safe_load`` unchanged (line breaks,
# control characters and surrogates would not), so a key path in a message can be
# compared with the one written.
yaml_keys = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp")),
    min_size=1,
    max_size=12,
)
yaml_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats()
    | st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20)
)


def yaml_values(max_leaves: int = 12) -> st.SearchStrategy[Any]:
    """Any value a YAML document can hold: scalars, lists and mappings, nested."""
    return st.recursive(
        yaml_scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(yaml_keys, inner, max_size=4),
        max_leaves=max_leaves,
    )
