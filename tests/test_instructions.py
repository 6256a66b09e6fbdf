"""The instruction language: exact round trips, positioned errors, canonical prefixes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mixer_core.language.grammar import (
    InstructionError,
    ToolCall,
    format,
    format_value,
    parse,
)
from mixer_core.language.prefix import CanonicalPrefix
from mixer_core.language.registry import REGISTRY, TOOLS
from tests.strategies import programs

SEED = "change_volume(db=-3.0) apply_eq(low_gain=2.0, mid_gain=-1.0, high_gain=1.5) apply_reverb()"


def test_seed_example_round_trips_exactly() -> None:
    calls = parse(SEED)
    assert calls == [
        ToolCall("change_volume", {"db": -3.0}),
        ToolCall("apply_eq", {"low_gain": 2.0, "mid_gain": -1.0, "high_gain": 1.5}),
        ToolCall("apply_reverb", {}),
    ]
    assert format(calls) == SEED


def test_omitted_arguments_take_registry_defaults() -> None:
    (reverb,) = parse("apply_reverb()")
    assert reverb.resolved() == REGISTRY["apply_reverb"].defaults()


def test_loose_spacing_and_argument_order_are_accepted_and_canonicalised() -> None:
    text = "  apply_eq( high_gain = 1.5 ,low_gain=2 )\n\tchange_volume(db=-3)  "
    assert format(parse(text)) == "apply_eq(low_gain=2.0, high_gain=1.5) change_volume(db=-3.0)"


def test_empty_program() -> None:
    assert parse("") == [] and parse("   ") == [] and format([]) == ""


@given(programs(on_grid=True))
def test_canonical_text_round_trips(calls: list[ToolCall]) -> None:
    text = format(calls)
    assert parse(text) == calls
    assert format(parse(text)) == text


@given(programs(on_grid=False))
def test_any_in_range_value_survives_format_and_parse_exactly(calls: list[ToolCall]) -> None:
    assert parse(format(calls)) == [
        ToolCall(c.name, {k: v + 0.0 for k, v in c.args.items()}) for c in calls
    ]


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ("foo(db=1.0)", 0, "unknown tool 'foo'"),
        ("change_volume(gain=1.0)", 14, "unknown parameter 'gain'"),
        ("apply_eq(low_gain=1.0, low_gain=2.0)", 23, "repeated parameter 'low_gain'"),
        ("change_volume(db=)", 17, "missing value"),
        ("change_volume(db=1.2.3)", 17, "bad number '1.2.3'"),
        ("change_volume(db=--3)", 17, "bad number"),
        ("change_volume(db=-30.0)", 17, "out of range [-24.0, 24.0] dB"),
        ("change_volume(db=1.0", 20, "unbalanced parenthesis"),
        ("change_volume(db=1.0))", 21, "unbalanced parenthesis"),
        ("change_volume db=1.0)", 14, "expected '('"),
        ("change_volume(db 1.0)", 17, "expected '='"),
        ("change_volume(db='loud')", 17, "takes a number"),
        ("apply_eq(low_gain=1.0 mid_gain=2.0)", 22, "expected ',' or ')'"),
    ],
)
def test_errors_name_position_and_expectation(text: str, position: int, fragment: str) -> None:
    with pytest.raises(InstructionError) as info:
        parse(text)
    assert info.value.position == position
    assert fragment in str(info.value)
    assert f"at position {position}" in str(info.value)


def test_out_of_range_is_never_clamped() -> None:
    with pytest.raises(InstructionError):
        parse("apply_eq(low_gain=24.1)")
    assert parse("apply_eq(low_gain=24.0)")[0].args["low_gain"] == 24.0


@settings(max_examples=300)
@given(
    st.sampled_from([(tool.name, param) for tool in TOOLS for param in tool.params]),
    st.floats(-1e5, 1e5, allow_nan=False),
)
def test_nearest_writes_a_canonical_in_range_value(pair, value: float) -> None:
    """What estimated values are written with: always parses, and is the identity on
    the grid (so a writer's estimate of an exact value is that value)."""
    tool, param = pair
    nearest = param.nearest(value)
    text = f"{tool}({param.name}={format_value(nearest, param)})"
    assert parse(text)[0].args[param.name] == nearest
    assert CanonicalPrefix.check(text) == (True, True)
    assert param.nearest(nearest) == nearest
    assert abs(nearest - min(max(value, param.low), param.high)) <= param.step / 2 + 1e-9


@settings(max_examples=60)
@given(programs(on_grid=True))
def test_every_prefix_of_a_canonical_program_is_viable(calls: list[ToolCall]) -> None:
    text = format(calls)
    for end in range(len(text) + 1):
        viable, complete = CanonicalPrefix.check(text[:end])
        assert viable, text[:end]
        if complete:
            parse(text[:end])
    assert CanonicalPrefix.check(text) == (True, True)


@pytest.mark.parametrize(
    "text",
    [
        "change_volume(db=35",  # no value in range starts with 35
        "change_volume(db=3.00",  # more decimals than the step allows
        "change_volume(db=-0.0)",  # not canonical
        "apply_eq(mid_gain=1.0, low_gain",  # arguments out of registry order
        "change_volume(db=1.0)  apply_reverb()",  # two spaces
        "chang_volume(",
        "apply_reverb(wet=0.5, wet",
        "apply_eq(low_gain=1.0,mid_gain",
        "change_volume(db=3.0, ",  # db is its only parameter: nothing may follow
        "apply_eq(mid_q=0.71, ",  # mid_q is the last parameter
    ],
)
def test_non_canonical_or_out_of_range_prefixes_are_rejected(text: str) -> None:
    assert CanonicalPrefix.check(text) == (False, False)


@given(st.text(alphabet="abcdeglmnoprstuv_()=,.-0123456789 ", max_size=40))
def test_a_complete_prefix_always_parses(text: str) -> None:
    viable, complete = CanonicalPrefix.check(text)
    if viable and complete:
        parse(text)
    parse(CanonicalPrefix.longest_complete(text))


def test_longest_complete_cuts_back_to_the_last_whole_call() -> None:
    assert CanonicalPrefix.longest_complete("change_volume(db=-3.0) apply_eq(low_ga") == (
        "change_volume(db=-3.0)"
    )
    assert CanonicalPrefix.longest_complete("apply_eq(low_ga") == ""
