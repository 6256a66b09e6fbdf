"""The heuristic baseline's EQ shrinkage on a corpus: what the fit picks, and what it buys.

    .venv/bin/python benchmarks/bench_heuristic.py --data_dir data/real_music \
        [--tools gain_eq|default] [--limit 600]

Runs the evaluation ``mixer evaluate`` runs, with the baselines only (no-op, oracle, the
heuristic fitted leave-one-artist-out), on ``<artist>/<song>`` audio, and prints the
shrinkage the folds chose (median and range, in the report's note) and the heuristic's
recovery. ``--tools gain_eq`` distorts with gain and the
3-band EQ only (±12 dB each): the blind gain-and-tone setting in which matching the
average spectrum fully over-corrects; ``default`` uses the configured augmentation.
``docs/evaluation.md`` reports what it printed on real music.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mixer_core.config import load_config
from mixer_core.evaluation.folder import evaluate_folder

GAIN_AND_EQ = {
    "change_volume": {"probability": 0.7, "params": {"db": [-12.0, 12.0]}},
    "apply_eq": {
        "probability": 0.7,
        "params": {g: [-12.0, 12.0] for g in ("low_gain", "mid_gain", "high_gain")},
    },
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data_dir", type=Path, required=True)
    parser.add_argument("--tools", choices=("default", "gain_eq"), default="gain_eq")
    parser.add_argument("--limit", type=int, default=600, help="recipes scored")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    overrides = {"augmentation": {"tools": GAIN_AND_EQ}} if args.tools == "gain_eq" else {}
    cfg = load_config(overrides=overrides)
    report = evaluate_folder(args.data_dir, {}, cfg, args.seed, args.limit)
    summary = report.summary.set_index("predictor")
    print(
        json.dumps(
            {
                "benchmark": "heuristic",
                "tools": args.tools,
                "recipes": int(summary.loc["noop", "examples"]),
                "recovery": {
                    name: {
                        "pooled": float(summary.loc[name, "recovery_pooled"]),
                        "median": float(summary.loc[name, "recovery_median"]),
                        "worse_than_noop": float(summary.loc[name, "worse_than_noop"]),
                    }
                    for name in ("heuristic", "oracle")
                },
                # the first note names the folds and the shrinkage each fit chose
                "notes": list(report.notes),
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
