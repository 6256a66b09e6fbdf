"""Named problems: the words a listener uses for a level or tone problem, and what they
say about its fix.

"The bass is slightly weak" is not a number, but it is a fact about the fix: the low band
needs a boost, and a small one. The augmentation writes named-problem prompts from this
vocabulary (``data.prompts.problems``) and a model's program is held to it
(``model.execution_check``), so the words mean the same thing in training and in use:

- a band or the level is named when its distortion is at least ``SLIGHT_DB``: "slightly"
  (or "a bit", "a little") between ``SLIGHT_DB`` and ``CLEAR_DB``, plainly from
  ``CLEAR_DB`` up (``BARELY_AUDIBLE_DB`` and below: "barely audible");
- a prompt that names problems names every one it has, so a band (or the level) it does
  not name is off by less than ``SLIGHT_DB``.

:func:`correction_bounds` turns a prompt into the range each correction of the fix's
normal form (``apply_eq`` gains without corner frequencies, the final ``change_volume``)
must lie in. It says nothing where another problem muddles a reading: a filter changes
the bands on its side of its corner (its own shelf does the work), dynamics change the
level.
"""

from __future__ import annotations

import math

SLIGHT_DB = 1.0
CLEAR_DB = 3.0
BARELY_AUDIBLE_DB = -12.0

Phrases = tuple[tuple[str, ...], tuple[str, ...]]  # (clear, slight)

# (tool, parameter, direction of the distortion) -> how a listener says it
LEVEL_PHRASES: dict[tuple[str, str, int], Phrases] = {
    ("change_volume", "db", +1): (
        ("it's too loud", "the level is way too hot", "it's blasting"),
        ("it's a bit loud", "the level is slightly hot"),
    ),
    ("change_volume", "db", -1): (
        ("it's too quiet", "the volume is too low", "the level is way too low"),
        ("it's a bit quiet", "the level is slightly low"),
    ),
    ("apply_eq", "low_gain", +1): (
        ("the low end is boomy", "the bass is muddy and overpowering", "it's too bassy"),
        ("it's a little bass-heavy", "the low end is slightly boomy"),
    ),
    ("apply_eq", "low_gain", -1): (
        ("it sounds thin, no bass", "the low end is missing", "there's no weight in the bass"),
        ("it's a little thin", "the bass is slightly weak"),
    ),
    ("apply_eq", "mid_gain", +1): (
        ("the mids are boxy", "it sounds honky", "the midrange is nasal"),
        ("the mids are a bit boxy", "it's slightly honky"),
    ),
    ("apply_eq", "mid_gain", -1): (
        ("the mids are scooped out", "it sounds hollow", "the midrange is missing"),
        ("the mids are a bit recessed", "it's slightly hollow"),
    ),
    ("apply_eq", "high_gain", +1): (
        ("it's harsh and too bright", "the top end is piercing", "it's too bright"),
        ("it's a little bright", "the highs are slightly harsh"),
    ),
    ("apply_eq", "high_gain", -1): (
        ("it's dull and muffled", "there's no top end", "it sounds dark and muffled"),
        ("it's a little dull", "the highs are slightly dark"),
    ),
}
BARELY_AUDIBLE = ("it's barely audible", "it's far too quiet")

# the other tools' problems, as the augmentation names them (clear, then milder wording)
HIGH_PASS_PHRASES: Phrases = (
    ("it sounds thin, the bass has been cut", "the low end is gone", "there's no bass at all"),
    ("the deep low end is missing", "the sub bass is gone"),
)
LOW_PASS_PHRASES: Phrases = (
    (
        "it's muffled, like it's behind a wall",
        "the top end is cut off",
        "it sounds dull and muffled",
    ),
    ("it lacks air on top", "the very top end is rolled off"),
)
COMPRESS_PHRASES = (
    "it's squashed",
    "it sounds over-compressed",
    "the dynamics are flattened, there's no punch",
)
COMPRESS_LEVEL_PHRASES = ("it's too loud", "the level is too hot")
EXPAND_PHRASES = (
    "the dynamics are too jumpy",
    "the peaks stick out too much",
    "it's too spiky, the loud parts jump out",
)
LIMIT_PHRASES = ("the peaks are crushed", "it sounds brickwalled", "the transients are flattened")
REVERB_PHRASES = (
    "it's drowned in reverb",
    "it sounds washed out and distant",
    "there's too much room on it",
)
DELAY_PHRASES = (
    "there's an annoying echo",
    "there's a delay smearing it",
    "it has an echo that shouldn't be there",
)
PAN_PHRASES = (
    "it's leaning to the {side}",
    "the balance pulls to the {side}",
    "it's lopsided, heavy on the {side}",
)
MONO_PHRASES = ("it sounds almost mono", "the stereo image has collapsed")
NARROW_PHRASES = ("it's too narrow", "the stereo image is too narrow")
WIDE_PHRASES = ("it's too wide", "the stereo image is too wide and phasey")

_HIGH_PASS_WORDS = (*HIGH_PASS_PHRASES[0], *HIGH_PASS_PHRASES[1])
_LOW_PASS_WORDS = (*LOW_PASS_PHRASES[0], *LOW_PASS_PHRASES[1])
FILTER_PHRASES = (*_HIGH_PASS_WORDS, *_LOW_PASS_WORDS)
_LEVEL_WORDS = {p for clear, slight in LEVEL_PHRASES.values() for p in (*clear, *slight)}
# "it's too loud" is said of a compressor's make-up gain too: the same fix, a cut
DYNAMICS_PHRASES = tuple(
    p
    for p in (*COMPRESS_PHRASES, *COMPRESS_LEVEL_PHRASES, *EXPAND_PHRASES, *LIMIT_PHRASES)
    if p not in _LEVEL_WORDS
)
OTHER_PHRASES = (
    *REVERB_PHRASES,
    *DELAY_PHRASES,
    *(phrase.format(side=side) for phrase in PAN_PHRASES for side in ("left", "right")),
    *MONO_PHRASES,
    *NARROW_PHRASES,
    *WIDE_PHRASES,
)

Bounds = dict[tuple[str, str], tuple[float, float]]


def _graded() -> dict[str, tuple[str, str, float, float]]:
    """phrase -> (tool, parameter, lowest, highest correction it allows), in dB."""
    table: dict[str, tuple[str, str, float, float]] = {}
    for (tool, param, direction), (clear, slight) in LEVEL_PHRASES.items():
        # the fix undoes the distortion: a boost is corrected by a cut
        for phrases, distortion in ((clear, (CLEAR_DB, math.inf)), (slight, (SLIGHT_DB, CLEAR_DB))):
            low, high = sorted(-direction * d for d in distortion)
            for phrase in phrases:
                table[phrase] = (tool, param, low, high)
    for phrase in BARELY_AUDIBLE:
        table[phrase] = ("change_volume", "db", -BARELY_AUDIBLE_DB, math.inf)
    return table


_GRADED = _graded()
_BY_LENGTH = sorted(
    [*_GRADED, *FILTER_PHRASES, *DYNAMICS_PHRASES, *OTHER_PHRASES], key=len, reverse=True
)
EQ_GAINS = ("low_gain", "mid_gain", "high_gain")


def named_problems(prompt: str) -> list[str]:
    """The vocabulary's phrases in ``prompt`` (lower-cased), longest first, each match
    taking its words out so that a phrase inside a longer one is not counted twice."""
    text = " ".join(prompt.lower().split())
    found = []
    for phrase in _BY_LENGTH:
        if phrase in text:
            found.append(phrase)
            text = text.replace(phrase, "|")
    return found


def correction_bounds(prompt: str) -> Bounds:
    """``(tool, parameter) -> (lowest, highest)`` correction the prompt's named problems
    allow, in dB, for the level and the normal-form EQ gains; empty when it names none."""
    found = named_problems(prompt)
    if not found:
        return {}
    bounds: Bounds = {}
    graded = [_GRADED[p] for p in found if p in _GRADED]
    # a filter changes the bands on its side of the corner (its own shelf restores them),
    # never the band beyond: a high-pass (at most 1 kHz) leaves the highs alone
    unmuddled = set(EQ_GAINS)
    if any(p in _HIGH_PASS_WORDS for p in found):
        unmuddled -= {"low_gain", "mid_gain"}
    if any(p in _LOW_PASS_WORDS for p in found):
        unmuddled -= {"mid_gain", "high_gain"}
    bounds.update({("apply_eq", g): (-SLIGHT_DB, SLIGHT_DB) for g in EQ_GAINS if g in unmuddled})
    if not any(p in DYNAMICS_PHRASES for p in found):
        bounds[("change_volume", "db")] = (-SLIGHT_DB, SLIGHT_DB)
    for tool, param, low, high in graded:
        if (tool, param) in bounds:
            bounds[(tool, param)] = _meet(bounds[(tool, param)], low, high)
    return bounds


def _meet(current: tuple[float, float], low: float, high: float) -> tuple[float, float]:
    """A named grade replaces the unnamed ±SLIGHT_DB; two grades of one slot (a listener
    contradicting themselves) widen to cover both."""
    if current == (-SLIGHT_DB, SLIGHT_DB):
        return (low, high)
    return (min(current[0], low), max(current[1], high))
