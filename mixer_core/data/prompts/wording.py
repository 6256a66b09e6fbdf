"""Shared wording helpers: numbers as a reader writes them, joins, capitals."""

from __future__ import annotations

import random
from collections.abc import Sequence

from mixer_core.language.grammar import format_value
from mixer_core.language.registry import REGISTRY


def capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def in_order(parts: Sequence[str], rng: random.Random) -> str:
    """Chain steps joined with "then": the order of tools changes the result."""
    if len(parts) == 1:
        return parts[0]
    return rng.choice(("", "first ")) + ", then ".join(parts)


def number(tool: str, param: str, value: float) -> str:
    """The value as a reader writes it: canonical digits without a trailing ``.0``."""
    spec = REGISTRY[tool].param(param)
    assert spec is not None, f"{tool}.{param}"
    text = format_value(value, spec)
    return text.rstrip("0").rstrip(".") if "." in text else text


def magnitude(tool: str, param: str, value: float) -> str:
    return number(tool, param, abs(value))


def hertz(tool: str, param: str, value: float, rng: random.Random) -> str:
    """``5 kHz`` or ``5000 Hz``; kHz only where it stays exact."""
    if value >= 1000 and rng.random() < 0.5:
        khz = f"{value / 1000:.3f}".rstrip("0").rstrip(".")
        if float(khz) * 1000 == value:
            return f"{khz} kHz"
    return f"{number(tool, param, value)} Hz"


def millis(tool: str, param: str, value: float, rng: random.Random) -> str:
    """``250 ms`` or, from 100 ms up and half the time, ``0.25 s``."""
    seconds = f"{value / 1000:.4f}".rstrip("0").rstrip(".")
    if value >= 100 and float(seconds) * 1000 == value and rng.random() < 0.5:
        return f"{seconds} s"
    return f"{number(tool, param, value)} ms"


# shares people say in words, as the grid writes them (``language.stated`` reads them back)
_WORD_SHARES = {0.5: "half", 0.33: "a third", 0.67: "two thirds", 0.25: "a quarter",
                0.75: "three quarters"}  # fmt: skip


def share(tool: str, param: str, value: float, rng: random.Random) -> str:
    """A 0–1 amount as ``0.3``, ``30 %``, ``30 percent`` or, where exact, in words."""
    draw = rng.random()
    if value in _WORD_SHARES and draw < 0.4:
        return _WORD_SHARES[value]
    percent = round(value * 100, 6)
    if draw < 0.6 and float(percent).is_integer():
        return f"{int(percent)}{rng.choice((' %', '%', ' percent'))}"
    return number(tool, param, value)


def with_details(base: str, details: list[str], rng: random.Random) -> str:
    rng.shuffle(details)
    return f"{base} with " + join_plain(details)


def join_plain(parts: Sequence[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
