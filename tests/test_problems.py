"""Named problems: what the augmentation writes, read back, bounds the fix it describes."""

from __future__ import annotations

import math
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from mixer_core.data.augmentation import fix_target
from mixer_core.data.prompts import fix_prompt
from mixer_core.language.grammar import ToolCall
from mixer_core.language.problems import correction_bounds, named_problems

GAINS = ("low_gain", "mid_gain", "high_gain")


def _db(low: float = -12.0, high: float = 12.0) -> st.SearchStrategy[float]:
    return st.integers(round(low * 10), round(high * 10)).map(lambda v: v / 10)


def _assert_within(bounds: dict, corrections: dict, prompt: str) -> None:
    """Every correction the prompt bounds lies in its range."""
    for key, (low, high) in bounds.items():
        assert low - 1e-9 <= corrections[key] <= high + 1e-9, (prompt, key, corrections[key])


@st.composite
def level_chains(draw: st.DrawFn) -> list[ToolCall]:
    """A distortion of the level, the bands or both, in either order."""
    return draw(st.permutations(_level_distortions(draw, at_least_one=True)))


def _level_distortions(draw: st.DrawFn, at_least_one: bool) -> list[ToolCall]:
    """A level distortion, a band distortion, both or (unless ``at_least_one``) neither."""
    chain = []
    if draw(st.booleans()):
        chain.append(ToolCall("change_volume", {"db": draw(_db(-24.0, 12.0))}))
    if draw(st.booleans()) or (at_least_one and not chain):
        chain.append(ToolCall("apply_eq", {g: draw(_db()) for g in GAINS}))
    return chain


@settings(max_examples=300, deadline=None)
@given(level_chains(), st.integers(0, 2**32 - 1))
def test_the_words_of_a_named_problem_bound_the_fix_they_describe(chain, seed) -> None:
    prompt = fix_prompt(chain, random.Random(seed), name_problem=True)
    bounds = correction_bounds(prompt)
    target = fix_target(chain)
    corrections = {
        (call.name, name): value for call in target for name, value in call.resolved().items()
    }
    if not named_problems(prompt):
        assert bounds == {}  # a generic prompt says nothing about the fix
        return
    assert set(bounds) == {("change_volume", "db"), *(("apply_eq", g) for g in GAINS)}
    _assert_within(bounds, corrections, prompt)


@st.composite
def filter_chains(draw: st.DrawFn) -> list[ToolCall]:
    """A high-pass or low-pass anywhere in its range, with or without a level or band
    distortion, in any order."""
    tool, low, high = draw(st.sampled_from([("high_pass", 20, 1000), ("low_pass", 1000, 20000)]))
    chain = [ToolCall(tool, {"freq": float(draw(st.integers(low, high)))})]
    return draw(st.permutations([*chain, *_level_distortions(draw, at_least_one=False)]))


@settings(max_examples=300, deadline=None)
@given(filter_chains(), st.integers(0, 2**32 - 1))
def test_a_named_filter_bounds_the_band_beyond_its_corner(chain, seed) -> None:
    prompt = fix_prompt(chain, random.Random(seed), name_problem=True)
    bounds = correction_bounds(prompt)
    # the normal form's corrections: its band-gain EQ and its final level
    normal = [c for c in fix_target(chain) if c.name == "change_volume" or set(c.args) <= {*GAINS}]
    corrections = {(c.name, k): v for c in normal for k, v in c.resolved().items()}
    _assert_within(bounds, corrections, prompt)


def test_a_named_band_gets_its_grade_and_the_rest_stay_near_zero() -> None:
    bounds = correction_bounds("The bass is slightly weak, please fix that.")
    assert bounds[("apply_eq", "low_gain")] == (1.0, 3.0)
    assert bounds[("apply_eq", "mid_gain")] == bounds[("apply_eq", "high_gain")] == (-1.0, 1.0)
    assert bounds[("change_volume", "db")] == (-1.0, 1.0)
    loud = correction_bounds("It's too loud and it's harsh and too bright. Sort it out.")
    assert loud[("change_volume", "db")] == (-math.inf, -3.0)
    assert loud[("apply_eq", "high_gain")] == (-math.inf, -3.0)
    assert correction_bounds("It's barely audible.")[("change_volume", "db")] == (12.0, math.inf)


def test_other_problems_leave_what_they_muddle_unbounded() -> None:
    # a high-pass filter takes the bass: its own shelf restores it, the bands are not said
    filtered = correction_bounds("The low end is gone and it's a bit loud. Please fix that.")
    assert ("apply_eq", "low_gain") not in filtered
    assert filtered[("apply_eq", "high_gain")] == (-1.0, 1.0)  # beyond its corner
    assert filtered[("change_volume", "db")] == (-3.0, -1.0)
    muffled = correction_bounds("It's muffled, like it's behind a wall. Please fix that.")
    assert muffled[("apply_eq", "low_gain")] == (-1.0, 1.0)
    assert ("apply_eq", "high_gain") not in muffled and ("apply_eq", "mid_gain") not in muffled
    squashed = correction_bounds("It's squashed and it's too loud, please fix that.")
    assert ("change_volume", "db") not in squashed
    assert squashed[("apply_eq", "low_gain")] == (-1.0, 1.0)
    # a longer phrase is read whole, not as the shorter one inside it
    assert named_problems("it sounds thin, the bass has been cut") == [
        "it sounds thin, the bass has been cut"
    ]
    assert correction_bounds("Fix the mix.") == {} == correction_bounds("")
