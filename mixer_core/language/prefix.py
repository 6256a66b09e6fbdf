"""Canonical prefixes: whether a partial program can still become one ``format`` writes.

Constrained decoding asks this after every token, so every finished output parses and
every value is on its parameter's step grid and in range.
"""

from __future__ import annotations

import bisect
import re
from functools import cache

from mixer_core.language.grammar import format_value
from mixer_core.language.registry import REGISTRY, TOOLS

_OPEN_VALUE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\((?:[^()]*, )?([A-Za-z_][A-Za-z0-9_]*)=$")


def open_value(text: str) -> tuple[str, str] | None:
    """``(tool, parameter)`` when canonical ``text`` ends where a value must start."""
    match = _OPEN_VALUE.search(text)
    return (match.group(1), match.group(2)) if match else None


@cache
def _grid(tool_name: str, param_name: str) -> tuple[str, ...]:
    """Every canonical value string of a parameter, sorted for prefix search."""
    param = REGISTRY[tool_name].param(param_name)
    assert param is not None
    count = round((param.high - param.low) / param.step)
    values = {
        format_value(round(param.low + i * param.step, param.decimals), param)
        for i in range(count + 1)
    }
    return tuple(sorted(v for v in values if param.contains(float(v))))


def _has_prefix(sorted_strings: tuple[str, ...], prefix: str) -> bool:
    i = bisect.bisect_left(sorted_strings, prefix)
    return i < len(sorted_strings) and sorted_strings[i].startswith(prefix)


_TOOL_NAMES = tuple(sorted(tool.name for tool in TOOLS))


class CanonicalPrefix:
    """Whether a partial text can still become a canonical program.

    Canonical means what :func:`format` writes for values on each parameter's step
    grid: so every completed text parses, and every value is in range.
    """

    @staticmethod
    def check(text: str) -> tuple[bool, bool]:
        """Return ``(viable, complete)`` for ``text``."""
        pos, n = 0, len(text)
        first = True
        while True:
            if pos == n:
                return True, first or text.endswith(")")
            if not first:
                if text[pos] != " ":
                    return False, False
                pos += 1
                if pos == n:
                    return True, False
            first = False
            paren = text.find("(", pos)
            if paren < 0:
                return _has_prefix(_TOOL_NAMES, text[pos:]), False
            tool = REGISTRY.get(text[pos:paren])
            if tool is None:
                return False, False
            pos = paren + 1
            remaining = list(tool.params)
            first_arg = True
            while True:
                if pos == n:
                    return True, False
                if text[pos] == ")":
                    pos += 1
                    break
                if not first_arg:
                    if not remaining:  # the last parameter is written: only ")" may follow
                        return False, False
                    if not text.startswith(", ", pos):
                        return (pos + 2 > n and ", ".startswith(text[pos:])), False
                    pos += 2
                    if pos == n:
                        return True, False
                first_arg = False
                eq = text.find("=", pos)
                names = [p.name for p in remaining]
                if eq < 0:
                    partial = text[pos:]
                    return any(name.startswith(partial) for name in names), False
                key = text[pos:eq]
                if key not in names:
                    return False, False
                param_index = names.index(key)
                remaining = remaining[param_index + 1 :]
                pos = eq + 1
                end = pos
                while end < n and text[end] not in ",)":
                    end += 1
                grid = _grid(tool.name, key)
                value = text[pos:end]
                if end == n:
                    return _has_prefix(grid, value), False
                i = bisect.bisect_left(grid, value)
                if i >= len(grid) or grid[i] != value:
                    return False, False
                pos = end

    @staticmethod
    def longest_complete(text: str) -> str:
        """The longest prefix of ``text`` that is a complete canonical program."""
        for end in range(len(text), -1, -1):
            if end == 0 or text[end - 1] == ")":
                viable, complete = CanonicalPrefix.check(text[:end])
                if viable and complete:
                    return text[:end]
        return ""
