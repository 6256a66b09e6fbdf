"""Resumable training checkpoints: one folder, ``<output_dir>/checkpoints/last/``.

A checkpoint holds what an uninterrupted run would still have in memory at a step
boundary (trainable weights and buffers, optimizer and grad-scaler state, every RNG
state, the step, the epoch and the position inside it, the history so far), so a
resumed run continues the same trajectory. Frozen weights (e.g. a pretrained text
encoder) are not stored: they are rebuilt from the config, which is why a checkpoint
records the config keys that shape the model and refuses to load under different ones.

The folder is replaced atomically (write a sibling, rename the old one aside, rename the
new one in, delete the old), so a crash at any moment leaves one complete checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mixer_core.config import Config

CHECKPOINTS_DIRNAME = "checkpoints"
LAST_DIRNAME = "last"
STATE_FILENAME = "state.pt"
CONFIG_FILENAME = "config.json"
FORMAT_VERSION = 1
BEST_FILENAME = "best.pt"

# Keys under ``mixer`` that change behaviour but not which tensors exist or their shapes;
# a resumed run may change them.
_NON_SHAPE_KEYS = (
    "mixer.lora.dropout",
    "mixer.fusion.dropout",
    "mixer.generation",
    "mixer.decoder.max_target_tokens",
    "mixer.text_encoder.max_length",
    "mixer.value_head.dropout",
    "mixer.value_head.loss_weight",
    "mixer.value_head.pointer_weight",
)


class CheckpointError(ValueError):
    """A checkpoint that cannot be resumed from; the message names the folder and why."""


@dataclass
class TrainingState:
    """Where a run stands at a step boundary; everything but tensors.

    ``epoch`` counts completed epochs; ``position`` is the next optimizer step's index
    inside the current epoch's plan.
    """

    step: int = 0
    epoch: int = 0
    position: int = 0
    skipped_nonfinite_steps: int = 0
    best_val_loss: float | None = None
    best_step: int | None = None
    last_val_loss: float | None = None
    last_train_loss: float | None = None
    history: list[dict[str, float]] = field(default_factory=list)


def checkpoint_dir(output_dir: Path) -> Path:
    return Path(output_dir) / CHECKPOINTS_DIRNAME / LAST_DIRNAME


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            _flatten(f"{prefix}.{key}", item, out)
    else:
        out[prefix] = value


def model_shape_config(cfg: Config) -> dict[str, Any]:
    """The flattened config keys that decide the model's tensors, by key path."""
    flat: dict[str, Any] = {}
    _flatten("mixer", cfg.mixer.model_dump(mode="json"), flat)
    flat["data.sample_rate"] = cfg.data.sample_rate
    flat["data.channels"] = cfg.data.channels
    return {
        key: value
        for key, value in sorted(flat.items())
        if not any(key == skip or key.startswith(skip + ".") for skip in _NON_SHAPE_KEYS)
    }


def config_hash(shape: Mapping[str, Any]) -> str:
    text = json.dumps(dict(shape), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _stateful_tensors(model: nn.Module) -> dict[str, torch.Tensor]:
    """Trainable parameters and all buffers (batch-norm statistics move in training)."""
    tensors = {name: p for name, p in model.named_parameters() if p.requires_grad}
    tensors.update(dict(model.named_buffers()))
    return tensors


def capture_rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": (np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: Mapping[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(
    output_dir: Path,
    *,
    cfg: Config,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler | None,
    state: TrainingState,
    schedule: Mapping[str, Any],
) -> Path:
    """Write ``output_dir/checkpoints/last/`` atomically and return it."""
    target = checkpoint_dir(output_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(LAST_DIRNAME + ".staging")
    old = target.with_name(LAST_DIRNAME + ".old")
    if staging.exists():
        shutil.rmtree(staging)
    if old.exists() and target.exists():
        shutil.rmtree(old)
    staging.mkdir()
    shape = model_shape_config(cfg)
    payload = {
        "format_version": FORMAT_VERSION,
        "config_hash": config_hash(shape),
        "model_shape_config": shape,
        "model": {name: t.detach().cpu().clone() for name, t in _stateful_tensors(model).items()},
        "optimizer": optimizer.state_dict(),
        "scaler": scaler.state_dict() if scaler is not None else None,
        "rng": capture_rng_state(),
        "schedule": dict(schedule),
        "state": asdict(state),
    }
    torch.save(payload, staging / STATE_FILENAME)
    (staging / CONFIG_FILENAME).write_text(
        json.dumps(
            {
                "step": state.step,
                "epoch": state.epoch,
                "position": state.position,
                "config_hash": payload["config_hash"],
                "model_shape_config": shape,
                "config": cfg.model_dump(mode="json"),
            },
            indent=2,
        )
    )
    if target.exists():
        target.rename(old)
    staging.rename(target)
    if old.exists():
        shutil.rmtree(old)
    return target


def best_weights_path(output_dir: Path) -> Path:
    return Path(output_dir) / CHECKPOINTS_DIRNAME / BEST_FILENAME


def save_best_weights(output_dir: Path, model: nn.Module, step: int) -> Path:
    """The trainable tensors at the best validation loss so far (atomic replace)."""
    path = best_weights_path(output_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {name: t.detach().cpu().clone() for name, t in _stateful_tensors(model).items()}
    staging = path.with_suffix(".staging")
    torch.save({"step": step, "model": tensors}, staging)
    staging.replace(path)
    return path


def load_best_weights(output_dir: Path, model: nn.Module) -> int:
    """Load :func:`save_best_weights`' tensors into ``model``; returns their step."""
    path = best_weights_path(output_dir)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError) as exc:
        raise CheckpointError(f"{path}: cannot read the best weights ({exc})") from exc
    if set(payload["model"]) != set(_stateful_tensors(model)):
        raise CheckpointError(f"{path}: the best weights do not match the model's tensors")
    model.load_state_dict(payload["model"], strict=False)
    return int(payload["step"])


def find_checkpoint(output_dir: Path) -> Path | None:
    """The complete checkpoint folder, if any (an interrupted swap leaves it as ``.old``)."""
    target = checkpoint_dir(output_dir)
    if (target / STATE_FILENAME).is_file():
        return target
    old = target.with_name(LAST_DIRNAME + ".old")
    if (old / STATE_FILENAME).is_file():
        return old
    return None


def _shape_difference(saved: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    keys = sorted(set(saved) | set(current))
    return [
        f"{key}: checkpoint {saved.get(key, '<absent>')!r}, config {current.get(key, '<absent>')!r}"
        for key in keys
        if saved.get(key) != current.get(key)
    ]


def _refuse_other_shape(where: Path, saved: Mapping[str, Any], cfg: Config) -> None:
    current = model_shape_config(cfg)
    if config_hash(saved) != config_hash(current):
        raise CheckpointError(
            f"{where}: checkpoint was written for a different model configuration; resume "
            "with the same model keys or start fresh (resume=False or a new output folder). "
            "Differences: " + "; ".join(_shape_difference(saved, current))
        )


def check_checkpoint_config(folder: Path, cfg: Config) -> None:
    """Refuse early, before any model is built, a checkpoint of another model shape."""
    path = Path(folder) / CONFIG_FILENAME
    try:
        saved = json.loads(path.read_text())["model_shape_config"]
    except (OSError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{path}: cannot read the checkpoint's config ({exc})") from exc
    _refuse_other_shape(Path(folder), saved, cfg)


def load_checkpoint(
    folder: Path,
    *,
    cfg: Config,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler | None,
) -> TrainingState:
    """Restore model, optimizer, scaler and RNG state in place; return the run's position."""
    path = Path(folder) / STATE_FILENAME
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError) as exc:
        raise CheckpointError(f"{path}: cannot read checkpoint ({exc})") from exc
    if payload.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format {payload.get('format_version')!r}, "
            f"expected {FORMAT_VERSION}"
        )
    _refuse_other_shape(path, payload["model_shape_config"], cfg)
    expected = set(_stateful_tensors(model))
    saved = set(payload["model"])
    if expected != saved:
        missing = sorted(expected - saved)[:5]
        extra = sorted(saved - expected)[:5]
        raise CheckpointError(
            f"{path}: checkpoint tensors do not match the model's trainable tensors "
            f"(missing: {missing}, unexpected: {extra})"
        )
    model.load_state_dict(payload["model"], strict=False)
    optimizer.load_state_dict(payload["optimizer"])
    if scaler is not None and payload["scaler"] is not None:
        scaler.load_state_dict(payload["scaler"])
    restore_rng_state(payload["rng"])
    return TrainingState(**payload["state"])
