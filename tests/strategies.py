"""Hypothesis strategies over the tool registry, shared by the test modules."""

from __future__ import annotations

from hypothesis import strategies as st

from mixer_core.language.grammar import ToolCall
from mixer_core.language.registry import TOOLS, Param


def grid_value(param: Param) -> st.SearchStrategy[float]:
    """A value on the parameter's step grid, i.e. one that formats canonically."""
    count = round((param.high - param.low) / param.step)
    return st.integers(0, count).map(
        lambda i: round(param.low + i * param.step, param.decimals) + 0.0
    )


def any_value(param: Param) -> st.SearchStrategy[float]:
    return st.floats(param.low, param.high, allow_nan=False, allow_infinity=False)


@st.composite
def tool_calls(draw: st.DrawFn, on_grid: bool = True) -> ToolCall:
    tool = draw(st.sampled_from(TOOLS))
    chosen = draw(st.lists(st.sampled_from(tool.params), unique=True, max_size=len(tool.params)))
    values = grid_value if on_grid else any_value
    return ToolCall(tool.name, {p.name: draw(values(p)) for p in chosen})


def programs(on_grid: bool = True, max_size: int = 4) -> st.SearchStrategy[list[ToolCall]]:
    return st.lists(tool_calls(on_grid), max_size=max_size)
