"""Fusion: what the decoder reads before it writes.

Two parts, both in the decoder's embedding space:

- the **prefix**: text embedding + audio embedding + level features through an MLP into
  ``prefix_tokens`` embeddings. The encoders' outputs are layer-normalised (their scales
  are arbitrary); the level features are not, because their absolute values are the
  information (a gain fix needs the absolute level: README, "The model").
- the **prompt memory**: the text encoder's token states, projected, plus an embedding
  of each token's number features (``prompt_numbers``), so the decoder reads the prompt
  word by word and number by number rather than through one pooled vector. It opens
  the sequence with its padding in front: with rotary positions, every real token then
  keeps the same relative distances whatever the batch's longest prompt, so a program
  does not depend on the prompts it was batched with.
"""

from __future__ import annotations

import torch
from torch import nn

from mixer_core.model.prompt_numbers import FEATURES


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
        self.memory_norm = nn.LayerNorm(text_dim)
        self.memory = nn.Linear(text_dim, decoder_dim)
        self.numbers = nn.Linear(len(FEATURES), decoder_dim)

    def forward(
        self, text: torch.Tensor, audio: torch.Tensor, level: torch.Tensor | None
    ) -> torch.Tensor:
        """-> (B, prefix_tokens, decoder_dim)."""
        parts = [self.text_norm(text), self.audio_norm(audio)]
        if level is not None:
            parts.append(level.to(parts[0].dtype))
        prefix = self.mlp(torch.cat(parts, dim=-1))
        return prefix.view(-1, self.prefix_tokens, self.decoder_dim) + self.position

    def prompt_memory(
        self, states: torch.Tensor, mask: torch.Tensor, numbers: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, L, decoder_dim) memory and its (B, L) mask, real tokens packed to the right."""
        memory = self.memory(self.memory_norm(states)) + self.numbers(numbers.to(states.dtype))
        memory = memory * mask[..., None].to(memory.dtype)
        order = torch.sort(mask.long(), dim=1, stable=True).indices
        packed = memory.gather(1, order[..., None].expand_as(memory))
        return packed, mask.gather(1, order)
