"""A stated number picks between tools that differ only in range (model/rivals.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mixer_core.language.grammar import format, parse
from mixer_core.language.registry import REGISTRY
from mixer_core.language.stated import fit_value, read_numbers
from mixer_core.model.rivals import carry_out_stated, rival
from mixer_core.model.value_head import WrittenValue


def _stated(tool: str, prompt: str, number: int = 0) -> WrittenValue:
    """What the value head writes when its pointer copies ``number`` into ``tool``'s
    one parameter: the value fitted into range, with the head's note when it moved."""
    param = REGISTRY[tool].params[0]
    value, note = fit_value(read_numbers(prompt)[number].value, param)
    return WrittenValue(str(value), value, 0.0, "stated", number, note)


def test_the_number_picks_the_filter() -> None:
    [above] = read_numbers("roll off everything above 7.933 kHz")
    [below] = read_numbers("roll off everything below 150 Hz")
    assert rival("high_pass", above) == ("low_pass", 7933.0)
    assert rival("low_pass", below) == ("high_pass", 150.0)
    assert rival("low_pass", above) is None and rival("high_pass", below) is None


def test_no_rival_for_a_tool_alone_in_its_unit_or_without_one() -> None:
    [loud] = read_numbers("make it 30 dB louder")
    [share] = read_numbers("pan it 150 % to the left")
    assert rival("change_volume", loud) is None  # the only one-parameter tool in dB
    assert rival("pan", share) is None  # no physical unit: position and width differ in kind


def test_a_fitted_filter_is_rewritten_with_the_stated_value_and_a_note() -> None:
    prompt = "Can you roll off everything above 7.933 kHz, then boost the level by 10.2 dB?"
    calls = parse("high_pass(freq=1000.0) change_volume(db=10.2)")
    written = [_stated("high_pass", prompt, 0), _stated("change_volume", prompt, 1)]
    assert written[0].note is not None and written[1].note is None
    calls, written, notes = carry_out_stated(calls, written, read_numbers(prompt))
    assert format(calls) == "low_pass(freq=7933.0) change_volume(db=10.2)"
    assert [v.value for v in written] == [7933.0, 10.2] and written[0].note is None
    assert notes == [
        "'high_pass(freq=1000.0)' cannot carry out the stated 7933 Hz: "
        "wrote 'low_pass(freq=7933.0)'"
    ]


def test_estimates_and_values_that_fit_are_left_alone() -> None:
    prompt = "roll off everything above 7.933 kHz"
    calls = parse("high_pass(freq=1000.0)")
    estimated = WrittenValue("1000.0", 1000.0, 50.0, "estimated")
    assert carry_out_stated(calls, [estimated], read_numbers(prompt)) == (calls, [estimated], [])
    fits = parse("low_pass(freq=7933.0)")
    written = [_stated("low_pass", prompt)]
    assert carry_out_stated(fits, written, read_numbers(prompt)) == (fits, written, [])


@given(st.integers(min_value=20, max_value=20000), st.sampled_from(["high_pass", "low_pass"]))
def test_whichever_filter_was_written_the_stated_frequency_is_carried_out(
    hertz: int, tool: str
) -> None:
    prompt = f"filter it at {hertz} Hz"
    written = [_stated(tool, prompt)]
    calls = [parse(f"{tool}(freq={written[0].value})")[0]]
    calls, written, _ = carry_out_stated(calls, written, read_numbers(prompt))
    [call] = calls
    param = call.tool.params[0]
    assert param.contains(float(hertz)) and call.args["freq"] == param.nearest(float(hertz))
