"""Instruct phrases: each states a call with every given argument's exact number.

One phrase builder per registry tool (``INSTRUCT``); a test iterates the registry, so a
tool added without wording here fails.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping

from mixer_core.data.prompts.wording import (
    hertz,
    join_plain,
    magnitude,
    millis,
    number,
    share,
    with_details,
)


def _say_volume(args: Mapping[str, float], rng: random.Random) -> str:
    db = args.get("db", 0.0)
    if db == 0.0:
        return rng.choice(("keep the level where it is", "leave the volume unchanged"))
    a = magnitude("change_volume", "db", db)
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
        a = magnitude("apply_eq", gain_key, gain)
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
            freq = hertz("apply_eq", freq_key, args[freq_key], rng)
            phrase += " " + rng.choice(freq_options).format(f=freq)
        if band == "mid" and "mid_q" in args:
            phrase += f" (Q {number('apply_eq', 'mid_q', args['mid_q'])})"
        parts.append(phrase)
    if "mid_q" in args and "mid_gain" not in args and "mid_freq" not in args:
        parts.append(f"set the mid band Q to {number('apply_eq', 'mid_q', args['mid_q'])}")
    if not parts:
        return rng.choice(("run it through a flat EQ", "put a neutral EQ on it"))
    return join_plain(parts)


def _say_high_pass(args: Mapping[str, float], rng: random.Random) -> str:
    if "freq" not in args:
        return rng.choice(("add a gentle high-pass filter", "high-pass it a little"))
    f = hertz("high_pass", "freq", args["freq"], rng)
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
    f = hertz("low_pass", "freq", args["freq"], rng)
    return rng.choice(
        (
            "low-pass it at {f}",
            "roll off everything above {f}",
            "add a low-pass filter at {f}",
            "filter out the highs above {f}",
        )
    ).format(f=f)


def _dynamics_details(tool: str, args: Mapping[str, float], rng: random.Random) -> list[str]:
    details = []
    if "threshold_db" in args:
        details.append(f"a threshold of {number(tool, 'threshold_db', args['threshold_db'])} dB")
    if "ratio" in args:
        details.append(f"a {number(tool, 'ratio', args['ratio'])}:1 ratio")
    if "attack_ms" in args:
        details.append(f"{millis(tool, 'attack_ms', args['attack_ms'], rng)} attack")
    if "release_ms" in args:
        details.append(f"{millis(tool, 'release_ms', args['release_ms'], rng)} release")
    if "makeup_db" in args:
        details.append(f"{number(tool, 'makeup_db', args['makeup_db'])} dB of make-up gain")
    return details


def _say_compress(args: Mapping[str, float], rng: random.Random) -> str:
    details = _dynamics_details("compress", args, rng)
    if not details:
        return rng.choice(("add some compression", "compress it a bit"))
    base = rng.choice(("compress it", "add compression", "put a compressor on it"))
    return with_details(base, details, rng)


def _say_expand(args: Mapping[str, float], rng: random.Random) -> str:
    details = _dynamics_details("expand", args, rng)
    if not details:
        return rng.choice(("expand the dynamics a bit", "add some upward expansion"))
    base = rng.choice(
        ("expand the dynamics", "add an upward expander", "run it through an expander")
    )
    return with_details(base, details, rng)


def _say_limit(args: Mapping[str, float], rng: random.Random) -> str:
    details = []
    if "threshold_db" in args:
        t = number("limit", "threshold_db", args["threshold_db"])
        details.append(rng.choice((f"the ceiling at {t} dB", f"a {t} dB ceiling")))
    if "release_ms" in args:
        details.append(f"{millis('limit', 'release_ms', args['release_ms'], rng)} release")
    if not details:
        return rng.choice(("put a limiter on it", "limit the peaks a little"))
    return with_details(
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
        f"{rng.choice(names[key])} {share('apply_reverb', key, args[key], rng)}"
        for key in names
        if key in args
    ]
    if not details:
        return rng.choice(("add some reverb", "add a bit of room", "put some reverb on it"))
    return with_details(
        rng.choice(("add reverb", "put it in a reverb", "add some room")), details, rng
    )


def _say_delay(args: Mapping[str, float], rng: random.Random) -> str:
    details = []
    if "time_ms" in args:
        t = millis("delay", "time_ms", args["time_ms"], rng)
        details.append(rng.choice((f"{t} between echoes", f"a delay time of {t}")))
    if "feedback" in args:
        details.append(f"feedback of {share('delay', 'feedback', args['feedback'], rng)}")
    if "mix" in args:
        details.append(f"a mix of {share('delay', 'mix', args['mix'], rng)}")
    if not details:
        return rng.choice(("add some delay", "add a bit of echo"))
    return with_details(
        rng.choice(("add an echo", "add a delay", "put a delay on it")), details, rng
    )


def _say_pan(args: Mapping[str, float], rng: random.Random) -> str:
    position = args.get("position", 0.0)
    if position == 0.0:
        return rng.choice(("centre the balance", "keep it centred"))
    side = "right" if position > 0 else "left"
    a = share("pan", "position", abs(position), rng)
    return rng.choice(
        ("pan it {a} to the {s}", "shift the balance {s} by {a}", "move it toward the {s} by {a}")
    ).format(a=a, s=side)


def _say_width(args: Mapping[str, float], rng: random.Random) -> str:
    width = args.get("width", 1.0)
    w = number("stereo_width", "width", width)
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


INSTRUCT: dict[str, Callable[[Mapping[str, float], random.Random], str]] = {
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
