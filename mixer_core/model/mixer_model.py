"""MixerModel: text + audio (+ level features) -> prefix -> LoRA decoder -> program text.

The batch layout the decoder sees is ``[prefix (P)] [start] [target tokens] [EOS]
[padding]``; labels are -100 on the prefix, the start token and the padding, so the
loss is the mean cross-entropy over target tokens and EOS only.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F
from transformers.modeling_outputs import CausalLMOutput

from mixer_core.config import MixerConfig
from mixer_core.model.audio_encoder import AudioEncoder
from mixer_core.model.constrained import constrained_generate
from mixer_core.model.decoder import Decoder
from mixer_core.model.features import LevelFeatures, fft_resample
from mixer_core.model.fusion import PrefixFusion
from mixer_core.model.text_encoder import TextEncoder

logger = logging.getLogger(__name__)

IGNORE_INDEX = -100
LEVEL_BANDS = 32


def build_fusion(
    config: MixerConfig, text: TextEncoder, audio: AudioEncoder, decoder: Decoder
) -> PrefixFusion:
    fusion_cfg = config.fusion
    return PrefixFusion(
        text_dim=text.out_dim,
        audio_dim=audio.out_dim,
        level_dim=LevelFeatures.feature_size(LEVEL_BANDS) if fusion_cfg.level_features else 0,
        hidden_size=fusion_cfg.hidden_size,
        prefix_tokens=fusion_cfg.prefix_tokens,
        decoder_dim=decoder.hidden_size,
        dropout=fusion_cfg.dropout,
    )


def format_trainable_summary(rows: Sequence[dict]) -> str:
    """The start-of-training table of which parts train and how many parameters each has."""
    lines = [f"{'part':<16} {'trainable':<10} {'params':>12}"]
    lines += [
        f"{r['part']:<16} {'yes' if r['trainable'] else 'frozen':<10} {r['params']:>12,}"
        for r in rows
    ]
    total = sum(r["params"] for r in rows)
    trainable = sum(r["params"] for r in rows if r["trainable"])
    lines.append(f"{'total':<16} {trainable:>10,} {total:>12,}  (trainable / all)")
    return "\n".join(lines)


class MixerModel(nn.Module):
    def __init__(
        self,
        config: MixerConfig,
        sample_rate: int,
        text_encoder: TextEncoder,
        audio_encoder: AudioEncoder,
        decoder: Decoder,
        fusion: PrefixFusion,
    ) -> None:
        super().__init__()
        self.config = config
        self.sample_rate = sample_rate
        self.text_encoder = text_encoder
        self.audio_encoder = audio_encoder
        self.decoder = decoder
        self.fusion = fusion
        self.level = (
            LevelFeatures(sample_rate, LEVEL_BANDS) if config.fusion.level_features else None
        )
        self._apply_trainable()

    @classmethod
    def from_config(cls, mixer_cfg: MixerConfig, sample_rate: int, seed: int = 0) -> MixerModel:
        """Build every part from config.

        The seed fixes all freshly initialised weights; the global RNG is left untouched.
        """
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            text = TextEncoder.from_path(
                mixer_cfg.text_encoder.path, mixer_cfg.text_encoder.max_length
            )
            audio_cfg = mixer_cfg.audio_encoder
            if audio_cfg.path is None:
                audio = AudioEncoder.small(audio_cfg.small, sample_rate, audio_cfg.max_seconds)
            else:
                audio = AudioEncoder.from_path(audio_cfg.path)
            decoder = Decoder.build(mixer_cfg.decoder, mixer_cfg.lora)
            fusion = build_fusion(mixer_cfg, text, audio, decoder)
            model = cls(mixer_cfg, sample_rate, text, audio, decoder, fusion)
        logger.info("mixer model parts:\n%s", format_trainable_summary(model.trainable_summary()))
        return model

    # ---- which parts train ----------------------------------------------------------

    def _apply_trainable(self) -> None:
        flags = self.config.trainable
        self.text_encoder.requires_grad_(flags.text_encoder)
        self.audio_encoder.requires_grad_(flags.audio_encoder)
        self.fusion.requires_grad_(flags.fusion)
        train_base = flags.decoder_base and not self.decoder.is_pretrained
        for parameter in self.decoder.base_parameters():
            parameter.requires_grad_(train_base)
        for parameter in self.decoder.lora_parameters():
            parameter.requires_grad_(True)
        self.train(self.training)

    def _parts(self) -> dict[str, list[nn.Parameter]]:
        return {
            "text_encoder": list(self.text_encoder.parameters()),
            "audio_encoder": list(self.audio_encoder.parameters()),
            "fusion": list(self.fusion.parameters()),
            "decoder_base": self.decoder.base_parameters(),
            "decoder_lora": self.decoder.lora_parameters(),
        }

    def trainable_summary(self) -> list[dict]:
        return [
            {
                "part": part,
                "trainable": any(p.requires_grad for p in params),
                "params": sum(p.numel() for p in params),
            }
            for part, params in self._parts().items()
        ]

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]

    def train(self, mode: bool = True) -> MixerModel:
        """Frozen encoders stay in eval mode: no dropout, no BatchNorm statistics drift."""
        super().train(mode)
        if not self.config.trainable.text_encoder:
            self.text_encoder.eval()
        if not self.config.trainable.audio_encoder:
            self.audio_encoder.eval()
        return self

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    # ---- batches ---------------------------------------------------------------------

    def prepare_batch(
        self,
        audio: torch.Tensor,
        sample_rate: int,
        prompts: Sequence[str],
        targets: Sequence[str] | None = None,
    ) -> dict[str, torch.Tensor]:
        """Encoder inputs, plus decoder inputs and labels for ``targets``; on the model's device."""
        if audio.dim() != 3:
            raise ValueError(
                f"audio must be (batch, channels, samples), got shape {tuple(audio.shape)}"
            )
        if audio.shape[0] != len(prompts):
            raise ValueError(f"{audio.shape[0]} audio examples but {len(prompts)} prompts")
        device = self.device
        audio = fft_resample(audio.to(device).float(), sample_rate, self.sample_rate)
        with torch.no_grad():
            batch = {"input_features": self.audio_encoder.features(audio, self.sample_rate)}
            if self.level is not None:
                batch["level_features"] = self.level(audio)
        batch.update(self.text_encoder.tokenize(prompts, device))
        if targets is not None:
            if len(targets) != len(prompts):
                raise ValueError(f"{len(targets)} targets but {len(prompts)} prompts")
            batch.update(self._target_tensors(targets, device))
        return batch

    def _target_tensors(
        self, targets: Sequence[str], device: torch.device
    ) -> dict[str, torch.Tensor]:
        decoder = self.decoder
        encoded = decoder.encode_targets(targets, self.config.decoder.max_target_tokens)
        length = 1 + max(len(ids) for ids in encoded) + 1
        prefix = self.config.fusion.prefix_tokens
        input_ids = torch.full((len(encoded), length), decoder.pad_id, dtype=torch.long)
        mask = torch.zeros((len(encoded), length), dtype=torch.long)
        labels = torch.full((len(encoded), prefix + length), IGNORE_INDEX, dtype=torch.long)
        for row, ids in enumerate(encoded):
            sequence = [decoder.start_id, *ids, decoder.eos_id]
            input_ids[row, : len(sequence)] = torch.tensor(sequence)
            mask[row, : len(sequence)] = 1
            labels[row, prefix + 1 : prefix + len(sequence)] = torch.tensor(sequence[1:])
        return {
            "decoder_input_ids": input_ids.to(device),
            "decoder_attention_mask": mask.to(device),
            "labels": labels.to(device),
        }

    # ---- forward ---------------------------------------------------------------------

    def prefix(
        self,
        input_features: torch.Tensor,
        prompt_input_ids: torch.Tensor,
        prompt_attention_mask: torch.Tensor,
        level_features: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The decoder prefix (B, P, H) from the encoders' inputs."""
        flags = self.config.trainable
        with torch.set_grad_enabled(torch.is_grad_enabled() and flags.text_encoder):
            text = self.text_encoder(prompt_input_ids, prompt_attention_mask)
        with torch.set_grad_enabled(torch.is_grad_enabled() and flags.audio_encoder):
            audio = self.audio_encoder(input_features)
        return self.fusion(text, audio, level_features)

    def forward(
        self,
        input_features: torch.Tensor,
        prompt_input_ids: torch.Tensor,
        prompt_attention_mask: torch.Tensor,
        decoder_input_ids: torch.Tensor,
        decoder_attention_mask: torch.Tensor,
        level_features: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
    ) -> CausalLMOutput:
        prefix = self.prefix(
            input_features, prompt_input_ids, prompt_attention_mask, level_features
        )
        tokens = self.decoder.embed(decoder_input_ids)
        embeds = torch.cat([prefix.to(tokens.dtype), tokens], dim=1)
        prefix_mask = torch.ones(
            prefix.shape[:2], dtype=decoder_attention_mask.dtype, device=prefix.device
        )
        attention_mask = torch.cat([prefix_mask, decoder_attention_mask], dim=1)
        logits = self.decoder.model(inputs_embeds=embeds, attention_mask=attention_mask).logits
        loss = None
        if labels is not None:
            loss = F.cross_entropy(
                logits[:, :-1].float().reshape(-1, logits.shape[-1]),
                labels[:, 1:].reshape(-1),
                ignore_index=IGNORE_INDEX,
            )
        return CausalLMOutput(loss=loss, logits=logits)

    # ---- generation ------------------------------------------------------------------

    @contextlib.contextmanager
    def _evaluating(self) -> Iterator[None]:
        was_training = self.training
        self.eval()
        try:
            yield
        finally:
            self.train(was_training)

    def generate_programs(
        self,
        audio: torch.Tensor,
        sample_rate: int,
        prompts: Sequence[str],
        max_new_tokens: int | None = None,
        temperature: float = 0.0,
        seed: int | None = None,
    ) -> list[str]:
        """Canonical program text per example, constrained by the registry's grammar."""
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        with self._evaluating(), torch.no_grad():
            batch = self.prepare_batch(audio, sample_rate, prompts)
            prefix = self.prefix(
                batch["input_features"],
                batch["prompt_input_ids"],
                batch["prompt_attention_mask"],
                batch.get("level_features"),
            )
            return constrained_generate(
                self.decoder,
                prefix,
                max_new_tokens or self.config.generation.max_new_tokens,
                temperature=temperature,
                generator=generator,
            )

    def save(self, folder: Path) -> Path:
        from mixer_core.model.persistence import save_mixer

        return save_mixer(self, folder)
