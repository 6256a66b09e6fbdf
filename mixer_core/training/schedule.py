"""What a run steps through: the learning-rate schedule and each epoch's batch order.

Both are pure functions (of the step, of seed and epoch), so a checkpoint needs only
the step and the epoch position to restore them exactly.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from mixer_core.config import TrainingConfig


@dataclass(frozen=True)
class LearningRateSchedule:
    """Linear warm-up to the peak, then cosine/linear/constant decay to ``min_lr_ratio``.

    A pure function of the step, so the checkpoint needs only the step to restore it
    and a resumed run with a longer ``max_steps`` stretches the decay accordingly.
    """

    peak: float
    warmup_steps: int
    total_steps: int
    kind: str
    min_ratio: float

    @classmethod
    def from_config(cls, tc: TrainingConfig, total_steps: int) -> LearningRateSchedule:
        return cls(tc.learning_rate, tc.warmup_steps, total_steps, tc.lr_schedule, tc.min_lr_ratio)

    def __call__(self, step: int, time_progress: float = 0.0) -> float:
        """Learning rate of optimizer step ``step`` (1-based).

        ``time_progress`` is the share of a wall-clock budget already spent: under
        ``max_minutes`` the decay follows whichever of steps and time is further along,
        so a run stopped by its budget has still annealed instead of ending at the peak.
        """
        if self.warmup_steps and step <= self.warmup_steps:
            return self.peak * step / self.warmup_steps
        if self.kind == "constant":
            return self.peak
        span = max(1, self.total_steps - self.warmup_steps)
        progress = min(1.0, max(0.0, (step - self.warmup_steps) / span, time_progress))
        if self.kind == "linear":
            decay = 1.0 - progress
        else:
            decay = 0.5 * (1.0 + math.cos(math.pi * progress))
        return self.peak * (self.min_ratio + (1.0 - self.min_ratio) * decay)


def epoch_plan(
    size: int, batch_size: int, accumulation: int, seed: int, epoch: int
) -> list[list[list[int]]]:
    """Optimizer steps of one epoch, each a list of micro-batches of dataset indices.

    The order depends only on (seed, epoch), so a resumed run can skip to its position.
    A short last batch is dropped when the epoch has more than one batch (equal batch
    shapes, and every example's weight in the loss is the same).
    """
    order = list(range(size))
    random.Random(f"{seed}:{epoch}").shuffle(order)
    batches = [order[i : i + batch_size] for i in range(0, size, batch_size)]
    if len(batches) > 1 and len(batches[-1]) < batch_size:
        batches.pop()
    return [batches[i : i + accumulation] for i in range(0, len(batches), accumulation)]
