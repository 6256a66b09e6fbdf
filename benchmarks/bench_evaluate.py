"""Evaluation speed: recipes per second, where the time goes, and the speed-up over a
baseline commit measured in the same run.

    .venv/bin/python benchmarks/bench_evaluate.py --model models/finetuned/mixer/<run>/model \
        [--baseline-ref 5e28337] [--limit 240]

1. generates ``--artists`` × ``--songs`` songs (generator seed 90210, never the demo's);
2. runs ``mixer evaluate --json --quiet --limit N`` on them (model, no-op, oracle and the
   heuristic fitted leave-one-artist-out) with this checkout's code and with the code of
   ``--baseline-ref`` (checked out as a git worktree, run with the same interpreter), one
   after the other, and prints recipes per second of each and their ratio;
3. checks that both reports give the same figures (pooled and median recovery and the
   share made worse, per predictor, to 1e-6): a speed-up must not change a result;
4. profiles this checkout's evaluation in-process (cProfile) and prints the seconds spent
   in each stage. Stages can nest (the model's execution check runs programs while it
   decodes), so their sum may exceed the total.

The default baseline is the commit before the evaluation was sped up (per-example
auraloss on both signals for every distance, the heuristic's reference re-transformed
at every shrinkage it tries).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE_REF = "5e28337"
# (stage, module file, function): cumulative time of the function is the stage's
STAGES = (
    ("read and segment songs", "evaluation/folder.py", "_song_segments"),
    ("render recipes", "data/rendering.py", "render_example"),
    ("heuristic fitting", "evaluation/folder.py", "_fit_heuristic"),
    ("heuristic: statistics per artist", "evaluation/folder.py", "_fit_sample"),
    ("model: encoder inputs", "model/mixer_model.py", "audio_inputs"),
    ("model: decoding", "model/generation.py", "generate"),
    ("model: execution check", "model/execution_check.py", "check_program"),
    ("execute programs", "evaluation/runner.py", "_execute"),
    ("MR-STFT", "evaluation/metrics.py", "distances"),
    ("MR-STFT: references", "evaluation/metrics.py", "__init__"),
    ("loudness", "audio/loudness.py", "integrated_lufs"),
)
FIGURES = ("recovery_pooled", "recovery_median", "worse_than_noop")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="a trained model folder")
    parser.add_argument("--baseline-ref", default=BASELINE_REF, help="git commit to compare with")
    parser.add_argument("--artists", type=int, default=4)
    parser.add_argument("--songs", type=int, default=2, help="songs per artist")
    parser.add_argument("--seconds", type=float, default=16.0, help="song length")
    parser.add_argument("--limit", type=int, default=240, help="recipes evaluated")
    parser.add_argument("--seed", type=int, default=1, help="seed of the sampled recipes")
    return parser.parse_args()


def _evaluate_command(args: argparse.Namespace, data: Path) -> list[str]:
    code = "import sys; from pipelines.cli import main; sys.argv[0] = 'mixer'; sys.exit(main())"
    return [
        sys.executable, "-c", code, "evaluate", "--model", str(args.model),
        "--data_dir", str(data), "--json", "--quiet", "--limit", str(args.limit),
        "--seed", str(args.seed),
    ]  # fmt: skip


def _timed_evaluation(args: argparse.Namespace, data: Path, code_root: Path) -> dict:
    """Wall time and report of ``mixer evaluate`` run on the code under ``code_root``."""
    env = {**os.environ, "PYTHONPATH": str(code_root)}
    started = time.perf_counter()
    done = subprocess.run(
        _evaluate_command(args, data), cwd=code_root, env=env, capture_output=True, text=True
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"mixer evaluate failed under {code_root}:\n{done.stderr[-3000:]}")
    report = json.loads(done.stdout)
    recipes = next(row["examples"] for row in report["summary"] if row["predictor"] == "noop")
    return {
        "seconds": round(seconds, 2),
        "recipes": recipes,
        "recipes_per_s": round(recipes / seconds, 3),
        "summary": {
            row["predictor"]: {key: row[key] for key in FIGURES} for row in report["summary"]
        },
    }


def _same_figures(a: dict, b: dict) -> list[str]:
    """Figures that differ by more than 1e-6 between two summaries."""
    differ = []
    for predictor, figures in a.items():
        for key, value in figures.items():
            other = b.get(predictor, {}).get(key)
            if other is None or abs(value - other) > 1e-6:
                differ.append(f"{predictor}.{key}: {value} vs {other}")
    return differ


def _profile(args: argparse.Namespace, data: Path) -> dict:
    """Seconds per stage of this checkout's evaluation, in-process under cProfile."""
    from mixer_core.config import load_config
    from mixer_core.evaluation.folder import evaluate_folder
    from mixer_core.model.predictor import MixerPredictor

    predictor = MixerPredictor.from_folder(args.model)
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    evaluate_folder(
        data, {"model": predictor}, load_config(), args.seed, args.limit, progress=False
    )
    profiler.disable()
    total = time.perf_counter() - started
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    stages = {}
    for stage, module, function in STAGES:
        stages[stage] = round(
            sum(
                entry[3]
                for (file, _line, name), entry in stats.items()
                if name == function and file.replace(os.sep, "/").endswith(module)
            ),
            2,
        )
    return {"seconds_profiled": round(total, 2), "stages_s": stages}


def main() -> int:
    args = _arguments()
    from mixer_core.config import load_config
    from mixer_core.data.generator import generate_dataset

    with tempfile.TemporaryDirectory(prefix="bench_evaluate_") as tmp:
        work = Path(tmp)
        generators = load_config().generators.model_copy(update={"seed": 90210})
        generate_dataset(work / "songs", args.artists, args.songs, args.seconds, generators)
        baseline_tree = work / "baseline"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(baseline_tree),
             args.baseline_ref],
            check=True, capture_output=True,
        )  # fmt: skip
        try:
            baseline = _timed_evaluation(args, work / "songs", baseline_tree)
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(baseline_tree)],
                check=True,
                capture_output=True,
            )
        current = _timed_evaluation(args, work / "songs", ROOT)
        profile = _profile(args, work / "songs")
    differ = _same_figures(baseline["summary"], current["summary"])
    result = {
        "benchmark": "evaluate",
        "data": {
            "artists": args.artists,
            "songs_per_artist": args.songs,
            "song_seconds": args.seconds,
            "recipes": current["recipes"],
            "predictors": sorted(current["summary"]),
        },
        "baseline": {"ref": args.baseline_ref, **baseline},
        "current": current,
        "speedup": round(current["recipes_per_s"] / baseline["recipes_per_s"], 2),
        "figures_unchanged": not differ,
        "figures_that_differ": differ,
        "profile": profile,
    }
    print(json.dumps(result, indent=2))
    return 0 if not differ else 1


if __name__ == "__main__":
    sys.exit(main())
