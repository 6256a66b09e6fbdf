"""The value head: numeric parameters are regressed, not spelled digit by digit.

Cross-entropy over digit tokens treats 2.9 dB and -2.9 dB as equally wrong answers to
3.0 dB, and greedy decoding of an uncertain estimate picks one mode's digits. Spectral
distance grows with the size of the error, so the decoder keeps writing the program's
structure (tools, parameter names) token by token while this head fills each value:
at the token that ends in ``=``, it maps the decoder's hidden state, the absolute level
features and the prompt's numbers to the parameter's value, trained with an L1-type
loss (so it learns the conditional median) in a unit space per parameter.

Two inputs make the regression easy to learn where the answer is given rather than
judged:

- **prompt numbers**: the head attends over the prompt's number tokens
  (``prompt_numbers``) from the decoder state, and the output is an offset plus a
  state-dependent multiple of the attended number's linear and log features, so
  "down by 3.5 dB" → ``-3.5`` or "at 5 kHz" → ``5000`` is a gated copy, not a digit
  lookup;
- **level features** of the input and of the input after the calls already written (the
  model executes its own partial program, so the level it writes last lands where it
  should whatever its EQ did): through the MLP and through a gated per-slot linear map,
  because a gain or balance fix is (nearly) a linear function of them and a linear path
  learns that precisely in few steps.

One ``ValueSlot`` per registry parameter fixes the unit space: linear over the range,
or logarithmic for Hz and ms whose ranges span decades.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from mixer_core.language.grammar import format_value, value_spans
from mixer_core.language.registry import TOOLS, Param
from mixer_core.model.prompt_numbers import FEATURES

LOG_UNITS = ("Hz", "ms")


@dataclass(frozen=True)
class ValueSlot:
    """One tool parameter and its unit space ``[-1, 1]`` over the registry range."""

    tool: str
    param: Param

    @property
    def log(self) -> bool:
        return self.param.unit in LOG_UNITS

    def _bounds(self) -> tuple[float, float]:
        low, high = self.param.low, self.param.high
        return (math.log(low), math.log(high)) if self.log else (low, high)

    def to_unit(self, value: float) -> float:
        low, high = self._bounds()
        x = math.log(value) if self.log else value
        return 2.0 * (x - low) / (high - low) - 1.0

    def from_unit(self, unit: float) -> float:
        """The grid value nearest to ``unit`` (clipped to the range first). A NaN (a
        diverged model) reads as the middle of the range, so generation still writes a
        valid program, as it does for any weights."""
        if math.isnan(unit):
            unit = 0.0
        low, high = self._bounds()
        x = low + (min(max(unit, -1.0), 1.0) + 1.0) * (high - low) / 2.0
        return self.param.nearest(math.exp(x) if self.log else x)

    def text(self, unit: float) -> str:
        """Canonical text of :meth:`from_unit`, as the grammar writes it."""
        return format_value(self.from_unit(unit), self.param)


SLOTS: tuple[ValueSlot, ...] = tuple(
    ValueSlot(tool.name, param) for tool in TOOLS for param in tool.params
)
SLOT_INDEX: dict[tuple[str, str], int] = {
    (slot.tool, slot.param.name): i for i, slot in enumerate(SLOTS)
}


class ValueHead(nn.Module):
    """(decoder state, context, prompt memory) at a value slot -> the value in unit space."""

    def __init__(
        self,
        decoder_dim: int,
        context_dim: int,
        memory_dim: int,
        hidden_size: int,
        dropout: float,
    ) -> None:
        super().__init__()
        numbers = len(FEATURES)
        self.hidden_size = hidden_size
        self.memory_norm = nn.LayerNorm(memory_dim)
        self.query = nn.Linear(decoder_dim, hidden_size)
        self.key = nn.Linear(memory_dim, hidden_size)
        self.trunk = nn.Sequential(
            nn.Linear(decoder_dim + context_dim + memory_dim + numbers + 1, hidden_size),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_size, hidden_size),
            nn.GELU(),
        )
        self.offset = nn.Linear(hidden_size, len(SLOTS))
        # per slot, a linear read of the context (a gain fix is -(LUFS - reference), a
        # balance fix a multiple of the left-right level difference), opened by a gate
        # from the state, because an instruct slot must ignore the levels
        self.direct = nn.Linear(context_dim, len(SLOTS))
        self.gate = nn.Linear(hidden_size, len(SLOTS))
        # per slot, a multiple of the attended number's linear and log features
        self.copy = nn.Linear(hidden_size, len(SLOTS) * (numbers - 1))

    def forward(
        self,
        hidden: torch.Tensor,
        slots: torch.Tensor,
        context: torch.Tensor,
        memory: torch.Tensor,
        numbers: torch.Tensor,
    ) -> torch.Tensor:
        """``(K,)`` unit values for ``K`` slots.

        ``hidden`` (K, H) decoder states, ``slots`` (K,) indices into :data:`SLOTS`,
        ``context`` (K, C), ``memory`` (K, L, M) prompt token states, ``numbers``
        (K, L, len(FEATURES)) their number features (``is_number`` first).
        """
        memory = self.memory_norm(memory)
        is_number = numbers[..., 0] > 0
        scores = torch.einsum("kh,klh->kl", self.query(hidden), self.key(memory))
        scores = scores / math.sqrt(self.hidden_size)
        # a finite fill keeps rows without numbers finite; their weights are then zeroed
        weights = torch.softmax(scores.masked_fill(~is_number, -1e4), dim=-1)
        weights = weights * is_number.to(weights.dtype)
        picked_number = torch.einsum("kl,klf->kf", weights, numbers)
        picked_state = torch.einsum("kl,klm->km", weights, memory)
        has_number = is_number.any(dim=-1, keepdim=True).to(hidden.dtype)
        features = self.trunk(
            torch.cat([hidden, context, picked_state, picked_number, has_number], dim=-1)
        )
        rows = torch.arange(len(slots), device=slots.device)
        offset = self.offset(features)[rows, slots]
        gate = torch.sigmoid(self.gate(features)[rows, slots])
        offset = offset + gate * self.direct(context)[rows, slots]
        copy = self.copy(features).view(len(slots), len(SLOTS), len(FEATURES) - 1)[rows, slots]
        return offset + (copy * picked_number[:, 1:]).sum(dim=-1)


def value_loss(predicted: torch.Tensor, target: torch.Tensor, beta: float) -> torch.Tensor:
    """Smooth L1 in unit space; zero (with a gradient path) when a batch has no values."""
    if target.numel() == 0:
        return predicted.sum() * 0.0
    return F.smooth_l1_loss(predicted.float(), target.float(), beta=beta)


@dataclass(frozen=True)
class ValueTargets:
    """The values of a batch of training targets: where each is predicted (``positions``
    (K, 2): row and sequence position), its slot, the index of its call in the program,
    its unit-space target, and how many tokens spell it (``lengths``)."""

    positions: torch.Tensor
    slots: torch.Tensor
    calls: torch.Tensor
    units: torch.Tensor
    lengths: list[int]

    def tensors(self, device: torch.device) -> dict[str, torch.Tensor]:
        """The model's keyword arguments for them."""
        return {
            "value_positions": self.positions.to(device),
            "value_slots": self.slots.to(device),
            "value_calls": self.calls.to(device),
            "value_targets": self.units.to(device),
        }


def value_targets(
    targets: Sequence[str],
    offsets: Sequence[Sequence[tuple[int, int]]],
    prefix: int,
) -> ValueTargets:
    """Each value of ``targets`` (with the character ``offsets`` of their tokens), with
    ``prefix`` positions before a target's start token.

    A value is predicted from the token that ends exactly where the value starts (the
    one holding ``=``) and spelled by the tokens up to its end; with a pretrained
    tokenizer that merges ``=`` with the value's first characters there is no such
    token, and that value is left to the token loss.
    """
    positions, slots, calls, units, lengths = [], [], [], [], []
    for row, (text, spans) in enumerate(zip(targets, offsets, strict=True)):
        ends = {end: j for j, (start, end) in enumerate(spans) if end > start}
        for value in value_spans(text):
            token = ends.get(value.start)
            last = ends.get(value.end)
            if token is None or last is None:
                continue
            index = SLOT_INDEX[(value.tool, value.param)]
            positions.append((row, prefix + 1 + token))
            slots.append(index)
            calls.append(value.call)
            units.append(SLOTS[index].to_unit(value.value))
            lengths.append(last - token)
    return ValueTargets(
        positions=torch.tensor(positions, dtype=torch.long).reshape(-1, 2),
        slots=torch.tensor(slots, dtype=torch.long),
        calls=torch.tensor(calls, dtype=torch.long),
        units=torch.tensor(units, dtype=torch.float32),
        lengths=lengths,
    )
