"""Problems a distortion causes, judged from its resolved values, as a listener says them.

One describer per registry tool (``PROBLEMS``); a distortion below audibility names no
problem, so a named-problem prompt never points the wrong way.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping

from mixer_core.data.prompts.wording import CLEAR_DB, SLIGHT_DB


def _graded(
    value: float, loud: tuple[str, ...], slight: tuple[str, ...], rng: random.Random
) -> list[str]:
    if value >= CLEAR_DB:
        return [rng.choice(loud)]
    if value >= SLIGHT_DB:
        return [rng.choice(slight)]
    return []


def _volume_problems(v: Mapping[str, float], rng: random.Random) -> list[str]:
    db = v["db"]
    if db <= -12.0:
        return [rng.choice(("it's barely audible", "it's far too quiet"))]
    return _graded(
        db,
        ("it's too loud", "the level is way too hot", "it's blasting"),
        ("it's a bit loud", "the level is slightly hot"),
        rng,
    ) + _graded(
        -db,
        ("it's too quiet", "the volume is too low", "the level is way too low"),
        ("it's a bit quiet", "the level is slightly low"),
        rng,
    )


def _eq_problems(v: Mapping[str, float], rng: random.Random) -> list[str]:
    return (
        _graded(
            v["low_gain"],
            ("the low end is boomy", "the bass is muddy and overpowering", "it's too bassy"),
            ("it's a little bass-heavy", "the low end is slightly boomy"),
            rng,
        )
        + _graded(
            -v["low_gain"],
            ("it sounds thin, no bass", "the low end is missing", "there's no weight in the bass"),
            ("it's a little thin", "the bass is slightly weak"),
            rng,
        )
        + _graded(
            v["mid_gain"],
            ("the mids are boxy", "it sounds honky", "the midrange is nasal"),
            ("the mids are a bit boxy", "it's slightly honky"),
            rng,
        )
        + _graded(
            -v["mid_gain"],
            ("the mids are scooped out", "it sounds hollow", "the midrange is missing"),
            ("the mids are a bit recessed", "it's slightly hollow"),
            rng,
        )
        + _graded(
            v["high_gain"],
            ("it's harsh and too bright", "the top end is piercing", "it's too bright"),
            ("it's a little bright", "the highs are slightly harsh"),
            rng,
        )
        + _graded(
            -v["high_gain"],
            ("it's dull and muffled", "there's no top end", "it sounds dark and muffled"),
            ("it's a little dull", "the highs are slightly dark"),
            rng,
        )
    )


def _high_pass_problems(v: Mapping[str, float], rng: random.Random) -> list[str]:
    if v["freq"] >= 120.0:
        return [
            rng.choice(
                (
                    "it sounds thin, the bass has been cut",
                    "the low end is gone",
                    "there's no bass at all",
                )
            )
        ]
    if v["freq"] >= 40.0:
        return [rng.choice(("the deep low end is missing", "the sub bass is gone"))]
    return []


def _low_pass_problems(v: Mapping[str, float], rng: random.Random) -> list[str]:
    if v["freq"] <= 6000.0:
        return [
            rng.choice(
                (
                    "it's muffled, like it's behind a wall",
                    "the top end is cut off",
                    "it sounds dull and muffled",
                )
            )
        ]
    if v["freq"] <= 14000.0:
        return [rng.choice(("it lacks air on top", "the very top end is rolled off"))]
    return []


def _compress_problems(v: Mapping[str, float], rng: random.Random) -> list[str]:
    problems = []
    if v["ratio"] >= 1.5:
        problems.append(
            rng.choice(
                (
                    "it's squashed",
                    "it sounds over-compressed",
                    "the dynamics are flattened, there's no punch",
                )
            )
        )
    if v["makeup_db"] >= CLEAR_DB:
        problems.append(rng.choice(("it's too loud", "the level is too hot")))
    return problems


def _expand_problems(v: Mapping[str, float], rng: random.Random) -> list[str]:
    if v["ratio"] >= 1.5:
        return [
            rng.choice(
                (
                    "the dynamics are too jumpy",
                    "the peaks stick out too much",
                    "it's too spiky, the loud parts jump out",
                )
            )
        ]
    return []


def _limit_problems(v: Mapping[str, float], rng: random.Random) -> list[str]:
    if v["threshold_db"] <= -CLEAR_DB:
        return [
            rng.choice(
                ("the peaks are crushed", "it sounds brickwalled", "the transients are flattened")
            )
        ]
    return []


def _reverb_problems(v: Mapping[str, float], rng: random.Random) -> list[str]:
    if v["wet"] >= 0.1:
        return [
            rng.choice(
                (
                    "it's drowned in reverb",
                    "it sounds washed out and distant",
                    "there's too much room on it",
                )
            )
        ]
    return []


def _delay_problems(v: Mapping[str, float], rng: random.Random) -> list[str]:
    if v["mix"] >= 0.05:
        return [
            rng.choice(
                (
                    "there's an annoying echo",
                    "there's a delay smearing it",
                    "it has an echo that shouldn't be there",
                )
            )
        ]
    return []


def _pan_problems(v: Mapping[str, float], rng: random.Random) -> list[str]:
    if abs(v["position"]) < 0.1:
        return []
    side = "right" if v["position"] > 0 else "left"
    return [
        rng.choice(
            (
                f"it's leaning to the {side}",
                f"the balance pulls to the {side}",
                f"it's lopsided, heavy on the {side}",
            )
        )
    ]


def _width_problems(v: Mapping[str, float], rng: random.Random) -> list[str]:
    if v["width"] <= 0.3:
        return [rng.choice(("it sounds almost mono", "the stereo image has collapsed"))]
    if v["width"] <= 0.8:
        return [rng.choice(("it's too narrow", "the stereo image is too narrow"))]
    if v["width"] >= 1.25:
        return [rng.choice(("it's too wide", "the stereo image is too wide and phasey"))]
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
