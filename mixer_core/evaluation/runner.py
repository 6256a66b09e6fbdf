"""The evaluation routine: render held-out recipes, run predictors, execute, compare.

For each example the predictor's program is executed with ``MixingTools`` on the
input and the result is compared with the reference (MR-STFT, docs/evaluation.md).
A prediction that does not parse, or names a value out of range, counts against the
valid-call rate and is executed as the empty program, so it scores exactly as no-op
instead of disappearing from the average.

Predictors come in two kinds. A :class:`Predictor` sees what a user would give the
model (audio and prompt). A :class:`TargetPredictor` is handed the recipes themselves;
only the oracle is one, and the separate method makes that privilege explicit in the
types instead of a special case on a name.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from mixer_core.audio.io import read_audio
from mixer_core.audio.loudness import integrated_lufs, normalize_lufs
from mixer_core.config import DataConfig
from mixer_core.data.augmentation import Recipe
from mixer_core.data.prompts import prompt_kind
from mixer_core.data.rendering import render_example
from mixer_core.evaluation.baselines import (
    DEFAULT_MAX_FIT_EXAMPLES,
    HeuristicBaseline,
    evenly_spaced,
)
from mixer_core.evaluation.metrics import (
    SpectralReference,
    parameter_errors,
    read_prediction,
    stated_values,
    tool_set_f1,
    tools_in_order,
)
from mixer_core.evaluation.report import PARAM_PREFIX, EvaluationReport
from mixer_core.language.grammar import ToolCall
from mixer_core.progress import Progress, progress_bar
from mixer_core.tools.levels import band_levels_db
from mixer_core.tools.mixing_tools import MixingTools

_TABLE_COLUMNS = (
    "recipe_id",
    "segment_id",
    "seed",
    "mode",
    "chain",
    "target",
    "prompt",
    "families",
    "split",
    "segment_path",
)


@runtime_checkable
class Predictor(Protocol):
    """Writes programs from audio and prompts; text outputs are parsed by the evaluation."""

    def predict_batch(
        self, audios: Sequence[np.ndarray], sample_rate: int, prompts: Sequence[str]
    ) -> list[list[ToolCall]] | list[str]: ...


@runtime_checkable
class TargetPredictor(Protocol):
    """Answers from the recipes themselves (the oracle)."""

    def predict_targets(self, recipes: Sequence[Recipe]) -> list[list[ToolCall]]: ...


@dataclass(frozen=True)
class EvalExample:
    """One rendered recipe: the model's input and the reference its program should reach."""

    recipe: Recipe
    input: np.ndarray
    reference: np.ndarray
    artist: str = ""


def _predict(
    predictor: Predictor | TargetPredictor,
    name: str,
    batch: Sequence[EvalExample],
    sample_rate: int,
) -> Sequence[str | Sequence[ToolCall]]:
    if isinstance(predictor, TargetPredictor):
        outputs = predictor.predict_targets([ex.recipe for ex in batch])
    elif isinstance(predictor, Predictor):
        outputs = predictor.predict_batch(
            [ex.input for ex in batch], sample_rate, [ex.recipe.prompt for ex in batch]
        )
    else:
        raise TypeError(
            f"predictor {name!r} ({type(predictor).__name__}) has neither predict_batch "
            "nor predict_targets"
        )
    if len(outputs) != len(batch):
        raise ValueError(
            f"predictor {name!r} returned {len(outputs)} programs for {len(batch)} examples"
        )
    return outputs


@dataclass(frozen=True)
class _Executed:
    """A predictor's output on one example: its calls (None when invalid), their text,
    and the audio they give."""

    calls: list[ToolCall] | None
    text: str
    audio: np.ndarray


def _execute(
    example: EvalExample, output: str | Sequence[ToolCall], sample_rate: int, tools: MixingTools
) -> _Executed:
    calls, text = read_prediction(output)
    audio = np.asarray(example.input, dtype=np.float32)
    if calls:
        audio = tools.apply(audio, sample_rate, calls)
    return _Executed(calls, text, audio)


def _example_row(
    example: EvalExample,
    name: str,
    executed: _Executed,
    d_model: float,
    d_noop: float,
    reference_lufs: float,
    sample_rate: int,
) -> dict[str, Any]:
    calls = executed.calls or []
    recipe = example.recipe
    target = recipe.target_calls()
    errors = parameter_errors(calls, target)
    stated, exact = stated_values(recipe.prompt, calls, target)
    return {
        "recipe_id": example.recipe.recipe_id,
        "artist": example.artist,
        "song": song_of(recipe.segment_id),
        "predictor": name,
        "mode": recipe.mode,
        "prompt_kind": prompt_kind(recipe.mode, recipe.prompt),
        "families": ",".join(recipe.families),
        "prompt": example.recipe.prompt,
        "target": example.recipe.target,
        "prediction": executed.text,
        "valid": executed.calls is not None,
        "d_model": d_model,
        "d_noop": d_noop,
        "f1": tool_set_f1(calls, target),
        "tools_in_order": tools_in_order(calls, target),
        "stated_values": stated,
        "stated_exact": exact,
        "lufs_error": abs(integrated_lufs(executed.audio, sample_rate) - reference_lufs),
        **{f"{PARAM_PREFIX}{key}": value for key, value in errors.items()},
    }


def song_of(segment_id: str) -> str:
    """The ``artist/song`` a segment id (``artist/song/0003``) belongs to."""
    return segment_id.rsplit("/", 1)[0]


def _batches(items: Iterable[EvalExample], size: int) -> Iterator[list[EvalExample]]:
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def evaluate(
    examples: Iterable[EvalExample],
    predictors: Mapping[str, Predictor | TargetPredictor],
    sample_rate: int,
    progress: Progress = True,
    batch_size: int = 8,
    tools: MixingTools | None = None,
    notes: Sequence[str] = (),
) -> EvaluationReport:
    """Run every predictor on every example; ``examples`` may be a lazy iterable.
    ``progress``: a bar, nothing, or lines for a log (``mixer_core.progress``)."""
    if not predictors:
        raise ValueError("evaluate: no predictors given")
    if batch_size <= 0:
        raise ValueError(f"evaluate: batch_size must be positive, got {batch_size}")
    tools = tools or MixingTools()
    total = len(examples) if isinstance(examples, Sequence) else None
    bar = progress_bar(progress, total=total, desc="evaluate", unit="recipe")
    rows: list[dict[str, Any]] = []
    with bar:
        for batch in _batches(examples, batch_size):
            outputs = {
                name: _predict(predictor, name, batch, sample_rate)
                for name, predictor in predictors.items()
            }
            # per example: its reference transformed once, every output measured against it
            scored = []
            for index, example in enumerate(batch):
                executed = {
                    name: _execute(example, outputs[name][index], sample_rate, tools)
                    for name in predictors
                }
                d_noop, *d_models = SpectralReference(example.reference).distances(
                    [example.input, *(e.audio for e in executed.values())]
                )
                distances = dict(zip(predictors, d_models, strict=True))
                reference_lufs = integrated_lufs(example.reference, sample_rate)
                scored.append((executed, distances, d_noop, reference_lufs))
            for name in predictors:
                rows.extend(
                    _example_row(ex, name, ex_exec[name], d[name], d_noop, lufs, sample_rate)
                    for ex, (ex_exec, d, d_noop, lufs) in zip(batch, scored, strict=True)
                )
            bar.update(len(batch))
    return EvaluationReport.from_rows(rows, notes)


def build_examples(
    table: pd.DataFrame,
    processed_dir: Path,
    data_cfg: DataConfig,
    split: str = "test",
    limit: int | None = None,
    progress: Progress = False,
) -> list[EvalExample]:
    """Render the recipes of one split of a manifest joined with the segment index.

    ``table`` needs the recipe columns, ``split`` and ``segment_path`` (relative to
    ``processed_dir``), as ``training.data.load_training_table`` gives. Recipes are
    taken in ``recipe_id`` order, the first ``limit`` of them; each segment is read
    once at ``data.sample_rate``/``data.channels``.
    """
    rows = _split_rows(table, split, "build_examples")
    if limit is not None:
        rows = rows.head(limit)
    processed_dir = Path(processed_dir)
    segments: dict[str, np.ndarray] = {}
    examples = []
    records = rows.to_dict("records")
    for row in progress_bar(progress, iterable=records, desc=f"render {split}", unit="recipe"):
        path = str(row["segment_path"])
        if path not in segments:
            segments[path], _ = read_audio(
                processed_dir / path, sample_rate=data_cfg.sample_rate, channels=data_cfg.channels
            )
        recipe = Recipe.from_row(row)
        model_input, reference = render_example(
            segments[path], data_cfg.sample_rate, recipe, data_cfg.reference_lufs
        )
        examples.append(EvalExample(recipe, model_input, reference, str(row.get("artist", ""))))
    return examples


def _split_rows(table: pd.DataFrame, split: str, caller: str) -> pd.DataFrame:
    missing = [c for c in _TABLE_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{caller}: the table lacks column(s) {', '.join(missing)}")
    rows = table[table["split"] == split].sort_values("recipe_id", kind="stable")
    if rows.empty:
        splits = ", ".join(sorted(map(str, table["split"].unique())))
        raise ValueError(f"{caller}: no recipes in split {split!r} (splits: {splits})")
    return rows


def fit_heuristic_on_split(
    table: pd.DataFrame,
    processed_dir: Path,
    data_cfg: DataConfig,
    split: str = "train",
    max_fit_examples: int | None = DEFAULT_MAX_FIT_EXAMPLES,
    progress: Progress = True,
) -> HeuristicBaseline:
    """Fit the heuristic on a whole split of the training table, as docs/evaluation.md describes.

    The median loudness and mean band levels come from **every** segment of the split
    (each one's clean reference: the segment normalised to ``data.reference_lufs``),
    read one at a time, so memory does not grow with the corpus. The shrinkage is
    fitted on at most ``max_fit_examples`` "fix" recipes evenly spaced over the split
    in ``recipe_id`` order, so they span its artists and songs rather than its first
    song.
    """
    rows = _split_rows(table, split, "fit_heuristic_on_split")
    processed_dir = Path(processed_dir)
    rate = data_cfg.sample_rate
    loudness, levels = [], []
    paths = rows.drop_duplicates("segment_id")["segment_path"].astype(str)
    for path in progress_bar(
        progress, iterable=paths, desc=f"heuristic: {split} statistics", unit="segment"
    ):
        segment, _ = read_audio(processed_dir / path, sample_rate=rate, channels=data_cfg.channels)
        clean, _ = normalize_lufs(segment, rate, data_cfg.reference_lufs)
        loudness.append(integrated_lufs(clean, rate))
        levels.append(band_levels_db(clean, rate))
    heuristic = HeuristicBaseline.from_statistics(rate, loudness, levels)
    fix_rows = rows[rows["mode"] == "fix"]
    if not fix_rows.empty:
        chosen = fix_rows.iloc[evenly_spaced(range(len(fix_rows)), max_fit_examples)]
        pairs = build_examples(chosen, processed_dir, data_cfg, split=split, progress=progress)
        heuristic.fit_shrinkage([(ex.input, ex.reference) for ex in pairs])
    return heuristic


def fit_heuristic(
    examples: Iterable[EvalExample],
    sample_rate: int,
    max_fit_examples: int | None = DEFAULT_MAX_FIT_EXAMPLES,
) -> HeuristicBaseline:
    """Fit the heuristic on rendered training examples.

    The clean references are the loudness-normalised segments (a "fix" example's
    reference, an "instruct" example's input), one per segment; the shrinkage is fitted
    on the "fix" pairs.
    """
    clean: dict[str, np.ndarray] = {}
    pairs: list[tuple[np.ndarray, np.ndarray]] = []
    for ex in examples:
        is_fix = ex.recipe.mode == "fix"
        clean.setdefault(ex.recipe.segment_id, ex.reference if is_fix else ex.input)
        if is_fix:
            pairs.append((ex.input, ex.reference))
    if not clean:
        raise ValueError("fit_heuristic: no training examples")
    return HeuristicBaseline.fit(list(clean.values()), sample_rate, pairs, max_fit_examples)
