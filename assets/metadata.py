"""Metadata helpers shared by the assets: markdown tables and embedded histograms.

The Dagster UI renders markdown metadata, including ``data:`` image URIs, so a preview
table or a histogram shows on the materialization page without a file server. Images
are small PNGs (a few kB), drawn with matplotlib's non-interactive Agg backend so that
they work in a code server without a display.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from dagster import MetadataValue
from matplotlib.figure import Figure


def _cell(value: object) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(frame: pd.DataFrame, max_rows: int = 10) -> MetadataValue:
    """The first ``max_rows`` rows as a markdown table, with a note on how many were left."""
    columns = [str(c) for c in frame.columns]
    lines = [
        "| " + " | ".join(_cell(c) for c in columns) + " |",
        "|" + "---|" * len(columns),
    ]
    for row in frame.head(max_rows).itertuples(index=False):
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    if len(frame) > max_rows:
        lines.append(f"\n_{len(frame) - max_rows} more rows not shown ({len(frame)} in all)_")
    if frame.empty:
        lines.append("\n_no rows_")
    return MetadataValue.md("\n".join(lines))


def counts_table(frame: pd.DataFrame, by: Sequence[str]) -> MetadataValue:
    """Row counts per combination of ``by`` columns, as a markdown table."""
    counts = frame.groupby(list(by), dropna=False).size().reset_index(name="count")
    return markdown_table(counts, max_rows=len(counts))


def png_markdown(png: bytes, title: str) -> str:
    """Markdown showing PNG bytes inline through a base64 ``data:`` URI."""
    return f"![{title}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"


def image_markdown(path: Path, title: str) -> str:
    """Markdown showing a PNG file inline (e.g. a loss curve written by another library)."""
    return png_markdown(Path(path).read_bytes(), title)


def _figure_markdown(figure: Figure, title: str) -> MetadataValue:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    return MetadataValue.md(png_markdown(buffer.getvalue(), title))


def histogram_markdown(
    values: Sequence[float], title: str, xlabel: str, bins: int = 20
) -> MetadataValue:
    """A histogram PNG embedded in markdown; non-finite values (e.g. silence) are left out."""
    finite = [float(v) for v in values if math.isfinite(float(v))]
    figure = Figure(figsize=(5, 3))
    axes = figure.subplots()
    axes.hist(finite, bins=bins, color="#4c72b0")
    axes.set_title(f"{title} (n={len(finite)})")
    axes.set_xlabel(xlabel)
    axes.set_ylabel("count")
    return _figure_markdown(figure, title)


def bar_chart_markdown(counts: pd.Series, title: str, xlabel: str) -> MetadataValue:
    """A bar chart of ``counts`` (index = labels) as a PNG embedded in markdown."""
    figure = Figure(figsize=(5, 3))
    axes = figure.subplots()
    axes.bar([str(label) for label in counts.index], counts.to_numpy(), color="#55a868")
    axes.set_title(title)
    axes.set_xlabel(xlabel)
    axes.set_ylabel("count")
    axes.tick_params(axis="x", labelrotation=30)
    return _figure_markdown(figure, title)
