"""Audio for a recipe: the model's input and the reference its program should reach.

Both modes start from the segment normalised to ``reference_lufs`` so that levels mean
the same thing in every example (a level fix needs a defined target, and the
model must see absolute level):

- "fix": the normalised segment is the reference; the input is the chain applied to it,
  and ``recipe.target`` (the inverses in a normal form, ``augmentation.fix_target``)
  takes the input back to the reference.
- "instruct": the normalised segment is the input; the reference is the chain applied
  to it, and the target is the chain itself.

``render_example`` is the numpy path (evaluation, one example at a time);
``render_batch`` is the torch path the training loop runs on its device. They agree up
to float rounding and the two loudness implementations.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import numpy as np
import torch

from mixer_core.audio.loudness import LUFS_FLOOR, lufs_torch, normalize_lufs
from mixer_core.data.augmentation import Recipe
from mixer_core.tools.mixing_tools import MixingTools


@cache
def _default_tools() -> MixingTools:
    return MixingTools()


def _require_finite(audio: torch.Tensor, recipes: Sequence[Recipe], problem: str) -> None:
    bad = ~torch.isfinite(audio).flatten(1).all(dim=1)
    if bad.any():
        ids = ", ".join(recipes[i].recipe_id for i in bad.nonzero().flatten().tolist())
        raise ValueError(f"recipes {ids}: {problem}")


def clean_reference(segment: np.ndarray, sample_rate: int, reference_lufs: float) -> np.ndarray:
    """The segment normalised to ``reference_lufs``, float32: a fix's reference, an
    instruction's input."""
    clean, _ = normalize_lufs(np.asarray(segment, dtype=np.float32), sample_rate, reference_lufs)
    return np.asarray(clean, dtype=np.float32)


def render_example(
    segment: np.ndarray,
    sample_rate: int,
    recipe: Recipe,
    reference_lufs: float,
    tools: MixingTools | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``(input, reference)`` for one recipe, both float32 ``(channels, samples)``."""
    segment = np.asarray(segment, dtype=np.float32)
    if segment.ndim != 2:
        raise ValueError(
            f"recipe {recipe.recipe_id}: segment must be (channels, samples), got {segment.shape}"
        )
    if not np.isfinite(segment).all():
        raise ValueError(f"recipe {recipe.recipe_id}: the segment has non-finite samples")
    tools = tools or _default_tools()
    clean = clean_reference(segment, sample_rate, reference_lufs)
    if not np.isfinite(clean).all():
        raise ValueError(
            f"recipe {recipe.recipe_id}: normalising to {reference_lufs} LUFS gave non-finite audio"
        )
    processed = np.asarray(tools.apply(clean, sample_rate, recipe.chain_calls()), np.float32)
    if not np.isfinite(processed).all():
        raise ValueError(
            f"recipe {recipe.recipe_id}: applying {recipe.chain!r} gave non-finite audio"
        )
    model_input, reference = (processed, clean) if recipe.mode == "fix" else (clean, processed)
    return model_input, reference


def render_batch(
    segments: torch.Tensor,
    sample_rate: int,
    recipes: Sequence[Recipe],
    reference_lufs: float,
    tools: MixingTools | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(inputs, references)``, float32 ``(batch, channels, samples)`` on the segments' device."""
    if segments.ndim != 3 or segments.shape[0] != len(recipes):
        raise ValueError(
            f"render_batch: segments must be (batch, channels, samples) with one recipe per "
            f"item; got shape {tuple(segments.shape)} for {len(recipes)} recipes"
        )
    segments = segments.to(torch.float32)
    _require_finite(segments, recipes, "the segment has non-finite samples")
    tools = tools or _default_tools()
    loudness = lufs_torch(segments, sample_rate).to(torch.float64)
    # As normalize_lufs: audio at or below the gate floor has no level to set, keep it.
    gain_db = torch.where(loudness > LUFS_FLOOR, reference_lufs - loudness, 0.0)
    gain = torch.pow(10.0, gain_db / 20.0).to(segments.dtype)
    clean = segments * gain[:, None, None]
    _require_finite(clean, recipes, f"normalising to {reference_lufs} LUFS gave non-finite audio")
    processed = tools.apply_batch(clean, sample_rate, [r.chain_calls() for r in recipes])
    _require_finite(processed, recipes, "applying the chain gave non-finite audio")
    is_fix = torch.tensor([r.mode == "fix" for r in recipes], device=segments.device)
    is_fix = is_fix[:, None, None]
    model_input = torch.where(is_fix, processed, clean)
    reference = torch.where(is_fix, clean, processed)
    return model_input, reference
