"""What a run reports: its history of metrics, the progress bar and the loss curve."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm


def record(history: list[dict[str, float]], step: int, metrics: dict[str, float]) -> None:
    """One history entry per step: evaluation metrics join that step's log entry."""
    if history and history[-1]["step"] == step:
        history[-1].update(metrics)
    else:
        history.append({"step": step, **metrics})


def progress_bar(total: int, initial: int) -> tqdm:
    return tqdm(
        total=total,
        initial=initial,
        desc="train",
        unit="step",
        disable=not sys.stderr.isatty(),
        dynamic_ncols=True,
    )


def plot_loss_curve(history: Sequence[dict[str, float]], path: Path) -> Path:
    """Train loss (and its token and value parts) and validation loss against the step,
    as a PNG (Agg; no display needed)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 4), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    curves = (
        ("loss", "train", "-"),
        ("token_loss", "train: tokens", ":"),
        ("value_loss", "train: values (unweighted)", ":"),
        ("val_loss", "validation", "o-"),
    )
    for key, label, style in curves:
        points = [(h["step"], h[key]) for h in history if key in h]
        if points:
            steps, values = zip(*points, strict=True)
            axes.plot(steps, values, style, label=label)
    axes.set_xlabel("optimizer step")
    axes.set_ylabel("loss (token cross-entropy + weighted value loss)")
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    return path
