"""Constrained generation: whatever the weights, every output parses and is in range."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import MistralConfig, MistralForCausalLM, PreTrainedTokenizerFast

from mixer_core.language.grammar import ToolCall, parse, value_spans
from mixer_core.language.grammar import format as format_program
from mixer_core.language.prefix import CanonicalPrefix
from mixer_core.language.registry import TOOLS
from mixer_core.language.stated import read_numbers
from mixer_core.model import MixerModel
from mixer_core.model.constrained import TokenTexts, _Beam, _force, _step
from mixer_core.model.generation import each_tool_once
from mixer_core.model.tokenizer import build_domain_tokenizer
from tests.test_model import RATE, TINY_MISTRAL, noise_audio, tiny_config


def random_program(rng: random.Random) -> str:
    calls = []
    for _ in range(rng.randint(0, 3)):
        tool = rng.choice(TOOLS)
        params = rng.sample(tool.params, rng.randint(0, len(tool.params)))
        args = {}
        for p in params:
            steps = round((p.high - p.low) / p.step)
            args[p.name] = round(p.low + rng.randint(0, steps) * p.step, p.decimals) + 0.0
        calls.append(ToolCall(tool.name, args))
    return format_program(calls)


def bpe_tokenizer(kind: str = "byte_level") -> PreTrainedTokenizerFast:
    """A BPE tokenizer trained on programs, as pretrained decoders bring their own.

    ``byte_level`` (GPT-2 style: ``Ġ`` space markers, multi-character merges) merges
    grammar pieces differently from the domain tokenizer; ``metaspace`` (SentencePiece
    style, as Mistral's, digits split) also marks the start of a text with ``▁``, so a value
    tokenized on its own is spelled differently from the same value after ``=``.
    """
    rng = random.Random(0)
    corpus = [random_program(rng) for _ in range(400)] + ["hello world, mixing notes"]
    backend = Tokenizer(models.BPE(unk_token="<unk>"))
    if kind == "byte_level":
        backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        backend.decoder = decoders.ByteLevel()
        alphabet = pre_tokenizers.ByteLevel.alphabet()
    else:
        backend.pre_tokenizer = pre_tokenizers.Sequence(
            [
                pre_tokenizers.Metaspace(prepend_scheme="first"),
                pre_tokenizers.Digits(individual_digits=True),
            ]
        )
        backend.decoder = decoders.Metaspace(prepend_scheme="first")
        alphabet = sorted(set("".join(corpus).replace(" ", "\u2581")))
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<unk>", "<s>", "</s>", "<pad>"],
        initial_alphabet=alphabet,
    )
    backend.train_from_iterator(corpus, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
    )


def write_pretrained_decoder(folder: Path) -> Path:
    """A local 'pretrained' Mistral folder with its own byte-level BPE tokenizer, for
    the decode-whole-sequence path of constrained decoding."""
    tokenizer = bpe_tokenizer()
    config = MistralConfig(
        **TINY_MISTRAL,
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    MistralForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def model() -> MixerModel:
    return MixerModel.from_config(tiny_config(), RATE, seed=0)


def randomise(model: MixerModel, seed: int, scale: float) -> None:
    """Random decoder, fusion and LoRA weights, large enough to make the logits peaky."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in (model.decoder, model.fusion):
            for parameter in module.parameters():
                if parameter.dim() > 1:
                    noise = torch.randn(parameter.shape, generator=generator)
                    parameter.copy_(noise * scale / parameter.shape[-1] ** 0.5)


def assert_valid_programs(texts: list[str]) -> None:
    for text in texts:
        calls = parse(text)  # raises on bad syntax, unknown names, out-of-range values
        assert format_program(calls) == text
        for call in calls:
            for name, value in call.args.items():
                assert call.tool.param(name).contains(value)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seed=st.integers(0, 2**31 - 1),
    scale=st.sampled_from([0.5, 2.0, 8.0, 30.0]),
    temperature=st.sampled_from([0.0, 0.7, 3.0]),
    max_new_tokens=st.integers(1, 60),
    prompts=st.lists(st.text(max_size=30), min_size=1, max_size=3),
    gain=st.floats(0.0, 2.0),
)
def test_any_weights_give_valid_programs(
    model, seed, scale, temperature, max_new_tokens, prompts, gain
):
    randomise(model, seed, scale)
    audio = noise_audio(len(prompts), seed=seed % 1000) * gain
    texts = model.generate_programs(
        audio, RATE, prompts, max_new_tokens=max_new_tokens, temperature=temperature, seed=seed
    )
    assert len(texts) == len(prompts)
    assert_valid_programs(texts)


def test_sampling_is_seeded_and_greedy_is_deterministic(model):
    randomise(model, 7, 2.0)
    audio, prompts = noise_audio(3), ["a", "b", "c"]
    first = model.generate_programs(audio, RATE, prompts, temperature=1.5, seed=11)
    assert first == model.generate_programs(audio, RATE, prompts, temperature=1.5, seed=11)
    greedy = model.generate_programs(audio, RATE, prompts)
    assert greedy == model.generate_programs(audio, RATE, prompts)
    assert_valid_programs(first + greedy)


def test_generation_is_batch_independent(model):
    randomise(model, 3, 2.0)
    audio, prompts = noise_audio(3, seed=4), ["louder", "more treble", "dry it up"]
    together = model.generate_programs(audio, RATE, prompts)
    alone = [model.generate_programs(audio[i : i + 1], RATE, [p])[0] for i, p in enumerate(prompts)]
    assert together == alone


def test_step_skips_special_tokens_and_premature_eos():
    tokenizer = build_domain_tokenizer()
    vocab = TokenTexts(tokenizer, tokenizer.eos_token_id, by_piece=True)
    ids = tokenizer.convert_tokens_to_ids
    specials = [tokenizer.pad_token_id, tokenizer.unk_token_id, tokenizer.bos_token_id]
    beam = _Beam(ids=[])
    # an empty program is complete, so EOS may end it right away
    assert _step(beam, [*specials, tokenizer.eos_token_id], vocab) == tokenizer.eos_token_id
    beam = _Beam(ids=[ids("change_volume(")], text="change_volume(")
    order = [tokenizer.eos_token_id, *specials, ids("7"), ids("low_gain="), ids("db="), ids(")")]
    assert _step(beam, order, vocab) == ids("db=")
    assert beam.text == "change_volume(db=" and not beam.done
    order = [ids("5"), ids("4")]  # db=25 is out of range [-24, 24], db=24 is not
    beam = _Beam(ids=[], text="change_volume(db=2")
    assert _step(beam, order, vocab) == ids("4")
    assert _step(_Beam(ids=[], text="change_volume(db=24"), order, vocab) is None


def test_a_refused_text_passes_to_the_next_best_token():
    tokenizer = build_domain_tokenizer()
    vocab = TokenTexts(tokenizer, tokenizer.eos_token_id, by_piece=True)
    ids = tokenizer.convert_tokens_to_ids
    text = "compress(threshold_db=-20.0, ratio=2.0) "
    order = [ids("compress("), ids("high_pass("), ids("low_pass(")]
    beam = _Beam(ids=[], text=text)
    assert _step(beam, order, vocab, lambda t: not t.endswith("compress(")) == ids("high_pass(")
    assert beam.text == text + "high_pass("
    assert _step(_Beam(ids=[], text=text), order, vocab, lambda t: False) is None


def test_each_tool_once_only_where_the_prompt_states_numbers():
    allowed = each_tool_once([read_numbers("compress it at 2:1, then high-pass at 233 Hz"),
                              read_numbers("Restore the original sound.")])  # fmt: skip
    program = "compress(threshold_db=-20.0, ratio=2.0) "
    assert not allowed(0, program + "compress(")
    assert allowed(0, program + "high_pass(") and allowed(0, program + "high_pass(freq=2")
    assert allowed(1, "apply_eq(low_gain=12.0, low_freq=146.0) apply_eq(")


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 10_000))
def test_a_stated_instruction_never_names_a_tool_twice_whatever_the_weights(model, seed):
    """Random weights (peaky logits) write arbitrary programs; with numbers in the prompt
    the decoder names no tool twice, and every program still parses. (The execution
    check, skipped here, may still close a program with a safety limit.)"""
    randomise(model, seed, 2.0)
    prompts = ["Compress it at 3:1 and cut the highs by 2 dB.", "Turn it up by 4.4 dB."]
    audio = noise_audio(2, seed=seed)
    for program in model.generate_programs(audio, RATE, prompts, check=False):
        names = [call.name for call in parse(program)]
        assert len(names) == len(set(names)), program


@settings(max_examples=60, deadline=None)
@given(choices=st.lists(st.integers(0, 10_000), min_size=1, max_size=80))
def test_a_viable_text_never_dead_ends(choices):
    """Walking the domain tokenizer's pieces through viable texts only, some piece (or,
    once complete, the end) is always allowed: the grammar never admits a prefix that
    nothing can complete, so a beam is never cut back for lack of a choice."""
    tokenizer = build_domain_tokenizer()
    vocab = TokenTexts(tokenizer, tokenizer.eos_token_id, by_piece=True)
    pieces = [p for p in vocab.pieces if p is not None]
    text = ""
    for choice in choices:
        allowed = [p for p in pieces if CanonicalPrefix.check(text + p)[0]]
        assert allowed or CanonicalPrefix.check(text)[1], text
        if not allowed:
            break
        text += allowed[choice % len(allowed)]


def test_pretrained_tokenizer_path(tmp_path):
    folder = write_pretrained_decoder(tmp_path / "tiny-mistral")
    model = MixerModel.from_config(tiny_config(decoder={"path": str(folder)}), RATE, seed=0)
    rows = {row["part"]: row["trainable"] for row in model.trainable_summary()}
    assert rows["decoder_base"] is False and rows["decoder_lora"] is True
    batch = model.prepare_batch(noise_audio(2), RATE, ["a", "b"], ["change_volume(db=-3.0)", ""])
    assert torch.isfinite(model(**batch).loss)
    for seed in range(4):
        randomise(model, seed, 4.0)
        texts = model.generate_programs(
            noise_audio(2, seed=seed),
            RATE,
            ["x", "y"],
            max_new_tokens=30,
            temperature=1.0,
            seed=seed,
        )
        assert_valid_programs(texts)


@pytest.mark.parametrize("kind", ["domain", "byte_level", "metaspace"])
def test_written_values_are_spelled_with_the_training_tokens(kind: str) -> None:
    """Generation queues, for each value the value head writes, exactly the tokens
    the training target had there (those tokens get no token loss, so any other
    spelling is one the decoder never saw)."""
    domain = kind == "domain"
    tokenizer = build_domain_tokenizer() if domain else bpe_tokenizer(kind)
    vocab = TokenTexts(tokenizer, tokenizer.eos_token_id, by_piece=domain)
    rng = random.Random(1)
    checked = 0
    for _ in range(150):
        target = random_program(rng)
        encoded = tokenizer(target, add_special_tokens=False, return_offsets_mapping=True)
        ids, offsets = encoded["input_ids"], encoded["offset_mapping"]
        ends = {end: j for j, (start, end) in enumerate(offsets) if end > start}
        for value in value_spans(target):
            first, last = ends.get(value.start), ends.get(value.end)
            if first is None or last is None:
                continue
            beam = _Beam(ids=ids[: first + 1], text=vocab.decode(ids[: first + 1]))
            assert beam.text == target[: value.start]
            _force(beam, target[value.start : value.end], vocab)
            assert beam.forced == ids[first + 1 : last + 1], (target, value)
            checked += 1
    assert checked > 100
