"""Listening material for MLflow: clean, distorted and corrected audio with spectrograms.

Numbers hide failures a listener hears at once, so each evaluation logs a few test
recipes as audio and as a three-panel spectrogram, with the prompt, the target and the
prediction written beside. A "fix" example is the clean reference, the distorted input
and the model's correction; an "instruct" example is the clean input, the target (the
described change applied) and the model's result.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from mixer_core.audio.io import write_audio
from mixer_core.evaluation.baselines import evenly_spaced
from mixer_core.evaluation.runner import EvalExample, Predictor
from mixer_core.language.grammar import format as format_program
from mixer_core.tools.mixing_tools import MixingTools


def _spectrogram_png(panels: dict[str, np.ndarray], sample_rate: int, path: Path) -> Path:
    figure = Figure(figsize=(10, 2.6 * len(panels)))
    for row, (title, audio) in enumerate(panels.items(), start=1):
        axes = figure.add_subplot(len(panels), 1, row)
        mono = audio.mean(axis=0)
        axes.specgram(mono + 1e-9, NFFT=1024, Fs=sample_rate, noverlap=768, cmap="magma")
        axes.set_title(title)
        axes.set_ylabel("Hz")
    figure.axes[-1].set_xlabel("s")
    figure.tight_layout()
    figure.savefig(path, dpi=70)
    return path


def listening_sample(examples: Sequence[EvalExample], count: int) -> list[EvalExample]:
    """``count`` examples taken in turn from each mode, evenly spaced within it."""
    if count <= 0:
        return []
    by_mode: dict[str, list[EvalExample]] = {}
    for ex in examples:
        by_mode.setdefault(ex.recipe.mode, []).append(ex)
    share = -(-count // max(len(by_mode), 1))
    picks = [evenly_spaced(group, share) for group in by_mode.values()]
    interleaved = [ex for group in itertools.zip_longest(*picks) for ex in group if ex is not None]
    return interleaved[:count]


def _panels(ex: EvalExample, corrected: np.ndarray) -> dict[str, np.ndarray]:
    if ex.recipe.mode == "fix":
        return {"clean": ex.reference, "distorted": ex.input, "corrected": corrected}
    return {"clean": ex.input, "target": ex.reference, "corrected": corrected}


def write_listening_examples(
    examples: Sequence[EvalExample], predictor: Predictor, sample_rate: int, out_dir: Path
) -> list[Path]:
    """One folder per example; returns the folders."""
    if not examples:
        return []
    programs = predictor.predict_batch(
        [ex.input for ex in examples], sample_rate, [ex.recipe.prompt for ex in examples]
    )
    tools = MixingTools()
    folders = []
    for ex, calls in zip(examples, programs, strict=True):
        folder = out_dir / ex.recipe.recipe_id.replace("/", "_").replace("#", "_")
        corrected = tools.apply(ex.input, sample_rate, calls)
        panels = _panels(ex, corrected)
        for name, audio in panels.items():
            write_audio(folder / f"{name}.wav", audio, sample_rate)
        _spectrogram_png(panels, sample_rate, folder / "spectrograms.png")
        (folder / "programs.txt").write_text(
            f"mode:       {ex.recipe.mode}\nprompt:     {ex.recipe.prompt}\n"
            f"distortion: {ex.recipe.chain}\ntarget:     {ex.recipe.target}\n"
            f"predicted:  {format_program(calls)}\n"
        )
        folders.append(folder)
    return folders
