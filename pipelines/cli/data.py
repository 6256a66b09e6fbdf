"""``mixer ingest`` and ``mixer generate-samples``: audio into partitions, sample songs."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipelines.cli.common import (
    EXIT_FAILURE,
    CliError,
    Commands,
    add_config_flag,
    add_data_flags,
)


def ingest(args: argparse.Namespace) -> None:
    """Materialize the data assets of every (or each ``--artist``) artist; exit 1 on failures."""
    from pipelines.ingest import ingest as run_ingest

    report = run_ingest(
        Path(args.data_dir),
        Path(args.processed_dir),
        Path(args.dataset_file),
        Path(args.config) if args.config else None,
        artists=args.artist,
        limit=args.limit,
    )
    for outcome in report.artists:
        status = "ok" if outcome.ok else "FAILED"
        print(
            f"{outcome.artist:32} {status:6} songs={outcome.songs} skipped={outcome.skipped_files}"
            f" segments={outcome.segments} recipes={outcome.recipes}"
        )
        if outcome.error:
            print(f"    error: {outcome.error}")
        for check in outcome.failed_checks:
            print(f"    failed check: {check}")
    if report.dataset_error:
        print(f"dataset file: {report.dataset_error}")
    else:
        print(f"dataset file: {report.dataset_file} ({report.dataset_rows} recipes)")
    if not report.ok:
        raise CliError("ingest finished with failures (see above)", code=EXIT_FAILURE)


def _generate_samples(args: argparse.Namespace) -> None:
    from mixer_core.config import load_config
    from mixer_core.data.generator import generate_dataset

    cfg = load_config(args.config).generators
    if args.seed is not None:
        cfg.seed = args.seed
    paths = generate_dataset(Path(args.out), args.artists, args.songs, args.seconds, cfg)
    print(f"wrote {len(paths)} songs under {args.out}")


def register(commands: Commands) -> None:
    sub = commands.add(
        "generate-samples",
        _generate_samples,
        "write generated multi-instrument songs",
        "mixer generate-samples --out data/raw --artists 4 --songs 3 --seconds 20",
    )
    sub.add_argument("--out", required=True, help="folder; songs go to OUT/<artist>/<song>.wav")
    sub.add_argument("--artists", type=int, default=4)
    sub.add_argument("--songs", type=int, default=3, help="songs per artist")
    sub.add_argument("--seconds", type=float, default=20.0, help="length of each song")
    sub.add_argument("--seed", type=int, default=None, help="overrides generators.seed")
    add_config_flag(sub)

    sub = commands.add(
        "ingest",
        ingest,
        "materialize raw_audio -> segments -> manifests per artist",
        "mixer ingest --data_dir data/raw --artist artist_a --limit 2",
    )
    add_data_flags(sub)
    add_config_flag(sub)
