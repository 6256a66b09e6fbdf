"""Value slots: one per registry parameter, each with the unit space the value head uses.

Unit space is ``[-1, 1]`` over the parameter's range, linear, or logarithmic for Hz and
ms whose ranges span decades. The tables beside the slots say which stated numbers a
slot can take (``SLOT_KINDS``), where "no change" sits (``SLOT_DEFAULTS``) and how wide
one grid step is there (``SLOT_BINS``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from mixer_core.language.grammar import format_value
from mixer_core.language.registry import TOOLS, Param
from mixer_core.language.stated import KINDS, accepts

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

    def unit_scale(self, unit: float) -> float:
        """How many of the parameter's units one unit-space step is worth at ``unit``."""
        low, high = self._bounds()
        if not self.log:
            return (high - low) / 2.0
        return self.from_unit(unit) * (high - low) / 2.0

    @property
    def default_unit(self) -> float:
        return self.to_unit(self.param.default)

    @property
    def step_unit(self) -> float:
        """Unit-space width of one grid step at the default (the likelihood's bin)."""
        value = self.param.default
        upper = value + self.param.step
        if upper > self.param.high:
            return self.to_unit(value) - self.to_unit(value - self.param.step)
        return self.to_unit(upper) - self.to_unit(value)


SLOTS: tuple[ValueSlot, ...] = tuple(
    ValueSlot(tool.name, param) for tool in TOOLS for param in tool.params
)
SLOT_INDEX: dict[tuple[str, str], int] = {
    (slot.tool, slot.param.name): i for i, slot in enumerate(SLOTS)
}
# (slots, kinds): 1 where a stated number of that kind can be the slot's value
SLOT_KINDS = torch.tensor(
    [[1.0 if accepts(slot.param, kind) else 0.0 for kind in KINDS] for slot in SLOTS]
)
SLOT_DEFAULTS = torch.tensor([slot.default_unit for slot in SLOTS])
SLOT_BINS = torch.tensor([slot.step_unit for slot in SLOTS])

# The slot whose value can also be measured rather than estimated or copied: a fix's level
# correction, the gain that brings the program's output so far to the reference loudness.
MEASURED_SLOT = SLOT_INDEX[("change_volume", "db")]
