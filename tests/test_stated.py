"""Stated numbers: units and signs as people write them, ranges, long prompts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mixer_core.language.registry import REGISTRY
from mixer_core.language.stated import (
    accepts,
    fit_to_window,
    fit_value,
    normalise_prompt,
    read_numbers,
    slot_value,
)

# (prompt, tool, parameter, the value it states)
PHRASINGS = [
    ("Please turn it up by 4.4 dB.", "change_volume", "db", 4.4),
    ("Can you make it 0.4 dB louder?", "change_volume", "db", 0.4),
    ("Make it 3 dB quieter.", "change_volume", "db", -3.0),
    ("turn it down by 6dB", "change_volume", "db", -6.0),
    ("lower the volume by 2.5 decibels", "change_volume", "db", -2.5),
    ("Set the level to -3 dB.", "change_volume", "db", -3.0),
    ("change the gain by −7.5 dB", "change_volume", "db", -7.5),
    ("reduce the gain by 1 dB", "change_volume", "db", -1.0),
    ("boost the level by +2 dB", "change_volume", "db", 2.0),
    ("cut the highs by 4 dB", "apply_eq", "high_gain", -4.0),
    ("take 3 dB off the lows", "apply_eq", "low_gain", -3.0),
    ("pull the mids down by 2 dB", "apply_eq", "mid_gain", -2.0),
    ("lift the bass by 5 dB", "apply_eq", "low_gain", 5.0),
    ("Can you roll off everything above 8946 Hz?", "low_pass", "freq", 8946.0),
    ("low-pass it at 8.9 kHz", "low_pass", "freq", 8900.0),
    ("roll off above 12k", "low_pass", "freq", 12000.0),
    ("high-pass it at 350 Hz", "high_pass", "freq", 350.0),
    ("cut the rumble below 1,000 Hz", "high_pass", "freq", 1000.0),
    ("compress it with 20 ms attack", "compress", "attack_ms", 20.0),
    ("compress it with a release of 0.3 s", "compress", "release_ms", 300.0),
    ("a release of 1.5 seconds", "compress", "release_ms", 1500.0),
    ("use 250 milliseconds between echoes", "delay", "time_ms", 250.0),
    ("compress it with a 2:1 ratio", "compress", "ratio", 2.0),
    ("a ratio of 4 to 1", "compress", "ratio", 4.0),
    ("a threshold of -18 dB", "compress", "threshold_db", -18.0),
    ("put the threshold at 18 dB", "compress", "threshold_db", -18.0),
    ("add reverb with a wet level of 30 %", "apply_reverb", "wet", 0.3),
    ("a mix of 25 percent", "delay", "mix", 0.25),
    ("pan it a third to the left", "pan", "position", -1 / 3),
    ("pan it half to the right", "pan", "position", 0.5),
    ("shift the balance left by 0.3", "pan", "position", -0.3),
    ("move it toward the right by 40%", "pan", "position", 0.4),
    ("widen the stereo image to a width of 1.4", "stereo_width", "width", 1.4),
]


@pytest.mark.parametrize(("prompt", "tool", "param", "value"), PHRASINGS)
def test_the_stated_number_is_read_with_its_unit_and_sign(
    prompt: str, tool: str, param: str, value: float
) -> None:
    spec = REGISTRY[tool].param(param)
    assert spec is not None
    candidates = [n for n in read_numbers(prompt) if accepts(spec, n.kind)]
    assert len(candidates) == 1, (prompt, read_numbers(prompt))
    assert slot_value(candidates[0], spec) == pytest.approx(value)


def test_each_clause_has_its_own_direction() -> None:
    numbers = read_numbers("cut the lows by 3 dB and boost the highs by 2 dB, then 1 dB up")
    assert [n.signed for n in numbers] == [-3.0, 2.0, 1.0]


def test_units_keep_numbers_apart() -> None:
    prompt = "add a high-pass filter at 80 Hz, then compress it with 10 ms attack and a 4:1 ratio"
    kinds = [(n.kind, n.value) for n in read_numbers(prompt)]
    assert kinds == [("hz", 80.0), ("ms", 10.0), ("ratio", 4.0)]
    hz = REGISTRY["high_pass"].param("freq")
    assert hz is not None and [accepts(hz, k) for k, _ in kinds] == [True, False, False]


def test_a_value_outside_the_range_is_fitted_and_said() -> None:
    db = REGISTRY["change_volume"].param("db")
    assert db is not None
    value, note = fit_value(30.0, db)
    assert value == 24.0 and note is not None and "30" in note and "[-24, 24]" in note
    assert fit_value(4.4, db) == (4.4, None)


def test_repeated_phrases_are_read_once() -> None:
    assert normalise_prompt("make it louder " * 2000) == "make it louder"
    assert normalise_prompt("Turn it up by 3 dB.  Turn it up by 3 dB.") == "Turn it up by 3 dB."
    kept = "cut the lows by 3 dB and cut the highs by 3 dB"
    assert normalise_prompt(kept) == kept


@given(st.integers(min_value=2, max_value=50))
def test_repetition_never_changes_what_a_prompt_states(times: int) -> None:
    once = "Please turn it down by 4.5 dB."
    assert normalise_prompt(" ".join([once] * times)) == once


def test_the_window_cuts_at_a_clause_boundary() -> None:
    text = "cut the lows by 3 dB, boost the highs by 2 dB"
    ends = [m.end() for m in __import__("re").finditer(r"\S+", text)]
    cut = fit_to_window(text, ends, 7)  # the 7th word is "highs": its clause is cut whole
    assert cut == "cut the lows by 3 dB"
    assert fit_to_window(text, ends, 50) == text
