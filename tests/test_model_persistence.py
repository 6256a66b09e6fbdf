"""Save/load of the mixer model folder and the predictor built on it."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
import yaml

from mixer_core.language.grammar import ToolCall
from mixer_core.model import MixerModel, MixerPredictor, ModelLoadError, load_mixer, save_mixer
from mixer_core.model.persistence import read_saved_config
from tests.test_constrained_decoding import write_pretrained_decoder
from tests.test_model import PROMPTS, RATE, TARGETS, noise_audio, tiny_config


def train_a_little(model: MixerModel, steps: int = 3) -> dict[str, torch.Tensor]:
    """Move every trainable weight (and BatchNorm statistics) away from initialisation."""
    batch = model.prepare_batch(noise_audio(2, seed=9), RATE, PROMPTS, TARGETS)
    optimizer = torch.optim.AdamW(model.trainable_parameters(), lr=1e-2)
    model.train()
    for _ in range(steps):
        loss = model(**batch).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    return batch


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    model = MixerModel.from_config(tiny_config(), RATE, seed=2)
    batch = train_a_little(model)
    folder = save_mixer(model, tmp_path_factory.mktemp("models") / "mixer")
    return model, batch, folder


def test_save_writes_a_self_contained_folder(saved):
    model, _, folder = saved
    for name in (
        "mixer_config.yaml",
        "fusion.safetensors",
        "decoder.json",
        "adapter/adapter_config.json",
        "adapter/adapter_model.safetensors",
        "decoder/config.json",
        "decoder/model.safetensors",
        "tokenizer/tokenizer.json",
        "audio_encoder/model.safetensors",
        "text_encoder/model.safetensors",
    ):
        assert (folder / name).is_file(), name
    meta = yaml.safe_load((folder / "mixer_config.yaml").read_text())
    assert meta["sample_rate"] == RATE
    config, rate, reference = read_saved_config(folder)
    assert reference == -20.0
    assert config == model.config and rate == RATE
    assert not list(folder.parent.glob(".mixer.*")), "staging folder left behind"


def test_load_gives_identical_logits_and_programs(saved):
    model, batch, folder = saved
    loaded = load_mixer(folder)
    assert not loaded.training
    with torch.no_grad():
        expected = model(**batch)
        actual = loaded(**batch)
    assert torch.equal(actual.logits, expected.logits)
    assert torch.equal(actual.loss, expected.loss)
    audio = noise_audio(2, seed=1)
    assert loaded.generate_programs(audio, RATE, PROMPTS) == model.generate_programs(
        audio, RATE, PROMPTS
    )
    rows = {row["part"]: row for row in loaded.trainable_summary()}
    assert rows == {row["part"]: row for row in model.trainable_summary()}


def test_loaded_model_keeps_training(saved):
    _, batch, folder = saved
    loaded = load_mixer(folder).train()
    loss = loaded(**batch).loss
    loss.backward()
    assert all(p.grad is not None for p in loaded.decoder.lora_parameters())


def test_saving_over_an_existing_folder_replaces_it(saved, tmp_path):
    model, _, _ = saved
    target = tmp_path / "again"
    target.mkdir()
    (target / "stale.txt").write_text("old")
    save_mixer(model, target)
    assert not (target / "stale.txt").exists()
    assert (target / "mixer_config.yaml").is_file()


def test_loading_a_missing_folder_names_it(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(ModelLoadError, match="nowhere: no such model folder"):
        load_mixer(missing)
    with pytest.raises(ModelLoadError, match="not a saved mixer model"):
        MixerPredictor.from_folder(tmp_path)


def test_pretrained_decoder_round_trip(tmp_path):
    base = write_pretrained_decoder(tmp_path / "tiny-mistral")
    model = MixerModel.from_config(tiny_config(decoder={"path": str(base)}), RATE, seed=0)
    batch = train_a_little(model)
    folder = save_mixer(model, tmp_path / "saved")
    shutil.rmtree(base)  # another machine: the folder the base came from is not there
    loaded = load_mixer(folder)
    assert loaded.decoder.is_pretrained and loaded.decoder.pretrained_path == str(base.resolve())
    with torch.no_grad():
        assert torch.equal(loaded(**batch).logits, model(**batch).logits)


def test_predictor_handles_rates_channels_and_lengths(saved):
    model, _, folder = saved
    predictor = MixerPredictor.from_folder(folder, batch_size=2)
    rng = np.random.default_rng(0)
    audios = [
        0.1 * rng.standard_normal((2, 16000)).astype(np.float32),  # stereo, 1 s at 16 kHz
        0.1 * rng.standard_normal(8000).astype(np.float32),  # mono without a channel axis
        0.1 * rng.standard_normal((1, 40000)).astype(np.float32),  # longer than max_seconds
        0.1 * rng.standard_normal((2, 16000)).astype(np.float32),
    ]
    prompts = ["louder", "brighter", "less bass", "wider"]
    together = predictor.predict_batch(audios, 16000, prompts)
    assert len(together) == 4
    assert all(isinstance(call, ToolCall) for calls in together for call in calls)
    alone = [predictor.predict(a, 16000, p) for a, p in zip(audios, prompts, strict=True)]
    assert together == alone
    prepared = predictor.prepare_audio(audios[2], 16000)
    assert prepared.shape == (2, round(model.config.audio_encoder.max_seconds * RATE))
    with pytest.raises(ValueError, match="1 or 2 channels"):
        predictor.predict(np.zeros((3, 100), np.float32), RATE, "x")
