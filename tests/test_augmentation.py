"""The recipe sampler: deterministic, honours the config, and its targets are canonical programs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mixer_core.config import AugmentationConfig, load_config
from mixer_core.data.augmentation import (
    STATED_CORRECTIONS,
    Recipe,
    fix_target,
    inverse_chain,
    recipe_seed,
    sample_recipes,
)
from mixer_core.data.prompts import GENERIC_FIX_PROMPTS
from mixer_core.language import grammar
from mixer_core.language.grammar import ToolCall
from mixer_core.language.prefix import CanonicalPrefix
from mixer_core.language.registry import REGISTRY, TOOLS
from mixer_core.tools.mixing_tools import MixingTools

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def shipped() -> AugmentationConfig:
    return load_config().augmentation


def _config(**changes: object) -> AugmentationConfig:
    base = load_config().augmentation.model_dump()
    base.update(changes)
    return AugmentationConfig.model_validate(base)


def test_same_inputs_give_identical_recipes(shipped: AugmentationConfig) -> None:
    first = sample_recipes("artist/song/0003", shipped)
    assert first == sample_recipes("artist/song/0003", shipped)
    assert len(first) == shipped.recipes_per_segment
    assert [r.recipe_id for r in first] == [f"artist/song/0003#{k}" for k in range(len(first))]
    more = shipped.recipes_per_segment + 3
    assert len(sample_recipes("artist/song/0003", shipped, count=more)) == more
    assert sample_recipes("artist/song/0003", shipped, count=more)[: len(first)] == first


def test_other_segments_and_seeds_give_other_recipes(shipped: AugmentationConfig) -> None:
    base = sample_recipes("a/s/0", shipped, count=8)
    other_segment = sample_recipes("a/s/1", shipped, count=8)
    other_seed = sample_recipes("a/s/0", _config(seed=1), count=8)
    assert [r.chain for r in base] != [r.chain for r in other_segment]
    assert [r.chain for r in base] != [r.chain for r in other_seed]
    assert len({r.seed for r in base + other_segment + other_seed}) == 24


def test_recipes_do_not_depend_on_python_hash_salt(shipped: AugmentationConfig) -> None:
    code = (
        "import json; from mixer_core.config import load_config; "
        "from mixer_core.data.augmentation import sample_recipes; "
        "print(json.dumps([r.to_row() for r in "
        "sample_recipes('x/y/7', load_config().augmentation, count=6)]))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) == [r.to_row() for r in sample_recipes("x/y/7", shipped, 6)]


def test_recipe_seed_is_a_parquet_int64() -> None:
    seeds = [recipe_seed(s, f"seg{i}", k) for s in (0, 1) for i in range(50) for k in range(4)]
    assert all(0 <= s < 2**63 for s in seeds)
    assert len(set(seeds)) == len(seeds)


def test_fix_ratio_is_honoured(shipped: AugmentationConfig) -> None:
    recipes = [r for i in range(600) for r in sample_recipes(f"seg{i}", shipped)]
    share = sum(r.mode == "fix" for r in recipes) / len(recipes)
    assert abs(share - shipped.fix_ratio) < 0.03
    for ratio, mode in ((1.0, "fix"), (0.0, "instruct")):
        cfg = _config(fix_ratio=ratio)
        assert {r.mode for i in range(50) for r in sample_recipes(f"seg{i}", cfg)} == {mode}


def test_named_problem_ratio_chooses_the_fix_prompt_kind() -> None:
    def generic_share(ratio: float) -> float:
        cfg = _config(fix_ratio=1.0, named_problem_ratio=ratio)
        recipes = [r for i in range(150) for r in sample_recipes(f"seg{i}", cfg)]
        return sum(r.prompt in GENERIC_FIX_PROMPTS for r in recipes) / len(recipes)

    assert generic_share(0.0) == 1.0
    # Distortions too small to name fall back to a generic request.
    assert generic_share(1.0) < 0.2
    assert 0.4 < generic_share(0.5) < 0.7


def test_fix_chains_use_only_invertible_tools_and_targets_are_the_normal_form() -> None:
    everything = {t.name: {"probability": 0.5} for t in TOOLS}
    cfg = _config(
        fix_ratio=1.0,
        tools=everything,
        chain_length={"min": 3, "max": 3},
        identity_ratio=0.0,
        subtle_ratio=0.0,
    )
    for i in range(100):
        for recipe in sample_recipes(f"seg{i}", cfg):
            chain = recipe.chain_calls()
            assert len(chain) == 3
            assert all(call.tool.inverse is not None for call in chain)
            assert recipe.target == grammar.format(fix_target(chain))


def test_clean_and_subtle_inputs_come_at_their_configured_rates() -> None:
    cfg = _config(
        fix_ratio=1.0,
        identity_ratio=0.2,
        subtle_ratio=0.3,
        subtle_scale=0.1,
        chain_length={"min": 1, "max": 1},
        tools={"change_volume": {"probability": 1.0, "params": {"db": [-12.0, -6.0]}}},
    )
    recipes = [r for i in range(300) for r in sample_recipes(f"seg{i}", cfg)]
    gains = [c.args.get("db", 0.0) for r in recipes for c in r.chain_calls()]
    clean = sum(not r.chain_calls() for r in recipes) / len(recipes)
    subtle = sum(-1.2 <= g <= -0.6 for g in gains) / len(recipes)
    assert 0.15 < clean < 0.25 and 0.25 < subtle < 0.35
    assert all(-12.0 <= g <= -6.0 or -1.2 <= g <= -0.6 for g in gains)
    empty = next(r for r in recipes if not r.chain_calls())
    assert (
        empty.target == "apply_eq(low_gain=0.0, mid_gain=0.0, high_gain=0.0) change_volume(db=0.0)"
    )


def test_a_linear_fix_always_ends_with_the_stated_eq_and_level() -> None:
    chain = [
        ToolCall("change_volume", {"db": 3.0}),
        ToolCall("pan", {"position": 0.25}),
        ToolCall("high_pass", {"freq": 150.0}),
    ]
    assert grammar.format(fix_target(chain)) == (
        "apply_eq(low_gain=12.0, low_freq=150.0) pan(position=-0.25) "
        "apply_eq(low_gain=0.0, mid_gain=0.0, high_gain=0.0) change_volume(db=-3.0)"
    )
    eq_only = [ToolCall("apply_eq", {"mid_gain": 4.5, "mid_freq": 800.0})]
    assert grammar.format(fix_target(eq_only)) == (
        "apply_eq(low_gain=0.0, mid_gain=-4.5, high_gain=0.0, mid_freq=800.0) change_volume(db=0.0)"
    )
    assert [call.name for call in fix_target([])] == [name for name, _ in STATED_CORRECTIONS]
    twice = [ToolCall("change_volume", {"db": 3.0}), ToolCall("change_volume", {"db": -1.0})]
    with pytest.raises(ValueError, match="change_volume occurs more than once"):
        fix_target(twice)


def test_a_fix_with_dynamics_keeps_the_reversed_inverses_and_ends_with_the_level() -> None:
    chain = [ToolCall("change_volume", {"db": 2.0}), ToolCall("compress", {"threshold_db": -25.0})]
    assert fix_target(chain) == inverse_chain(chain)
    louder_first = list(reversed(chain))
    assert fix_target(louder_first) == [
        *inverse_chain(louder_first),
        ToolCall("change_volume", {"db": 0.0}),
    ]
    assert grammar.format(fix_target(louder_first)).endswith("change_volume(db=0.0)")


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_the_normal_form_sounds_like_the_reversed_inverses(seed: int) -> None:
    """Gain and EQ commute with every linear tool, so moving them changes nothing."""
    linear = {t.name: {"probability": 0.5} for t in TOOLS if t.linear and t.inverse}
    cfg = _config(fix_ratio=1.0, tools=linear, chain_length={"min": 1, "max": 3}, seed=seed)
    rng = np.random.default_rng(seed)
    audio = (0.1 * rng.standard_normal((2, 8000))).astype(np.float32)
    tools = MixingTools()
    for recipe in sample_recipes("seg", cfg, count=3):
        chain = recipe.chain_calls()
        distorted = tools.apply(audio, 8000, chain)
        normal = tools.apply(distorted, 8000, recipe.target_calls())
        plain = tools.apply(distorted, 8000, inverse_chain(chain))
        assert np.max(np.abs(normal - plain)) < 1e-4 * max(1.0, float(np.max(np.abs(plain))))


def test_inverse_chain_is_the_reversed_inverses() -> None:
    chain = [
        ToolCall("change_volume", {"db": 3.0}),
        ToolCall("apply_eq", {"low_gain": 2.0, "mid_freq": 800.0}),
        ToolCall("pan", {"position": 0.25}),
    ]
    assert grammar.format(inverse_chain(chain)) == (
        "pan(position=-0.25) apply_eq(low_gain=-2.0, mid_freq=800.0) change_volume(db=-3.0)"
    )
    with pytest.raises(ValueError, match=r"apply_reverb.*no inverse"):
        inverse_chain([ToolCall("apply_reverb")])


def test_empty_chains_are_leave_it_alone_examples() -> None:
    cfg = _config(chain_length={"min": 0, "max": 1})
    recipes = [r for i in range(20) for r in sample_recipes(f"seg{i}", cfg)]
    empty = [r for r in recipes if not r.chain]
    assert 0.3 < len(empty) / len(recipes) < 0.7
    assert {r.mode for r in empty} == {"fix", "instruct"}
    for recipe in empty:
        assert recipe.families == () and recipe.chain_calls() == []
        if recipe.mode == "instruct":
            assert recipe.target == ""
        else:  # nothing to undo: the stated corrections, all zero
            assert recipe.target == (
                "apply_eq(low_gain=0.0, mid_gain=0.0, high_gain=0.0) change_volume(db=0.0)"
            )


def test_fix_needs_an_invertible_tool() -> None:
    only_reverb = {"apply_reverb": {"probability": 1.0}}
    with pytest.raises(ValueError, match=r"augmentation\.tools.*fix_ratio"):
        sample_recipes("seg", _config(tools=only_reverb))
    recipes = sample_recipes("seg", _config(tools=only_reverb, fix_ratio=0.0), count=5)
    assert {r.families for r in recipes} == {("space",)}


def test_unconfigured_parameters_keep_their_default(shipped: AugmentationConfig) -> None:
    for i in range(100):
        for recipe in sample_recipes(f"seg{i}", shipped):
            for call in recipe.chain_calls():
                assert set(call.args) <= set(shipped.tools[call.name].params)


def test_rows_round_trip_through_parquet(tmp_path: Path, shipped: AugmentationConfig) -> None:
    recipes = [r for i in range(30) for r in sample_recipes(f"a/s/{i}", shipped)]
    recipes += sample_recipes("short", _config(chain_length={"min": 0, "max": 1}), 8)
    assert any(not r.chain for r in recipes)
    frame = pd.DataFrame([r.to_row() for r in recipes]).assign(split="train")
    frame.to_parquet(tmp_path / "manifest.parquet")
    loaded = pd.read_parquet(tmp_path / "manifest.parquet")
    assert loaded["families"].map(type).eq(str).all()
    assert [Recipe.from_row(row) for row in loaded.to_dict("records")] == recipes


def test_bad_rows_are_named_errors() -> None:
    row = sample_recipes("a/s/0", load_config().augmentation)[0].to_row()
    with pytest.raises(ValueError, match=r"a/s/0#0.*missing column.*target"):
        Recipe.from_row({k: v for k, v in row.items() if k != "target"})
    with pytest.raises(ValueError, match=r"a/s/0#0.*mode 'blend'"):
        Recipe.from_row({**row, "mode": "blend"})
    with pytest.raises(ValueError, match=r"a/s/0#0.*comma-separated"):
        Recipe.from_row({**row, "families": ["gain"]})


@st.composite
def augmentation_configs(draw: st.DrawFn) -> AugmentationConfig:
    names = draw(st.lists(st.sampled_from(list(REGISTRY)), min_size=1, unique=True))
    names.append(draw(st.sampled_from([t.name for t in TOOLS if t.inverse is not None])))
    tools = {}
    for name in names:
        params = {}
        for param in REGISTRY[name].params:
            if draw(st.booleans()):
                ends = st.floats(param.low, param.high, allow_nan=False)
                low, high = sorted((draw(ends), draw(ends)))
                params[param.name] = (low, high)
        tools[name] = {"probability": draw(st.floats(0.01, 1.0)), "params": params}
    low = draw(st.integers(0, 3))
    return AugmentationConfig.model_validate(
        {
            "recipes_per_segment": draw(st.integers(1, 4)),
            "seed": draw(st.integers(0, 2**31)),
            "fix_ratio": draw(st.floats(0.0, 1.0)),
            "named_problem_ratio": draw(st.floats(0.0, 1.0)),
            "chain_length": {"min": low, "max": draw(st.integers(max(low, 1), 4))},
            "tools": tools,
        }
    )


@settings(max_examples=120, deadline=None)
@given(cfg=augmentation_configs(), segment_id=st.text(min_size=1, max_size=30))
def test_any_config_gives_canonical_in_range_programs(
    cfg: AugmentationConfig, segment_id: str
) -> None:
    enabled = [n for n, spec in cfg.tools.items() if spec.probability > 0]
    for recipe in sample_recipes(segment_id, cfg):
        for text in (recipe.chain, recipe.target):
            assert grammar.format(grammar.parse(text)) == text
            assert CanonicalPrefix.check(text) == (True, True), text
        chain = recipe.chain_calls()
        assert len(chain) <= cfg.chain_length.max
        assert len({call.name for call in chain}) == len(chain)
        assert recipe.families == tuple(dict.fromkeys(call.tool.family for call in chain))
        for call in chain:
            spec = cfg.tools[call.name]
            for name, value in call.args.items():
                low, high = spec.params[name]
                param = call.tool.param(name)
                # a subtle fix moves a drawn value toward the default
                low, high = min(low, param.default), max(high, param.default)
                step = param.step
                assert low - step / 2 - 1e-9 <= value <= high + step / 2 + 1e-9
        if recipe.mode == "fix":
            assert all(call.tool.inverse is not None for call in chain)
            assert recipe.target == grammar.format(fix_target(chain))
        else:
            assert len(chain) >= min(cfg.chain_length.min, len(enabled))
            assert recipe.target == recipe.chain
