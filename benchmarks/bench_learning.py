"""Learning evidence: does the default small model, trained briefly on CPU, beat
"predict nothing", "predict the training mean" and the tuned heuristic on held-out
songs?

``--tools default`` uses the configured augmentation (every tool, fix and instruct
prompts: what the README's main job trains on); ``--tools gain_eq`` only gain and EQ
distortions, the blind-fix setting docs/evaluation.md describes. Prints one JSON
object: training figures and the evaluation summary per predictor, per mode, per
family and per parameter. Everything runs in a temporary folder on generated audio:

    .venv/bin/python benchmarks/bench_learning.py --minutes 12 [--tools gain_eq]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

from assets.augmentation_manifest import build_manifest
from mixer_core.config import load_config
from mixer_core.data.augmentation import Recipe
from mixer_core.data.generator import generate_dataset
from mixer_core.data.segmenting import write_artist_segments
from mixer_core.evaluation.baselines import MeanTargetBaseline, NoOpBaseline, OracleBaseline
from mixer_core.evaluation.runner import build_examples, evaluate, fit_heuristic_on_split
from mixer_core.model import MixerPredictor
from mixer_core.training import load_training_table, train

GAIN_AND_EQ = {
    "change_volume": {"probability": 0.7, "params": {"db": [-12.0, 12.0]}},
    "apply_eq": {
        "probability": 0.7,
        "params": {
            "low_gain": [-12.0, 12.0],
            "mid_gain": [-12.0, 12.0],
            "high_gain": [-12.0, 12.0],
        },
    },
}


def build_corpus(root: Path, args: argparse.Namespace, cfg) -> pd.DataFrame:
    raw, processed = root / "raw", root / "processed"
    generate_dataset(raw, args.artists, args.songs, args.seconds, cfg.generators)
    for artist_dir in sorted(raw.iterdir()):
        songs = [(p.stem, p) for p in sorted(artist_dir.glob("*.wav"))]
        index = write_artist_segments(songs, artist_dir.name, processed, cfg.data)
        manifest = build_manifest(index, artist_dir.name, cfg)
        (processed / "_manifests").mkdir(parents=True, exist_ok=True)
        manifest.to_parquet(processed / "_manifests" / f"{artist_dir.name}.parquet")
    return load_training_table(processed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=None)
    parser.add_argument("--artists", type=int, default=8)
    parser.add_argument("--songs", type=int, default=4, help="songs per artist")
    parser.add_argument("--seconds", type=float, default=16.0)
    parser.add_argument("--recipes", type=int, default=16, help="recipes per segment")
    parser.add_argument("--minutes", type=float, default=12.0, help="training budget (<= 15)")
    parser.add_argument(
        "--tools", choices=("default", "gain_eq"), default="default", help="distortions"
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--keep", default=None, help="copy the trained model folder here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    augmentation: dict = {"recipes_per_segment": args.recipes}
    if args.tools == "gain_eq":
        augmentation["tools"] = GAIN_AND_EQ
    cfg = load_config(
        args.config,
        overrides={
            "default": {"max_minutes": args.minutes, "num_epochs": 1000},
            "augmentation": augmentation,
        },
    )
    rate = cfg.data.sample_rate
    with tempfile.TemporaryDirectory(prefix="mixer-learning-") as tmp:
        root = Path(tmp)
        started = time.monotonic()
        table = build_corpus(root, args, cfg)
        corpus_s = time.monotonic() - started
        result = train(cfg, table, root / "processed", root / "run", resume=False)
        if args.keep:
            import shutil

            shutil.copytree(result.model_dir, args.keep, dirs_exist_ok=True)

        test = build_examples(table, root / "processed", cfg.data, split="test")
        train_rows = table[(table["split"] == "train") & (table["mode"] == "fix")]
        predictors = {
            "model": MixerPredictor.from_folder(result.model_dir),
            "noop": NoOpBaseline(),
            "train_mean": MeanTargetBaseline.fit(
                [Recipe.from_row(r).target_calls() for r in train_rows.to_dict("records")]
            ),
            "heuristic": fit_heuristic_on_split(table, root / "processed", cfg.data),
            "oracle": OracleBaseline(),
        }
        report = evaluate(test, predictors, rate, progress=False)

    steps = max(result.steps - result.start_step, 1)
    print(
        json.dumps(
            {
                "corpus": {
                    "songs": int(table["song"].nunique()),
                    "recipes": len(table),
                    "splits": table["split"].value_counts().to_dict(),
                    "build_s": round(corpus_s, 1),
                },
                "training": {
                    "steps": result.steps,
                    "elapsed_s": round(result.elapsed_s, 1),
                    "samples_per_s": round(steps * cfg.default.batch_size / result.elapsed_s, 2),
                    "final_train_loss": result.final_train_loss,
                    "best_val_loss": result.best_val_loss,
                    "torch_threads": torch.get_num_threads(),
                },
                "tools": args.tools,
                "train_mean_program": " ".join(str(c) for c in predictors["train_mean"].calls),
                "evaluation": report.to_dict(),
            },
            indent=2,
            allow_nan=False,
            default=str,
        )
    )


if __name__ == "__main__":
    main()
