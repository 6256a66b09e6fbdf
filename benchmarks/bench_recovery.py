"""Recovery of no-op, oracle, heuristic (and a trained model) on held-out generated songs.

Prints one JSON object: pooled and median MR-STFT recovery and the other metrics per
predictor, per mode and per distortion family, all measured in this run on the same
examples, so the baselines are the comparison. Songs come from
``mixer_core.generators.generate_dataset`` in a temporary folder, are segmented in
memory with the config's segment length, and get the config's augmentation recipes.
The split is by song: each artist's last song is held out, so every artist is in both
halves and no segment of a held-out song is seen by the heuristic's fit. The default
``--seed`` is not the sample audio's, so for a model trained by the main job every
song here, artists included, is new.

    .venv/bin/python benchmarks/bench_recovery.py [--model models/finetuned/mixer]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from mixer_core.audio.io import read_audio
from mixer_core.config import Config, load_config
from mixer_core.data.augmentation import sample_recipes
from mixer_core.data.generator import generate_dataset
from mixer_core.data.rendering import render_example
from mixer_core.data.segmenting import configured_segments
from mixer_core.evaluation.baselines import NoOpBaseline, OracleBaseline
from mixer_core.evaluation.runner import (
    EvalExample,
    Predictor,
    TargetPredictor,
    evaluate,
    fit_heuristic,
)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="trained model folder (MixerPredictor)")
    parser.add_argument("--config", type=Path, help="mixer_config.yaml (default: the repo's)")
    parser.add_argument("--artists", type=int, default=4)
    parser.add_argument("--songs-per-artist", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each song")
    parser.add_argument(
        "--seed",
        type=int,
        default=1,
        help="generator and recipe seed; differs from generators.seed (0), so a model the "
        "main job trained has seen none of these artists",
    )
    parser.add_argument(
        "--max-fit-examples", type=int, default=32, help="fix pairs the shrinkage is fitted on"
    )
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    return parser.parse_args()


def _examples(folder: Path, cfg: Config) -> tuple[list[EvalExample], list[EvalExample]]:
    """(train, held-out) examples; the last song of each artist is held out."""
    data = cfg.data
    train: list[EvalExample] = []
    held_out: list[EvalExample] = []
    for artist_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        songs = sorted(artist_dir.glob("*.wav"))
        for song in songs:
            audio, _ = read_audio(song, sample_rate=data.sample_rate, channels=data.channels)
            target = held_out if song == songs[-1] else train
            for index, _start, segment in configured_segments(audio, data):
                segment_id = f"{artist_dir.name}/{song.stem}/{index:04d}"
                for recipe in sample_recipes(segment_id, cfg.augmentation):
                    model_input, reference = render_example(
                        segment, data.sample_rate, recipe, data.reference_lufs
                    )
                    target.append(EvalExample(recipe, model_input, reference, artist_dir.name))
    return train, held_out


def main() -> None:
    args = _arguments()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = load_config(args.config)
    cfg = cfg.model_copy(
        update={
            "augmentation": cfg.augmentation.model_copy(update={"seed": args.seed}),
            "generators": cfg.generators.model_copy(
                update={"seed": args.seed, "sample_rate": cfg.data.sample_rate}
            ),
        }
    )
    if args.songs_per_artist < 2:
        sys.exit("--songs-per-artist must be at least 2: one song per artist is held out")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench_recovery_") as tmp:
        generate_dataset(
            Path(tmp), args.artists, args.songs_per_artist, args.seconds, cfg.generators
        )
        train, held_out = _examples(Path(tmp), cfg)
    prepared = time.perf_counter()
    heuristic = fit_heuristic(train, cfg.data.sample_rate, args.max_fit_examples)
    fitted = time.perf_counter()
    # The one under test comes first: the report's paired leads are its leads.
    predictors: dict[str, Predictor | TargetPredictor] = {}
    if args.model:
        from mixer_core.model.predictor import MixerPredictor

        predictors["model"] = MixerPredictor.from_folder(args.model)
    predictors.update(heuristic=heuristic, noop=NoOpBaseline(), oracle=OracleBaseline())
    report = evaluate(held_out, predictors, cfg.data.sample_rate, progress=False)
    finished = time.perf_counter()
    tables = report.to_dict()
    result: dict[str, Any] = {
        "benchmark": "recovery",
        "data": {
            "artists": args.artists,
            "songs_per_artist": args.songs_per_artist,
            "song_seconds": args.seconds,
            "sample_rate": cfg.data.sample_rate,
            "segment_seconds": cfg.data.segment_seconds,
            "train_examples": len(train),
            "held_out_examples": len(held_out),
            "seed": args.seed,
        },
        "heuristic": heuristic.to_dict(),
        "recovery": {
            row["predictor"]: {
                "pooled": row["recovery_pooled"],
                "median": row["recovery_median"],
                "pooled_ci95": [row["recovery_ci_low"], row["recovery_ci_high"]],
            }
            for row in tables["summary"]
        },
        "leads": tables["leads"],
        "summary": tables["summary"],
        "by_mode": tables["by_mode"],
        "by_family": tables["by_family"],
        "seconds": {
            "prepare": round(prepared - started, 2),
            "fit_heuristic": round(fitted - prepared, 2),
            "evaluate": round(finished - fitted, 2),
        },
    }
    print(json.dumps(result, indent=2, allow_nan=False))


if __name__ == "__main__":
    main()
