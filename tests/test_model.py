"""The mixer model: tokenizer, features, shapes, loss, training signal, trainable parts."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyloudnorm
import pytest
import torch
from hypothesis import given, settings
from transformers import ClapConfig, ClapFeatureExtractor, ClapModel

from mixer_core.audio.io import write_audio
from mixer_core.audio.loudness import lufs_torch
from mixer_core.config import MixerConfig
from mixer_core.language.grammar import ToolCall, parse, value_spans
from mixer_core.language.grammar import format as format_program
from mixer_core.language.stated import read_numbers
from mixer_core.model import (
    MixerModel,
    ModelConfigError,
    ModelLoadError,
    build_domain_tokenizer,
    load_mixer,
    save_mixer,
)
from mixer_core.model.execution import executing_value_writer
from mixer_core.model.features import ClapLogMel, LevelFeatures
from mixer_core.model.parts import training_kind
from mixer_core.model.slots import SLOT_INDEX, SLOTS
from mixer_core.model.targets import IGNORE_INDEX
from tests.strategies import programs

RATE = 8000

TINY_HTSAT: dict[str, Any] = {
    "num_mel_bins": 16,
    "spec_size": 64,
    "patch_size": 4,
    "patch_stride": [4, 4],
    "patch_embeds_hidden_size": 16,
    "hidden_size": 32,
    "depths": [1, 1],
    "num_attention_heads": [1, 2],
    "window_size": 4,
}
TINY_MISTRAL: dict[str, Any] = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "max_position_embeddings": 256,
    "sliding_window": None,
}


def tiny_config(**sections: dict[str, Any]) -> MixerConfig:
    """A model small enough for CPU tests: 1 s of audio, 2-stage HTSAT, 1-layer decoder."""
    data: dict[str, Any] = {
        "audio_encoder": {"max_seconds": 1.0, "small": TINY_HTSAT},
        "decoder": {"small": TINY_MISTRAL, "max_target_tokens": 96},
        "lora": {"r": 4, "alpha": 8, "dropout": 0.0},
        "fusion": {"prefix_tokens": 2, "hidden_size": 32, "dropout": 0.0},
        "generation": {"max_new_tokens": 48},
    }
    for name, values in sections.items():
        data[name] = {**data.get(name, {}), **values}
    return MixerConfig.model_validate(data)


def noise_audio(batch: int, channels: int = 2, seconds: float = 0.5, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return 0.1 * torch.randn(batch, channels, int(seconds * RATE), generator=generator)


@pytest.fixture(scope="module")
def model() -> MixerModel:
    return MixerModel.from_config(tiny_config(), RATE, seed=0)


PROMPTS = ["make it louder", "less bass please"]
TARGETS = ["change_volume(db=3.0)", "apply_eq(low_gain=-4.5, high_gain=1.0) apply_reverb()"]


# ---- tokenizer ----------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(programs(max_size=4))
def test_domain_tokenizer_round_trips_canonical_programs(calls):
    tokenizer = build_domain_tokenizer()
    text = format_program(calls)
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tokenizer.unk_token_id not in ids
    assert tokenizer.decode(ids) == text


def test_domain_tokenizer_saves_and_loads(tmp_path):
    from transformers import AutoTokenizer

    tokenizer = build_domain_tokenizer()
    tokenizer.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path, local_files_only=True)
    text = "compress(threshold_db=-20.0, ratio=4.0) pan(position=-0.25)"
    assert (
        loaded(text, add_special_tokens=False)["input_ids"]
        == tokenizer(text, add_special_tokens=False)["input_ids"]
    )
    assert loaded.decode(loaded(text, add_special_tokens=False)["input_ids"]) == text
    # "db=" inside "threshold_db=" must not split off: one token per grammar piece
    assert loaded.convert_ids_to_tokens(
        loaded("compress(threshold_db=", add_special_tokens=False)["input_ids"]
    ) == ["compress(", "threshold_db="]


# ---- features -----------------------------------------------------------------------


def test_log_mel_matches_clap_feature_extractor():
    rate, seconds = 22050, 2
    signal = np.random.default_rng(1).standard_normal(int(rate * 0.7)).astype(np.float32) * 0.2
    hop = 180
    extractor = ClapFeatureExtractor(
        feature_size=32,
        sampling_rate=rate,
        hop_length=hop,
        max_length_s=seconds,
        fft_window_size=1024,
        frequency_max=rate / 2,
        truncation="rand_trunc",
        padding="repeatpad",
    )
    expected = extractor(signal, sampling_rate=rate, return_tensors="np")["input_features"]
    log_mel = ClapLogMel(rate, 32, 1024, hop, int(rate * seconds), 0.0, rate / 2)
    actual = log_mel(torch.from_numpy(signal)[None]).numpy()
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, atol=5e-3)


def test_level_features_measure_absolute_level():
    rate = 22050
    rng = np.random.default_rng(2)
    left = rng.standard_normal(rate * 2).astype(np.float32) * 0.1
    stereo = np.stack([left, 0.5 * left + 0.02 * rng.standard_normal(rate * 2).astype(np.float32)])
    features = LevelFeatures(rate)
    raw = features.raw(torch.from_numpy(stereo)[None])
    expected = pyloudnorm.Meter(rate).integrated_loudness(stereo.T)
    assert abs(raw["loudness"].item() - expected) < 0.2
    assert (
        abs(
            raw["balance"].item() - 10 * np.log10((stereo[0] ** 2).mean() / (stereo[1] ** 2).mean())
        )
        < 0.05
    )
    louder = features.raw(torch.from_numpy(stereo * 10 ** (6 / 20))[None])
    # a +6 dB gain moves every level feature by 6 dB: nothing is normalised away
    for key in ("loudness", "peak", "coarse", "mel"):
        np.testing.assert_allclose((louder[key] - raw[key]).numpy(), 6.0, atol=1e-3)
    np.testing.assert_allclose(louder["crest"].numpy(), raw["crest"].numpy(), atol=1e-3)


def test_level_features_treat_mono_as_dual_mono():
    features = LevelFeatures(RATE)
    mono = noise_audio(2, channels=1)
    np.testing.assert_array_equal(features(mono).numpy(), features(mono.expand(-1, 2, -1)).numpy())
    assert features(mono).shape == (2, LevelFeatures.feature_size(features.bands))


# ---- model --------------------------------------------------------------------------


def _lead(model: MixerModel, batch: dict) -> int:
    """Positions before the start token: the prompt memory, then the fusion prefix."""
    return batch["prompt_input_ids"].shape[1] + model.config.fusion.prefix_tokens


def test_prepare_batch_and_forward_shapes(model):
    batch = model.prepare_batch(noise_audio(2), RATE, PROMPTS, TARGETS)
    lead = _lead(model, batch)
    ids, labels = batch["decoder_input_ids"], batch["labels"]
    assert labels.shape == (2, lead + ids.shape[1])
    assert (labels[:, : lead + 1] == IGNORE_INDEX).all()
    eos = model.decoder.eos_id
    for row in range(2):
        length = int(batch["decoder_attention_mask"][row].sum())
        assert ids[row, 0] == model.decoder.start_id and ids[row, length - 1] == eos
        assert labels[row, lead + length - 1] == eos
        assert (labels[row, lead + length :] == IGNORE_INDEX).all()
        text = model.decoder.tokenizer.decode(ids[row, 1 : length - 1].tolist())
        assert text == TARGETS[row]
    output = model(**batch)
    assert output.logits.shape == (2, labels.shape[1], len(model.decoder.tokenizer))
    assert torch.isfinite(output.loss)
    output.loss.backward()
    assert all(p.grad is not None for p in model.decoder.lora_parameters())
    assert all(p.grad is not None for p in model.value_head.parameters())
    assert all(p.grad is None for p in model.text_encoder.parameters())
    model.zero_grad(set_to_none=True)


def test_value_targets_sit_on_the_tokens_that_end_in_equals(model):
    batch = model.prepare_batch(noise_audio(2), RATE, PROMPTS, TARGETS)
    lead = _lead(model, batch)
    pieces = [
        model.decoder.tokenizer.convert_ids_to_tokens(row)
        for row in batch["decoder_input_ids"].tolist()
    ]
    found = []
    for (row, position), slot, unit in zip(
        batch["value_positions"].tolist(),
        batch["value_slots"].tolist(),
        batch["value_targets"].tolist(),
        strict=True,
    ):
        token = pieces[row][position - lead]
        assert token == f"{SLOTS[slot].param.name}="
        found.append((row, SLOTS[slot].tool, SLOTS[slot].from_unit(unit)))
        # the value's own tokens are the head's to write: no token loss on them, and the
        # token after them (", " or ")") keeps its loss
        value_tokens = [position + 1, position + 2]
        assert (batch["labels"][row, value_tokens] == IGNORE_INDEX).all()
        assert batch["labels"][row, position + 3] != IGNORE_INDEX
    assert found == [
        (0, "change_volume", 3.0),
        (1, "apply_eq", -4.5),
        (1, "apply_eq", 1.0),
    ]


def test_partial_levels_measure_the_audio_after_each_call_of_the_target(model):
    """What the value head sees at a slot: the input's levels after the calls before it."""
    audio = noise_audio(2)
    targets = ["apply_eq(low_gain=6.0) change_volume(db=-3.0) pan(position=0.5)", ""]
    inputs = model.audio_inputs(audio, RATE, targets)
    partial = inputs["partial_levels"]
    assert partial.shape == (2, 3, inputs["level_features"].shape[-1])
    torch.testing.assert_close(partial[:, 0], inputs["level_features"])
    tools = model.tools
    after_eq = tools.apply_batch(audio[:1], RATE, [parse(targets[0])[:1]])
    after_gain = tools.apply_batch(audio[:1], RATE, [parse(targets[0])[:2]])
    torch.testing.assert_close(partial[0, 1], model.level(after_eq)[0])
    torch.testing.assert_close(partial[0, 2], model.level(after_gain)[0])
    assert not partial[1, 1:].any()  # past the end of an empty program
    batch = model.prepare_batch(audio, RATE, PROMPTS[:1] * 2, targets)
    # low_gain= belongs to call 0, db= to call 1, position= to call 2
    assert batch["value_calls"].tolist() == [0, 1, 2]


def test_generation_gives_the_value_head_the_context_training_gave_it(model):
    """At each value, the writer measures the audio after the calls its text has
    completed, as ``partial_levels`` did for the training target."""
    audio = noise_audio(1)
    target = "apply_eq(low_gain=6.0) change_volume(db=-3.0) pan(position=0.5)"
    values = value_spans(target)
    contexts: list[torch.Tensor] = []
    hook = model.value_head.register_forward_hook(
        lambda module, args, output: contexts.append(args[2].detach())
    )
    try:
        batch = model.prepare_batch(audio, RATE, PROMPTS[:1], [target])
        with torch.no_grad():
            model(**batch)
            trained = contexts.pop()
            encoded = model.encode(
                batch["input_features"],
                batch["prompt_input_ids"],
                batch["prompt_attention_mask"],
                batch["prompt_numbers"],
                batch["level_features"],
                batch.get("prompt_states"),
            )
            write, _ = executing_value_writer(
                model.value_head,
                model.level,
                model.tools,
                model.sample_rate,
                encoded.states,
                audio,
                batch["level_features"],
                batch["prompt_numbers"],
                batch["prompt_number_index"],
                [read_numbers(PROMPTS[0])],
                model.reference_lufs,
            )
            hidden = torch.zeros(1, encoded.lead.shape[-1])
            for value in values:
                slot = SLOT_INDEX[(value.tool, value.param)]
                write(hidden, [0], [slot], [target[: value.start]])
    finally:
        hook.remove()
    assert trained.shape[0] == len(values) == len(contexts) == 3
    for k, generated in enumerate(contexts):
        torch.testing.assert_close(generated[0], trained[k])
    # each call's context is its own: after nothing, after the EQ, after EQ and gain
    assert not torch.equal(trained[0], trained[1]) and not torch.equal(trained[1], trained[2])


def test_an_example_does_not_depend_on_the_prompts_it_is_batched_with(model):
    """Prompt memories of different lengths are padded in front and masked: the short
    prompt's program scores the same alone as next to a long one."""
    short, long = "louder", "the low end is boomy and the vocal sits far too low in the mix"
    audio = noise_audio(2)
    target = TARGETS[1]
    with model.evaluating(), torch.no_grad():
        alone = model.prepare_batch(audio[:1], RATE, [short], [target])
        batched = model.prepare_batch(audio, RATE, [short, long], [target, target])
        assert batched["prompt_input_ids"].shape[1] > alone["prompt_input_ids"].shape[1]
        solo, pair = model(**alone), model(**batched)
    length = int(alone["decoder_attention_mask"][0].sum())
    torch.testing.assert_close(
        pair.logits[0, _lead(model, batched) :][:length],
        solo.logits[0, _lead(model, alone) :][:length],
        atol=1e-4,
        rtol=1e-4,
    )


def test_loss_is_token_cross_entropy_plus_weighted_value_loss(model):
    model.eval()
    batch = model.prepare_batch(noise_audio(2), RATE, PROMPTS, TARGETS)
    output = model(**batch)
    logits, labels = output.logits[:, :-1], batch["labels"][:, 1:]
    keep = labels != IGNORE_INDEX
    log_probs = torch.log_softmax(logits.float(), dim=-1)
    picked = log_probs.gather(-1, labels.clamp_min(0)[..., None])[..., 0]
    assert torch.allclose(output.token_loss, -picked[keep].mean(), atol=1e-5)
    weight = model.config.value_head.loss_weight
    assert output.value_loss > 0
    assert torch.allclose(output.loss, output.token_loss + weight * output.value_loss)
    model.train()


def test_without_the_value_head_the_loss_is_the_token_loss_alone():
    plain = MixerModel.from_config(tiny_config(value_head={"enabled": False}), RATE, seed=0)
    assert plain.value_head is None
    assert "value_head" not in {row["part"] for row in plain.trainable_summary()}
    batch = plain.prepare_batch(noise_audio(2), RATE, PROMPTS, TARGETS)
    assert "value_positions" not in batch
    output = plain(**batch)
    assert output.value_loss is None and torch.equal(output.loss, output.token_loss)


@pytest.mark.parametrize("value_head", [True, False])
def test_a_few_steps_overfit_a_tiny_batch_and_generation_reproduces_it(value_head):
    torch.manual_seed(0)
    model = MixerModel.from_config(tiny_config(value_head={"enabled": value_head}), RATE, seed=1)
    model.train()
    audio = noise_audio(2, seed=3)
    batch = model.prepare_batch(audio, RATE, PROMPTS, TARGETS)
    optimizer = torch.optim.AdamW(model.trainable_parameters(), lr=1e-2)
    token_losses = []
    for step in range(120):
        if step == 60:  # estimated values settle to the 0.1 dB grid at a lower rate
            optimizer.param_groups[0]["lr"] = 1e-3
        output = model(**batch)
        optimizer.zero_grad()
        output.loss.backward()
        optimizer.step()
        token_losses.append(output.token_loss.item())
    assert token_losses[-1] < 0.05 * token_losses[0]
    # the generation path (memory, prefix, start token, KV cache, value head) agrees
    # with the training layout; values land within a grid step of the target (the
    # execution check is left out: it may revise a program for noise input)
    written = model.generate_programs(audio, RATE, PROMPTS, check=False)
    if not value_head:
        assert written == TARGETS
    for text, target in zip(written, TARGETS, strict=True):
        calls, expected = parse(text), parse(target)
        assert [(c.name, list(c.args)) for c in calls] == [(c.name, list(c.args)) for c in expected]
        for call, want in zip(calls, expected, strict=True):
            for name, value in want.args.items():
                assert abs(call.args[name] - value) <= 0.1 + 1e-9, (text, target)
    assert model.training


@pytest.mark.slow
def test_the_value_head_learns_to_copy_numbers_it_never_saw():
    """Instruct prompts state their numbers: the model has to read them, not memorise.

    Trained on gains whose tenths digit is even, it must write the odd ones it never
    saw (and, through the sign, tell "up" from "down") to within a few tenths of a dB.
    """
    torch.manual_seed(0)
    model = MixerModel.from_config(tiny_config(), RATE, seed=0)
    optimizer = torch.optim.AdamW(model.trainable_parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(0)

    def examples(count: int, parity: int) -> tuple[list[str], list[str]]:
        tenths = torch.randint(5, 60, (count,), generator=generator) * 2 + parity
        signs = torch.randint(0, 2, (count,), generator=generator) * 2 - 1
        values = (signs * tenths / 10).tolist()
        prompts = [f"Turn it {'up' if v > 0 else 'down'} by {abs(v):.1f} dB." for v in values]
        return prompts, [f"change_volume(db={v:.1f})" for v in values]

    audio = noise_audio(16, seed=5)
    model.train()
    for step in range(300):
        if step == 220:  # the L1 loss jitters at a high rate; settle the values
            optimizer.param_groups[0]["lr"] = 3e-4
        prompts, targets = examples(16, parity=0)
        loss = model(**model.prepare_batch(audio, RATE, prompts, targets)).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    prompts, targets = examples(16, parity=1)
    written = model.generate_programs(audio, RATE, prompts)
    errors = [
        abs(parse(w)[0].args["db"] - parse(t)[0].args["db"])
        for w, t in zip(written, targets, strict=True)
    ]
    assert sum(errors) / len(errors) < 0.3, list(zip(written, targets, strict=True))


def test_training_kind_says_when_lora_is_a_fine_tune(tmp_path):
    assert training_kind(tiny_config()).startswith("full training of the random-init")
    frozen_base = tiny_config(trainable={"decoder_base": False})
    assert training_kind(frozen_base).endswith("small decoder, base frozen")
    pretrained = tiny_config(decoder={"path": str(tmp_path)})
    assert training_kind(pretrained) == "LoRA adapters on the frozen pretrained decoder"


def test_trainable_summary_follows_config(model):
    rows = {row["part"]: row for row in model.trainable_summary()}
    assert set(rows) == {
        "text_encoder",
        "audio_encoder",
        "fusion",
        "decoder_base",
        "decoder_lora",
        "value_head",
    }
    assert rows["text_encoder"]["trainable"] is False
    assert rows["decoder_lora"]["trainable"] and rows["decoder_base"]["trainable"]
    assert all(row["params"] > 0 for row in rows.values())
    counted = sum(row["params"] for row in rows.values() if row["trainable"])
    assert counted == sum(p.numel() for p in model.trainable_parameters())

    frozen = MixerModel.from_config(
        tiny_config(
            trainable={"text_encoder": True, "audio_encoder": False, "decoder_base": False}
        ),
        RATE,
    )
    rows = {row["part"]: row["trainable"] for row in frozen.trainable_summary()}
    assert rows == {
        "text_encoder": True,
        "audio_encoder": False,
        "fusion": True,
        "decoder_base": False,
        "decoder_lora": True,
        "value_head": True,
    }
    frozen.train()
    assert not frozen.audio_encoder.training and frozen.text_encoder.training


def test_frozen_text_encoder_stays_in_eval_mode(model):
    model.train()
    assert model.fusion.training and not model.text_encoder.training


def test_same_seed_same_weights():
    first = MixerModel.from_config(tiny_config(), RATE, seed=5)
    second = MixerModel.from_config(tiny_config(), RATE, seed=5)
    for (name, a), b in zip(first.state_dict().items(), second.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_bad_htsat_config_names_the_keys():
    bad = {**TINY_HTSAT, "hidden_size": 48}
    with pytest.raises(
        ModelConfigError,
        match=r"mixer\.audio_encoder\.small: hidden_size \(48\).*"
        r"patch_embeds_hidden_size \(16\)",
    ):
        MixerModel.from_config(tiny_config(audio_encoder={"small": bad}), RATE)


def test_htsat_window_larger_than_last_grid_is_rejected():
    bad = {**TINY_HTSAT, "window_size": 16}
    with pytest.raises(ModelConfigError, match=r"at least window_size \(16\)"):
        MixerModel.from_config(tiny_config(audio_encoder={"small": bad}), RATE)


def test_audio_encoder_from_a_clap_checkpoint(tmp_path):
    text_config = {
        "vocab_size": 100,
        "hidden_size": 16,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "intermediate_size": 32,
    }
    config = ClapConfig(text_config=text_config, audio_config=TINY_HTSAT, projection_dim=24)
    ClapModel(config).save_pretrained(tmp_path / "clap")
    ClapFeatureExtractor(
        feature_size=16,
        sampling_rate=RATE,
        hop_length=32,
        max_length_s=1,
        truncation="rand_trunc",
    ).save_pretrained(tmp_path / "clap")
    model = MixerModel.from_config(
        tiny_config(audio_encoder={"path": str(tmp_path / "clap")}), RATE
    )
    assert model.audio_encoder.out_dim == 24
    batch = model.prepare_batch(noise_audio(2), RATE, PROMPTS, TARGETS)
    assert torch.isfinite(model(**batch).loss)
    model.eval()
    with torch.no_grad():
        expected = model(**batch).logits
    loaded = load_mixer(save_mixer(model, tmp_path / "saved"))
    with torch.no_grad():
        assert torch.equal(loaded(**batch).logits, expected)


def test_missing_text_encoder_path_is_a_clear_error(tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(ModelLoadError, match=r"mixer\.text_encoder\.path: .*no-such-model"):
        MixerModel.from_config(tiny_config(text_encoder={"path": str(missing)}), RATE)


def test_non_canonical_or_too_long_targets_are_rejected(model):
    with pytest.raises(ValueError, match=r"change_volume\(db=\+3\)"):
        model.prepare_batch(noise_audio(1), RATE, ["x"], ["change_volume(db=+3)"])
    too_long = " ".join(["change_volume(db=-12.5)"] * 20)
    with pytest.raises(ValueError, match=r"mixer\.decoder\.max_target_tokens=96"):
        model.prepare_batch(noise_audio(1), RATE, ["x"], [too_long])


def test_prepare_batch_resamples_other_rates(model):
    batch = model.prepare_batch(noise_audio(1, seconds=0.5), RATE * 2, ["x"])
    reference = model.prepare_batch(noise_audio(1, seconds=0.25), RATE, ["x"])
    assert batch["input_features"].shape == reference["input_features"].shape


def test_stated_values_are_copied_exactly_even_ones_never_trained_on(tmp_path):
    """Trained briefly on "turn it up/down by X dB" with a few X, the model writes other,
    unseen X exactly, with the sign the words give: the pointer chose the number, the
    value is the number itself (a regression could not land on unseen values). Through
    ``mixer mix``, a stated value out of range is written in range, and said on stderr."""
    torch.manual_seed(0)
    model = MixerModel.from_config(tiny_config(), RATE, seed=2)
    model.train()
    rng = random.Random(0)
    seen = [1.5, 2.0, 3.5, 4.0, 6.5, 7.0, 9.5, 11.0]
    optimizer = torch.optim.AdamW(model.trainable_parameters(), lr=3e-3)
    for _ in range(60):
        values = [rng.choice(seen) * rng.choice((1, -1)) for _ in range(8)]
        prompts = [f"turn it {'up' if v > 0 else 'down'} by {abs(v):g} dB" for v in values]
        targets = [f"change_volume(db={v:.1f})" for v in values]
        batch = model.prepare_batch(noise_audio(8, seed=rng.randrange(99)), RATE, prompts, targets)
        loss = model(**batch).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    unseen = [4.4, -0.4, 13.3, -8.8]
    prompts = [
        "Please turn it up by 4.4 dB.",
        "Can you make it 0.4 dB quieter?",
        "turn it up by 13.3 dB",
        "turn it down by 8.8dB",
    ]
    generations = model.generate(noise_audio(4, seed=7), RATE, prompts, check=False)
    for generation, value in zip(generations, unseen, strict=True):
        assert parse(generation.program) == [ToolCall("change_volume", {"db": value})]
        assert generation.values[0].source == "stated"
    folder = save_mixer(model, tmp_path / "model")
    song = write_audio(tmp_path / "in.wav", 0.01 * noise_audio(1, seconds=1.0)[0].numpy(), RATE)
    result = subprocess.run(
        [str(Path(sys.executable).parent / "mixer"), "mix", str(song), "--prompt",
         "turn it up by 30 dB", "--model", str(folder), "-o", str(tmp_path / "out.wav")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert parse(result.stdout.strip())[0] == ToolCall("change_volume", {"db": 24.0})
    assert "stated 30 dB is outside [-24, 24] dB; wrote 24" in result.stderr


def test_a_prompt_repeated_past_the_window_means_what_it_says_once(model):
    audio = noise_audio(1, seed=5)
    once = "make it louder"
    assert model.text_encoder.read(" ".join([once] * 2000)) == once
    long = model.generate_programs(audio, RATE, [" ".join([once] * 2000)], check=False)
    assert long == model.generate_programs(audio, RATE, [once], check=False)
    window = model.text_encoder.max_length
    clauses = ", ".join(f"boost the lows by {i} dB" for i in range(1, 60))
    read = model.text_encoder.read(clauses)
    assert len(model.text_encoder.tokenizer(read)["input_ids"]) <= window
    assert read.endswith(" dB") and clauses.startswith(read)


def test_a_level_correction_is_measured_to_the_reference_loudness():
    """Trained briefly on level fixes of a few gains, the model writes the correction of
    unseen gains exactly: the pointer picks "measured", the value is the gain that brings
    the input to the reference loudness (as loudness normalisation would)."""
    torch.manual_seed(0)
    model = MixerModel.from_config(tiny_config(), RATE, seed=3)
    model.train()

    def at_gain(gains: list[float], seed: int) -> torch.Tensor:
        audio = noise_audio(len(gains), seed=seed)
        now = lufs_torch(audio, RATE)
        scale = 10 ** ((model.reference_lufs - now + torch.tensor(gains)) / 20)
        return audio * scale[:, None, None]

    rng = random.Random(1)
    seen = [-9.0, -6.0, -3.0, 2.0, 5.0, 8.0]
    optimizer = torch.optim.AdamW(model.trainable_parameters(), lr=3e-3)
    for step in range(60):
        gains = [rng.choice(seen) for _ in range(8)]
        targets = [f"change_volume(db={-g:.1f})" for g in gains]
        batch = model.prepare_batch(at_gain(gains, step), RATE, ["Fix the mix."] * 8, targets)
        loss = model(**batch).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    unseen = [-7.3, 4.1, 0.6]
    generations = model.generate(at_gain(unseen, 99), RATE, ["Fix the mix."] * 3, check=False)
    for generation, gain in zip(generations, unseen, strict=True):
        (call,) = parse(generation.program)
        assert call.name == "change_volume" and generation.values[-1].source == "measured"
        assert call.args["db"] == pytest.approx(-gain, abs=0.1)
