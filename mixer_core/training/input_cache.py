"""Encoder inputs per recipe, computed once per training run.

A recipe is data: its distortion chain, loudness normalisation and seed are fixed, so
rendering it and computing the model's audio inputs (log-mel image, level features)
gives the same tensors every epoch. On a CPU that work is about a third of a training
step, so the loop keeps the results, keyed by recipe and segment length, within a
memory budget (``default.input_cache_mb``), dropping the least recently used first.
Augmentation stays on the fly in the sense that matters: nothing is rendered ahead of
training or written to disk, and a recipe is rendered only when it is first drawn.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence

import torch

Inputs = dict[str, torch.Tensor]
Key = tuple[str, int]


def _stack(tensors: list[torch.Tensor]) -> torch.Tensor:
    """Stack, zero-padding the first dimension where rows differ (a per-call table is as
    long as its program)."""
    longest = max(t.shape[0] for t in tensors) if tensors[0].dim() else 0
    if all(t.shape == tensors[0].shape for t in tensors):
        return torch.stack(tensors)
    padded = [torch.cat([t, t.new_zeros((longest - t.shape[0], *t.shape[1:]))]) for t in tensors]
    return torch.stack(padded)


def _nbytes(inputs: Inputs) -> int:
    return sum(t.numel() * t.element_size() for t in inputs.values())


class InputCache:
    """Least-recently-used store of per-recipe inputs, bounded by ``budget_bytes``.

    Tensors stay on the device they were computed on (the training device), so on a
    GPU the budget is GPU memory, where rendering is cheap and ``0`` may be the better
    trade. ``hit_rate`` shows how much of the rendering the cache saved.
    """

    def __init__(self, budget_bytes: int) -> None:
        self.budget_bytes = budget_bytes
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self._items: OrderedDict[Key, Inputs] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    @property
    def hit_rate(self) -> float | None:
        """Share of lookups served from the cache so far; ``None`` before the first."""
        lookups = self.hits + self.misses
        return self.hits / lookups if lookups else None

    def batch(self, keys: Sequence[Key], compute: Callable[[list[int]], Inputs]) -> Inputs:
        """Stacked inputs for ``keys``; ``compute(indices)`` fills the ones not cached.

        ``compute`` receives the positions in ``keys`` to compute and returns their
        inputs stacked in that order. Rows whose first dimension differs are zero-padded
        to the longest.
        """
        rows: list[Inputs | None] = [self._items.get(key) for key in keys]
        missing = [i for i, row in enumerate(rows) if row is None]
        self.hits += len(keys) - len(missing)
        self.misses += len(missing)
        if missing:
            fresh = compute(missing)
            for j, i in enumerate(missing):
                rows[i] = {name: value[j] for name, value in fresh.items()}
                self._store(keys[i], rows[i])
        for key in keys:
            if key in self._items:
                self._items.move_to_end(key)
        names = rows[0].keys()
        return {name: _stack([row[name] for row in rows]) for name in names}

    def _store(self, key: Key, inputs: Inputs) -> None:
        size = _nbytes(inputs)
        if size > self.budget_bytes or key in self._items:
            return
        self._items[key] = {name: t.detach().clone() for name, t in inputs.items()}
        self.bytes += size
        while self.bytes > self.budget_bytes:
            _, dropped = self._items.popitem(last=False)
            self.bytes -= _nbytes(dropped)
