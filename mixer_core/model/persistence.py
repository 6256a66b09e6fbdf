"""Save and load a trained mixer model as one self-contained folder.

Layout::

    mixer_config.yaml        resolved MixerConfig + sample rate (what built the model)
    text_encoder/            the prompt encoder, copied (HF save_pretrained, ~90 MB for MiniLM)
    audio_encoder/           HTSAT config, front-end settings, weights (safetensors)
    fusion.safetensors       the fusion MLP
    value_head.safetensors   the value head (when mixer.value_head.enabled)
    tokenizer/               the decoder's tokenizer (domain or pretrained)
    adapter/                 LoRA adapter (peft save_pretrained)
    decoder/                 the decoder's base: config + weights (safetensors)
    decoder.json             the folder a pretrained base came from (provenance only)
    training_data.json       what it was trained on: artists, and which were generated

Every part is copied, frozen ones included (the text encoder, a pretrained decoder's
base), so the folder works on another machine (an MLflow artifact); a pretrained base of
several gigabytes costs that much disk per model version.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import torch
import yaml
from safetensors.torch import load_file, save_file

from mixer_core.config import MixerConfig
from mixer_core.model.audio_encoder import AudioEncoder
from mixer_core.model.decoder import Decoder
from mixer_core.model.errors import ModelLoadError
from mixer_core.model.mixer_model import MixerModel
from mixer_core.model.parts import build_fusion, build_value_head
from mixer_core.model.text_encoder import TextEncoder

CONFIG_FILE = "mixer_config.yaml"
# 2: the value head and token-level prompt states (format 1 folders predate both)
# 3: the value head copies stated numbers, measures the level, estimates a distribution
FORMAT_VERSION = 3
VALUE_HEAD_FILE = "value_head.safetensors"
TRAINING_DATA_FILE = "training_data.json"


def _weights(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().contiguous() for k, v in module.state_dict().items()}


def save_mixer(model: MixerModel, folder: str | Path) -> Path:
    """Write the folder atomically (a sibling temp folder renamed into place)."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        meta = {
            "format_version": FORMAT_VERSION,
            "sample_rate": model.sample_rate,
            "reference_lufs": model.reference_lufs,
            "mixer": model.config.model_dump(mode="json"),
        }
        (staging / CONFIG_FILE).write_text(yaml.safe_dump(meta, sort_keys=False))
        model.text_encoder.save(staging / "text_encoder")
        model.audio_encoder.save(staging / "audio_encoder")
        save_file(_weights(model.fusion), staging / "fusion.safetensors")
        if model.value_head is not None:
            save_file(_weights(model.value_head), staging / VALUE_HEAD_FILE)
        model.decoder.save(staging)
        if folder.exists():
            shutil.rmtree(folder)
        staging.rename(folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return folder


def read_saved_config(folder: str | Path) -> tuple[MixerConfig, int, float]:
    """The (MixerConfig, sample rate, reference loudness) a saved folder was built with."""
    folder = Path(folder)
    config_file = folder / CONFIG_FILE
    if not folder.is_dir():
        raise ModelLoadError(f"{folder}: no such model folder")
    if not config_file.is_file():
        raise ModelLoadError(f"{folder}: not a saved mixer model (no {CONFIG_FILE})")
    meta = yaml.safe_load(config_file.read_text())
    if meta.get("format_version") != FORMAT_VERSION:
        raise ModelLoadError(
            f"{config_file}: format_version {meta.get('format_version')!r}, "
            f"expected {FORMAT_VERSION}; retrain the model with this version"
        )
    config = MixerConfig.model_validate(meta["mixer"])
    return config, int(meta["sample_rate"]), float(meta["reference_lufs"])


def load_mixer(folder: str | Path, device: str = "cpu") -> MixerModel:
    """A saved model, in eval mode on ``device``; its logits equal the saved model's."""
    folder = Path(folder)
    config, sample_rate, reference_lufs = read_saved_config(folder)
    text = TextEncoder.from_path(
        folder / "text_encoder", config.text_encoder.max_length, key=f"{folder}/text_encoder"
    )
    audio = AudioEncoder.from_saved(folder / "audio_encoder")
    decoder = Decoder.from_saved(folder)
    fusion = build_fusion(config, text, audio, decoder)
    fusion.load_state_dict(load_file(folder / "fusion.safetensors"))
    head = build_value_head(config, text, decoder)
    if head is not None:
        head.load_state_dict(load_file(folder / VALUE_HEAD_FILE))
    model = MixerModel(config, sample_rate, text, audio, decoder, fusion, head, reference_lufs)
    return model.to(torch.device(device)).eval()


def write_training_data(folder: str | Path, artists: list[str], generated: list[str]) -> Path:
    """Record in a model folder which artists it was trained on and which were generated."""
    path = Path(folder) / TRAINING_DATA_FILE
    record = {"artists": sorted(artists), "generated_artists": sorted(generated)}
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path


def read_training_data(folder: str | Path) -> dict | None:
    """:func:`write_training_data`'s record, or ``None`` for a folder without one."""
    path = Path(folder) / TRAINING_DATA_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ModelLoadError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(record, dict) or not isinstance(record.get("artists"), list):
        raise ModelLoadError(f"{path}: expected an object with a list 'artists'")
    return record
