"""Fusion: text embedding + audio embedding + level features -> decoder prefix embeddings.

The encoders' outputs are layer-normalised (their scales are arbitrary); the level
features are not, because their absolute values are the information (DESIGN.md).
"""

from __future__ import annotations

import torch
from torch import nn


class PrefixFusion(nn.Module):
    def __init__(
        self,
        text_dim: int,
        audio_dim: int,
        level_dim: int,
        hidden_size: int,
        prefix_tokens: int,
        decoder_dim: int,
        dropout: float,
    ) -> None:
        super().__init__()
        self.prefix_tokens = prefix_tokens
        self.decoder_dim = decoder_dim
        self.text_norm = nn.LayerNorm(text_dim)
        self.audio_norm = nn.LayerNorm(audio_dim)
        self.mlp = nn.Sequential(
            nn.Linear(text_dim + audio_dim + level_dim, hidden_size),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_size, hidden_size),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_size, prefix_tokens * decoder_dim),
        )
        self.position = nn.Parameter(torch.randn(prefix_tokens, decoder_dim) * 0.02)

    def forward(
        self, text: torch.Tensor, audio: torch.Tensor, level: torch.Tensor | None
    ) -> torch.Tensor:
        """-> (B, prefix_tokens, decoder_dim)."""
        parts = [self.text_norm(text), self.audio_norm(audio)]
        if level is not None:
            parts.append(level.to(parts[0].dtype))
        prefix = self.mlp(torch.cat(parts, dim=-1))
        return prefix.view(-1, self.prefix_tokens, self.decoder_dim) + self.position
