"""Natural-language prompts for augmentation recipes.

DESIGN's measurement showed blind fixes are ambiguous (songs differ in band levels by as
much as the distortion), so most of the signal has to come from the text: an "instruct"
prompt states the change with its exact numbers, so its target is well-posed, and a
named-problem "fix" prompt tells which way the audio is off. Wording is drawn from
several templates per tool so the model learns the meaning, not one sentence.

Each registry tool has one instruct phrase builder and one problem describer below; a
tool without them is a :class:`ValueError` naming this file, and a test iterates the
registry, so adding a tool means adding its wording here.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

from mixer_core.language.grammar import ToolCall, format_value
from mixer_core.language.registry import REGISTRY

_Wording = TypeVar("_Wording")

GENERIC_FIX_PROMPTS: tuple[str, ...] = (
    "Fix the mix.",
    "Make this sound like the original master.",
    "Clean this up.",
    "Undo whatever was done to this.",
    "Restore the original sound.",
    "Make it sound the way it should again.",
    "Can you fix this?",
    "Repair the mix so it sounds like the original.",
    "Get this back to how it was mastered.",
    "Something is off here, please correct it.",
)

_PROBLEM_TEMPLATES: tuple[str, ...] = (
    "{P}. Can you fix it?",
    "{P}, please fix that.",
    "Fix this: {p}.",
    "The problem is that {p}. Sort it out.",
    "{P}. Make it sound the way it should.",
    "{P}. Please correct the mix.",
)

_NO_CHANGE_PROMPTS: tuple[str, ...] = (
    "Leave it as it is.",
    "Don't change anything.",
    "Keep it exactly as it is.",
    "No changes, please.",
)

_INSTRUCT_TEMPLATES: tuple[str, ...] = (
    "{x}.",
    "Please {x}.",
    "Could you {x}?",
    "I'd like you to {x}.",
    "Can you {x}?",
)

# Distortions smaller than these are not audible enough to be named.
_CLEAR_DB = 3.0
_SLIGHT_DB = 1.0


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def _in_order(parts: Sequence[str], rng: random.Random) -> str:
    """Chain steps joined with "then": the order of tools changes the result."""
    if len(parts) == 1:
        return parts[0]
    return rng.choice(("", "first ")) + ", then ".join(parts)


def _number(tool: str, param: str, value: float) -> str:
    """The value as a reader writes it: canonical digits without a trailing ``.0``."""
    spec = REGISTRY[tool].param(param)
    assert spec is not None, f"{tool}.{param}"
    text = format_value(value, spec)
    return text.rstrip("0").rstrip(".") if "." in text else text


def _magnitude(tool: str, param: str, value: float) -> str:
    return _number(tool, param, abs(value))


def _hertz(tool: str, param: str, value: float, rng: random.Random) -> str:
    """``5 kHz`` or ``5000 Hz``; kHz only where it stays exact."""
    if value >= 1000 and rng.random() < 0.5:
        khz = f"{value / 1000:.3f}".rstrip("0").rstrip(".")
        if float(khz) * 1000 == value:
            return f"{khz} kHz"
    return f"{_number(tool, param, value)} Hz"


def _with_details(base: str, details: list[str], rng: random.Random) -> str:
    rng.shuffle(details)
    return f"{base} with " + _join_plain(details)


def _join_plain(parts: Sequence[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


# ---- instruct phrases: every given argument is stated with its number ----------------


def _say_volume(args: Mapping[str, float], rng: random.Random) -> str:
    db = args.get("db", 0.0)
    if db == 0.0:
        return rng.choice(("keep the level where it is", "leave the volume unchanged"))
    a = _magnitude("change_volume", "db", db)
    if db > 0:
        options = (
            "turn it up by {a} dB",
            "make it {a} dB louder",
            "raise the volume by {a} dB",
            "boost the level by {a} dB",
        )
    else:
        options = (
            "turn it down by {a} dB",
            "make it {a} dB quieter",
            "lower the volume by {a} dB",
            "reduce the gain by {a} dB",
        )
    return rng.choice(options).format(a=a)


_BANDS = (
    ("low", ("the lows", "the low end", "the bass"), ("below {f}", "with the shelf at {f}")),
    ("mid", ("the mids", "the midrange"), ("around {f}", "centred at {f}")),
    ("high", ("the highs", "the top end", "the treble"), ("above {f}", "with the shelf at {f}")),
)


def _say_eq(args: Mapping[str, float], rng: random.Random) -> str:
    parts = []
    for band, names, freq_options in _BANDS:
        gain_key, freq_key = f"{band}_gain", f"{band}_freq"
        if gain_key not in args and freq_key not in args:
            continue
        name = rng.choice(names)
        gain = args.get(gain_key, 0.0)
        a = _magnitude("apply_eq", gain_key, gain)
        if gain > 0:
            verb = rng.choice(("boost {b} by {a} dB", "lift {b} by {a} dB", "add {a} dB to {b}"))
        elif gain < 0:
            verb = rng.choice(
                ("cut {b} by {a} dB", "pull {b} down by {a} dB", "take {a} dB off {b}")
            )
        else:
            verb = "leave {b} flat"
        phrase = verb.format(b=name, a=a)
        if freq_key in args:
            freq = _hertz("apply_eq", freq_key, args[freq_key], rng)
            phrase += " " + rng.choice(freq_options).format(f=freq)
        if band == "mid" and "mid_q" in args:
            phrase += f" (Q {_number('apply_eq', 'mid_q', args['mid_q'])})"
        parts.append(phrase)
    if "mid_q" in args and "mid_gain" not in args and "mid_freq" not in args:
        parts.append(f"set the mid band Q to {_number('apply_eq', 'mid_q', args['mid_q'])}")
    if not parts:
        return rng.choice(("run it through a flat EQ", "put a neutral EQ on it"))
    return _join_plain(parts)


def _say_high_pass(args: Mapping[str, float], rng: random.Random) -> str:
    if "freq" not in args:
        return rng.choice(("add a gentle high-pass filter", "high-pass it a little"))
    f = _hertz("high_pass", "freq", args["freq"], rng)
    return rng.choice(
        (
            "high-pass it at {f}",
            "roll off everything below {f}",
            "add a high-pass filter at {f}",
            "cut the rumble below {f}",
        )
    ).format(f=f)


def _say_low_pass(args: Mapping[str, float], rng: random.Random) -> str:
    if "freq" not in args:
        return rng.choice(("add a gentle low-pass filter", "low-pass it a little"))
    f = _hertz("low_pass", "freq", args["freq"], rng)
    return rng.choice(
        (
            "low-pass it at {f}",
            "roll off everything above {f}",
            "add a low-pass filter at {f}",
            "filter out the highs above {f}",
        )
    ).format(f=f)


def _dynamics_details(tool: str, args: Mapping[str, float]) -> list[str]:
    details = []
    if "threshold_db" in args:
        details.append(f"a threshold of {_number(tool, 'threshold_db', args['threshold_db'])} dB")
    if "ratio" in args:
        details.append(f"a {_number(tool, 'ratio', args['ratio'])}:1 ratio")
    if "attack_ms" in args:
        details.append(f"{_number(tool, 'attack_ms', args['attack_ms'])} ms attack")
    if "release_ms" in args:
        details.append(f"{_number(tool, 'release_ms', args['release_ms'])} ms release")
    if "makeup_db" in args:
        details.append(f"{_number(tool, 'makeup_db', args['makeup_db'])} dB of make-up gain")
    return details


def _say_compress(args: Mapping[str, float], rng: random.Random) -> str:
    details = _dynamics_details("compress", args)
    if not details:
        return rng.choice(("add some compression", "compress it a bit"))
    base = rng.choice(("compress it", "add compression", "put a compressor on it"))
    return _with_details(base, details, rng)


def _say_expand(args: Mapping[str, float], rng: random.Random) -> str:
    details = _dynamics_details("expand", args)
    if not details:
        return rng.choice(("expand the dynamics a bit", "add some upward expansion"))
    base = rng.choice(
        ("expand the dynamics", "add an upward expander", "run it through an expander")
    )
    return _with_details(base, details, rng)


def _say_limit(args: Mapping[str, float], rng: random.Random) -> str:
    details = []
    if "threshold_db" in args:
        t = _number("limit", "threshold_db", args["threshold_db"])
        details.append(rng.choice((f"the ceiling at {t} dB", f"a {t} dB ceiling")))
    if "release_ms" in args:
        details.append(f"{_number('limit', 'release_ms', args['release_ms'])} ms release")
    if not details:
        return rng.choice(("put a limiter on it", "limit the peaks a little"))
    return _with_details(
        rng.choice(("limit the peaks", "put a limiter on it", "add a limiter")), details, rng
    )


def _say_reverb(args: Mapping[str, float], rng: random.Random) -> str:
    names = {
        "room_size": ("room size", "a room size of"),
        "damping": ("damping", "damping of"),
        "wet": ("wet level", "a wet level of"),
        "dry": ("dry level", "a dry level of"),
    }
    details = [
        f"{rng.choice(names[key])} {_number('apply_reverb', key, args[key])}"
        for key in names
        if key in args
    ]
    if not details:
        return rng.choice(("add some reverb", "add a bit of room", "put some reverb on it"))
    return _with_details(
        rng.choice(("add reverb", "put it in a reverb", "add some room")), details, rng
    )


def _say_delay(args: Mapping[str, float], rng: random.Random) -> str:
    details = []
    if "time_ms" in args:
        t = _number("delay", "time_ms", args["time_ms"])
        details.append(rng.choice((f"{t} ms between echoes", f"a delay time of {t} ms")))
    if "feedback" in args:
        details.append(f"feedback of {_number('delay', 'feedback', args['feedback'])}")
    if "mix" in args:
        details.append(f"a mix of {_number('delay', 'mix', args['mix'])}")
    if not details:
        return rng.choice(("add some delay", "add a bit of echo"))
    return _with_details(
        rng.choice(("add an echo", "add a delay", "put a delay on it")), details, rng
    )


def _say_pan(args: Mapping[str, float], rng: random.Random) -> str:
    position = args.get("position", 0.0)
    if position == 0.0:
        return rng.choice(("centre the balance", "keep it centred"))
    side = "right" if position > 0 else "left"
    a = _magnitude("pan", "position", position)
    return rng.choice(
        ("pan it {a} to the {s}", "shift the balance {s} by {a}", "move it toward the {s} by {a}")
    ).format(a=a, s=side)


def _say_width(args: Mapping[str, float], rng: random.Random) -> str:
    width = args.get("width", 1.0)
    w = _number("stereo_width", "width", width)
    if width == 1.0:
        return rng.choice(("keep the stereo width as it is", "leave the stereo image alone"))
    if width == 0.0:
        return rng.choice(("make it mono (width 0)", "collapse it to mono, width 0"))
    if width > 1.0:
        options = (
            "widen the stereo image to a width of {w}",
            "make it wider (width {w})",
            "spread the stereo image out to {w} times its width",
        )
    else:
        options = (
            "narrow the stereo image to a width of {w}",
            "make it narrower (width {w})",
            "shrink the stereo image to {w} times its width",
        )
    return rng.choice(options).format(w=w)


_INSTRUCT: dict[str, Callable[[Mapping[str, float], random.Random], str]] = {
    "change_volume": _say_volume,
    "apply_eq": _say_eq,
    "high_pass": _say_high_pass,
    "low_pass": _say_low_pass,
    "compress": _say_compress,
    "expand": _say_expand,
    "limit": _say_limit,
    "apply_reverb": _say_reverb,
    "delay": _say_delay,
    "pan": _say_pan,
    "stereo_width": _say_width,
}


# ---- problems a distortion causes, judged from its resolved values ------------------


def _graded(
    value: float, loud: tuple[str, ...], slight: tuple[str, ...], rng: random.Random
) -> list[str]:
    if value >= _CLEAR_DB:
        return [rng.choice(loud)]
    if value >= _SLIGHT_DB:
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
    if v["makeup_db"] >= _CLEAR_DB:
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
    if v["threshold_db"] <= -_CLEAR_DB:
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


_PROBLEMS: dict[str, Callable[[Mapping[str, float], random.Random], list[str]]] = {
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


def _wording(table: Mapping[str, _Wording], name: str, kind: str) -> _Wording:
    try:
        return table[name]
    except KeyError:
        raise ValueError(
            f"mixer_core/data/prompts.py: no {kind} wording for tool {name!r}; add it there"
        ) from None


def describe_problems(calls: Sequence[ToolCall], rng: random.Random) -> list[str]:
    """What a listener would complain about after ``calls``, in chain order.

    Empty when every distortion is too small to name.
    """
    problems: list[str] = []
    for call in calls:
        for problem in _wording(_PROBLEMS, call.name, "problem")(call.resolved(), rng):
            if problem not in problems:
                problems.append(problem)
    return problems


def fix_prompt(calls: Sequence[ToolCall], rng: random.Random, name_problem: bool) -> str:
    """A request to undo ``calls`` (the distortion chain).

    With ``name_problem`` the prompt names what the distortion did, so the direction of
    the fix is given by the text; otherwise (or when nothing is big enough to name)
    it is a generic request and the model must judge from the audio alone.
    """
    problems = describe_problems(calls, rng) if name_problem else []
    if not problems:
        return rng.choice(GENERIC_FIX_PROMPTS)
    text = _join_plain(problems)
    return rng.choice(_PROBLEM_TEMPLATES).format(p=text, P=_capitalise(text))


def instruct_prompt(calls: Sequence[ToolCall], rng: random.Random) -> str:
    """A request that states ``calls``, every given argument with its exact number.

    Arguments a call leaves at their default are left unsaid or called "some", so the
    prompt and the program mean the same thing and the target is well-posed.
    """
    if not calls:
        return rng.choice(_NO_CHANGE_PROMPTS)
    phrases = [_wording(_INSTRUCT, call.name, "instruct")(call.args, rng) for call in calls]
    return _capitalise(rng.choice(_INSTRUCT_TEMPLATES).format(x=_in_order(phrases, rng)))
