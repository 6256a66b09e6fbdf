"""Audio encoder: CLAP's HTSAT (``transformers.ClapAudioModel``), pooled to one vector.

Built from ``mixer.audio_encoder.small`` when no checkpoint is given. The log-mel
front end is computed in torch (``features.ClapLogMel``) with the geometry the
encoder expects: for a small encoder the hop is chosen so that ``max_seconds`` at
the data rate fills HTSAT's ``spec_size * freq_ratio`` time frames; a pretrained
checkpoint keeps its own feature-extractor settings and audio is resampled to its rate.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import ClapAudioConfig, ClapAudioModel, ClapFeatureExtractor, ClapModel
from transformers.models.clap.modeling_clap import ClapAudioModelWithProjection, ClapProjectionLayer

from mixer_core.model.errors import ModelConfigError, ModelLoadError
from mixer_core.model.features import ClapLogMel, fft_resample
from mixer_core.model.text_encoder import require_folder

SMALL_KEY = "mixer.audio_encoder.small"
PATH_KEY = "mixer.audio_encoder.path"
_N_FFT = 1024
_F_MAX = 14_000.0


def validate_htsat(config: ClapAudioConfig, key: str = SMALL_KEY) -> None:
    """Reject HTSAT geometries that would only fail deep inside the first forward pass."""
    depths = list(config.depths)
    expected = config.patch_embeds_hidden_size * 2 ** (len(depths) - 1)
    if config.hidden_size != expected:
        raise ModelConfigError(
            f"{key}: hidden_size ({config.hidden_size}) must equal patch_embeds_hidden_size "
            f"({config.patch_embeds_hidden_size}) * 2**(len(depths)-1) = {expected}"
        )
    if len(config.num_attention_heads) != len(depths):
        raise ModelConfigError(
            f"{key}: num_attention_heads ({list(config.num_attention_heads)}) needs one entry per "
            f"stage in depths ({depths})"
        )
    if config.spec_size % config.num_mel_bins:
        raise ModelConfigError(
            f"{key}: spec_size ({config.spec_size}) must be a multiple of num_mel_bins "
            f"({config.num_mel_bins})"
        )
    stride = config.patch_stride if isinstance(config.patch_stride, int) else config.patch_stride[0]
    last_grid = config.spec_size // stride // 2 ** (len(depths) - 1)
    freq_ratio = config.spec_size // config.num_mel_bins
    if last_grid < config.window_size:
        raise ModelConfigError(
            f"{key}: the last stage's grid (spec_size / patch_stride / 2**(len(depths)-1) = "
            f"{last_grid}) must be at least window_size ({config.window_size})"
        )
    if last_grid < freq_ratio or last_grid % freq_ratio:
        raise ModelConfigError(
            f"{key}: the last stage's grid (spec_size / patch_stride / 2**(len(depths)-1) = "
            f"{last_grid}) must be a positive multiple of spec_size / num_mel_bins ({freq_ratio})"
        )


def small_front_end(
    config: ClapAudioConfig, sample_rate: int, max_seconds: float
) -> dict[str, Any]:
    freq_ratio = config.spec_size // config.num_mel_bins
    frames = config.spec_size * freq_ratio
    max_samples = round(max_seconds * sample_rate)
    hop = math.ceil(max_samples / (frames - 1))
    return {
        "sample_rate": sample_rate,
        "n_mels": config.num_mel_bins,
        "n_fft": max(_N_FFT, 2 ** math.ceil(math.log2(hop))),
        "hop_length": hop,
        "max_samples": max_samples,
        "f_min": 0.0,
        "f_max": min(_F_MAX, sample_rate / 2),
        "fused": False,
    }


def extractor_front_end(extractor: ClapFeatureExtractor, config: ClapAudioConfig) -> dict[str, Any]:
    return {
        "sample_rate": int(extractor.sampling_rate),
        "n_mels": int(extractor.feature_size),
        "n_fft": int(extractor.fft_window_size),
        "hop_length": int(extractor.hop_length),
        "max_samples": int(extractor.nb_max_samples),
        "f_min": float(extractor.frequency_min),
        "f_max": float(extractor.frequency_max),
        "fused": bool(config.enable_fusion),
    }


class AudioEncoder(nn.Module):
    def __init__(
        self, model: ClapAudioModel, projection: nn.Module | None, front_end: dict[str, Any]
    ) -> None:
        super().__init__()
        self.model = model
        self.projection = projection
        self.front_end = dict(front_end)
        self.log_mel = ClapLogMel(**front_end)

    @classmethod
    def small(cls, small: dict[str, Any], sample_rate: int, max_seconds: float) -> AudioEncoder:
        try:
            config = ClapAudioConfig(**small)
        except TypeError as exc:
            raise ModelConfigError(f"{SMALL_KEY}: {exc}") from exc
        validate_htsat(config)
        return cls(ClapAudioModel(config), None, small_front_end(config, sample_rate, max_seconds))

    @classmethod
    def from_path(cls, path: str | Path) -> AudioEncoder:
        """A CLAP checkpoint folder: a ``ClapModel`` (audio half kept) or a ``ClapAudioModel``."""
        folder = require_folder(path, PATH_KEY)
        model_type = json.loads((folder / "config.json").read_text()).get("model_type")
        try:
            if model_type == "clap":
                clap = ClapModel.from_pretrained(folder, local_files_only=True)
                model, projection, config = (
                    clap.audio_model,
                    clap.audio_projection,
                    clap.config.audio_config,
                )
            elif model_type == "clap_audio_model":
                with_projection = ClapAudioModelWithProjection.from_pretrained(
                    folder, local_files_only=True
                )
                model, projection = with_projection.audio_model, with_projection.audio_projection
                config = with_projection.config
            else:
                raise ModelLoadError(
                    f"{PATH_KEY}: {folder} holds model_type {model_type!r}, "
                    "expected 'clap' or 'clap_audio_model'"
                )
            if (folder / "preprocessor_config.json").is_file():
                extractor = ClapFeatureExtractor.from_pretrained(folder, local_files_only=True)
            else:
                extractor = ClapFeatureExtractor(feature_size=config.num_mel_bins)
        except OSError as exc:
            raise ModelLoadError(
                f"{PATH_KEY}: cannot load a CLAP model from {folder}: {exc}"
            ) from exc
        validate_htsat(config, PATH_KEY)
        front_end = extractor_front_end(extractor, config)
        frames = front_end["max_samples"] // front_end["hop_length"] + 1
        max_frames = config.spec_size * (config.spec_size // config.num_mel_bins)
        if front_end["n_mels"] != config.num_mel_bins or frames > max_frames:
            raise ModelLoadError(
                f"{PATH_KEY}: {folder}: the feature extractor gives {frames} frames x "
                f"{front_end['n_mels']} mels, the encoder takes at most {max_frames} x "
                f"{config.num_mel_bins}"
            )
        return cls(model, projection, front_end)

    @classmethod
    def from_saved(cls, folder: Path) -> AudioEncoder:
        config = ClapAudioConfig.from_json_file(folder / "config.json")
        meta = json.loads((folder / "front_end.json").read_text())
        projection = ClapProjectionLayer(config) if meta["projection"] else None
        encoder = cls(ClapAudioModel(config), projection, meta["front_end"])
        encoder.load_state_dict(load_file(folder / "model.safetensors"))
        return encoder

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.model.config.to_json_file(folder / "config.json")
        meta = {"projection": self.projection is not None, "front_end": self.front_end}
        (folder / "front_end.json").write_text(json.dumps(meta, indent=2))
        state = {k: v.detach().contiguous() for k, v in self.state_dict().items()}
        save_file(state, folder / "model.safetensors")

    @property
    def out_dim(self) -> int:
        config = self.model.config
        return int(config.projection_dim if self.projection is not None else config.hidden_size)

    def features(self, audio: torch.Tensor, sample_rate: int) -> torch.Tensor:
        """(B, C, T) audio -> the encoder's log-mel input (B, 1 or 4, frames, mels)."""
        mono = audio.float().mean(dim=1)
        return self.log_mel(fft_resample(mono, sample_rate, self.front_end["sample_rate"]))

    def forward(self, input_features: torch.Tensor) -> torch.Tensor:
        is_longer = None
        if self.front_end["fused"]:
            # audio is cropped to the extractor's length, so no clip is "longer"
            is_longer = torch.zeros(
                input_features.shape[0], 1, dtype=torch.bool, device=input_features.device
            )
        pooled = self.model(input_features=input_features, is_longer=is_longer).pooler_output
        return self.projection(pooled) if self.projection is not None else pooled
