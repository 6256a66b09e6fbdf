"""The instruction decoder: a Mistral-family causal LM with LoRA adapters (peft).

With no ``mixer.decoder.path`` a small ``MistralForCausalLM`` is built from
``mixer.decoder.small`` over the domain tokenizer; its base weights are random, so
they train beside the adapters (``mixer.trainable.decoder_base``). A pretrained
decoder brings its own tokenizer and only its LoRA adapters train. Either way a saved
model carries its base weights (``decoder/``): a registered model must load on another
machine, where the folder the base came from does not exist (``decoder.json`` keeps
that folder only as provenance).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from peft import LoraConfig as PeftLoraConfig
from peft import PeftModel, get_peft_model
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoTokenizer,
    MistralConfig,
    MistralForCausalLM,
    PreTrainedTokenizerBase,
)

from mixer_core.config import DecoderConfig, LoraConfig
from mixer_core.model.errors import ModelConfigError, ModelLoadError
from mixer_core.model.text_encoder import require_folder
from mixer_core.model.tokenizer import build_domain_tokenizer

PATH_KEY = "mixer.decoder.path"
SMALL_KEY = "mixer.decoder.small"
ADAPTER = "default"


def _tied_keys(model: nn.Module) -> set[str]:
    """State-dict keys of parameters that share their tensor with an earlier key."""
    owners: dict[int, str] = {}
    tied: set[str] = set()
    for key, value in model.state_dict(keep_vars=True).items():
        if value.data_ptr() in owners:
            tied.add(key)
        owners.setdefault(value.data_ptr(), key)
    return tied


def _lora(model: nn.Module, lora: LoraConfig) -> PeftModel:
    config = PeftLoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=list(lora.target_modules),
        task_type="CAUSAL_LM",
    )
    try:
        return get_peft_model(model, config)
    except ValueError as exc:
        raise ModelConfigError(f"mixer.lora.target_modules: {exc}") from exc


def _small_config(small: dict[str, Any], tokenizer: PreTrainedTokenizerBase) -> MistralConfig:
    reserved = {"vocab_size", "pad_token_id", "bos_token_id", "eos_token_id"} & small.keys()
    if reserved:
        raise ModelConfigError(
            f"{SMALL_KEY}: {', '.join(sorted(reserved))} come from the domain tokenizer; "
            "remove them"
        )
    try:
        return MistralConfig(
            **small,
            vocab_size=len(tokenizer),
            pad_token_id=tokenizer.pad_token_id,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
    except (TypeError, ValueError) as exc:
        raise ModelConfigError(f"{SMALL_KEY}: {exc}") from exc


class Decoder(nn.Module):
    """A peft-wrapped causal LM plus the tokenizer its targets are written in."""

    def __init__(
        self, model: PeftModel, tokenizer: PreTrainedTokenizerBase, pretrained_path: str | None
    ) -> None:
        super().__init__()
        self.model = model
        self.tokenizer = tokenizer
        self.pretrained_path = pretrained_path
        eos = tokenizer.eos_token_id
        if eos is None:
            raise ModelConfigError(f"{PATH_KEY}: the decoder's tokenizer has no EOS token")
        self.eos_id = int(eos)
        self.start_id = int(tokenizer.bos_token_id if tokenizer.bos_token_id is not None else eos)
        self.pad_id = int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos)

    @classmethod
    def build(cls, config: DecoderConfig, lora: LoraConfig) -> Decoder:
        if config.path is None:
            tokenizer = build_domain_tokenizer()
            base = MistralForCausalLM(_small_config(config.small, tokenizer))
            return cls(_lora(base, lora), tokenizer, None)
        folder = require_folder(config.path, PATH_KEY)
        try:
            tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
            base = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(
                f"{PATH_KEY}: cannot load a causal LM from {folder}: {exc}"
            ) from exc
        return cls(_lora(base, lora), tokenizer, str(folder.resolve()))

    @classmethod
    def from_saved(cls, folder: Path) -> Decoder:
        meta = json.loads((folder / "decoder.json").read_text())
        tokenizer = AutoTokenizer.from_pretrained(folder / "tokenizer", local_files_only=True)
        base_dir = folder / "decoder"
        if not (base_dir / "model.safetensors").is_file():
            raise ModelLoadError(
                f"{base_dir}: the decoder's base weights are missing (model.safetensors); "
                "the model folder is incomplete"
            )
        base = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(base_dir))
        missing, unexpected = base.load_state_dict(
            load_file(base_dir / "model.safetensors"), strict=False
        )
        base.tie_weights()
        tied = {key for key in missing if key in _tied_keys(base)}
        if unexpected or set(missing) - tied:
            raise ModelLoadError(
                f"{base_dir}: base weights do not match its config.json (missing "
                f"{sorted(set(missing) - tied)[:5]}, unexpected {sorted(unexpected)[:5]})"
            )
        model = PeftModel.from_pretrained(base, folder / "adapter", is_trainable=True)
        return cls(model, tokenizer, meta["pretrained_path"])

    def save(self, folder: Path) -> None:
        self.tokenizer.save_pretrained(folder / "tokenizer")
        self.model.save_pretrained(folder / "adapter")
        (folder / "decoder.json").write_text(json.dumps({"pretrained_path": self.pretrained_path}))
        (folder / "decoder").mkdir(exist_ok=True)
        base = self.model.get_base_model()
        base.config.to_json_file(folder / "decoder" / "config.json")
        save_file(self.base_state_dict(), folder / "decoder" / "model.safetensors")

    def base_state_dict(self) -> dict[str, torch.Tensor]:
        """The base model's weights under their plain (un-peft-ed) names, LoRA excluded; a
        weight tied to another (input and output embeddings) is stored once."""
        state = self.model.get_base_model().state_dict()
        plain: dict[str, torch.Tensor] = {}
        seen: set[int] = set()
        for key, value in state.items():
            if "lora_" in key or value.data_ptr() in seen:
                continue
            seen.add(value.data_ptr())
            plain[key.replace(".base_layer.", ".")] = value.detach().contiguous()
        return plain

    @property
    def is_pretrained(self) -> bool:
        return self.pretrained_path is not None

    @property
    def hidden_size(self) -> int:
        return int(self.model.get_base_model().config.hidden_size)

    def lora_parameters(self) -> list[nn.Parameter]:
        return [p for name, p in self.model.named_parameters() if "lora_" in name]

    def base_parameters(self) -> list[nn.Parameter]:
        return [p for name, p in self.model.named_parameters() if "lora_" not in name]

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        return self.model.get_input_embeddings()(ids)

    def encode_targets(
        self, targets: Sequence[str], max_tokens: int
    ) -> tuple[list[list[int]], list[list[tuple[int, int]]]]:
        """Token ids of each target program (EOS not included) and their character spans."""
        encoded = self.tokenizer(
            list(targets), add_special_tokens=False, return_offsets_mapping=True
        )
        unk = self.tokenizer.unk_token_id
        for target, ids in zip(targets, encoded["input_ids"], strict=True):
            if len(ids) + 1 > max_tokens:
                raise ValueError(
                    f"target program is {len(ids) + 1} tokens with EOS, over "
                    f"mixer.decoder.max_target_tokens={max_tokens}: {target!r}"
                )
            if not self.is_pretrained and unk is not None and unk in ids:
                raise ValueError(f"target program is not canonical instruction text: {target!r}")
        return encoded["input_ids"], [list(map(tuple, o)) for o in encoded["offset_mapping"]]
