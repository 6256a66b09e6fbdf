"""Prompts: every tool has wording, instruct prompts state numbers, problems point the right way."""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mixer_core.data.prompts import (
    GENERIC_FIX_PROMPTS,
    describe_problems,
    fix_prompt,
    instruct_prompt,
)
from mixer_core.language.grammar import ToolCall
from mixer_core.language.registry import REGISTRY, TOOLS
from mixer_core.language.stated import accepts, fit_value, read_numbers, slot_value
from tests.strategies import programs

# A clearly audible setting of every tool; a tool added to the registry without an
# entry here (and wording in mixer_core/data/prompts/) fails test_every_tool_is_covered.
STRONG = {
    "change_volume": {"db": -9.0},
    "apply_eq": {
        "low_gain": 9.0,
        "mid_gain": -6.0,
        "high_gain": 4.5,
        "low_freq": 150.0,
        "mid_freq": 2500.0,
        "high_freq": 6000.0,
        "mid_q": 1.4,
    },
    "high_pass": {"freq": 250.0},
    "low_pass": {"freq": 3000.0},
    "compress": {
        "threshold_db": -25.0,
        "ratio": 6.0,
        "attack_ms": 5.0,
        "release_ms": 80.0,
        "makeup_db": 4.0,
    },
    "expand": {"threshold_db": -30.0, "ratio": 3.0, "attack_ms": 2.5, "release_ms": 150.0},
    "limit": {"threshold_db": -8.0, "release_ms": 30.0},
    "apply_reverb": {"room_size": 0.8, "damping": 0.3, "wet": 0.45, "dry": 0.6},
    "delay": {"time_ms": 320.0, "feedback": 0.4, "mix": 0.35},
    "pan": {"position": -0.6},
    "stereo_width": {"width": 1.7},
}

_NUMBER = re.compile(r"(\d+(?:\.\d+)?)(\s*kHz)?")


def assert_states_every_argument(calls: list[ToolCall], prompt: str) -> None:
    """Non-default values must be read back from the prompt exactly (``language.stated``:
    the number with its unit and sign); defaults may be left unsaid."""
    numbers = read_numbers(prompt)
    for call in calls:
        defaults = call.tool.defaults()
        for name, value in call.args.items():
            if value == defaults[name]:
                continue
            param = call.tool.param(name)
            stated = [
                fit_value(slot_value(n, param), param)[0] for n in numbers if accepts(param, n.kind)
            ]
            assert value in stated, f"{call.name}.{name}={value} is not stated in {prompt!r}"


def test_every_tool_is_covered() -> None:
    assert set(STRONG) == set(REGISTRY), "add the new tool to STRONG and to prompts.py"
    for tool in TOOLS:
        call = ToolCall(tool.name, STRONG[tool.name])
        assert set(call.args) == {p.name for p in tool.params}
        for seed in range(5):
            prompt = instruct_prompt([call], random.Random(seed))
            assert_states_every_argument([call], prompt)
            assert describe_problems([call], random.Random(seed)), tool.name
            assert fix_prompt([call], random.Random(seed), name_problem=True) not in (
                GENERIC_FIX_PROMPTS
            )
        default_prompt = instruct_prompt([ToolCall(tool.name)], random.Random(0))
        assert default_prompt and not any(ch.isdigit() for ch in default_prompt)


def test_a_tool_without_wording_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"data/prompts.*'warp'"):
        instruct_prompt([ToolCall("warp")], random.Random(0))


@settings(max_examples=150, deadline=None)
@given(calls=programs(max_size=3), seed=st.integers(0, 2**32 - 1))
def test_instruct_prompts_state_every_value(calls: list[ToolCall], seed: int) -> None:
    prompt = instruct_prompt(calls, random.Random(seed))
    assert prompt[0].isupper()
    assert_states_every_argument(calls, prompt)
    assert prompt == instruct_prompt(calls, random.Random(seed))


def test_instruct_prompt_wording_varies_and_states_order() -> None:
    calls = [ToolCall("change_volume", {"db": -3.0}), ToolCall("apply_reverb")]
    prompts = {instruct_prompt(calls, random.Random(seed)) for seed in range(40)}
    assert len(prompts) > 10
    for prompt in prompts:
        assert "then" in prompt and "3 dB" in prompt
        assert re.search(r"3 dB.*then.*(reverb|room)", prompt), prompt


def test_empty_programs_ask_for_no_change() -> None:
    assert "chang" in instruct_prompt([], random.Random(0)).lower() or "as it is" in (
        instruct_prompt([], random.Random(0))
    )
    assert fix_prompt([], random.Random(0), name_problem=True) in GENERIC_FIX_PROMPTS


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (ToolCall("change_volume", {"db": -9.0}), ("quiet", "low")),
        (ToolCall("change_volume", {"db": 9.0}), ("loud", "hot", "blasting")),
        (ToolCall("apply_eq", {"low_gain": 9.0}), ("boomy", "bass", "muddy")),
        (ToolCall("apply_eq", {"low_gain": -9.0}), ("thin", "no bass", "missing", "weight")),
        (ToolCall("apply_eq", {"mid_gain": 9.0}), ("boxy", "honky", "nasal")),
        (ToolCall("apply_eq", {"mid_gain": -9.0}), ("scooped", "hollow", "missing")),
        (ToolCall("apply_eq", {"high_gain": 9.0}), ("harsh", "bright", "piercing")),
        (ToolCall("apply_eq", {"high_gain": -9.0}), ("dull", "muffled", "no top end", "dark")),
        (ToolCall("high_pass", {"freq": 300.0}), ("thin", "bass", "low end")),
        (ToolCall("low_pass", {"freq": 2500.0}), ("muffled", "top end", "dull")),
        (ToolCall("compress", {"ratio": 8.0}), ("squashed", "compressed", "flattened")),
        (ToolCall("pan", {"position": -0.5}), ("left",)),
        (ToolCall("pan", {"position": 0.5}), ("right",)),
        (ToolCall("stereo_width", {"width": 0.5}), ("narrow",)),
        (ToolCall("stereo_width", {"width": 1.6}), ("wide",)),
        (ToolCall("apply_reverb", {"wet": 0.5}), ("reverb", "washed", "room")),
    ],
)
def test_named_problems_follow_the_distortion(call: ToolCall, words: tuple[str, ...]) -> None:
    for seed in range(8):
        prompt = fix_prompt([call], random.Random(seed), name_problem=True).lower()
        assert any(word in prompt for word in words), prompt


def test_pan_never_names_the_wrong_side() -> None:
    for seed in range(20):
        left = fix_prompt([ToolCall("pan", {"position": -0.5})], random.Random(seed), True)
        assert "right" not in left


def test_several_problems_are_combined() -> None:
    calls = [ToolCall("change_volume", {"db": -9.0}), ToolCall("apply_eq", {"high_gain": 9.0})]
    problems = describe_problems(calls, random.Random(0))
    assert len(problems) == 2
    prompt = fix_prompt(calls, random.Random(0), name_problem=True)
    assert all(problem in prompt.lower() for problem in problems)


def test_small_or_unnamed_distortions_get_a_generic_request() -> None:
    small = [ToolCall("change_volume", {"db": -0.5})]
    assert describe_problems(small, random.Random(0)) == []
    assert fix_prompt(small, random.Random(0), name_problem=True) in GENERIC_FIX_PROMPTS
    strong = [ToolCall("change_volume", {"db": -9.0})]
    for seed in range(10):
        assert fix_prompt(strong, random.Random(seed), name_problem=False) in GENERIC_FIX_PROMPTS
