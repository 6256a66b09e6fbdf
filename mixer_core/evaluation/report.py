"""The evaluation report: per-example rows and every summary a user reads from them.

Summaries are derived from the rows, never stored, so reports of parts (one per
held-out artist, say) combine exactly; the markdown, the JSON, the Dagster metadata and
the MLflow metrics all read the same tables.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from mixer_core.evaluation.metrics import (
    parameter_unit,
    recovery_lead_interval,
    recovery_median,
    recovery_pooled,
    recovery_pooled_interval,
)

PARAM_PREFIX = "param_error."
# MR-STFT distance of a level error of about 0.4 dB: below it an input counts as clean
# for worst_vs_noop
AUDIBLE_DISTANCE = 0.1
NO_FAMILY = "none"
SUMMARY_COLUMNS = (
    "examples",
    "songs",
    "artists",
    "recovery_pooled",
    "recovery_median",
    "recovery_ci_low",
    "recovery_ci_high",
    "worse_than_noop",
    "worst_vs_noop",
    "mrstft",
    "mrstft_noop",
    "valid_call_rate",
    "tool_set_f1",
    "tool_order_accuracy",
    "exact_value_rate",
    "lufs_error",
    "param_error_db",
)


@dataclass
class EvaluationReport:
    """Per-example rows (one per example × predictor) and the summaries built from them.

    Summaries are derived, never stored, so reports of parts (e.g. one per held-out
    artist) combine exactly with :meth:`concat`. ``notes`` say how the figures were
    obtained where that is not the default (e.g. what the heuristic was fitted on).
    """

    examples: pd.DataFrame
    notes: tuple[str, ...] = ()

    @property
    def predictors(self) -> list[str]:
        return list(dict.fromkeys(self.examples["predictor"])) if len(self.examples) else []

    @cached_property
    def summary(self) -> pd.DataFrame:
        """One row per predictor: every headline metric."""
        return _summarise(self.examples, ["predictor"], self.predictors)

    @cached_property
    def by_mode(self) -> pd.DataFrame:
        """One row per predictor × mode ("fix" / "instruct")."""
        return _summarise(self.examples, ["predictor", "mode"], self.predictors)

    @cached_property
    def by_prompt_kind(self) -> pd.DataFrame:
        """One row per predictor × prompt kind ("instruct", "named fix", "generic fix")."""
        return _summarise(self.examples, ["predictor", "prompt_kind"], self.predictors)

    @cached_property
    def by_family(self) -> pd.DataFrame:
        """One row per predictor × distortion family; a multi-family example counts in each."""
        rows = self.examples.assign(
            family=self.examples["families"].map(lambda f: f.split(",") if f else [NO_FAMILY])
        ).explode("family")
        return _summarise(rows, ["predictor", "family"], self.predictors)

    @cached_property
    def per_param(self) -> pd.DataFrame:
        """Mean absolute error and count per predictor × ``tool.param``, with its unit."""
        columns = [c for c in self.examples.columns if c.startswith(PARAM_PREFIX)]
        if not columns:
            return pd.DataFrame(columns=["predictor", "param", "unit", "mean_abs_error", "count"])
        melted = self.examples.melt(
            id_vars=["predictor"], value_vars=columns, var_name="param", value_name="error"
        ).dropna(subset=["error"])
        table = (
            melted.groupby(["predictor", "param"], sort=False)["error"]
            .agg(mean_abs_error="mean", count="count")
            .reset_index()
        )
        table["param"] = table["param"].str.removeprefix(PARAM_PREFIX)
        table.insert(2, "unit", table["param"].map(parameter_unit))
        return table

    def scores(self, predictor: str) -> dict[str, float]:
        """The summary row of one predictor as plain floats (e.g. for promotion)."""
        summary = self.summary.set_index("predictor")
        if predictor not in summary.index:
            raise KeyError(
                f"no predictor {predictor!r} in this report (have: {', '.join(self.predictors)})"
            )
        return {key: float(value) for key, value in summary.loc[predictor].items()}

    @cached_property
    def leads(self) -> pd.DataFrame:
        """The first predictor (the one under test) against each other one, paired.

        One row per other predictor over all examples (``mode`` "all"), then one per
        mode: a lead that only instruct prompts carry shows as such.
        """
        columns = [
            "predictor", "over", "mode", "lead", "lead_ci_low", "lead_ci_high", "songs",
            "artists",
        ]  # fmt: skip
        if len(self.predictors) < 2:
            return pd.DataFrame(columns=columns)
        first, *others = self.predictors
        pooled = self.summary.set_index("predictor")["recovery_pooled"]
        by_mode = self.by_mode.set_index(["predictor", "mode"])["recovery_pooled"]
        own = self.examples[self.examples["predictor"] == first]

        def behind(mode: str | None) -> list[int]:
            rows = own if mode is None else own[own["mode"] == mode]
            return [rows["song"].nunique(), rows["artist"].nunique()]

        rows = [
            [first, other, "all", pooled[first] - pooled[other],
             *self.lead_interval(first, other), *behind(None)]
            for other in others
        ]  # fmt: skip
        rows += [
            [first, other, mode, by_mode[first, mode] - by_mode[other, mode],
             *self.lead_interval(first, other, mode), *behind(mode)]
            for mode in dict.fromkeys(self.examples["mode"])
            for other in others
        ]  # fmt: skip
        return pd.DataFrame(rows, columns=columns)

    def lead_interval(
        self, predictor: str, other: str, mode: str | None = None
    ) -> tuple[float, float]:
        """95% paired-bootstrap interval of ``predictor``'s pooled recovery minus ``other``'s.

        Over the examples of ``mode`` only, when given.
        """
        missing = [n for n in (predictor, other) if n not in self.predictors]
        if missing:
            raise KeyError(
                f"no predictor {missing[0]!r} in this report (have: {', '.join(self.predictors)})"
            )
        rows = self.examples.set_index("recipe_id")
        if mode is not None:
            rows = rows[rows["mode"] == mode]
        first = rows[rows["predictor"] == predictor]
        second = rows[rows["predictor"] == other].reindex(first.index)
        return recovery_lead_interval(
            first["d_model"], second["d_model"], first["d_noop"], first["song"]
        )

    def to_markdown(self) -> str:
        """The tables a user reads: overall, per mode, per distortion family."""
        lines = [
            "# Evaluation",
            "",
            f"{self.examples['recipe_id'].nunique() if len(self.examples) else 0} examples; "
            "recovery = 1 - d(predictor)/d(no-op) on auraloss MR-STFT, pooled over the set "
            "and median per example; recovery_ci_low/high bound the pooled figure (95% "
            "bootstrap over the songs: each song's recipes are resampled together; songs "
            "and artists say how many stand behind it); worse_than_noop is the share of "
            "examples the program made worse than the input, worst_vs_noop the largest "
            "d(predictor)/d(no-op) where the input is audibly off (d(no-op) >= 0.1); "
            "tool_order_accuracy the share "
            "with exactly the target's tools in its order; exact_value_rate the share of "
            "values the prompt states that the program wrote exactly; param_error_db "
            "averages the dB parameters of tools both programs use.",
            "",
            *(f"- {note}" for note in self.notes),
            *([""] if self.notes else []),
            "## Overall",
            "",
            _markdown(self.summary),
            "",
            "## By mode",
            "",
            _markdown(self.by_mode),
            "",
            "## By prompt kind",
            "",
            'Instruct prompts state the change; named fixes name the problem ("the low end '
            'is boomy"); generic fixes only ask for a fix, so the audio alone must tell.',
            "",
            _markdown(self.by_prompt_kind),
            "",
            "## By distortion family",
            "",
            _markdown(self.by_family),
            "",
            "## Paired leads",
            "",
            "Pooled recovery of the first predictor minus each other's, with a 95% "
            "bootstrap interval over the same songs (an interval above 0 is a lead the "
            "set supports), over all examples and per mode.",
            "",
            _markdown(self.leads),
            "",
            "## Parameter errors",
            "",
            "Mean absolute error of each parameter where predicted and target programs both "
            "use its tool, in the parameter's unit.",
            "",
            _markdown(self.per_param),
            "",
        ]
        return "\n".join(lines)

    def to_dict(self, include_examples: bool = False) -> dict[str, Any]:
        """JSON-ready data; NaN (an undefined metric) becomes ``null``."""
        data: dict[str, Any] = {
            "notes": list(self.notes),
            "summary": _records(self.summary),
            "by_mode": _records(self.by_mode),
            "by_prompt_kind": _records(self.by_prompt_kind),
            "by_family": _records(self.by_family),
            "per_param": _records(self.per_param),
            "leads": _records(self.leads),
        }
        if include_examples:
            data["examples"] = _records(self.examples)
        return data

    def to_json(self, include_examples: bool = False, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(include_examples), indent=indent, allow_nan=False)

    @classmethod
    def from_rows(
        cls, rows: Sequence[Mapping[str, Any]], notes: Sequence[str] = ()
    ) -> EvaluationReport:
        """A report over per-example rows (an empty one keeps the columns summaries need)."""
        return cls(pd.DataFrame(list(rows)) if rows else _empty_frame(), tuple(notes))

    @classmethod
    def concat(
        cls, reports: Sequence[EvaluationReport], notes: Sequence[str] = ()
    ) -> EvaluationReport:
        """One report over the union of the parts' examples."""
        frames = [r.examples for r in reports if len(r.examples)]
        examples = pd.concat(frames, ignore_index=True) if frames else _empty_frame()
        merged = dict.fromkeys([*notes, *(n for r in reports for n in r.notes)])
        return cls(examples, tuple(merged))


def _empty_frame() -> pd.DataFrame:
    return pd.DataFrame(
        columns=[
            "recipe_id",
            "artist",
            "song",
            "predictor",
            "mode",
            "prompt_kind",
            "families",
            "d_model",
            "d_noop",
            "valid",
            "f1",
            "tools_in_order",
            "stated_values",
            "stated_exact",
            "lufs_error",
        ]
    )


def _summarise(frame: pd.DataFrame, keys: list[str], order: list[str]) -> pd.DataFrame:
    if frame.empty:
        return pd.DataFrame(columns=[*keys, *SUMMARY_COLUMNS])
    db_columns = [
        c
        for c in frame.columns
        if c.startswith(PARAM_PREFIX) and parameter_unit(c.removeprefix(PARAM_PREFIX)) == "dB"
    ]
    rows = []
    for group_key, group in frame.groupby(keys, sort=False):
        group_key = group_key if isinstance(group_key, tuple) else (group_key,)
        db_errors = group[db_columns].to_numpy(dtype=np.float64).ravel()
        db_errors = db_errors[~np.isnan(db_errors)]
        ci_low, ci_high = recovery_pooled_interval(group["d_model"], group["d_noop"], group["song"])
        stated = int(group["stated_values"].sum())
        rows.append(
            {
                **dict(zip(keys, group_key, strict=True)),
                "examples": len(group),
                "songs": group["song"].nunique(),
                "artists": group["artist"].nunique(),
                "recovery_pooled": recovery_pooled(group["d_model"], group["d_noop"]),
                "recovery_median": recovery_median(group["d_model"], group["d_noop"]),
                "recovery_ci_low": ci_low,
                "recovery_ci_high": ci_high,
                "worse_than_noop": float((group["d_model"] > group["d_noop"]).mean()),
                "worst_vs_noop": _worst_ratio(group["d_model"], group["d_noop"]),
                "mrstft": float(group["d_model"].mean()),
                "mrstft_noop": float(group["d_noop"].mean()),
                "valid_call_rate": float(group["valid"].mean()),
                "tool_set_f1": float(group["f1"].mean()),
                "tool_order_accuracy": float(group["tools_in_order"].mean()),
                "exact_value_rate": float(group["stated_exact"].sum()) / stated
                if stated
                else math.nan,
                "lufs_error": float(group["lufs_error"].mean()),
                "param_error_db": float(db_errors.mean()) if db_errors.size else math.nan,
            }
        )
    table = pd.DataFrame(rows)
    rank = {name: i for i, name in enumerate(order)}
    sort_keys = ["_rank", *keys[1:]]
    table = table.assign(_rank=table["predictor"].map(rank)).sort_values(sort_keys, kind="stable")
    return table.drop(columns="_rank").reset_index(drop=True)


def _worst_ratio(d_model: pd.Series, d_noop: pd.Series) -> float:
    """The largest d(predictor) / d(no-op) over inputs audibly off (``AUDIBLE_DISTANCE``):
    how much worse than the input an output got at worst. A ratio over an input that is
    (nearly) clean says nothing but how small its distance is. NaN when no input is off."""
    keep = d_noop >= AUDIBLE_DISTANCE
    return float((d_model[keep] / d_noop[keep]).max()) if keep.any() else math.nan


def _markdown(table: pd.DataFrame) -> str:
    if table.empty:
        return "(no examples)"
    return table.to_markdown(index=False, floatfmt=".3f")


def _records(table: pd.DataFrame) -> list[dict[str, Any]]:
    clean = table.astype(object).where(table.notna(), None)
    return [{key: _plain(value) for key, value in row.items()} for row in clean.to_dict("records")]


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
