"""The value head: numeric parameters are copied when stated, estimated with their doubt.

Cross-entropy over digit tokens treats 2.9 dB and -2.9 dB as equally wrong answers to
3.0 dB, and greedy decoding of an uncertain estimate picks one mode's digits. So the
decoder writes the program's structure (tools, parameter names) token by token while this
head fills each value, at the token that ends in ``=``, in two ways:

- **copy** or **measure**: a pointer over "none", "measured" and the prompt's stated
  numbers (``language.stated``). A number whose kind cannot be the slot's value (Hz for
  a dB slot) is masked out. When the pointer picks a number, the value written is that
  number, with the sign its words give, exactly; the network only chooses *which*
  number. "Measured" exists for the level slot (``slots.MEASURED_SLOT``): the gain that
  brings the output of the calls written so far to the reference loudness, measured on
  the audio (the model executes its partial program), which is what a fix's level
  correction is, so the model writes it as exactly as loudness normalisation would.
- **estimate**: otherwise, a distribution over the value in the slot's unit space: with
  probability ``zero`` the parameter's default (no change: 0 dB, centre, width 1), else a
  Laplace with a location and a scale (a hurdle model), trained by its likelihood. The
  value written minimises the expected absolute error under it: the mixture's median. So
  an ambiguous blind correction (a wide Laplace, a real chance that nothing is wrong)
  shrinks toward "no change" by itself, which the tuned heuristic's fitted ×0.5 does by
  hand; the scale also tells the execution check how far the model trusts its value.

The estimate reads the decoder state, the prompt memory, the level features of the input
and of the input after the calls already written (the model executes its own partial
program), through an MLP and a gated per-slot linear map of the levels, because a gain or
balance fix is (nearly) a linear function of them and a linear path learns that in few
steps. One ``slots.ValueSlot`` per registry parameter fixes the unit space.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

from mixer_core.language.grammar import format_value, value_spans
from mixer_core.language.stated import (
    KINDS,
    StatedNumber,
    accepts,
    fit_value,
    read_numbers,
    slot_value,
)
from mixer_core.model.features import LevelFeatures
from mixer_core.model.prompt_numbers import FEATURES, KIND_OFFSET
from mixer_core.model.slots import (
    MEASURED_SLOT,
    SLOT_BINS,
    SLOT_DEFAULTS,
    SLOT_INDEX,
    SLOT_KINDS,
    SLOTS,
)

MIN_SCALE = 1e-3  # in unit space: 0.024 dB on a ±24 dB range
LOCATION_BETA = 0.01
_MASKED = -1e4


@dataclass
class ValueOutputs:
    """Per slot: the estimate's ``location``, ``scale`` and ``zero`` logit (unit space), and
    the pointer's logits over ``[none, measured, number 0, number 1, ...]``."""

    location: torch.Tensor
    scale: torch.Tensor
    zero: torch.Tensor
    pointer: torch.Tensor


class ValueHead(nn.Module):
    """(decoder state, context, prompt memory and numbers) at a value slot -> its value."""

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
        self.slot = nn.Embedding(len(SLOTS), decoder_dim)
        self.query = nn.Linear(decoder_dim, hidden_size)
        self.key = nn.Linear(memory_dim + numbers, hidden_size)
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
        self.log_scale = nn.Linear(hidden_size, len(SLOTS))
        self.zero = nn.Linear(hidden_size, len(SLOTS))
        self.none = nn.Linear(hidden_size, len(SLOTS))
        self.measured = nn.Linear(hidden_size, 1)

    def forward(
        self,
        hidden: torch.Tensor,
        slots: torch.Tensor,
        context: torch.Tensor,
        memory: torch.Tensor,
        numbers: torch.Tensor,
        number_index: torch.Tensor,
    ) -> ValueOutputs:
        """``hidden`` (K, H) decoder states, ``slots`` (K,) indices into :data:`SLOTS`,
        ``context`` (K, C), ``memory`` (K, L, M) prompt token states, ``numbers``
        (K, L, len(FEATURES)) their number features, ``number_index`` (K, L) each token's
        stated number (-1: none)."""
        memory = self.memory_norm(memory)
        query = self.query(hidden + self.slot(slots))
        keys = self.key(torch.cat([memory, numbers.to(memory.dtype)], dim=-1))
        scores = torch.einsum("kh,klh->kl", query, keys) / math.sqrt(self.hidden_size)
        count = int(number_index.max().item()) + 1 if number_index.numel() else 0
        pointed, attended_state, attended_number = self._numbers(
            scores, slots, memory, numbers, number_index, count
        )
        has_number = (number_index >= 0).any(dim=-1, keepdim=True).to(hidden.dtype)
        features = self.trunk(
            torch.cat([hidden, context, attended_state, attended_number, has_number], dim=-1)
        )
        rows = torch.arange(len(slots), device=slots.device)
        gate = torch.sigmoid(self.gate(features)[rows, slots])
        location = self.offset(features)[rows, slots] + gate * self.direct(context)[rows, slots]
        scale = F.softplus(self.log_scale(features)[rows, slots]) + MIN_SCALE
        none = self.none(features)[rows, slots]
        measured = self.measured(features)[:, 0].masked_fill(slots != MEASURED_SLOT, _MASKED)
        return ValueOutputs(
            location=location,
            scale=scale,
            zero=self.zero(features)[rows, slots],
            pointer=torch.cat([none[:, None], measured[:, None], pointed], dim=-1),
        )

    def _numbers(
        self,
        scores: torch.Tensor,
        slots: torch.Tensor,
        memory: torch.Tensor,
        numbers: torch.Tensor,
        number_index: torch.Tensor,
        count: int,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Pointer logits per stated number (K, count), and the memory state and number
        features attended over the compatible numbers' tokens."""
        compatible_kinds = SLOT_KINDS.to(scores.device, scores.dtype)[slots]  # (K, kinds)
        kinds = numbers[..., KIND_OFFSET : KIND_OFFSET + len(KINDS)].to(scores.dtype)
        token_ok = (number_index >= 0) & ((kinds * compatible_kinds[:, None]).sum(-1) > 0)
        masked = scores.masked_fill(~token_ok, _MASKED)
        weights = torch.softmax(masked, dim=-1) * token_ok.to(scores.dtype)
        attended_state = torch.einsum("kl,klm->km", weights, memory)
        attended_number = torch.einsum("kl,klf->kf", weights, numbers.to(scores.dtype))
        if count == 0:
            return scores.new_zeros((len(slots), 0)), attended_state, attended_number
        member = number_index[..., None] == torch.arange(count, device=scores.device)
        member = member & token_ok[..., None]  # (K, L, count)
        per_number = masked[..., None].expand(-1, -1, count).masked_fill(~member, _MASKED)
        pointed = torch.logsumexp(per_number, dim=1)
        pointed = pointed.masked_fill(~member.any(dim=1), _MASKED)
        return pointed, attended_state, attended_number


def _laplace_log_density(x: torch.Tensor, location: torch.Tensor, scale: torch.Tensor):
    return -torch.log(2.0 * scale) - (x - location).abs() / scale


def value_loss(
    outputs: ValueOutputs, slots: torch.Tensor, units: torch.Tensor, pointer: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(negative log likelihood of the estimates, pointer cross-entropy), batch means.

    The estimate is a hurdle model: the default with probability ``zero`` (its Bernoulli
    likelihood), else a Laplace. The Laplace's likelihood is split the way β-NLL splits a
    Gaussian's, so a confident slot does not take steps of 1/scale: the location gets the
    likelihood's gradient with the scale taken out (the sign of the error: an L1 loss,
    smoothed within ``LOCATION_BETA`` so it settles on the value grid), the scale its
    likelihood given the location, weighted by itself. The optimum is unchanged: the
    conditional median and the mean absolute deviation around it.

    ``pointer`` (K, 2 + numbers) marks the right answers (the measured value, or several
    numbers that state the value; "none" when none is). Zero (with a gradient path) without values.
    """
    if units.numel() == 0:
        zero = outputs.location.sum() * 0.0
        return zero, zero
    default = SLOT_DEFAULTS.to(units.device)[slots]
    bins = SLOT_BINS.to(units.device)[slots]
    location, scale = outputs.location.float(), outputs.scale.float()
    at_default = (units - default).abs() <= 0.5 * bins
    hurdle = F.binary_cross_entropy_with_logits(outputs.zero.float(), at_default.float())
    away = (~at_default).to(location.dtype)
    # the Laplace's location gradient is the sign of the error: smooth L1, which is that
    # beyond LOCATION_BETA and quadratic inside it, so the value settles on its grid
    place = F.smooth_l1_loss(location, units, reduction="none", beta=LOCATION_BETA)
    spread = -_laplace_log_density(units, location.detach(), scale)
    weighted = ((place + scale.detach() * spread) * away).sum() / units.numel()
    logits = outputs.pointer.float()
    width = logits.shape[-1]
    # a stated number the pointer cannot see (masked) is not an answer it can give
    right = pointer[:, :width].to(torch.bool) & (logits > _MASKED / 2)
    right[:, 0] |= ~right.any(dim=-1)
    chosen = torch.logsumexp(logits.masked_fill(~right, _MASKED), dim=-1)
    pointer_ce = (torch.logsumexp(logits, dim=-1) - chosen).mean()
    return hurdle + weighted, pointer_ce


def mixture_median(
    location: torch.Tensor, scale: torch.Tensor, zero_logit: torch.Tensor, default: torch.Tensor
) -> torch.Tensor:
    """The median of ``zero × δ(default) + (1 - zero) × Laplace(location, scale)``."""
    zero = torch.sigmoid(zero_logit)
    other = 1.0 - zero

    def laplace_quantile(q: torch.Tensor) -> torch.Tensor:
        q = q.clamp(1e-6, 1 - 1e-6)
        below = location + scale * torch.log(2.0 * q)
        above = location - scale * torch.log(2.0 * (1.0 - q))
        return torch.where(q < 0.5, below, above)

    cdf_below = other * torch.where(
        default < location,
        0.5 * torch.exp((default - location) / scale),
        1.0 - 0.5 * torch.exp(-(default - location) / scale),
    )
    low_side = laplace_quantile(0.5 / other.clamp_min(1e-6))
    high_side = laplace_quantile((0.5 - zero) / other.clamp_min(1e-6))
    return torch.where(
        cdf_below >= 0.5, low_side, torch.where(cdf_below + zero >= 0.5, default, high_side)
    )


Source = Literal["stated", "measured", "estimated"]
MEASURED = 1  # the pointer's column of the measured value; stated numbers follow it
FIRST_NUMBER = 2


@dataclass(frozen=True)
class WrittenValue:
    """What the head wrote for one slot: the canonical text, the value, its scale in the
    parameter's unit (0 unless estimated), where it came from (``source``; for a stated
    one, which number), and a note when a stated value had to be fitted into range."""

    text: str
    value: float
    scale: float
    source: Source
    number: int | None = None
    note: str | None = None


def write_values(
    outputs: ValueOutputs,
    slots: Sequence[int],
    stated: Sequence[Sequence[StatedNumber]],
    measured: Sequence[float],
    used: Sequence[set[int]] = (),
) -> list[WrittenValue]:
    """The value each slot gets: what the pointer picks over "none" (a stated number, or
    the ``measured`` value), else the median of the estimate. ``stated[k]`` are the
    numbers of slot ``k``'s prompt, ``measured[k]`` its measured value, ``used[k]`` the
    numbers its program has already copied: a prompt states each value once, so a number
    is copied at most once (the pointer's next choice is taken instead)."""
    default = SLOT_DEFAULTS.to(outputs.location.device)[list(slots)]
    median = mixture_median(outputs.location, outputs.scale, outputs.zero, default).detach()
    pointer = outputs.pointer.clone()
    for k, numbers in enumerate(used):
        pointer[k, [FIRST_NUMBER + number for number in numbers]] = -math.inf
    choices = pointer.argmax(dim=-1).tolist()
    written = []
    for k, (slot_id, choice) in enumerate(zip(slots, choices, strict=True)):
        slot = SLOTS[slot_id]
        number = choice - FIRST_NUMBER
        if choice == MEASURED:
            value = slot.param.nearest(measured[k])
            written.append(WrittenValue(format_value(value, slot.param), value, 0.0, "measured"))
        elif 0 <= number < len(stated[k]):
            value, note = fit_value(slot_value(stated[k][number], slot.param), slot.param)
            text = format_value(value, slot.param)
            written.append(WrittenValue(text, value, 0.0, "stated", number, note))
        else:
            unit = float(median[k])
            scale = float(outputs.scale[k].detach()) * slot.unit_scale(unit)
            written.append(WrittenValue(slot.text(unit), slot.from_unit(unit), scale, "estimated"))
    return written


@dataclass(frozen=True)
class ValueTargets:
    """The values of a batch of training targets: where each is predicted (``positions``
    (K, 2): row and sequence position), its slot, the index of its call in the program,
    its unit-space target, which prompt numbers state it (``pointer`` (K, 2 + numbers):
    "none", then "measured", known only once the audio is, then the numbers), and how
    many tokens spell it (``lengths``)."""

    positions: torch.Tensor
    slots: torch.Tensor
    calls: torch.Tensor
    units: torch.Tensor
    pointer: torch.Tensor
    lengths: list[int]

    def tensors(self, device: torch.device) -> dict[str, torch.Tensor]:
        """The model's keyword arguments for them."""
        return {
            "value_positions": self.positions.to(device),
            "value_slots": self.slots.to(device),
            "value_calls": self.calls.to(device),
            "value_targets": self.units.to(device),
            "value_pointer": self.pointer.to(device),
        }


def value_targets(
    targets: Sequence[str],
    offsets: Sequence[Sequence[tuple[int, int]]],
    prefix: int,
    prompts: Sequence[str],
) -> ValueTargets:
    """Each value of ``targets`` (with the character ``offsets`` of their tokens), with
    ``prefix`` positions before a target's start token; ``prompts`` are the texts the
    model reads (their stated numbers are the pointer's answers).

    A value is predicted from the token that ends exactly where the value starts (the
    one holding ``=``) and spelled by the tokens up to its end; with a pretrained
    tokenizer that merges ``=`` with the value's first characters there is no such
    token, and that value is left to the token loss.
    """
    positions, slots, calls, units, answers, lengths = [], [], [], [], [], []
    widest = FIRST_NUMBER + max((len(read_numbers(p)) for p in prompts), default=0)
    for row, (text, spans, prompt) in enumerate(zip(targets, offsets, prompts, strict=True)):
        ends = {end: j for j, (start, end) in enumerate(spans) if end > start}
        numbers = read_numbers(prompt)
        for value in value_spans(text):
            token = ends.get(value.start)
            last = ends.get(value.end)
            if token is None or last is None:
                continue
            index = SLOT_INDEX[(value.tool, value.param)]
            param = SLOTS[index].param
            right = [0.0] * widest
            for j, number in enumerate(numbers):
                if accepts(param, number.kind):
                    stated, _ = fit_value(slot_value(number, param), param)
                    right[FIRST_NUMBER + j] = 1.0 if stated == value.value else 0.0
            right[0] = 0.0 if any(right) else 1.0
            positions.append((row, prefix + 1 + token))
            slots.append(index)
            calls.append(value.call)
            units.append(SLOTS[index].to_unit(value.value))
            answers.append(right)
            lengths.append(last - token)
    return ValueTargets(
        positions=torch.tensor(positions, dtype=torch.long).reshape(-1, 2),
        slots=torch.tensor(slots, dtype=torch.long),
        calls=torch.tensor(calls, dtype=torch.long),
        units=torch.tensor(units, dtype=torch.float32),
        pointer=torch.tensor(answers, dtype=torch.float32).reshape(-1, widest),
        lengths=lengths,
    )


MEASURE_TOLERANCE_DB = 0.15


def mark_measured(
    pointer: torch.Tensor,
    slots: torch.Tensor,
    units: torch.Tensor,
    partial_levels: torch.Tensor,
    reference_lufs: float,
) -> torch.Tensor:
    """``pointer`` answers with "measured" marked where the level slot's target (``units``)
    is the gain that brings the partial output (its level features ``partial_levels``) to
    ``reference_lufs``, within ``MEASURE_TOLERANCE_DB``; "none" only where nothing is."""
    measured = reference_lufs - LevelFeatures.gated_loudness(partial_levels)
    level = SLOTS[MEASURED_SLOT].param
    targets_db = level.low + (units + 1.0) * (level.high - level.low) / 2.0
    pointer = pointer.clone()
    right = (slots == MEASURED_SLOT) & ((measured - targets_db).abs() <= MEASURE_TOLERANCE_DB)
    pointer[:, MEASURED] = right.to(pointer.dtype)
    pointer[:, 0] = (pointer[:, 1:].sum(dim=-1) == 0).to(pointer.dtype)
    return pointer
