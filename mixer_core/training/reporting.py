"""What a run reports: its history of metrics, the progress bar and the loss curve."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm


def record(history: list[dict[str, float]], step: int, metrics: dict[str, float]) -> None:
    """One history entry per step: evaluation metrics join that step's log entry."""
    if history and history[-1]["step"] == step:
        history[-1].update(metrics)
    else:
        history.append({"step": step, **metrics})


@dataclass
class Budget:
    """What will stop a run: ``total_steps`` (from ``max_steps``, or epochs × steps per
    epoch) or ``max_minutes``, whichever comes first, and how far along it is.

    A run stopped by its time budget is 1 % done when it has spent 1 % of its minutes,
    whatever its step count says, so progress is the larger of the two shares, and the
    ETA extrapolates this call's progress rate (a resumed run starts from its step).
    """

    total_steps: int
    start_step: int
    max_minutes: float | None
    started: float = field(default_factory=time.perf_counter)

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def time_share(self) -> float:
        return 0.0 if self.max_minutes is None else self.elapsed() / (self.max_minutes * 60)

    def progress(self, step: int) -> float:
        return min(1.0, max(step / max(self.total_steps, 1), self.time_share()))

    def binding(self, step: int) -> str:
        """Which limit will stop the run, as the log says it."""
        if self.max_minutes is not None and self.time_share() >= step / max(self.total_steps, 1):
            return f"{self.max_minutes:g} min"
        return f"{self.total_steps} steps"

    def eta_s(self, step: int) -> float | None:
        start = self.start_step / max(self.total_steps, 1)
        done = self.progress(step) - start
        if done <= 0:
            return None
        return self.elapsed() * (1.0 - self.progress(step)) / done

    def describe(self, step: int) -> str:
        eta = self.eta_s(step)
        left = f", ETA {eta / 60:.1f} min" if eta is not None else ""
        return f"step {step} ({100 * self.progress(step):.1f} % of {self.binding(step)}{left})"


def progress_bar(budget: Budget, step: int) -> tqdm:
    """A bar over the budget in percent (its ETA follows whichever limit binds)."""
    return tqdm(
        total=100.0,
        initial=100.0 * budget.progress(step),
        desc="train",
        unit="%",
        bar_format="{l_bar}{bar}| {n:.1f}/100 % [{elapsed}<{remaining}{postfix}]",
        disable=not sys.stderr.isatty(),
        dynamic_ncols=True,
    )


def advance(bar: tqdm, budget: Budget, step: int) -> None:
    bar.update(100.0 * budget.progress(step) - bar.n)


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
