"""The evaluation routine: render held-out recipes, run predictors, execute, compare.

For each example the predictor's program is executed with ``MixingTools`` on the
input and the result is compared with the reference (MR-STFT, DESIGN "Evaluation").
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
import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from mixer_core.audio.io import AUDIO_SUFFIXES, PYDUB_SUFFIXES, AudioFileError, read_audio
from mixer_core.audio.loudness import integrated_lufs, normalize_lufs
from mixer_core.config import Config, DataConfig
from mixer_core.data.augmentation import Recipe, sample_recipes
from mixer_core.data.rendering import render_example
from mixer_core.data.segmenting import configured_segments
from mixer_core.evaluation.baselines import (
    DEFAULT_MAX_FIT_EXAMPLES,
    HeuristicBaseline,
    NoOpBaseline,
    OracleBaseline,
    band_levels_db,
    evenly_spaced,
)
from mixer_core.evaluation.metrics import (
    lufs_error,
    mrstft_distance,
    parameter_errors,
    parameter_unit,
    read_prediction,
    recovery_lead_interval,
    recovery_median,
    recovery_pooled,
    recovery_pooled_interval,
    tool_set_f1,
)
from mixer_core.language.grammar import ToolCall
from mixer_core.tools.mixing_tools import MixingTools

PARAM_PREFIX = "param_error."
NO_FAMILY = "none"
SUMMARY_COLUMNS = (
    "examples",
    "recovery_pooled",
    "recovery_median",
    "recovery_ci_low",
    "recovery_ci_high",
    "mrstft",
    "mrstft_noop",
    "valid_call_rate",
    "tool_set_f1",
    "lufs_error",
    "param_error_db",
)
# Per artist, the segments kept for fitting the heuristic in evaluate_folder: enough
# for stable band statistics while a large folder never sits in memory at once.
FIT_SEGMENTS_PER_ARTIST = 32
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
        columns = ["predictor", "over", "mode", "lead", "lead_ci_low", "lead_ci_high"]
        if len(self.predictors) < 2:
            return pd.DataFrame(columns=columns)
        first, *others = self.predictors
        pooled = self.summary.set_index("predictor")["recovery_pooled"]
        by_mode = self.by_mode.set_index(["predictor", "mode"])["recovery_pooled"]
        modes = list(dict.fromkeys(self.examples["mode"]))
        rows = [
            [first, other, "all", pooled[first] - pooled[other], *self.lead_interval(first, other)]
            for other in others
        ]
        rows += [
            [
                first,
                other,
                mode,
                by_mode[first, mode] - by_mode[other, mode],
                *self.lead_interval(first, other, mode),
            ]
            for mode in modes
            for other in others
        ]
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
        return recovery_lead_interval(first["d_model"], second["d_model"], first["d_noop"])

    def to_markdown(self) -> str:
        """The tables a user reads: overall, per mode, per distortion family."""
        lines = [
            "# Evaluation",
            "",
            f"{self.examples['recipe_id'].nunique() if len(self.examples) else 0} examples; "
            "recovery = 1 - d(predictor)/d(no-op) on auraloss MR-STFT, pooled over the set "
            "and median per example; recovery_ci_low/high bound the pooled figure (95% "
            "bootstrap over the examples); param_error_db averages the dB parameters of "
            "tools both programs use.",
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
            "## By distortion family",
            "",
            _markdown(self.by_family),
            "",
            "## Paired leads",
            "",
            "Pooled recovery of the first predictor minus each other's, with a 95% "
            "bootstrap interval over the same examples (an interval above 0 is a lead the "
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
            "predictor",
            "mode",
            "families",
            "d_model",
            "d_noop",
            "valid",
            "f1",
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
        ci_low, ci_high = recovery_pooled_interval(group["d_model"], group["d_noop"])
        rows.append(
            {
                **dict(zip(keys, group_key, strict=True)),
                "examples": len(group),
                "recovery_pooled": recovery_pooled(group["d_model"], group["d_noop"]),
                "recovery_median": recovery_median(group["d_model"], group["d_noop"]),
                "recovery_ci_low": ci_low,
                "recovery_ci_high": ci_high,
                "mrstft": float(group["d_model"].mean()),
                "mrstft_noop": float(group["d_noop"].mean()),
                "valid_call_rate": float(group["valid"].mean()),
                "tool_set_f1": float(group["f1"].mean()),
                "lufs_error": float(group["lufs_error"].mean()),
                "param_error_db": float(db_errors.mean()) if db_errors.size else math.nan,
            }
        )
    table = pd.DataFrame(rows)
    rank = {name: i for i, name in enumerate(order)}
    sort_keys = ["_rank", *keys[1:]]
    table = table.assign(_rank=table["predictor"].map(rank)).sort_values(sort_keys, kind="stable")
    return table.drop(columns="_rank").reset_index(drop=True)


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


def _example_row(
    example: EvalExample,
    name: str,
    output: str | Sequence[ToolCall],
    d_noop: float,
    sample_rate: int,
    tools: MixingTools,
) -> dict[str, Any]:
    calls, text = read_prediction(output)
    executed = calls or []
    audio = np.asarray(example.input, dtype=np.float32)
    result = tools.apply(audio, sample_rate, executed) if executed else audio
    target = example.recipe.target_calls()
    errors = parameter_errors(executed, target)
    return {
        "recipe_id": example.recipe.recipe_id,
        "artist": example.artist,
        "predictor": name,
        "mode": example.recipe.mode,
        "families": ",".join(example.recipe.families),
        "prompt": example.recipe.prompt,
        "target": example.recipe.target,
        "prediction": text,
        "valid": calls is not None,
        "d_model": mrstft_distance(result, example.reference),
        "d_noop": d_noop,
        "f1": tool_set_f1(executed, target),
        "lufs_error": lufs_error(result, example.reference, sample_rate),
        **{f"{PARAM_PREFIX}{key}": value for key, value in errors.items()},
    }


def _batches(items: Iterable[EvalExample], size: int) -> Iterator[list[EvalExample]]:
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def evaluate(
    examples: Iterable[EvalExample],
    predictors: Mapping[str, Predictor | TargetPredictor],
    sample_rate: int,
    progress: bool = True,
    batch_size: int = 8,
    tools: MixingTools | None = None,
    notes: Sequence[str] = (),
) -> EvaluationReport:
    """Run every predictor on every example; ``examples`` may be a lazy iterable."""
    if not predictors:
        raise ValueError("evaluate: no predictors given")
    if batch_size <= 0:
        raise ValueError(f"evaluate: batch_size must be positive, got {batch_size}")
    tools = tools or MixingTools()
    total = len(examples) if isinstance(examples, Sequence) else None
    bar = None
    if progress:
        bar = tqdm(total=total, desc="evaluate", unit="example")
    rows: list[dict[str, Any]] = []
    try:
        for batch in _batches(examples, batch_size):
            d_noop = [mrstft_distance(ex.input, ex.reference) for ex in batch]
            for name, predictor in predictors.items():
                outputs = _predict(predictor, name, batch, sample_rate)
                rows.extend(
                    _example_row(ex, name, out, d, sample_rate, tools)
                    for ex, out, d in zip(batch, outputs, d_noop, strict=True)
                )
            if bar is not None:
                bar.update(len(batch))
    finally:
        if bar is not None:
            bar.close()
    frame = pd.DataFrame(rows) if rows else _empty_frame()
    return EvaluationReport(frame, tuple(notes))


def build_examples(
    table: pd.DataFrame,
    processed_dir: Path,
    data_cfg: DataConfig,
    split: str = "test",
    limit: int | None = None,
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
    for row in rows.to_dict("records"):
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
    progress: bool = True,
) -> HeuristicBaseline:
    """Fit the heuristic on a whole split of the training table, as DESIGN asks.

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
    for path in tqdm(
        paths, desc=f"heuristic: {split} statistics", unit="segment", disable=not progress
    ):
        segment, _ = read_audio(processed_dir / path, sample_rate=rate, channels=data_cfg.channels)
        clean, _ = normalize_lufs(segment, rate, data_cfg.reference_lufs)
        loudness.append(integrated_lufs(clean, rate))
        levels.append(band_levels_db(clean, rate))
    heuristic = HeuristicBaseline.from_statistics(rate, loudness, levels)
    fix_rows = rows[rows["mode"] == "fix"]
    if not fix_rows.empty:
        chosen = fix_rows.iloc[evenly_spaced(range(len(fix_rows)), max_fit_examples)]
        pairs = build_examples(chosen, processed_dir, data_cfg, split=split)
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


@dataclass
class _Song:
    artist: str
    name: str
    path: Path


def find_songs(data_dir: Path) -> dict[str, list[_Song]]:
    """Songs per artist of an ``<artist>/<song>`` folder; an error names what is wrong."""
    suffixes = AUDIO_SUFFIXES + PYDUB_SUFFIXES
    if not data_dir.is_dir():
        raise ValueError(f"{data_dir}: not a folder (expected <artist>/<song> audio files)")
    artists: dict[str, list[_Song]] = {}
    for artist_dir in sorted(p for p in data_dir.iterdir() if p.is_dir()):
        if artist_dir.name.startswith((".", "_")):
            continue
        songs = [
            _Song(artist_dir.name, path.stem, path)
            for path in sorted(artist_dir.iterdir())
            if path.is_file() and path.suffix.lower() in suffixes
        ]
        if songs:
            artists[artist_dir.name] = songs
    if not artists:
        raise ValueError(
            f"{data_dir}: no audio found; expected <artist>/<song>.<{'/'.join(suffixes)}>"
        )
    return artists


def _artist_segments(
    songs: Sequence[_Song], data: DataConfig, skipped: list[str]
) -> Iterator[tuple[str, np.ndarray]]:
    """``(segment_id, segment)`` of each song, cut in memory, song by song."""
    for song in songs:
        try:
            audio, _ = read_audio(song.path, sample_rate=data.sample_rate, channels=data.channels)
        except AudioFileError as exc:
            skipped.append(f"skipped {exc}")
            continue
        for index, _start, segment in configured_segments(audio, data):
            yield f"{song.artist}/{song.name}/{index:04d}", segment


def _render_segment(
    segment_id: str, segment: np.ndarray, artist: str, cfg: Config, seed: int
) -> list[EvalExample]:
    augmentation = cfg.augmentation.model_copy(update={"seed": seed})
    examples = []
    for recipe in sample_recipes(segment_id, augmentation):
        model_input, reference = render_example(
            segment, cfg.data.sample_rate, recipe, cfg.data.reference_lufs
        )
        examples.append(EvalExample(recipe, model_input, reference, artist))
    return examples


def _fit_sample(
    artist: str, songs: Sequence[_Song], cfg: Config, seed: int, skipped: list[str]
) -> list[EvalExample]:
    """The rendered recipes of at most ``FIT_SEGMENTS_PER_ARTIST`` evenly spaced segments."""
    segments = evenly_spaced(
        list(_artist_segments(songs, cfg.data, skipped)), FIT_SEGMENTS_PER_ARTIST
    )
    return [
        ex
        for segment_id, segment in segments
        for ex in _render_segment(segment_id, segment, artist, cfg, seed)
    ]


def evaluate_folder(
    data_dir: Path,
    predictors: Mapping[str, Predictor | TargetPredictor],
    cfg: Config,
    seed: int = 0,
    limit: int | None = None,
    progress: bool = True,
) -> EvaluationReport:
    """Evaluate on any ``<artist>/<song>`` folder, segmented and augmented in memory.

    Songs are cut with the configured segment length and silence threshold, and each
    segment gets the configured augmentation's recipes (seeded by ``seed``). No-op,
    oracle and the heuristic are reported beside ``predictors`` (a predictor given
    under one of those names is used as given). With two or more artists the heuristic
    is fitted **leave-one-artist-out**: each artist's examples are scored by a
    heuristic fitted on the other artists (at most ``FIT_SEGMENTS_PER_ARTIST``
    segments each), so it never sees the audio it fixes. With one artist there is no
    other audio, so it is fitted on the evaluated audio itself, and the report says so.
    ``limit`` caps the examples, shared evenly across artists. Unreadable files are
    skipped and listed in the report's notes. At most one artist's segments are in
    memory at a time, besides the fitting sample.
    """
    artists = find_songs(Path(data_dir))
    names = list(artists)
    sample_rate = cfg.data.sample_rate
    skipped: list[str] = []
    fit_heuristics = "heuristic" not in predictors
    leave_one_out = len(names) >= 2
    fit_data: dict[str, list[EvalExample]] = {}
    if not fit_heuristics:
        note = "heuristic as given by the caller"
    elif leave_one_out:
        fit_data = {a: _fit_sample(a, artists[a], cfg, seed, skipped) for a in names}
        note = (
            f"heuristic fitted leave-one-artist-out: each of the {len(names)} artists is "
            "scored by a heuristic fitted on the other artists"
        )
    else:
        fit_data = {names[0]: _fit_sample(names[0], artists[names[0]], cfg, seed, skipped)}
        note = (
            f"heuristic fitted on the evaluated audio itself (only one artist, {names[0]!r}, "
            "so there is no held-out audio to fit on): its figures are optimistic"
        )
    reports = []
    for artist, share in zip(names, _shares(limit, len(names)), strict=True):
        if share == 0:
            continue
        chosen: dict[str, Predictor | TargetPredictor] = {
            **predictors,
            "noop": predictors.get("noop", NoOpBaseline()),
            "oracle": predictors.get("oracle", OracleBaseline()),
        }
        if fit_heuristics:
            fit_examples = [
                ex
                for other, sample in fit_data.items()
                if other != artist or not leave_one_out
                for ex in sample
            ]
            chosen["heuristic"] = fit_heuristic(fit_examples, sample_rate)
        examples: Iterable[EvalExample] = (
            ex
            for segment_id, segment in _artist_segments(artists[artist], cfg.data, skipped)
            for ex in _render_segment(segment_id, segment, artist, cfg, seed)
        )
        if share is not None:
            examples = itertools.islice(examples, share)
        reports.append(evaluate(examples, chosen, sample_rate, progress=progress))
    return EvaluationReport.concat(reports, notes=[note, *dict.fromkeys(skipped)])


def _shares(limit: int | None, parts: int) -> list[int | None]:
    if limit is None:
        return [None] * parts
    if limit <= 0:
        raise ValueError(f"limit must be positive, got {limit}")
    base, extra = divmod(limit, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]
