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
from mixer_core.language.stated import KINDS, read_numbers
from mixer_core.model.prompt_numbers import FEATURES, number_features, token_number_features
from mixer_core.model.slots import SLOT_INDEX, SLOTS
from mixer_core.model.text_encoder import TextEncoder
from mixer_core.model.value_head import (
    ValueHead,
    mixture_median,
    value_loss,
    write_values,
)
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
    assert marked == ["3", ".", "5", "db"]  # the number with its unit
    (stated,) = read_numbers(prompts[0])
    assert stated.signed == -3.5 and stated.kind == "db"
    for row in numbers[0][numbers[0, :, 0] > 0]:
        assert row.tolist() == pytest.approx(number_features(stated))
    assert set(tokens["prompt_number_index"][0].tolist()) == {-1, 0}
    assert not numbers[1].any() and (tokens["prompt_number_index"][1] == -1).all()


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=40))
def test_token_features_never_fail_on_any_text(text):
    offsets = [[(0, len(text))] * 3]
    features, index = token_number_features([text], offsets)
    assert features.shape == (1, 3, len(FEATURES)) and torch.isfinite(features).all()
    assert index.shape == (1, 3)


def test_number_features_read_sign_linear_log_and_kind():
    (down,) = read_numbers("turn it down by 3.5 dB")
    one, linear, log, sign, *kind = number_features(down)
    assert one == 1.0 and linear == pytest.approx(-0.35) and sign == -1.0
    assert log == pytest.approx(math.log10(3.5) / 2)
    assert kind == [1.0 if k == "db" else 0.0 for k in KINDS]
    (high,) = read_numbers("at 20 kHz")
    assert number_features(high)[1] == 10.0  # clipped at ±100 before scaling


# ---- the head ------------------------------------------------------------------------


def _head_inputs(batch: int, tokens: int, numbered: list[int]):
    """Rows in ``numbered`` state "3 dB" at token 2."""
    torch.manual_seed(0)
    numbers = torch.zeros(batch, tokens, len(FEATURES))
    index = torch.full((batch, tokens), -1)
    (three,) = read_numbers("3 dB")
    for row in numbered:
        numbers[row, 2] = torch.tensor(number_features(three))
        index[row, 2] = 0
    return (
        torch.randn(batch, 16),
        torch.full((batch,), SLOT_INDEX[("change_volume", "db")]),
        torch.randn(batch, 5),
        torch.randn(batch, tokens, 12),
        numbers,
        index,
    )


def _head() -> ValueHead:
    return ValueHead(decoder_dim=16, context_dim=5, memory_dim=12, hidden_size=32, dropout=0.0)


def test_head_is_finite_with_and_without_prompt_numbers_and_trains():
    head = _head()
    inputs = _head_inputs(4, 6, numbered=[1, 3])
    out = head(*inputs)
    assert out.location.shape == out.scale.shape == out.zero.shape == (4,)
    assert out.pointer.shape == (4, 3) and (out.scale > 0).all()
    pointer = torch.tensor([[1.0, 0, 0], [0, 0, 1.0], [1.0, 0, 0], [0, 1.0, 0]])
    nll, ce = value_loss(out, inputs[1], torch.zeros(4), pointer)
    (nll + ce).backward()
    grads = [p.grad for p in head.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_the_pointer_cannot_pick_a_number_of_the_wrong_unit():
    head = _head()
    hidden, _, context, memory, numbers, index = _head_inputs(2, 6, numbered=[0, 1])
    hertz = torch.full((2,), SLOT_INDEX[("high_pass", "freq")])
    out = head(hidden, hertz, context, memory, numbers, index)
    assert (out.pointer[:, 1:] < -1e3).all()  # "3 dB" is no frequency, nor is it measured
    written = write_values(out, hertz.tolist(), [read_numbers("3 dB")] * 2, [0.0, 0.0])
    assert all(w.source == "estimated" for w in written)


def test_a_picked_number_is_written_exactly_and_fitted_into_range():
    head = _head()
    inputs = _head_inputs(2, 6, numbered=[0, 1])
    out = head(*inputs)
    out.pointer = torch.tensor([[-5.0, -5.0, 5.0], [-5.0, -5.0, 5.0]])
    stated = [read_numbers("turn it down by 3 dB"), read_numbers("turn it up by 30 dB")]
    low, high = write_values(out, inputs[1].tolist(), stated, [0.0, 0.0])
    assert (low.text, low.value, low.source, low.number, low.note) == (
        "-3.0",
        -3.0,
        "stated",
        0,
        None,
    )
    assert high.text == "24.0" and high.note is not None and "30" in high.note
    out.pointer = torch.tensor([[-5.0, 5.0, -5.0], [-5.0, 5.0, -5.0]])
    measured = write_values(out, inputs[1].tolist(), stated, [1.234, -7.0])
    assert [(w.text, w.source) for w in measured] == [("1.2", "measured"), ("-7.0", "measured")]


def test_a_number_already_copied_is_not_copied_again():
    head = _head()
    inputs = _head_inputs(2, 6, numbered=[0, 1])
    out = head(*inputs)
    # the pointer prefers number 0, then measured, for both slots of one program
    out.pointer = torch.tensor([[-5.0, 1.0, 5.0, 3.0], [-5.0, 1.0, 5.0, 3.0]])
    stated = [read_numbers("down 3 dB, then up 2 dB")] * 2
    first, second = write_values(out, inputs[1].tolist(), stated, [0.0, 0.0], [set(), {0}])
    assert (first.source, first.number, first.value) == ("stated", 0, -3.0)
    assert (second.source, second.number, second.value) == ("stated", 1, 2.0)
    both_used = write_values(out, inputs[1].tolist(), stated, [0.5, 0.5], [{0, 1}, {0, 1}])
    assert [w.source for w in both_used] == ["measured", "measured"]


def test_the_median_shrinks_an_uncertain_estimate_to_no_change():
    default = torch.tensor([0.0, 0.0, 0.0])
    location = torch.tensor([0.5, 0.5, 0.5])
    scale = torch.tensor([0.01, 0.01, 1.0])
    zero_logit = torch.tensor([-10.0, 10.0, 0.0])  # P(no change): ~0, ~1, 1/2
    median = mixture_median(location, scale, zero_logit, default)
    assert median[0] == pytest.approx(0.5, abs=1e-3)  # sure of a change: its location
    assert median[1] == 0.0  # sure nothing is wrong: no change
    assert median[2] == 0.0  # half a chance of nothing, and a wide guess: no change
    # the median of the mixture, checked by sampling
    draws = torch.where(
        torch.rand(200_000) < 0.3,
        torch.zeros(200_000),
        torch.distributions.Laplace(0.4, 0.2).sample((200_000,)),
    )
    expected = draws.median()
    got = mixture_median(
        torch.tensor([0.4]), torch.tensor([0.2]), torch.logit(torch.tensor([0.3])), torch.zeros(1)
    )
    assert got.item() == pytest.approx(expected.item(), abs=0.01)


def test_empty_batches_of_values_have_a_zero_loss_with_a_graph():
    head = _head()
    inputs = _head_inputs(0, 6, numbered=[])
    out = head(*inputs)
    nll, ce = value_loss(out, inputs[1], torch.zeros(0), torch.zeros(0, 1))
    assert nll.item() == 0.0 and ce.item() == 0.0 and nll.requires_grad
