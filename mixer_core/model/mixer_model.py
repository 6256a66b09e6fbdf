"""MixerModel: text + audio (+ level features) -> prefix -> LoRA decoder -> program text.

The decoder reads ``[prompt memory (L, padding first)] [prefix (P)]``, then the program
(``targets``: teacher forcing). The value head (``mixer.value_head``) fills each value
from the state of the token ending in ``=`` (copied, measured or estimated), and the loss
adds ``loss_weight`` times its loss; generation is in ``generation``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from mixer_core.config import MixerConfig
from mixer_core.language.grammar import parse
from mixer_core.model.audio_encoder import AudioEncoder
from mixer_core.model.decoder import Decoder
from mixer_core.model.execution import partial_levels
from mixer_core.model.features import LevelFeatures, fft_resample
from mixer_core.model.fusion import PrefixFusion
from mixer_core.model.generation import Generation, generate
from mixer_core.model.parts import (
    LEVEL_BANDS,
    build_fusion,
    build_value_head,
    format_trainable_summary,
)
from mixer_core.model.targets import IGNORE_INDEX, target_tensors
from mixer_core.model.text_encoder import TextEncoder
from mixer_core.model.value_head import ValueHead, mark_measured, value_loss
from mixer_core.tools.mixing_tools import MixingTools

logger = logging.getLogger(__name__)
DEFAULT_REFERENCE_LUFS = -20.0


@dataclass
class MixerOutput:
    """``loss`` = ``token_loss`` + ``loss_weight`` × ``value_loss`` (when targets are given)."""

    logits: torch.Tensor
    loss: torch.Tensor | None = None
    token_loss: torch.Tensor | None = None
    value_loss: torch.Tensor | None = None
    pointer_loss: torch.Tensor | None = None


@dataclass
class Encoded:
    """What the decoder reads first: ``lead`` = [memory][prefix], with its mask."""

    lead: torch.Tensor
    lead_mask: torch.Tensor
    states: torch.Tensor


class MixerModel(nn.Module):
    def __init__(
        self,
        config: MixerConfig,
        sample_rate: int,
        text_encoder: TextEncoder,
        audio_encoder: AudioEncoder,
        decoder: Decoder,
        fusion: PrefixFusion,
        value_head: ValueHead | None = None,
        reference_lufs: float = DEFAULT_REFERENCE_LUFS,
    ) -> None:
        super().__init__()
        if (value_head is None) == config.value_head.enabled:
            raise ValueError(
                f"mixer.value_head.enabled is {config.value_head.enabled} but the model was "
                f"given {'no' if value_head is None else 'a'} value head"
            )
        self.config = config
        self.sample_rate = sample_rate
        self.reference_lufs = reference_lufs  # ``data.reference_lufs``: a fix's target level
        self.text_encoder = text_encoder
        self.audio_encoder = audio_encoder
        self.decoder = decoder
        self.fusion = fusion
        self.value_head = value_head
        measured = config.fusion.level_features or config.value_head.enabled
        self.level = LevelFeatures(sample_rate, LEVEL_BANDS) if measured else None
        self.tools = MixingTools()
        self._apply_trainable()

    @classmethod
    def from_config(
        cls,
        mixer_cfg: MixerConfig,
        sample_rate: int,
        seed: int = 0,
        reference_lufs: float = DEFAULT_REFERENCE_LUFS,
    ) -> MixerModel:
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
            head = build_value_head(mixer_cfg, text, decoder)
            model = cls(mixer_cfg, sample_rate, text, audio, decoder, fusion, head, reference_lufs)
        logger.info("mixer model parts:\n%s", format_trainable_summary(model.trainable_summary()))
        return model

    def _apply_trainable(self) -> None:
        flags = self.config.trainable
        self.text_encoder.requires_grad_(flags.text_encoder)
        self.audio_encoder.requires_grad_(flags.audio_encoder)
        self.fusion.requires_grad_(flags.fusion)
        if self.value_head is not None:
            self.value_head.requires_grad_(True)
        train_base = flags.decoder_base and not self.decoder.is_pretrained
        for parameter in self.decoder.base_parameters():
            parameter.requires_grad_(train_base)
        for parameter in self.decoder.lora_parameters():
            parameter.requires_grad_(True)
        self.train(self.training)

    def _parts(self) -> dict[str, list[nn.Parameter]]:
        parts = {
            "text_encoder": list(self.text_encoder.parameters()),
            "audio_encoder": list(self.audio_encoder.parameters()),
            "fusion": list(self.fusion.parameters()),
            "decoder_base": self.decoder.base_parameters(),
            "decoder_lora": self.decoder.lora_parameters(),
        }
        if self.value_head is not None:
            parts["value_head"] = list(self.value_head.parameters())
        return parts

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

    def prepare_batch(
        self,
        audio: torch.Tensor,
        sample_rate: int,
        prompts: Sequence[str],
        targets: Sequence[str] | None = None,
    ) -> dict[str, torch.Tensor]:
        """Encoder inputs, plus decoder inputs and labels for ``targets``; on the model's device.

        A frozen text encoder's token states are included (``prompt_states``), from its
        per-prompt cache.
        """
        if audio.dim() != 3:
            raise ValueError(
                f"audio must be (batch, channels, samples), got shape {tuple(audio.shape)}"
            )
        if audio.shape[0] != len(prompts):
            raise ValueError(f"{audio.shape[0]} audio examples but {len(prompts)} prompts")
        inputs = self.audio_inputs(audio, sample_rate, targets)
        return self.prepare_from_audio_inputs(inputs, prompts, targets)

    @torch.no_grad()
    def audio_inputs(
        self, audio: torch.Tensor, sample_rate: int, targets: Sequence[str] | None = None
    ) -> dict[str, torch.Tensor]:
        """What the model takes from audio (B, C, T): the encoder's log-mel image, the level
        features and, for training on ``targets`` with the value head, ``partial_levels``.

        ``partial_levels[b, k]`` are the level features of ``audio[b]`` after the first
        ``k`` calls of ``targets[b]`` (teacher forcing of what generation measures after
        the calls it has written). All are fixed functions of the audio and the targets,
        so a caller may cache them.
        """
        audio = fft_resample(audio.to(self.device).float(), sample_rate, self.sample_rate)
        inputs = {"input_features": self.audio_encoder.features(audio, self.sample_rate)}
        if self.level is not None:
            inputs["level_features"] = self.level(audio)
        if self.value_head is not None and targets is not None:
            inputs["partial_levels"] = partial_levels(
                self.level,
                self.tools,
                self.sample_rate,
                audio,
                inputs["level_features"],
                [parse(t) for t in targets],
            )
        return inputs

    def prepare_from_audio_inputs(
        self,
        audio_inputs: dict[str, torch.Tensor],
        prompts: Sequence[str],
        targets: Sequence[str] | None = None,
    ) -> dict[str, torch.Tensor]:
        """:meth:`prepare_batch` from :meth:`audio_inputs` already computed."""
        device = self.device
        batch = {key: value.to(device) for key, value in audio_inputs.items()}
        if batch["input_features"].shape[0] != len(prompts):
            raise ValueError(
                f"{batch['input_features'].shape[0]} audio examples but {len(prompts)} prompts"
            )
        batch.update(self.text_encoder.tokenize(prompts, device))
        if not self.config.trainable.text_encoder:
            batch["prompt_states"] = self.text_encoder.cached_states(
                list(prompts), batch["prompt_input_ids"], batch["prompt_attention_mask"]
            )
        if targets is not None:
            if len(targets) != len(prompts):
                raise ValueError(f"{len(targets)} targets but {len(prompts)} prompts")
            lead = batch["prompt_input_ids"].shape[1] + self.config.fusion.prefix_tokens
            batch.update(
                target_tensors(
                    self.decoder,
                    targets,
                    lead,
                    device,
                    self.config.decoder.max_target_tokens,
                    prompts=[self.text_encoder.read(p) for p in prompts]
                    if self.value_head is not None
                    else None,
                )
            )
        return batch

    def encode(
        self,
        input_features: torch.Tensor,
        prompt_input_ids: torch.Tensor,
        prompt_attention_mask: torch.Tensor,
        prompt_numbers: torch.Tensor,
        level_features: torch.Tensor | None,
        prompt_states: torch.Tensor | None,
    ) -> Encoded:
        flags = self.config.trainable
        if prompt_states is None:
            with torch.set_grad_enabled(torch.is_grad_enabled() and flags.text_encoder):
                prompt_states = self.text_encoder(prompt_input_ids, prompt_attention_mask)
        text = TextEncoder.pool(prompt_states, prompt_attention_mask)
        with torch.set_grad_enabled(torch.is_grad_enabled() and flags.audio_encoder):
            audio = self.audio_encoder(input_features)
        fused_levels = level_features if self.config.fusion.level_features else None
        prefix = self.fusion(text, audio, fused_levels)
        memory, memory_mask = self.fusion.prompt_memory(
            prompt_states, prompt_attention_mask, prompt_numbers
        )
        prefix_mask = memory_mask.new_ones(prefix.shape[:2])
        return Encoded(
            torch.cat([memory, prefix], dim=1),
            torch.cat([memory_mask, prefix_mask], dim=1),
            prompt_states,
        )

    def forward(
        self,
        input_features: torch.Tensor,
        prompt_input_ids: torch.Tensor,
        prompt_attention_mask: torch.Tensor,
        prompt_numbers: torch.Tensor,
        decoder_input_ids: torch.Tensor,
        decoder_attention_mask: torch.Tensor,
        level_features: torch.Tensor | None = None,
        prompt_states: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        partial_levels: torch.Tensor | None = None,
        value_positions: torch.Tensor | None = None,
        value_slots: torch.Tensor | None = None,
        value_calls: torch.Tensor | None = None,
        value_targets: torch.Tensor | None = None,
        value_pointer: torch.Tensor | None = None,
        prompt_number_index: torch.Tensor | None = None,
    ) -> MixerOutput:
        encoded = self.encode(
            input_features,
            prompt_input_ids,
            prompt_attention_mask,
            prompt_numbers,
            level_features,
            prompt_states,
        )
        tokens = self.decoder.embed(decoder_input_ids)
        embeds = torch.cat([encoded.lead.to(tokens.dtype), tokens], dim=1)
        attention_mask = torch.cat(
            [encoded.lead_mask.to(decoder_attention_mask.dtype), decoder_attention_mask], dim=1
        )
        regress = self.value_head is not None and value_positions is not None
        out = self.decoder.model(
            inputs_embeds=embeds, attention_mask=attention_mask, output_hidden_states=regress
        )
        result = MixerOutput(logits=out.logits)
        if labels is None:
            return result
        result.token_loss = F.cross_entropy(
            out.logits[:, :-1].float().reshape(-1, out.logits.shape[-1]),
            labels[:, 1:].reshape(-1),
            ignore_index=IGNORE_INDEX,
        )
        result.loss = result.token_loss
        if regress:
            assert self.value_head is not None and value_slots is not None
            assert level_features is not None and partial_levels is not None
            assert value_calls is not None and value_pointer is not None
            assert prompt_number_index is not None and value_targets is not None
            rows, columns = value_positions[:, 0], value_positions[:, 1]
            context = torch.cat([level_features[rows], partial_levels[rows, value_calls]], dim=-1)
            predicted = self.value_head(
                out.hidden_states[-1][rows, columns],
                value_slots,
                context.to(encoded.lead.dtype),
                encoded.states[rows],
                prompt_numbers[rows],
                prompt_number_index[rows],
            )
            head_cfg = self.config.value_head
            answers = mark_measured(
                value_pointer,
                value_slots,
                value_targets,
                partial_levels[rows, value_calls],
                self.reference_lufs,
            )
            nll, pointer = value_loss(predicted, value_slots, value_targets, answers)
            result.value_loss = nll + head_cfg.pointer_weight * pointer
            result.pointer_loss = pointer
            result.loss = result.token_loss + head_cfg.loss_weight * result.value_loss
        return result

    @contextlib.contextmanager
    def evaluating(self) -> Iterator[None]:
        was_training = self.training
        self.eval()
        try:
            yield
        finally:
            self.train(was_training)

    def generate(
        self,
        audio: torch.Tensor,
        sample_rate: int,
        prompts: Sequence[str],
        max_new_tokens: int | None = None,
        temperature: float = 0.0,
        seed: int | None = None,
        check: bool = True,
    ) -> list[Generation]:
        """A program per example (``generation.generate``)."""
        return generate(self, audio, sample_rate, prompts, max_new_tokens, temperature, seed, check)

    def generate_programs(
        self,
        audio: torch.Tensor,
        sample_rate: int,
        prompts: Sequence[str],
        max_new_tokens: int | None = None,
        temperature: float = 0.0,
        seed: int | None = None,
        check: bool = True,
    ) -> list[str]:
        """The programs of :meth:`generate`, as canonical text."""
        return [
            g.program
            for g in self.generate(
                audio, sample_rate, prompts, max_new_tokens, temperature, seed, check
            )
        ]
