"""Training throughput on CPU with the default config; prints one JSON object.

Figures: samples/s of the real training loop (``train``: loader, on-the-fly rendering,
forward, backward, AdamW) over two epochs, with the per-recipe input cache
(``default.input_cache_mb``) and without it, next to a baseline measured in the same
run on a model of the same config and seed: forward/backward/AdamW on batches rendered
beforehand, measured before and after the loops (other load on a shared machine
drifts). In the first epoch every recipe is rendered either way; from the second on,
the cache serves them, so ``cached_epoch_2_over_uncached`` is what the cache buys.
``render_ms_per_batch`` times ``render_batch`` alone. Peak memory is the process's
maximum RSS. ``--config`` takes another YAML (the repository's by default).

    .venv/bin/python benchmarks/bench_training.py
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

from mixer_core.config import load_config
from mixer_core.data.augmentation import sample_recipes
from mixer_core.data.generator import generate_dataset
from mixer_core.data.rendering import render_batch
from mixer_core.data.segmenting import write_artist_segments
from mixer_core.model import MixerModel
from mixer_core.training import RecipeDataset, collate, load_training_table, train
from mixer_core.training.schedule import epoch_plan


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _processed_tree(root: Path, cfg, songs: int, seconds: float) -> Path:
    """Generated songs through the real segmenter; the last song is the val split."""
    raw, processed = root / "raw", root / "processed"
    paths = generate_dataset(raw, 1, songs, seconds, cfg.generators)
    artist = paths[0].parent.name
    index = write_artist_segments([(p.stem, p) for p in paths], artist, processed, cfg.data)
    val_song = paths[-1].stem
    rows = [
        {
            **recipe.to_row(),
            "split": "val" if seg.song == val_song else "train",
            "artist": seg.artist,
            "song": seg.song,
        }
        for seg in index.itertuples()
        for recipe in sample_recipes(seg.segment_id, cfg.augmentation)
    ]
    (processed / "_manifests").mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_parquet(processed / "_manifests" / f"{artist}.parquet", index=False)
    return processed


def _forward_backward_sps(
    model: MixerModel, rendered: list[tuple[torch.Tensor, list]], sr: int, lr: float
) -> list[float]:
    """Samples/s of tokenise + forward + backward + AdamW on pre-rendered batches."""
    model.train()
    optimizer = torch.optim.AdamW(model.trainable_parameters(), lr=lr)
    rates = []
    for i, (inputs, recipes) in enumerate([rendered[0], *rendered]):
        t0 = time.perf_counter()
        batch = model.prepare_batch(
            inputs, sr, [r.prompt for r in recipes], [r.target for r in recipes]
        )
        model(**batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if i:  # the first repetition warms up, as the loop's first step is left out
            rates.append(len(recipes) / (time.perf_counter() - t0))
    return rates


def _epoch_rates(history: list[dict]) -> dict[int, float]:
    """Median logged samples/s per epoch (1, 2, ...), by the loop's own epoch counter;
    the very first step is left out."""
    rates: dict[int, list[float]] = {}
    for entry in history:
        if entry["step"] > 1 and "samples_per_s" in entry:
            epoch = math.ceil(entry["epoch"] - 1e-9)
            rates.setdefault(epoch, []).append(entry["samples_per_s"])
    return {e: round(statistics.median(rates[e]), 3) for e in sorted(rates)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=2, help="epochs per loop (at least 2)")
    parser.add_argument("--baseline-steps", type=int, default=10, help="pre-rendered batches")
    parser.add_argument("--batch-size", type=int, default=None, help="default: the config's")
    parser.add_argument("--songs", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=16.0)
    parser.add_argument("--config", type=Path, default=None, help="default: the repository's")
    args = parser.parse_args()

    cfg = load_config(args.config)
    cfg.default.device = "cpu"
    if args.batch_size:
        cfg.default.batch_size = args.batch_size
    cfg.default.num_epochs = max(2, args.epochs)
    cfg.default.max_steps = None
    cfg.default.max_minutes = None
    cfg.default.log_every_steps = 1
    cfg.default.eval_every_steps = 10**6
    cfg.default.checkpoint_every_steps = 10**6
    bs, sr = cfg.default.batch_size, cfg.data.sample_rate

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        processed = _processed_tree(root, cfg, args.songs, args.seconds)
        table = load_training_table(processed)
        dataset = RecipeDataset(table, processed, "train", sr, cfg.data.channels)
        plan = epoch_plan(len(dataset), bs, 1, cfg.default.seed, 0)
        batches = [collate([dataset[i] for i in group[0]]) for group in plan[: args.baseline_steps]]
        render_s, rendered = [], []
        for segments, recipes in batches:
            t0 = time.perf_counter()
            inputs, _ = render_batch(segments, sr, recipes, cfg.data.reference_lufs)
            render_s.append(time.perf_counter() - t0)
            rendered.append((inputs, recipes))
        rss_before_training = _peak_rss_mb()

        # Baseline before and after the loops: other load on the machine drifts, and the
        # pair shows how much.
        model = MixerModel.from_config(
            cfg.mixer, sr, seed=cfg.default.seed, reference_lufs=cfg.data.reference_lufs
        )
        baseline_before = _forward_backward_sps(model, rendered, sr, cfg.default.learning_rate)
        loops = {}
        for name, cache_mb in (("uncached", 0), ("cached", cfg.default.input_cache_mb)):
            run_cfg = cfg.model_copy(deep=True)
            run_cfg.default.input_cache_mb = cache_mb
            started = time.perf_counter()
            result = train(run_cfg, table, processed, root / name, resume=False)
            loops[name] = {
                "epoch_samples_per_s": _epoch_rates(result.history),
                "wall_s": round(time.perf_counter() - started, 1),
                "final_train_loss": result.final_train_loss,
            }
        baseline_after = _forward_backward_sps(model, rendered, sr, cfg.default.learning_rate)
        baseline_sps = baseline_before + baseline_after

    cached, uncached = loops["cached"], loops["uncached"]
    print(
        json.dumps(
            {
                "device": "cpu",
                "torch_threads": torch.get_num_threads(),
                "batch_size": bs,
                "segment_seconds": cfg.data.segment_seconds,
                "sample_rate": sr,
                "channels": cfg.data.channels,
                "train_recipes": len(dataset),
                "batches_per_epoch": len(plan),
                "loops": loops,
                "cached_epoch_2_over_uncached": round(
                    cached["epoch_samples_per_s"][2] / uncached["epoch_samples_per_s"][2], 3
                ),
                "baseline_forward_backward_samples_per_s": round(
                    statistics.median(baseline_sps), 3
                ),
                "baseline_before_loop_samples_per_s": round(statistics.median(baseline_before), 3),
                "baseline_after_loop_samples_per_s": round(statistics.median(baseline_after), 3),
                "render_ms_per_batch": round(1000 * statistics.median(render_s), 1),
                "peak_rss_mb_before_training": round(rss_before_training, 1),
                "peak_rss_mb": round(_peak_rss_mb(), 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
