"""MixerPredictor: (audio, prompt) -> tool calls, for evaluation, the CLI and MLflow.

It owns the input handling a caller should not have to know: resampling to the
model's rate (soxr), mono/stereo (mono is fed as dual mono, which the model treats
identically to mono), cropping to ``mixer.audio_encoder.max_seconds`` (centre), and
batching examples of equal length, since padding would change their level features.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soxr
import torch

from mixer_core.language.grammar import ToolCall, parse
from mixer_core.model.generation import Generation
from mixer_core.model.mixer_model import MixerModel
from mixer_core.model.persistence import load_mixer, read_training_data


class MixerPredictor:
    """``training_data`` is the model folder's record of what it was trained on (``None``
    when the folder has none)."""

    def __init__(
        self, model: MixerModel, batch_size: int = 8, training_data: dict | None = None
    ) -> None:
        self.model = model.eval()
        self.batch_size = batch_size
        self.training_data = training_data

    @classmethod
    def from_folder(
        cls, path: str | Path, device: str = "cpu", batch_size: int = 8
    ) -> MixerPredictor:
        return cls(load_mixer(path, device), batch_size, read_training_data(path))

    @property
    def trained_on_generated_audio_only(self) -> bool:
        record = self.training_data or {}
        artists = set(record.get("artists", []))
        return bool(artists) and artists <= set(record.get("generated_artists", []))

    @property
    def sample_rate(self) -> int:
        return self.model.sample_rate

    def prepare_audio(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        """(C, T) or (T,) at any rate -> (2, T') float32 at the model's rate, cropped."""
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim == 1:
            audio = audio[None]
        if audio.ndim != 2 or audio.shape[0] not in (1, 2):
            raise ValueError(
                f"audio must be (channels, samples) with 1 or 2 channels, got shape {audio.shape}"
            )
        if audio.shape[1] == 0:
            raise ValueError("audio is empty")
        if sample_rate != self.sample_rate:
            audio = soxr.resample(audio.T, sample_rate, self.sample_rate).T.astype(np.float32)
        max_samples = round(self.model.config.audio_encoder.max_seconds * self.sample_rate)
        if audio.shape[1] > max_samples:
            start = (audio.shape[1] - max_samples) // 2
            audio = audio[:, start : start + max_samples]
        return np.ascontiguousarray(np.broadcast_to(audio, (2, audio.shape[1])))

    def predict(self, audio: np.ndarray, sample_rate: int, prompt: str) -> list[ToolCall]:
        return self.predict_batch([audio], sample_rate, [prompt])[0]

    def predict_batch(
        self, audios: Sequence[np.ndarray], sample_rate: int, prompts: Sequence[str]
    ) -> list[list[ToolCall]]:
        return [parse(g.program) for g in self.generate_batch(audios, sample_rate, prompts)]

    def generate_batch(
        self, audios: Sequence[np.ndarray], sample_rate: int, prompts: Sequence[str]
    ) -> list[Generation]:
        """The model's :class:`Generation` per example: program, values and notes."""
        if len(audios) != len(prompts):
            raise ValueError(f"{len(audios)} audio examples but {len(prompts)} prompts")
        prepared = [self.prepare_audio(audio, sample_rate) for audio in audios]
        by_length: dict[int, list[int]] = {}
        for index, audio in enumerate(prepared):
            by_length.setdefault(audio.shape[1], []).append(index)
        generations: list[Generation | None] = [None] * len(prepared)
        with torch.inference_mode():
            for indices in by_length.values():
                for start in range(0, len(indices), self.batch_size):
                    chunk = indices[start : start + self.batch_size]
                    batch = torch.from_numpy(np.stack([prepared[i] for i in chunk]))
                    done = self.model.generate(batch, self.sample_rate, [prompts[i] for i in chunk])
                    for i, generation in zip(chunk, done, strict=True):
                        generations[i] = generation
        return [g for g in generations if g is not None]
