"""Building the model's parts from config, and the table of which parts train.

Shared by ``MixerModel.from_config`` (fresh weights) and ``persistence.load_mixer``
(weights from a folder), so both build exactly the same modules.
"""

from __future__ import annotations

from collections.abc import Sequence

from mixer_core.config import MixerConfig
from mixer_core.model.audio_encoder import AudioEncoder
from mixer_core.model.decoder import Decoder
from mixer_core.model.features import LevelFeatures
from mixer_core.model.fusion import PrefixFusion
from mixer_core.model.text_encoder import TextEncoder
from mixer_core.model.value_head import ValueHead

LEVEL_BANDS = 32
LEVEL_DIM = LevelFeatures.feature_size(LEVEL_BANDS)


def build_fusion(
    config: MixerConfig, text: TextEncoder, audio: AudioEncoder, decoder: Decoder
) -> PrefixFusion:
    fusion_cfg = config.fusion
    return PrefixFusion(
        text_dim=text.out_dim,
        audio_dim=audio.out_dim,
        level_dim=level_dim(config),
        hidden_size=fusion_cfg.hidden_size,
        prefix_tokens=fusion_cfg.prefix_tokens,
        decoder_dim=decoder.hidden_size,
        dropout=fusion_cfg.dropout,
    )


def level_dim(config: MixerConfig) -> int:
    """Level features the fusion prefix takes (none when ``fusion.level_features`` is off)."""
    return LEVEL_DIM if config.fusion.level_features else 0


def build_value_head(config: MixerConfig, text: TextEncoder, decoder: Decoder) -> ValueHead | None:
    head = config.value_head
    if not head.enabled:
        return None
    return ValueHead(
        decoder_dim=decoder.hidden_size,
        # the input's levels and the levels after the calls written so far
        context_dim=2 * LEVEL_DIM,
        memory_dim=text.out_dim,
        hidden_size=head.hidden_size,
        dropout=head.dropout,
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


def training_kind(config: MixerConfig) -> str:
    """What a training with ``config`` does to the decoder, in words a user can check:
    LoRA is a fine-tune only on a pretrained, frozen base (docs/model.md)."""
    if config.decoder.path is not None:
        return "LoRA adapters on the frozen pretrained decoder"
    if config.trainable.decoder_base:
        return "full training of the random-init small decoder, LoRA adapters included"
    return "LoRA adapters on the random-init small decoder, base frozen"
