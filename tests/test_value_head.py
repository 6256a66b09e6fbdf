"""The value head and what it stands on: unit spaces, value spans, prompt numbers."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mixer_core.language.grammar import format as format_program
from mixer_core.language.grammar import format_value, parse, value_spans
from mixer_core.language.prefix import CanonicalPrefix, open_value
from mixer_core.model.prompt_numbers import (
    FEATURES,
    number_features,
    number_spans,
    token_number_features,
)
from mixer_core.model.text_encoder import TextEncoder
from mixer_core.model.value_head import SLOTS, ValueHead, value_loss
from tests.strategies import grid_value, programs

# ---- unit spaces ----------------------------------------------------------------------


@st.composite
def slot_and_value(draw: st.DrawFn):
    slot = draw(st.sampled_from(SLOTS))
    return slot, draw(grid_value(slot.param))


@settings(max_examples=300, deadline=None)
@given(slot_and_value())
def test_unit_space_round_trips_every_grid_value(pair):
    slot, value = pair
    unit = slot.to_unit(value)
    assert -1.0 - 1e-9 <= unit <= 1.0 + 1e-9
    assert slot.from_unit(unit) == value
    assert slot.text(unit) == format_value(value, slot.param)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(SLOTS), st.floats(-50, 50) | st.just(math.nan))
def test_any_unit_gives_a_canonical_in_range_value(slot, unit):
    text = f"{slot.tool}({slot.param.name}={slot.text(unit)})"
    assert CanonicalPrefix.check(text) == (True, True)
    value = parse(text)[0].args[slot.param.name]
    assert slot.param.contains(value)
    if unit >= 1.0:
        assert value == slot.param.high
    if unit <= -1.0:
        assert value == slot.param.low
    if math.isnan(unit):
        assert value == slot.from_unit(0.0)


def test_hertz_and_milliseconds_are_logarithmic_the_rest_linear():
    by_name = {(s.tool, s.param.name): s for s in SLOTS}
    assert by_name[("high_pass", "freq")].log and by_name[("delay", "time_ms")].log
    assert not by_name[("change_volume", "db")].log and not by_name[("pan", "position")].log
    eq_low = by_name[("apply_eq", "low_gain")]
    assert eq_low.to_unit(0.0) == 0.0 and eq_low.to_unit(12.0) == 0.5
    freq = by_name[("high_pass", "freq")]
    # a decade is the same distance in unit space wherever it lies
    assert math.isclose(
        freq.to_unit(400.0) - freq.to_unit(40.0), freq.to_unit(1000.0) - freq.to_unit(100.0)
    )


# ---- where values sit in program text --------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(programs(max_size=4))
def test_value_spans_locate_every_argument(calls):
    text = format_program(calls)
    spans = value_spans(text)
    expected = [(c.name, name, value) for c in calls for name, value in _ordered_args(c)]
    assert [(s.tool, s.param, s.value) for s in spans] == expected
    for span in spans:
        assert text[span.start - 1] == "="
        assert float(text[span.start : span.end]) == span.value


@settings(max_examples=200, deadline=None)
@given(programs(max_size=3))
def test_open_value_is_exactly_the_value_starts(calls):
    text = format_program(calls)
    starts = {span.start: (span.tool, span.param) for span in value_spans(text)}
    for end in range(len(text) + 1):
        assert open_value(text[:end]) == starts.get(end)


def _ordered_args(call):
    return [(p.name, call.args[p.name]) for p in call.tool.params if p.name in call.args]


# ---- prompt numbers --------------------------------------------------------------------


def test_number_spans_find_signed_decimals_but_not_digits_inside_words():
    text = "Turn it down by 3.5 dB, a 4:1 ratio at -20 dB, then export as mp3 at 5 kHz."
    assert [(text[a:b], v) for a, b, v in number_spans(text)] == [
        ("3.5", 3.5),
        ("4", 4.0),
        ("1", 1.0),
        ("-20", -20.0),
        ("5", 5.0),
    ]


def test_every_word_piece_of_a_number_carries_its_value():
    encoder = TextEncoder.from_path(None, max_length=32)
    prompts = ["Turn it down by 3.5 dB.", "No numbers here."]
    tokens = encoder.tokenize(prompts, torch.device("cpu"))
    pieces = encoder.tokenizer.convert_ids_to_tokens(tokens["prompt_input_ids"][0])
    numbers = tokens["prompt_numbers"]
    assert numbers.shape == (*tokens["prompt_input_ids"].shape, len(FEATURES))
    marked = [
        p for p, is_number in zip(pieces, numbers[0, :, 0].tolist(), strict=True) if is_number
    ]
    assert marked == ["3", ".", "5"]
    for row in numbers[0][numbers[0, :, 0] > 0]:
        assert row.tolist() == pytest.approx(number_features(3.5))
    assert not numbers[1].any()


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=40))
def test_token_features_never_fail_on_any_text(text):
    offsets = [[(0, len(text))] * 3]
    features = token_number_features([text], offsets)
    assert features.shape == (1, 3, len(FEATURES)) and torch.isfinite(features).all()


def test_number_features_read_linear_and_log_magnitude():
    one, linear, log = number_features(-3.5)
    assert one == 1.0 and linear == pytest.approx(-0.35)
    assert log == pytest.approx(math.log10(3.5) / 2)
    assert number_features(20000.0)[1] == 10.0  # clipped at ±100 before scaling
    assert number_features(0.0)[2] == pytest.approx(-1.0)  # magnitude floored at 0.01


# ---- the head ------------------------------------------------------------------------


def _head_inputs(batch: int, tokens: int, numbered: list[int]):
    torch.manual_seed(0)
    numbers = torch.zeros(batch, tokens, len(FEATURES))
    for row in numbered:
        numbers[row, 2] = torch.tensor(number_features(7.0))
    return (
        torch.randn(batch, 16),
        torch.arange(batch) % len(SLOTS),
        torch.randn(batch, 5),
        torch.randn(batch, tokens, 12),
        numbers,
    )


def test_head_is_finite_with_and_without_prompt_numbers_and_trains():
    head = ValueHead(decoder_dim=16, context_dim=5, memory_dim=12, hidden_size=32, dropout=0.0)
    inputs = _head_inputs(4, 6, numbered=[1, 3])
    out = head(*inputs)
    assert out.shape == (4,) and torch.isfinite(out).all()
    loss = value_loss(out, torch.zeros(4), beta=0.01)
    loss.backward()
    grads = [p.grad for p in head.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_empty_batches_of_values_have_a_zero_loss_with_a_graph():
    head = ValueHead(decoder_dim=16, context_dim=5, memory_dim=12, hidden_size=32, dropout=0.0)
    inputs = _head_inputs(0, 6, numbered=[])
    out = head(*inputs)
    loss = value_loss(out, torch.zeros(0), beta=0.01)
    assert loss.item() == 0.0 and loss.requires_grad
