"""Baselines every evaluation reports beside the model: no-op, oracle and a tuned heuristic.

A model's recovery means little on its own: no-op fixes the scale (recovery 0), the
oracle (the recipe's exact target) the ceiling, and the heuristic the bar that a
learned model has to clear. docs/evaluation.md records why the heuristic is the
*tuned* one: gain alone is undone exactly by loudness normalisation, but blind EQ
matching toward an average spectrum over-corrects, because songs differ in band levels
by about as much as the distortion; shrinking its gains (fitted on the training corpus:
×0.2 on real music distorted by gain and EQ alone) made it the strong baseline it has
to be.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mixer_core.audio.loudness import LUFS_FLOOR, integrated_lufs
from mixer_core.data.augmentation import Recipe
from mixer_core.evaluation.metrics import SpectralReference
from mixer_core.language.grammar import ToolCall
from mixer_core.language.registry import REGISTRY
from mixer_core.tools.levels import BAND_EDGES_HZ, BAND_NAMES, band_levels_db
from mixer_core.tools.mixing_tools import MixingTools

_EQ = REGISTRY["apply_eq"]
_VOLUME = REGISTRY["change_volume"]

SHRINKAGE_GRID: tuple[float, ...] = tuple(round(0.1 * i, 1) for i in range(11))
# What real music gives (docs/evaluation.md); used when there is nothing to fit on.
DEFAULT_SHRINKAGE = 0.5
DEFAULT_MAX_FIT_EXAMPLES = 64
_FORMAT_VERSION = 1
_REQUIRED_KEYS = ("sample_rate", "target_lufs", "band_edges_hz", "band_levels_db", "shrinkage")


class NoOpBaseline:
    """Leaves the input as it is: the empty program, recovery exactly 0."""

    def predict_batch(
        self, audios: Sequence[np.ndarray], sample_rate: int, prompts: Sequence[str]
    ) -> list[list[ToolCall]]:
        return [[] for _ in audios]


class OracleBaseline:
    """The recipe's own target program: the bound that exact tool inverses allow.

    It needs the recipe, which no real predictor gets, so it answers
    ``predict_targets`` instead of ``predict_batch`` and the evaluation hands it the
    recipes explicitly.
    """

    def predict_targets(self, recipes: Sequence[Recipe]) -> list[list[ToolCall]]:
        return [recipe.target_calls() for recipe in recipes]


@dataclass(frozen=True)
class MeanTargetBaseline:
    """Always the same program: each tool's mean target values over the training recipes.

    The "predict the training mean" reference point for a learned model: it knows the
    distortion statistics but not the input. Tools are kept when they appear in at
    least half of the targets, in their most common order.
    """

    calls: tuple[ToolCall, ...]

    @classmethod
    def fit(cls, targets: Sequence[Sequence[ToolCall]]) -> MeanTargetBaseline:
        if not targets:
            raise ValueError("MeanTargetBaseline.fit: no training targets")
        values: dict[str, list[dict[str, float]]] = {}
        positions: dict[str, list[int]] = {}
        for program in targets:
            for index, call in enumerate(program):
                values.setdefault(call.name, []).append(call.resolved())
                positions.setdefault(call.name, []).append(index)
        common = [name for name, seen in values.items() if len(seen) * 2 >= len(targets)]
        common.sort(key=lambda name: float(np.mean(positions[name])))
        calls = []
        for name in common:
            tool = REGISTRY[name]
            means = {
                p.name: p.nearest(float(np.mean([v[p.name] for v in values[name]])))
                for p in tool.params
            }
            calls.append(
                ToolCall(name, {k: v for k, v in means.items() if v != tool.param(k).default})
            )
        return cls(tuple(calls))

    def predict_batch(
        self, audios: Sequence[np.ndarray], sample_rate: int, prompts: Sequence[str]
    ) -> list[list[ToolCall]]:
        return [list(self.calls) for _ in audios]


@dataclass
class HeuristicBaseline:
    """Loudness normalisation plus a shrunk 3-band EQ match, with no learning.

    ``target_lufs`` is the training references' median loudness; ``band_levels``
    their mean relative band levels (:func:`band_levels_db`). A prediction moves the
    input's band levels toward that average by ``shrinkage`` of the way, then sets the
    volume so the EQ'd audio lands on ``target_lufs``. The prompt is ignored: this is
    the blind fix a learned model has to beat.
    """

    sample_rate: int
    target_lufs: float
    band_levels: tuple[float, float, float]
    shrinkage: float = DEFAULT_SHRINKAGE
    fit_curve: dict[float, float] = field(default_factory=dict)
    tools: MixingTools = field(default_factory=MixingTools, repr=False, compare=False)

    @classmethod
    def fit(
        cls,
        references: Sequence[np.ndarray],
        sample_rate: int,
        train_examples: Sequence[tuple[np.ndarray, np.ndarray]] | None = None,
        max_fit_examples: int | None = DEFAULT_MAX_FIT_EXAMPLES,
    ) -> HeuristicBaseline:
        """Statistics from clean ``references``; shrinkage from ``(input, reference)`` pairs.

        The shrinkage is the value on :data:`SHRINKAGE_GRID` with the lowest mean
        MR-STFT distance over ``train_examples`` (pass "fix" examples: the heuristic
        ignores prompts, so "instruct" pairs only teach it to do nothing). At most
        ``max_fit_examples`` evenly spaced pairs are used, which bounds the fit's cost
        (11 grid points × pairs distances). Without pairs, :data:`DEFAULT_SHRINKAGE`.
        """
        if not references:
            raise ValueError("HeuristicBaseline.fit: no reference audio to take statistics from")
        baseline = cls.from_statistics(
            sample_rate,
            [integrated_lufs(ref, sample_rate) for ref in references],
            [band_levels_db(ref, sample_rate) for ref in references],
        )
        if train_examples:
            baseline.fit_shrinkage(evenly_spaced(train_examples, max_fit_examples))
        return baseline

    @classmethod
    def from_statistics(
        cls,
        sample_rate: int,
        loudness: Sequence[float],
        band_levels: Sequence[np.ndarray],
    ) -> HeuristicBaseline:
        """From per-reference loudness (LUFS) and :func:`band_levels_db`, measured elsewhere.

        Lets a caller stream a corpus one clip at a time instead of holding its audio.
        Silent references do not count toward the median loudness.
        """
        audible = [value for value in loudness if value > LUFS_FLOOR]
        if not audible:
            raise ValueError(
                f"HeuristicBaseline: all {len(loudness)} references are silent "
                f"(below {LUFS_FLOOR} LUFS)"
            )
        levels = np.mean(np.asarray(band_levels, dtype=np.float64), axis=0)
        return cls(
            sample_rate=sample_rate,
            target_lufs=float(np.median(audible)),
            band_levels=(float(levels[0]), float(levels[1]), float(levels[2])),
        )

    def fit_shrinkage(self, examples: Sequence[tuple[np.ndarray, np.ndarray]]) -> float:
        """Grid-search the shrinkage on ``(input, reference)`` pairs; sets and returns it."""
        if not examples:
            raise ValueError("HeuristicBaseline.fit_shrinkage: no (input, reference) pairs")
        # distances[example, grid point]: each reference is transformed once for the grid
        distances = []
        for audio, reference in examples:
            audio = np.asarray(audio, np.float32)
            correction = self._band_correction(audio)
            outputs = [self._run(audio, s * correction)[1] for s in SHRINKAGE_GRID]
            reference = SpectralReference(np.asarray(reference, np.float32))
            distances.append(reference.distances(outputs))
        by_grid = np.ascontiguousarray(np.asarray(distances, dtype=np.float64).T)
        curve = {s: float(np.mean(row)) for s, row in zip(SHRINKAGE_GRID, by_grid, strict=True)}
        self.fit_curve = curve
        self.shrinkage = min(curve, key=lambda s: (curve[s], s))
        return self.shrinkage

    def predict(self, audio: np.ndarray, sample_rate: int, prompt: str = "") -> list[ToolCall]:
        """``apply_eq(...)`` then ``change_volume(...)``; a call that does nothing is left out."""
        self._check_rate(sample_rate)
        audio = np.asarray(audio, dtype=np.float32)
        if integrated_lufs(audio, sample_rate) <= LUFS_FLOOR:
            return []
        return self._run(audio, self.shrinkage * self._band_correction(audio))[0]

    def predict_batch(
        self, audios: Sequence[np.ndarray], sample_rate: int, prompts: Sequence[str]
    ) -> list[list[ToolCall]]:
        return [
            self.predict(audio, sample_rate, prompt)
            for audio, prompt in zip(audios, prompts, strict=True)
        ]

    def _check_rate(self, sample_rate: int) -> None:
        if sample_rate != self.sample_rate:
            raise ValueError(
                f"HeuristicBaseline was fitted at {self.sample_rate} Hz but got audio at "
                f"{sample_rate} Hz; its band levels are only comparable at the same rate"
            )

    def _band_correction(self, audio: np.ndarray) -> np.ndarray:
        return np.asarray(self.band_levels) - band_levels_db(audio, self.sample_rate)

    def _run(self, audio: np.ndarray, gains_db: np.ndarray) -> tuple[list[ToolCall], np.ndarray]:
        """The program for these EQ gains, and its output (the fit scores it).

        The volume is measured after the EQ, so the output lands on ``target_lufs``
        whatever the EQ did to the level.
        """
        eq_args = {
            f"{band}_gain": _EQ.param(f"{band}_gain").nearest(float(gain))
            for band, gain in zip(BAND_NAMES, gains_db, strict=True)
        }
        eq_args = {key: value for key, value in eq_args.items() if value != 0.0}
        program = [ToolCall("apply_eq", eq_args)] if eq_args else []
        output = self.tools.apply(audio, self.sample_rate, program) if program else audio
        loudness = integrated_lufs(output, self.sample_rate)
        if loudness > LUFS_FLOOR:
            volume = _VOLUME.param("db").nearest(self.target_lufs - loudness)
            if volume != 0.0:
                program.append(ToolCall("change_volume", {"db": volume}))
                output = self.tools.apply(output, self.sample_rate, program[-1:])
        return program, output

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data; :meth:`from_dict` reads it back."""
        return {
            "kind": "heuristic",
            "version": _FORMAT_VERSION,
            "sample_rate": self.sample_rate,
            "target_lufs": self.target_lufs,
            "band_edges_hz": list(BAND_EDGES_HZ),
            "band_levels_db": dict(zip(BAND_NAMES, self.band_levels, strict=True)),
            "shrinkage": self.shrinkage,
            "fit_curve": [[s, d] for s, d in self.fit_curve.items()],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "<heuristic>") -> HeuristicBaseline:
        """Read :meth:`to_dict` output; ``source`` (e.g. a file path) names it in errors."""
        if data.get("kind") != "heuristic" or data.get("version") != _FORMAT_VERSION:
            raise ValueError(
                f"{source}: not a heuristic baseline of format version {_FORMAT_VERSION} "
                f"(kind={data.get('kind')!r}, version={data.get('version')!r})"
            )
        missing = [key for key in _REQUIRED_KEYS if key not in data]
        if missing:
            raise ValueError(f"{source}: missing key(s) {', '.join(missing)}")
        if tuple(data["band_edges_hz"]) != BAND_EDGES_HZ:
            raise ValueError(
                f"{source}: band_edges_hz {data['band_edges_hz']} differ from this version's "
                f"{list(BAND_EDGES_HZ)}; refit the baseline"
            )
        levels = data["band_levels_db"]
        absent = [band for band in BAND_NAMES if band not in levels]
        if absent:
            raise ValueError(f"{source}: band_levels_db lacks band(s) {', '.join(absent)}")
        return cls(
            sample_rate=int(data["sample_rate"]),
            target_lufs=float(data["target_lufs"]),
            band_levels=(float(levels["low"]), float(levels["mid"]), float(levels["high"])),
            shrinkage=float(data["shrinkage"]),
            fit_curve={float(s): float(d) for s, d in data.get("fit_curve", [])},
        )


def evenly_spaced(items: Sequence[Any], limit: int | None) -> list[Any]:
    """At most ``limit`` items spread evenly over ``items`` (all of them when ``limit`` is None)."""
    if limit is None or len(items) <= limit:
        return list(items)
    if limit <= 0:
        raise ValueError(f"max_fit_examples must be positive, got {limit}")
    step = len(items) / limit
    return [items[int(i * step)] for i in range(limit)]
