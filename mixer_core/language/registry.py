"""The tool registry: every mixing tool is declared here, once.

The parser, the formatter, MixingTools, the augmentation sampler, the decoder's
tokenizer, constrained decoding, ``mixer tools --json`` and the docs all read this
table, so adding a tool is one ``Tool(...)`` entry below. The module is over 400 lines
because it is that one table: every tool's parameters and inverse stay side by side.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mixer_core.dsp import dynamics, filters, level, space

if TYPE_CHECKING:
    import torch

DspFn = Callable[..., "torch.Tensor"]
# A call as plain data, (tool name, arguments): the registry sits below the grammar that
# defines ``ToolCall``, so inverses speak in these and ``grammar.inverse_calls`` wraps them.
CallSpec = tuple[str, dict[str, float]]
InverseFn = Callable[[Mapping[str, float]], "list[CallSpec] | None"]
GainBoundFn = Callable[[Mapping[str, float]], float]


@dataclass(frozen=True)
class Param:
    """A numeric parameter with a physical unit and an inclusive range.

    ``step`` is the resolution the model writes values at; it fixes the number of
    decimals in canonical text (at least one, so ``-3`` is written ``-3.0``).
    """

    name: str
    unit: str
    low: float
    high: float
    default: float
    step: float
    description: str

    def __post_init__(self) -> None:
        if not self.low <= self.default <= self.high:
            raise ValueError(
                f"{self.name}: default {self.default} outside [{self.low}, {self.high}]"
            )

    @property
    def decimals(self) -> int:
        return max(1, -math.floor(math.log10(self.step) + 1e-9))

    def contains(self, value: float) -> bool:
        return math.isfinite(value) and self.low <= value <= self.high

    def nearest(self, value: float) -> float:
        """The canonical value nearest to ``value``: clipped to the range, then on the
        step grid (ranges start and end on it). For writers of estimated values (the
        value head, the baselines); the clip is their choice, never the language's: the
        parser rejects out-of-range values."""
        clipped = min(max(value, self.low), self.high)
        return round(round(clipped / self.step) * self.step, self.decimals) + 0.0

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "unit": self.unit,
            "min": self.low,
            "max": self.high,
            "default": self.default,
            "step": self.step,
            "description": self.description,
        }


@dataclass(frozen=True)
class Tool:
    """One mixing tool: its parameters, its DSP and, where one exists, its inverse.

    ``apply`` takes audio ``(batch, channels, samples)``, the sample rate and one
    ``(batch,)`` tensor per parameter. ``max_gain_db`` bounds, from resolved values,
    how much the tool can raise the RMS level of any input (``tools.bounds``; linear
    tools: the peak of their magnitude response). ``inverse`` maps resolved parameter values to
    the calls that undo the tool (``None`` when those values cannot be undone);
    ``inverse_exact`` says whether that undo is exact or an approximation. ``linear``
    marks a linear time-invariant tool (filters, gains, channel matrices, convolution
    reverb and echo): gain and EQ, which treat every channel alike, commute with every
    linear tool, and fix targets rely on that (``augmentation.fix_target``).
    """

    name: str
    family: str
    description: str
    params: tuple[Param, ...]
    apply: DspFn
    max_gain_db: GainBoundFn
    inverse: InverseFn | None = None
    inverse_exact: bool = False
    linear: bool = False
    mono_behaviour: str = "applies to every channel"
    _by_name: dict[str, Param] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {p.name: p for p in self.params})

    def param(self, name: str) -> Param | None:
        return self._by_name.get(name)

    def defaults(self) -> dict[str, float]:
        return {p.name: p.default for p in self.params}

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "family": self.family,
            "description": self.description,
            "params": [p.to_json() for p in self.params],
            "invertible": self.inverse is not None,
            "inverse_exact": self.inverse_exact,
            "linear": self.linear,
            "mono": self.mono_behaviour,
        }


def _call(name: str, **args: float) -> CallSpec:
    return (name, dict(args))


def _gain_param(name: str, description: str) -> Param:
    return Param(name, "dB", -24.0, 24.0, 0.0, 0.1, description)


def _invert_volume(p: Mapping[str, float]) -> list[CallSpec]:
    return [_call("change_volume", db=-p["db"])]


def _invert_eq(p: Mapping[str, float]) -> list[CallSpec]:
    return [
        _call(
            "apply_eq",
            low_gain=-p["low_gain"],
            mid_gain=-p["mid_gain"],
            high_gain=-p["high_gain"],
            low_freq=p["low_freq"],
            mid_freq=p["mid_freq"],
            high_freq=p["high_freq"],
            mid_q=p["mid_q"],
        )
    ]


# A 2nd-order Butterworth filter is 3 dB down at its cutoff and falls 12 dB/octave;
# a +12 dB shelf at the cutoff restores the band just past it. Approximate by design.
_FILTER_UNDO_DB = 12.0


def _invert_high_pass(p: Mapping[str, float]) -> list[CallSpec]:
    return [_call("apply_eq", low_gain=_FILTER_UNDO_DB, low_freq=p["freq"])]


def _invert_low_pass(p: Mapping[str, float]) -> list[CallSpec]:
    return [_call("apply_eq", high_gain=_FILTER_UNDO_DB, high_freq=p["freq"])]


def _invert_compress(p: Mapping[str, float]) -> list[CallSpec]:
    calls = []
    if p["makeup_db"] != 0.0:
        calls.append(_call("change_volume", db=-p["makeup_db"]))
    calls.append(
        _call(
            "expand",
            threshold_db=p["threshold_db"],
            ratio=p["ratio"],
            attack_ms=p["attack_ms"],
            release_ms=p["release_ms"],
        )
    )
    return calls


def _invert_expand(p: Mapping[str, float]) -> list[CallSpec]:
    return [
        _call(
            "compress",
            threshold_db=p["threshold_db"],
            ratio=p["ratio"],
            attack_ms=p["attack_ms"],
            release_ms=p["release_ms"],
        )
    ]


def _invert_pan(p: Mapping[str, float]) -> list[CallSpec]:
    return [_call("pan", position=-p["position"])]


def _invert_width(p: Mapping[str, float]) -> list[CallSpec] | None:
    if p["width"] == 0.0:
        return None
    inverse = round(1.0 / p["width"], 2)
    if not STEREO_WIDTH_RANGE[0] <= inverse <= STEREO_WIDTH_RANGE[1]:
        return None
    return [_call("stereo_width", width=inverse)]


# Largest magnitude of the reverb's unit-energy room response over every room size,
# damping and rate (measured: 5.8 at most); a sinusoid on that frequency gains this much.
REVERB_PEAK_GAIN = 6.0


def _amplitude_db(amplitude: float) -> float:
    return 20.0 * math.log10(max(amplitude, 1e-12))


def _no_gain(p: Mapping[str, float]) -> float:
    return 0.0


def _eq_gain_bound(p: Mapping[str, float]) -> float:
    # the shelves (slope 1) and the peak never overshoot their gain; magnitudes multiply
    return sum(max(0.0, p[band]) for band in ("low_gain", "mid_gain", "high_gain"))


STEREO_WIDTH_RANGE = (0.0, 2.0)

_DYNAMICS_TIMING = (
    Param("attack_ms", "ms", 0.1, 200.0, 10.0, 0.1, "time to reach the target gain"),
    Param("release_ms", "ms", 5.0, 2000.0, 100.0, 1.0, "time to return to unity gain"),
)

TOOLS: tuple[Tool, ...] = (
    Tool(
        name="change_volume",
        family="gain",
        description="Broadband gain.",
        params=(Param("db", "dB", -24.0, 24.0, 0.0, 0.1, "gain in decibels"),),
        apply=level.change_volume,
        inverse=_invert_volume,
        inverse_exact=True,
        linear=True,
        max_gain_db=lambda p: p["db"],
    ),
    Tool(
        name="apply_eq",
        family="eq",
        description=(
            "3-band EQ: RBJ low shelf, peaking mid band and high shelf "
            "(shelf slope 1; exact inverse at negated gains)."
        ),
        params=(
            _gain_param("low_gain", "low-shelf gain"),
            _gain_param("mid_gain", "mid peaking-band gain"),
            _gain_param("high_gain", "high-shelf gain"),
            Param("low_freq", "Hz", 20.0, 1000.0, 200.0, 1.0, "low-shelf corner frequency"),
            Param("mid_freq", "Hz", 100.0, 10000.0, 1000.0, 1.0, "mid band centre frequency"),
            Param("high_freq", "Hz", 1000.0, 20000.0, 5000.0, 1.0, "high-shelf corner frequency"),
            Param("mid_q", "Q", 0.1, 10.0, 0.71, 0.01, "mid band quality factor"),
        ),
        apply=filters.apply_eq,
        inverse=_invert_eq,
        inverse_exact=True,
        linear=True,
        max_gain_db=_eq_gain_bound,
    ),
    Tool(
        name="high_pass",
        family="filter",
        description="2nd-order Butterworth high-pass (12 dB/octave).",
        params=(Param("freq", "Hz", 20.0, 1000.0, 80.0, 1.0, "cutoff frequency (-3 dB)"),),
        apply=filters.high_pass,
        inverse=_invert_high_pass,
        linear=True,
        max_gain_db=_no_gain,
    ),
    Tool(
        name="low_pass",
        family="filter",
        description="2nd-order Butterworth low-pass (12 dB/octave).",
        params=(Param("freq", "Hz", 1000.0, 20000.0, 8000.0, 1.0, "cutoff frequency (-3 dB)"),),
        apply=filters.low_pass,
        inverse=_invert_low_pass,
        linear=True,
        max_gain_db=_no_gain,
    ),
    Tool(
        name="compress",
        family="dynamics",
        description="Feed-forward downward compressor with a hard knee and make-up gain.",
        params=(
            Param(
                "threshold_db", "dB", -60.0, 0.0, -20.0, 0.1, "level above which gain is reduced"
            ),
            Param("ratio", "ratio", 1.0, 20.0, 4.0, 0.1, "input dB per output dB above threshold"),
            *_DYNAMICS_TIMING,
            Param("makeup_db", "dB", 0.0, 24.0, 0.0, 0.1, "gain added after compression"),
        ),
        apply=dynamics.compress,
        inverse=_invert_compress,
        max_gain_db=lambda p: p["makeup_db"],
    ),
    Tool(
        name="expand",
        family="dynamics",
        description=(
            "Upward expander above the threshold: the mirror of compress, so "
            "compress then expand with the same settings approximately cancel."
        ),
        params=(
            Param("threshold_db", "dB", -60.0, 0.0, -20.0, 0.1, "level above which gain rises"),
            Param("ratio", "ratio", 1.0, 20.0, 2.0, 0.1, "output dB per input dB above threshold"),
            *_DYNAMICS_TIMING,
        ),
        apply=dynamics.expand,
        inverse=_invert_expand,
        max_gain_db=lambda p: dynamics.MAX_EXPANSION_DB if p["ratio"] > 1.0 else 0.0,
    ),
    Tool(
        name="limit",
        family="dynamics",
        description="Peak limiter: fast attack, no make-up gain.",
        params=(
            Param("threshold_db", "dB", -24.0, 0.0, -1.0, 0.1, "peak ceiling"),
            Param("release_ms", "ms", 1.0, 1000.0, 50.0, 1.0, "time to return to unity gain"),
        ),
        apply=dynamics.limit,
        max_gain_db=_no_gain,
    ),
    Tool(
        name="apply_reverb",
        family="space",
        description=(
            "Algorithmic room reverb (exponentially decaying, damped noise tail with unit "
            "energy, so the defaults keep loudness within about 1 dB); not invertible, so "
            "it appears in instruct examples only."
        ),
        params=(
            Param("room_size", "", 0.0, 1.0, 0.5, 0.01, "0 small room .. 1 hall (decay 0.2-4 s)"),
            Param("damping", "", 0.0, 1.0, 0.5, 0.01, "high-frequency absorption"),
            Param("wet", "", 0.0, 1.0, 0.3, 0.01, "reverberated signal level"),
            Param("dry", "", 0.0, 1.0, 0.9, 0.01, "direct signal level"),
        ),
        apply=space.apply_reverb,
        linear=True,
        max_gain_db=lambda p: _amplitude_db(p["dry"] + p["wet"] * REVERB_PEAK_GAIN),
    ),
    Tool(
        name="delay",
        family="space",
        description="Feedback echo; not invertible.",
        params=(
            Param("time_ms", "ms", 1.0, 2000.0, 250.0, 1.0, "time between echoes"),
            Param("feedback", "", 0.0, 0.9, 0.3, 0.01, "level of each echo relative to the last"),
            Param("mix", "", 0.0, 1.0, 0.3, 0.01, "echo level added to the signal"),
        ),
        apply=space.delay,
        linear=True,
        max_gain_db=lambda p: _amplitude_db(1.0 + p["mix"] / (1.0 - p["feedback"])),
    ),
    Tool(
        name="pan",
        family="stereo",
        description=(
            "dB-symmetric balance: position p lowers the left channel by 6p dB and "
            "raises the right by 6p dB, so pan(p) then pan(-p) is the identity."
        ),
        params=(Param("position", "", -1.0, 1.0, 0.0, 0.01, "-1 left .. +1 right"),),
        apply=level.pan,
        inverse=_invert_pan,
        inverse_exact=True,
        mono_behaviour="no-op (a single channel has no balance)",
        linear=True,
        max_gain_db=lambda p: level.PAN_DB_PER_UNIT * abs(p["position"]),
    ),
    Tool(
        name="stereo_width",
        family="stereo",
        description="Mid/side width: the side signal is scaled by width (1 leaves audio as is).",
        params=(
            Param(
                "width",
                "",
                STEREO_WIDTH_RANGE[0],
                STEREO_WIDTH_RANGE[1],
                1.0,
                0.01,
                "0 mono .. 1 unchanged .. 2 twice as wide",
            ),
        ),
        apply=level.stereo_width,
        inverse=_invert_width,
        inverse_exact=True,
        mono_behaviour="no-op (a single channel has no side signal)",
        linear=True,
        max_gain_db=lambda p: _amplitude_db(max(1.0, p["width"])),
    ),
)

REGISTRY: dict[str, Tool] = {tool.name: tool for tool in TOOLS}
FAMILIES: tuple[str, ...] = tuple(dict.fromkeys(tool.family for tool in TOOLS))


def get_tool(name: str) -> Tool | None:
    return REGISTRY.get(name)


def registry_json() -> list[dict[str, object]]:
    """The registry as plain data, for ``mixer tools --json`` and the docs."""
    return [tool.to_json() for tool in TOOLS]


def registry_markdown() -> str:
    """The tool reference in docs/tools.md, generated so it never drifts from the code."""
    lines = [
        "# Mixing tools",
        "",
        "Generated from `mixer_core/language/registry.py` by `mixer tools --markdown`; "
        "do not edit.",
        "",
    ]
    for tool in TOOLS:
        inverse = "none"
        if tool.inverse is not None:
            inverse = "exact" if tool.inverse_exact else "approximate"
        lines += [
            f"## `{tool.name}`",
            "",
            f"{tool.description} Family: {tool.family}. Inverse: {inverse}. "
            f"{'Linear' if tool.linear else 'Non-linear'}. Mono audio: {tool.mono_behaviour}.",
            "",
            "| parameter | unit | min | max | default | step | meaning |",
            "|---|---|---|---|---|---|---|",
        ]
        lines += [
            f"| `{p.name}` | {p.unit or '-'} | {p.low:g} | {p.high:g} | {p.default:g} "
            f"| {p.step:g} | {p.description} |"
            for p in tool.params
        ]
        lines.append("")
    return "\n".join(lines)
