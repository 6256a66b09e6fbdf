"""Evaluation on any ``<artist>/<song>`` folder, segmented and augmented in memory.

What ``mixer evaluate --data_dir`` runs: a user's own audio, never ingested, scored
with the same predictors and report as the pipeline's test split, and the heuristic
fitted leave-one-artist-out so it never sees the audio it fixes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mixer_core.audio.io import AUDIO_SUFFIXES, PYDUB_SUFFIXES, AudioFileError, read_audio
from mixer_core.audio.loudness import integrated_lufs
from mixer_core.config import Config, DataConfig
from mixer_core.data.augmentation import Recipe, sample_recipes
from mixer_core.data.rendering import clean_reference, render_example
from mixer_core.data.segmenting import configured_segments
from mixer_core.evaluation.baselines import (
    DEFAULT_MAX_FIT_EXAMPLES,
    HeuristicBaseline,
    NoOpBaseline,
    OracleBaseline,
    evenly_spaced,
)
from mixer_core.evaluation.report import EvaluationReport
from mixer_core.evaluation.runner import (
    EvalExample,
    Predictor,
    TargetPredictor,
    evaluate,
)
from mixer_core.progress import Progress, progress_bar
from mixer_core.tools.levels import band_levels_db

# Per artist, the segments kept for fitting the heuristic in evaluate_folder: enough
# for stable band statistics while a large folder never sits in memory at once.
FIT_SEGMENTS_PER_ARTIST = 32


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


def _song_segments(
    song: _Song, data: DataConfig, skipped: list[str]
) -> Iterator[tuple[str, np.ndarray]]:
    """``(segment_id, segment)`` of one song, cut in memory."""
    try:
        audio, _ = read_audio(song.path, sample_rate=data.sample_rate, channels=data.channels)
    except AudioFileError as exc:
        skipped.append(f"skipped {exc}")
        return
    for index, _start, segment in configured_segments(audio, data):
        yield f"{song.artist}/{song.name}/{index:04d}", segment


def _artist_segments(
    songs: Sequence[_Song], data: DataConfig, skipped: list[str]
) -> Iterator[tuple[str, np.ndarray]]:
    """``(segment_id, segment)`` of each song, cut in memory, song by song."""
    for song in songs:
        yield from _song_segments(song, data, skipped)


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


@dataclass(frozen=True)
class _FitSample:
    """What one artist gives the heuristic's fit: the loudness and band levels of each
    sampled segment's clean reference, measured once for every fold that uses them, and
    the fix recipes of those segments, rendered only when a fold's fit picks them."""

    loudness: list[float]
    band_levels: list[np.ndarray]
    fixes: list[tuple[np.ndarray, Recipe]]


def _fit_sample(songs: Sequence[_Song], cfg: Config, seed: int, skipped: list[str]) -> _FitSample:
    """The sample of at most ``FIT_SEGMENTS_PER_ARTIST`` evenly spaced segments."""
    rate, reference_lufs = cfg.data.sample_rate, cfg.data.reference_lufs
    segments = evenly_spaced(
        list(_artist_segments(songs, cfg.data, skipped)), FIT_SEGMENTS_PER_ARTIST
    )
    augmentation = cfg.augmentation.model_copy(update={"seed": seed})
    sample = _FitSample([], [], [])
    for segment_id, segment in segments:
        clean = clean_reference(segment, rate, reference_lufs)
        sample.loudness.append(integrated_lufs(clean, rate))
        sample.band_levels.append(band_levels_db(clean, rate))
        sample.fixes.extend(
            (segment, recipe)
            for recipe in sample_recipes(segment_id, augmentation)
            if recipe.mode == "fix"
        )
    return sample


def _fit_heuristic(samples: Sequence[_FitSample], cfg: Config) -> HeuristicBaseline:
    """``runner.fit_heuristic`` on these artists' samples (the same statistics, the same
    evenly spaced fix pairs), rendering only the pairs the shrinkage fit takes."""
    rate, reference_lufs = cfg.data.sample_rate, cfg.data.reference_lufs
    heuristic = HeuristicBaseline.from_statistics(
        rate,
        [value for sample in samples for value in sample.loudness],
        [levels for sample in samples for levels in sample.band_levels],
    )
    fixes = [fix for sample in samples for fix in sample.fixes]
    if fixes:
        heuristic.fit_shrinkage(
            [
                render_example(segment, rate, recipe, reference_lufs)
                for segment, recipe in evenly_spaced(fixes, DEFAULT_MAX_FIT_EXAMPLES)
            ]
        )
    return heuristic


def _song_examples(
    song: _Song, cfg: Config, seed: int, count: int | None, skipped: list[str]
) -> list[EvalExample]:
    """The rendered recipes of one song: all of them, or ``count`` spread over its
    segments (evenly spaced segments, then evenly spaced recipes)."""
    segments = list(_song_segments(song, cfg.data, skipped))
    if count is not None:
        needed = -(-count // cfg.augmentation.recipes_per_segment)
        segments = evenly_spaced(segments, max(1, needed))
    examples = [
        ex
        for segment_id, segment in segments
        for ex in _render_segment(segment_id, segment, song.artist, cfg, seed)
    ]
    return examples if count is None else evenly_spaced(examples, count)


def evaluate_folder(
    data_dir: Path,
    predictors: Mapping[str, Predictor | TargetPredictor],
    cfg: Config,
    seed: int = 0,
    limit: int | None = None,
    progress: Progress = True,
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
    ``limit`` caps the examples, shared evenly across artists and, within an artist,
    across its songs (so a limit never leaves most songs out). Unreadable files are
    skipped and listed in the report's notes. At most one song's segments are in memory
    at a time, besides the fitting sample. ``progress`` shows one bar on stderr over the
    whole evaluation, the heuristic's fit included: over recipes with a limit, else over
    songs.
    """
    artists = find_songs(Path(data_dir))
    names = list(artists)
    sample_rate = cfg.data.sample_rate
    skipped: list[str] = []
    fit_heuristics = "heuristic" not in predictors
    leave_one_out = len(names) >= 2
    total_songs = sum(len(songs) for songs in artists.values())
    bar = progress_bar(
        progress,
        total=limit if limit is not None else total_songs,
        unit="recipe" if limit is not None else "song",
        desc="evaluate",
    )
    fit_data: dict[str, _FitSample] = {}
    with bar:
        if fit_heuristics:
            for i, artist in enumerate(names if leave_one_out else names[:1]):
                bar.set_description(f"evaluate: heuristic fit {i + 1}/{len(names)}")
                fit_data[artist] = _fit_sample(artists[artist], cfg, seed, skipped)
        bar.set_description("evaluate")
        if not fit_heuristics:
            note = "heuristic as given by the caller"
        elif leave_one_out:
            note = (
                f"heuristic fitted leave-one-artist-out: each of the {len(names)} artists is "
                "scored by a heuristic fitted on the other artists"
            )
        else:
            note = (
                f"heuristic fitted on the evaluated audio itself (only one artist, "
                f"{names[0]!r}, so there is no held-out audio to fit on): its figures are "
                "optimistic"
            )
        reports = []
        shrinkages: list[float] = []
        for artist, share in zip(names, _shares(limit, len(names)), strict=True):
            if share == 0:
                continue
            chosen: dict[str, Predictor | TargetPredictor] = {
                **predictors,
                "noop": predictors.get("noop", NoOpBaseline()),
                "oracle": predictors.get("oracle", OracleBaseline()),
            }
            if fit_heuristics:
                others = [
                    sample
                    for other, sample in fit_data.items()
                    if other != artist or not leave_one_out
                ]
                chosen["heuristic"] = heuristic = _fit_heuristic(others, cfg)
                shrinkages.append(heuristic.shrinkage)
            songs = artists[artist]
            remaining = share
            for index, song in enumerate(songs):
                # what an unreadable or short song cannot give passes to the next ones
                count = None if remaining is None else -(-remaining // (len(songs) - index))
                if count == 0:
                    break
                examples = _song_examples(song, cfg, seed, count, skipped)
                if remaining is not None:
                    remaining -= len(examples)
                if examples:
                    reports.append(evaluate(examples, chosen, sample_rate, progress=False))
                bar.update(len(examples) if limit is not None else 1)
    if shrinkages:
        note += (
            f"; its EQ shrinkage (fitted per fold over 0.0 to 1.0 by 0.1): median "
            f"{np.median(shrinkages):.1f} (from {min(shrinkages):.1f} to {max(shrinkages):.1f})"
        )
    return EvaluationReport.concat(reports, notes=[note, *dict.fromkeys(skipped)])


def _shares(limit: int | None, parts: int) -> list[int | None]:
    if limit is None:
        return [None] * parts
    if limit <= 0:
        raise ValueError(f"limit must be positive, got {limit}")
    base, extra = divmod(limit, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]
