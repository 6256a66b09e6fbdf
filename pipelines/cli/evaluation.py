"""``mixer evaluate``: a model and the baselines on any folder of ``<artist>/<song>`` audio."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipelines.cli.common import CliError, Commands, add_config_flag, load_predictor


def _evaluate(args: argparse.Namespace) -> None:
    from mixer_core.config import load_config
    from mixer_core.evaluation.folder import evaluate_folder, find_songs

    cfg = load_config(args.config)
    data_dir = Path(args.data_dir)
    if args.limit is not None and args.limit <= 0:
        raise CliError(f"--limit must be a positive number of recipes, got {args.limit}")
    try:
        find_songs(data_dir)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    report = evaluate_folder(
        data_dir,
        {"model": load_predictor(args.model)},
        cfg,
        seed=args.seed,
        limit=args.limit,
        progress=not args.quiet,
    )
    if args.examples:
        report.examples.to_csv(args.examples, index=False)
    print(report.to_json() if args.json else report.to_markdown())


def register(commands: Commands) -> None:
    sub = commands.add(
        "evaluate",
        _evaluate,
        "evaluate a model and the baselines on a folder of <artist>/<song> audio",
        "mixer evaluate --model models:/mixer@champion --data_dir my_music --limit 400",
    )
    sub.add_argument("--model", required=True, help="model folder or models:/ URI")
    sub.add_argument("--data_dir", required=True, help="audio laid out as DIR/<artist>/<song>")
    sub.add_argument("--json", action="store_true", help="print JSON instead of tables")
    sub.add_argument(
        "--quiet", action="store_true", help="no progress bar on stderr (stdout is the report)"
    )
    sub.add_argument("--limit", type=int, default=None, help="at most N recipes")
    sub.add_argument(
        "--examples",
        type=Path,
        default=None,
        help="also write every recipe's row (prompt, target, each program, distances) as CSV",
    )
    sub.add_argument("--seed", type=int, default=0, help="seed of the sampled recipes")
    add_config_flag(sub)
