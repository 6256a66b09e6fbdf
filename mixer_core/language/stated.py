"""What a prompt states: its numbers, with their units and signs, read as people write them.

A stated number is a fact, not something to estimate: "turn it up by 4.4 dB" means
``db=4.4`` exactly. This module reads every number of a prompt into a
:class:`StatedNumber` (its magnitude in a canonical unit, the kind of quantity, and its
sign), so the model only has to choose *which* number a value slot takes, and the
value it writes is the number itself (:func:`slot_value`).

Units, the way people write them:

- dB: ``3 dB``, ``3dB``, ``3 decibels``;
- Hz: ``350 Hz``, ``8.9 kHz``, ``8.9k``, ``8,900 Hz``;
- ms: ``20 ms``, ``0.3 s``, ``1.5 seconds``, ``300 milliseconds``;
- ratio: ``2:1``, ``4 to 1``;
- fraction: ``30 %``, ``30 percent``, ``a third``, ``half``, ``two thirds``, ``a quarter``
  (0.3, 0.5, ...), for the tools' 0–1 parameters and pan positions;
- plain: a bare number, which fits any slot.

The sign: a written ``-``/``−``/``+`` or "minus"/"plus" decides; otherwise the direction
word nearest the number in its clause (clauses end at ``,`` ``;`` ``.`` and at "and",
"then", "but"): "down", "cut", "lower", "reduce", "quieter", "take ... off", "left", ...
are negative; "up", "boost", "raise", "louder", "add", "right", ... positive; none is 0.
A slot whose range lies at or below zero (a threshold) takes the negative of an unsigned
number ("a threshold of 20 dB" is ``-20``); an unsigned parameter ignores the sign.

``normalise_prompt`` is what the model reads: whitespace collapsed and a phrase repeated
back to back kept once ("make it louder make it louder ..." means "make it louder"), so a
long prompt never changes meaning by repetition; ``fit_to_window`` cuts what still
exceeds the text encoder's window at the last clause boundary that fits, so no number
loses its unit or its direction word by the cut.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from mixer_core.language.registry import Param

Kind = Literal["db", "hz", "ms", "ratio", "fraction", "plain"]
KINDS: tuple[Kind, ...] = ("db", "hz", "ms", "ratio", "fraction", "plain")

# which kinds of stated number a parameter of each registry unit accepts
_ACCEPTS: dict[str, tuple[Kind, ...]] = {
    "dB": ("db", "plain"),
    "Hz": ("hz", "plain"),
    "ms": ("ms", "plain"),
    "ratio": ("ratio", "plain"),
    "Q": ("plain",),
    "": ("fraction", "plain"),
}

_NEGATIVE_WORDS = (
    "down", "lower", "cut", "cuts", "reduce", "decrease", "quieter", "softer", "attenuate",
    "drop", "off", "remove", "less", "left", "minus", "dip", "scoop", "pull",
)  # fmt: skip
_POSITIVE_WORDS = (
    "up", "raise", "boost", "boosts", "lift", "louder", "increase", "add", "more", "right",
    "plus", "hotter",
)  # fmt: skip
_WORD_FRACTIONS = {
    "a third": 1 / 3, "one third": 1 / 3, "two thirds": 2 / 3, "a quarter": 0.25,
    "one quarter": 0.25, "three quarters": 0.75, "half": 0.5, "a half": 0.5,
    "a fifth": 0.2, "a tenth": 0.1,
}  # fmt: skip

_NUMBER = (
    r"(?P<sign>[-+−]|\bminus\s+|\bplus\s+)?"
    r"(?P<digits>\d{1,3}(?:,\d{3})+(?!\d)|\d+(?:\.\d+)?|\.\d+)"
)
_UNIT = (
    r"\s*(?P<unit>dB\b|db\b|decibels?\b|kHz\b|khz\b|k\b|Hz\b|hz\b|hertz\b|ms\b|msec\b|"
    r"milliseconds?\b|s\b|secs?\b|seconds?\b|%|percent\b|per\s+cent\b|:\s*1\b|to\s+1\b)?"
)
_STATED = re.compile(r"(?<![\w.])" + _NUMBER + _UNIT, re.IGNORECASE)
_FRACTION = re.compile(
    r"\b(?P<words>"
    + "|".join(sorted(map(re.escape, _WORD_FRACTIONS), key=len, reverse=True))
    + r")\b",
    re.IGNORECASE,
)
_CLAUSE_END = re.compile(r",|;|\.(?!\d)|!|\?|\band\b|\bthen\b|\bbut\b", re.IGNORECASE)
_CUE = re.compile(
    r"\b(?P<neg>"
    + "|".join(_NEGATIVE_WORDS)
    + r")\b|\b(?P<pos>"
    + "|".join(_POSITIVE_WORDS)
    + r")\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class StatedNumber:
    """One number of a prompt: ``text[start:end]`` (the number with its unit).

    ``value`` is the magnitude in the canonical unit of ``kind`` (dB, Hz, ms, ratio, or a
    share for fractions and percentages); ``sign`` is -1, 0 or +1 and ``explicit`` says
    whether it was written with the number rather than read from a direction word.
    """

    start: int
    end: int
    value: float
    kind: Kind
    sign: int
    explicit: bool

    @property
    def signed(self) -> float:
        return self.value * (self.sign or 1)


def _unit(unit: str | None) -> tuple[Kind, float]:
    """(kind, factor to the canonical unit) of a unit as written."""
    if not unit:
        return "plain", 1.0
    text = re.sub(r"\s+", " ", unit.strip().lower())
    if text in ("db", "decibel", "decibels"):
        return "db", 1.0
    if text in ("khz", "k"):
        return "hz", 1000.0
    if text in ("hz", "hertz"):
        return "hz", 1.0
    if text in ("ms", "msec", "millisecond", "milliseconds"):
        return "ms", 1.0
    if text in ("s", "sec", "secs", "second", "seconds"):
        return "ms", 1000.0
    if text in ("%", "percent", "per cent"):
        return "fraction", 0.01
    return "ratio", 1.0  # ":1", "to 1"


def _clause(text: str, position: int) -> tuple[int, int]:
    start = max((m.end() for m in _CLAUSE_END.finditer(text, 0, position)), default=0)
    after = _CLAUSE_END.search(text, position)
    return start, after.start() if after else len(text)


def _direction(text: str, start: int, end: int) -> int:
    """The sign the nearest direction word of the clause gives the number at [start, end)."""
    clause_start, clause_end = _clause(text, start)
    best, best_distance = 0, math.inf
    for match in _CUE.finditer(text, clause_start, clause_end):
        if start <= match.start() < end:
            continue
        distance = start - match.end() if match.end() <= start else match.start() - end
        if distance < best_distance:
            best, best_distance = (-1 if match.group("neg") else 1), distance
    return best


def read_numbers(text: str) -> list[StatedNumber]:
    """Every stated number of ``text``, in order of appearance."""
    found: list[StatedNumber] = []
    for match in _STATED.finditer(text):
        digits = match.group("digits").replace(",", "")
        kind, factor = _unit(match.group("unit"))
        written = (match.group("sign") or "").strip().lower()
        explicit = written in ("-", "−", "minus", "+", "plus")
        sign = -1 if written in ("-", "−", "minus") else 1 if explicit else 0
        end = match.end("unit") if match.group("unit") else match.end("digits")
        if not explicit:
            sign = _direction(text, match.start(), end)
        found.append(StatedNumber(match.start(), end, float(digits) * factor, kind, sign, explicit))
    for match in _FRACTION.finditer(text):
        if any(n.start <= match.start() < n.end for n in found):
            continue
        value = _WORD_FRACTIONS[re.sub(r"\s+", " ", match.group("words").lower())]
        sign = _direction(text, match.start(), match.end())
        found.append(StatedNumber(match.start(), match.end(), value, "fraction", sign, False))
    return sorted(found, key=lambda n: n.start)


def accepts(param: Param, kind: Kind) -> bool:
    """Whether a number of ``kind`` can be the value of ``param``."""
    return kind in _ACCEPTS.get(param.unit, ("plain",))


def slot_value(number: StatedNumber, param: Param) -> float:
    """The value ``number`` states for ``param``, in its unit, before range and grid.

    Signed parameters take the number's sign; a parameter whose range lies at or below
    zero takes an unsigned number as negative; other parameters take the magnitude.
    """
    if param.low < 0.0 < param.high:
        return number.signed
    if param.high <= 0.0:
        return -number.value if number.sign >= 0 and not number.explicit else number.signed
    return number.value


def fit_value(value: float, param: Param) -> tuple[float, str | None]:
    """``value`` on ``param``'s grid and in its range, and a note when it had to move."""
    fitted = param.nearest(value)
    if not param.contains(value):
        unit = f" {param.unit}" if param.unit else ""
        return fitted, (
            f"stated {value:g}{unit} is outside [{param.low:g}, {param.high:g}]{unit}; "
            f"wrote {fitted:g}"
        )
    return fitted, None


def _collapse_repeats(words: list[str], key: Callable[[str], str]) -> list[str]:
    """Drop back-to-back repeats of any phrase up to 40 words long."""
    keys = [key(w) for w in words]
    changed = True
    while changed:
        changed = False
        for size in range(1, min(40, len(words) // 2) + 1):
            i = 0
            while i + 2 * size <= len(words):
                if keys[i : i + size] == keys[i + size : i + 2 * size]:
                    del words[i + size : i + 2 * size]
                    del keys[i + size : i + 2 * size]
                    changed = True
                else:
                    i += 1
    return words


def normalise_prompt(text: str) -> str:
    """Whitespace collapsed and back-to-back repeated phrases kept once."""
    words = text.split()

    def key(word: str) -> str:
        return word.lower().strip(".,;:!?")

    return " ".join(_collapse_repeats(words, key))


def fit_to_window(text: str, ends: list[int], limit: int) -> str:
    """``text`` cut to its first ``limit`` tokens (``ends``: each token's end offset), at the
    last clause boundary inside them; the whole text when it fits."""
    if len(ends) <= limit:
        return text
    cut = ends[limit - 1]
    boundaries = [m.start() for m in _CLAUSE_END.finditer(text, 0, cut + 1)]
    if boundaries and boundaries[-1] > 0:
        cut = boundaries[-1]
    return text[:cut].rstrip(" ,;")
