"""Augmentation recipes: which distortion a clean segment gets, and what the model writes.

A recipe is data (the manifest makes augmentation reproducible), so every
random choice is made here, once, from a seed derived by sha256 from
``(augmentation.seed, segment_id, k)``; Python's salted ``hash()`` would change the
manifest between runs. Rendering audio from a recipe needs no randomness.

Programs in recipes are canonical: each call states only its arguments that differ from
the registry default (so ``change_volume(db=0.0)`` is written ``change_volume()``),
except the corrections a fix always states (below), and the text is
``grammar.format`` of the calls, so ``format(parse(t)) == t``.

The target of a "fix" recipe undoes its chain. Tools do not commute (a compressor
before a gain is not a gain before the compressor), so the inverse of
``f1 then f2 then ... fn`` is ``inv(fn) then ... then inv(f1)``: the registry inverses
of the chain's calls in reverse order. It is exact where every tool's inverse is exact
(gain, EQ, pan, width), approximate otherwise (filters, dynamics).

For a chain of linear tools the target is written in a normal form (``fix_target``):
the other tools' inverses in reverse order, then always ``apply_eq`` with its three
gains and ``change_volume`` with its level, stated even when zero. Gain and EQ commute
with every linear tool, so the program does the same; what it buys is that a fix
always has the same shape. A blind fix cannot tell a quiet song from a turned-down one
reliably, and a model that has to guess whether to write the level correction at all
drops it when it is needed most; with the normal form it always writes it, and the
value it learns for "nothing to correct" is 0 dB.

A chain with a non-linear tool (dynamics) keeps the reversed inverses, because there
the place of a gain matters, but it too always ends with a stated level correction: an
appended ``change_volume(db=0.0)`` where the inverses do not already end with one. An
exact inverse leaves nothing to correct; an imprecise expander (too low a threshold
boosts the whole song) leaves a level error that the model measures on its own partial
program and can take out, as it does after an EQ.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from mixer_core.config import AugmentationConfig, ToolAugmentation
from mixer_core.data.prompts import fix_prompt, instruct_prompt
from mixer_core.language import grammar
from mixer_core.language.grammar import ToolCall
from mixer_core.language.registry import REGISTRY, TOOLS, Param, Tool

Mode = Literal["fix", "instruct"]
MODES: tuple[Mode, ...] = ("fix", "instruct")

# Redraws of one tool's values before giving up on it for this chain: a fix chain needs
# values the registry can invert (e.g. stereo_width 0.4 has no in-range inverse).
_INVERTIBLE_DRAWS = 16


@dataclass(frozen=True)
class Recipe:
    """One training example, before audio: the chain to apply and the program to learn.

    ``families`` holds the distinct registry families of the chain's tools, in chain
    order; in a parquet row (``to_row``) it is one comma-separated string, ``""`` for
    an empty chain, so the manifest needs no list-typed column.
    """

    recipe_id: str
    segment_id: str
    seed: int
    mode: Mode
    chain: str
    target: str
    prompt: str
    families: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"recipe {self.recipe_id}: mode {self.mode!r} is not one of {MODES}")

    def chain_calls(self) -> list[ToolCall]:
        return grammar.parse(self.chain)

    def target_calls(self) -> list[ToolCall]:
        return grammar.parse(self.target)

    def to_row(self) -> dict[str, Any]:
        return {
            "recipe_id": self.recipe_id,
            "segment_id": self.segment_id,
            "seed": self.seed,
            "mode": self.mode,
            "chain": self.chain,
            "target": self.target,
            "prompt": self.prompt,
            "families": ",".join(self.families),
        }

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Recipe:
        """Read a manifest row; columns beyond the recipe's (split, artist, ...) are ignored."""
        missing = [key for key in _ROW_KEYS if key not in row]
        if missing:
            raise ValueError(
                f"recipe row {row.get('recipe_id', '?')}: missing column(s) {', '.join(missing)}"
            )
        families = row["families"]
        if not isinstance(families, str):
            raise ValueError(
                f"recipe {row['recipe_id']}: families must be a comma-separated string, "
                f"got {type(families).__name__}"
            )
        return cls(
            recipe_id=str(row["recipe_id"]),
            segment_id=str(row["segment_id"]),
            seed=int(row["seed"]),
            mode=row["mode"],
            chain=str(row["chain"]),
            target=str(row["target"]),
            prompt=str(row["prompt"]),
            families=tuple(f for f in families.split(",") if f),
        )


_ROW_KEYS = ("recipe_id", "segment_id", "seed", "mode", "chain", "target", "prompt", "families")


def recipe_seed(base_seed: int, segment_id: str, k: int) -> int:
    """A 63-bit seed (fits parquet's int64) that depends only on its three inputs."""
    digest = hashlib.sha256(f"{base_seed}\x1f{segment_id}\x1f{k}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def canonical_calls(calls: Sequence[ToolCall]) -> list[ToolCall]:
    """The same calls with every argument equal to its default left out."""
    out = []
    for call in calls:
        tool = call.tool
        args = {k: v for k, v in call.args.items() if v != tool.defaults()[k]}
        out.append(ToolCall(call.name, args))
    return out


def inverse_chain(calls: Sequence[ToolCall]) -> list[ToolCall]:
    """The registry inverses of ``calls`` in reverse order (see the module docstring)."""
    undo: list[ToolCall] = []
    for call in reversed(calls):
        inverse = grammar.inverse_calls(call)
        if inverse is None:
            raise ValueError(f"{grammar.format([call])} has no inverse in the registry")
        undo.extend(inverse)
    return canonical_calls(undo)


# The corrections every linear fix states (tool, parameters written even when zero), in
# the order they close the program.
STATED_CORRECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("apply_eq", ("low_gain", "mid_gain", "high_gain")),
    ("change_volume", ("db",)),
)
_LEVEL = STATED_CORRECTIONS[-1]


def _stated(name: str, always: tuple[str, ...], values: Mapping[str, float]) -> ToolCall:
    """A stated correction: ``always`` written, the other parameters where not default."""
    params = REGISTRY[name].params
    return ToolCall(
        name,
        {p.name: values[p.name] for p in params if p.name in always or values[p.name] != p.default},
    )


def fix_target(chain: Sequence[ToolCall]) -> list[ToolCall]:
    """The program a "fix" recipe learns: the normal form of ``inverse_chain(chain)``.

    See the module docstring. A chain with a non-linear tool (dynamics) keeps the
    reversed inverses and ends with a level correction. A stated tool that occurs twice
    has no single correction to state, so it is an error (recipes never repeat a tool).
    """
    if not all(call.tool.linear for call in chain):
        target = inverse_chain(chain)
        name, always = _LEVEL
        if not target or target[-1].name != name:
            target.append(_stated(name, always, REGISTRY[name].defaults()))
        return target
    stated = dict(STATED_CORRECTIONS)
    names = [call.name for call in chain if call.name in stated]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(
            f"fix_target: {', '.join(repeated)} occurs more than once in {grammar.format(chain)!r}"
        )
    corrections = {call.name: call for call in chain if call.name in stated}
    target = inverse_chain([call for call in chain if call.name not in stated])
    for name, always in STATED_CORRECTIONS:
        values = REGISTRY[name].defaults()
        if name in corrections:
            (undo,) = inverse_chain([corrections[name]])
            values = undo.resolved()
        target.append(_stated(name, always, values))
    return target


def _draw_value(param: Param, low: float, high: float, rng: random.Random) -> float:
    """Uniform over the step-grid points inside [low, high], so the value is canonical."""
    first = math.ceil((low - param.low) / param.step - 1e-9)
    last = math.floor((high - param.low) / param.step + 1e-9)
    if first > last:  # the range lies between two grid points: take the nearer one
        first = last = round(((low + high) / 2 - param.low) / param.step)
    index = first + math.floor(rng.random() * (last - first + 1))
    value = round(param.low + index * param.step, param.decimals) + 0.0
    return min(max(value, param.low), param.high)


def _draw_call(
    tool: Tool, spec: ToolAugmentation, rng: random.Random, invertible: bool
) -> ToolCall | None:
    attempts = _INVERTIBLE_DRAWS if invertible else 1
    for _ in range(attempts):
        args = {}
        for param in tool.params:
            if param.name in spec.params:
                low, high = spec.params[param.name]
                args[param.name] = _draw_value(param, low, high, rng)
        call = canonical_calls([ToolCall(tool.name, args)])[0]
        if not invertible or grammar.inverse_calls(call) is not None:
            return call
    return None


def _pick(weights: Sequence[float], rng: random.Random) -> int:
    point = rng.random() * sum(weights)
    total = 0.0
    for index, weight in enumerate(weights):
        total += weight
        if point < total:
            return index
    return max(i for i, w in enumerate(weights) if w > 0)


def _draw_chain(
    pool: Sequence[tuple[Tool, ToolAugmentation]],
    length: int,
    rng: random.Random,
    invertible: bool,
) -> list[ToolCall]:
    """Tools drawn by probability weight, never one tool twice in a chain."""
    remaining = list(pool)
    chain: list[ToolCall] = []
    while len(chain) < length and remaining:
        tool, spec = remaining.pop(_pick([spec.probability for _, spec in remaining], rng))
        call = _draw_call(tool, spec, rng, invertible)
        if call is not None:
            chain.append(call)
    return chain


def _subtle(chain: Sequence[ToolCall], scale: float) -> list[ToolCall]:
    """The chain with every value moved to ``scale`` of its distance from the default
    (on the grid); a call left without an inverse there is dropped."""
    subtle = []
    for call in chain:
        args = {}
        for name, value in call.args.items():
            param = call.tool.param(name)
            assert param is not None
            args[name] = param.nearest(param.default + scale * (value - param.default))
        (moved,) = canonical_calls([ToolCall(call.name, args)])
        if grammar.inverse_calls(moved) is not None:
            subtle.append(moved)
    return subtle


def _tool_pools(
    cfg: AugmentationConfig,
) -> tuple[list[tuple[Tool, ToolAugmentation]], list[tuple[Tool, ToolAugmentation]]]:
    """(every enabled tool, the invertible ones), in registry order for stability."""
    enabled = [
        (tool, cfg.tools[tool.name])
        for tool in TOOLS
        if tool.name in cfg.tools and cfg.tools[tool.name].probability > 0
    ]
    return enabled, [(tool, spec) for tool, spec in enabled if tool.inverse is not None]


def sample_recipes(
    segment_id: str, cfg: AugmentationConfig, count: int | None = None
) -> list[Recipe]:
    """Recipes ``{segment_id}#0 .. #count-1``; the same inputs give the same recipes.

    A chain is as long as drawn from ``chain_length`` unless fewer enabled tools exist
    (tools never repeat). Length 0 is a "leave it alone" example: an empty chain, whose
    target is empty in instruct mode and the zero corrections in fix mode. Of the fix
    recipes, ``identity_ratio`` get an empty chain (a clean input: the model must learn
    to correct nothing) and ``subtle_ratio`` a chain scaled below audibility
    (``subtle_scale``), so blind fixes learn how little there may be to fix.
    """
    count = cfg.recipes_per_segment if count is None else count
    if count < 0:
        raise ValueError(f"sample_recipes: count must be >= 0, got {count}")
    enabled, invertible = _tool_pools(cfg)
    if cfg.fix_ratio > 0 and not invertible:
        raise ValueError(
            f"augmentation.tools: fix_ratio is {cfg.fix_ratio} but no tool with an inverse "
            "has a probability above 0, so no 'fix' chain can be drawn"
        )
    recipes = []
    for k in range(count):
        seed = recipe_seed(cfg.seed, segment_id, k)
        rng = random.Random(seed)
        mode: Mode = "fix" if rng.random() < cfg.fix_ratio else "instruct"
        span = cfg.chain_length.max - cfg.chain_length.min + 1
        length = cfg.chain_length.min + math.floor(rng.random() * span)
        if mode == "fix":
            kind = rng.random()
            chain = _draw_chain(invertible, length, rng, invertible=True)
            if kind < cfg.identity_ratio:
                chain = []
            elif kind < cfg.identity_ratio + cfg.subtle_ratio:
                chain = _subtle(chain, cfg.subtle_scale)
            target = grammar.format(fix_target(chain))
            prompt = fix_prompt(chain, rng, name_problem=rng.random() < cfg.named_problem_ratio)
        else:
            chain = _draw_chain(enabled, length, rng, invertible=False)
            target = grammar.format(chain)
            prompt = instruct_prompt(chain, rng)
        recipes.append(
            Recipe(
                recipe_id=f"{segment_id}#{k}",
                segment_id=segment_id,
                seed=seed,
                mode=mode,
                chain=grammar.format(chain),
                target=target,
                prompt=prompt,
                families=tuple(dict.fromkeys(call.tool.family for call in chain)),
            )
        )
    return recipes
