"""Problems a distortion causes, judged from its resolved values, as a listener says them.

One describer per registry tool (``PROBLEMS``), in the vocabulary of
``language.problems`` (which also reads it back); a distortion below audibility names no
problem, so a named-problem prompt never points the wrong way.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping

from mixer_core.language.problems import (
    BARELY_AUDIBLE,
    BARELY_AUDIBLE_DB,
    CLEAR_DB,
    COMPRESS_LEVEL_PHRASES,
    COMPRESS_PHRASES,
    DELAY_PHRASES,
    EXPAND_PHRASES,
    HIGH_PASS_PHRASES,
    LEVEL_PHRASES,
    LIMIT_PHRASES,
    LOW_PASS_PHRASES,
    MONO_PHRASES,
    NARROW_PHRASES,
    PAN_PHRASES,
    REVERB_PHRASES,
    SLIGHT_DB,
    WIDE_PHRASES,
)


def _graded(
    value: float, loud: tuple[str, ...], slight: tuple[str, ...], rng: random.Random
) -> list[str]:
    if value >= CLEAR_DB:
        return [rng.choice(loud)]
    if value >= SLIGHT_DB:
        return [rng.choice(slight)]
    return []


def _level(value: float, tool: str, param: str, direction: int, rng: random.Random) -> list[str]:
    clear, slight = LEVEL_PHRASES[(tool, param, direction)]
    return _graded(direction * value, clear, slight, rng)


def _volume_problems(v: Mapping[str, float], rng: random.Random) -> list[str]:
    db = v["db"]
    if db <= BARELY_AUDIBLE_DB:
        return [rng.choice(BARELY_AUDIBLE)]
    return _level(db, "change_volume", "db", +1, rng) + _level(db, "change_volume", "db", -1, rng)


def _eq_problems(v: Mapping[str, float], rng: random.Random) -> list[str]:
    return [
        problem
        for band in ("low_gain", "mid_gain", "high_gain")
        for direction in (+1, -1)
        for problem in _level(v[band], "apply_eq", band, direction, rng)
    ]


def _high_pass_problems(v: Mapping[str, float], rng: random.Random) -> list[str]:
    if v["freq"] >= 120.0:
        return [rng.choice(HIGH_PASS_PHRASES[0])]
    if v["freq"] >= 40.0:
        return [rng.choice(HIGH_PASS_PHRASES[1])]
    return []


def _low_pass_problems(v: Mapping[str, float], rng: random.Random) -> list[str]:
    if v["freq"] <= 6000.0:
        return [rng.choice(LOW_PASS_PHRASES[0])]
    if v["freq"] <= 14000.0:
        return [rng.choice(LOW_PASS_PHRASES[1])]
    return []


def _compress_problems(v: Mapping[str, float], rng: random.Random) -> list[str]:
    problems = []
    if v["ratio"] >= 1.5:
        problems.append(rng.choice(COMPRESS_PHRASES))
    if v["makeup_db"] >= CLEAR_DB:
        problems.append(rng.choice(COMPRESS_LEVEL_PHRASES))
    return problems


def _expand_problems(v: Mapping[str, float], rng: random.Random) -> list[str]:
    return [rng.choice(EXPAND_PHRASES)] if v["ratio"] >= 1.5 else []


def _limit_problems(v: Mapping[str, float], rng: random.Random) -> list[str]:
    return [rng.choice(LIMIT_PHRASES)] if v["threshold_db"] <= -CLEAR_DB else []


def _reverb_problems(v: Mapping[str, float], rng: random.Random) -> list[str]:
    return [rng.choice(REVERB_PHRASES)] if v["wet"] >= 0.1 else []


def _delay_problems(v: Mapping[str, float], rng: random.Random) -> list[str]:
    return [rng.choice(DELAY_PHRASES)] if v["mix"] >= 0.05 else []


def _pan_problems(v: Mapping[str, float], rng: random.Random) -> list[str]:
    if abs(v["position"]) < 0.1:
        return []
    side = "right" if v["position"] > 0 else "left"
    return [rng.choice(PAN_PHRASES).format(side=side)]


def _width_problems(v: Mapping[str, float], rng: random.Random) -> list[str]:
    if v["width"] <= 0.3:
        return [rng.choice(MONO_PHRASES)]
    if v["width"] <= 0.8:
        return [rng.choice(NARROW_PHRASES)]
    if v["width"] >= 1.25:
        return [rng.choice(WIDE_PHRASES)]
    return []


PROBLEMS: dict[str, Callable[[Mapping[str, float], random.Random], list[str]]] = {
    "change_volume": _volume_problems,
    "apply_eq": _eq_problems,
    "high_pass": _high_pass_problems,
    "low_pass": _low_pass_problems,
    "compress": _compress_problems,
    "expand": _expand_problems,
    "limit": _limit_problems,
    "apply_reverb": _reverb_problems,
    "delay": _delay_problems,
    "pan": _pan_problems,
    "stereo_width": _width_problems,
}
