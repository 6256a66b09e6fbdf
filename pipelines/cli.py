"""The ``mixer`` command line.

Each sub-command imports what it needs when it runs, so ``mixer tools`` answers
without loading torch-heavy modules it does not use. Exit codes: 0 success,
1 a failure while working, 2 bad input (a bad program, file or flag).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2


class CliError(Exception):
    """A user-facing error: printed without a traceback, with an exit code."""

    def __init__(self, message: str, code: int = EXIT_BAD_INPUT) -> None:
        super().__init__(message)
        self.code = code


def _tools(args: argparse.Namespace) -> None:
    from mixer_core.registry import TOOLS, registry_json, registry_markdown

    if args.json:
        print(json.dumps(registry_json(), indent=2))
        return
    if args.markdown:
        print(registry_markdown(), end="")
        return
    for tool in TOOLS:
        params = ", ".join(
            f"{p.name}={p.default:g} [{p.low:g}..{p.high:g}{' ' + p.unit if p.unit else ''}]"
            for p in tool.params
        )
        print(f"{tool.name}({params})\n    {tool.description}")


def _apply(args: argparse.Namespace) -> None:
    from mixer_core.audio_io import AudioFileError, read_audio, write_audio
    from mixer_core.instructions import InstructionError, parse
    from mixer_core.mixing_tools import MixingTools

    try:
        calls = parse(args.program)
    except InstructionError as exc:
        raise CliError(f"bad program: {exc}") from None
    source, target = Path(args.input), Path(args.output)
    if target.exists() and target.resolve() == source.resolve():
        raise CliError(f"{target}: refusing to overwrite the input file")
    try:
        audio, rate = read_audio(source)
    except AudioFileError as exc:
        raise CliError(str(exc)) from None
    processed = MixingTools().apply(audio, rate, calls)
    write_audio(target, processed, rate)
    print(f"wrote {target} ({processed.shape[0]} ch, {processed.shape[1] / rate:.2f} s)")


def _generate_samples(args: argparse.Namespace) -> None:
    from mixer_core.config import load_config
    from mixer_core.generators import generate_dataset

    cfg = load_config(args.config).generators
    if args.seed is not None:
        cfg.seed = args.seed
    paths = generate_dataset(Path(args.out), args.artists, args.songs, args.seconds, cfg)
    print(f"wrote {len(paths)} songs under {args.out}")


def _config(args: argparse.Namespace) -> None:
    from mixer_core.config import config_docs, load_config

    if args.docs:
        for key, default, description in config_docs():
            print(f"{key:48} {default:24} {description}")
        return
    cfg = load_config(args.config)
    print(json.dumps(cfg.model_dump(mode="json"), indent=2))


def _ingest(args: argparse.Namespace) -> None:
    from pipelines.ingest import ingest

    report = ingest(
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


def _add_data_flags(parser: argparse.ArgumentParser) -> None:
    """The seed document's data flags, shared by ``ingest`` and ``train``."""
    parser.add_argument(
        "--data_dir",
        default=_env("MIXER_RAW_DIR", "data/raw"),
        help="raw audio, laid out as DIR/<artist>/<song>.<wav|flac|ogg|mp3>",
    )
    parser.add_argument(
        "--processed_dir",
        default=_env("MIXER_PROCESSED_DIR", "data/processed"),
        help="segments, indexes and manifests are written here",
    )
    parser.add_argument(
        "--dataset_file",
        default=_env("MIXER_DATASET_FILE", "data/processed/dataset.parquet"),
        help="the combined recipe table (parquet) training reads",
    )
    parser.add_argument(
        "--artist",
        action="append",
        default=None,
        help="only this artist (repeatable); default: every artist folder",
    )
    parser.add_argument("--limit", type=int, default=None, help="at most N songs per artist")


def _env(name: str, default: str) -> str:
    import os

    return os.environ.get(name, default)


def _add_config_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", default=None, help="configuration file (default: config/mixer_config.yaml)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mixer", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, run: Callable[[argparse.Namespace], None], help_: str):
        sub = commands.add_parser(name, help=help_, description=help_)
        sub.set_defaults(run=run)
        return sub

    sub = command("tools", _tools, "list the mixing tools and their parameters")
    sub.add_argument("--json", action="store_true", help="print the registry as JSON")
    sub.add_argument("--markdown", action="store_true", help="print docs/tools.md")

    sub = command("apply", _apply, "run a program of tool calls on an audio file")
    sub.add_argument("input", help="audio file (wav, flac, ogg, mp3)")
    sub.add_argument("program", help='e.g. "change_volume(db=-3.0) apply_reverb()"')
    sub.add_argument("-o", "--output", required=True, help="output file (.wav or .flac)")

    sub = command("generate-samples", _generate_samples, "write generated multi-instrument songs")
    sub.add_argument("--out", required=True, help="folder; songs go to OUT/<artist>/<song>.wav")
    sub.add_argument("--artists", type=int, default=4)
    sub.add_argument("--songs", type=int, default=3, help="songs per artist")
    sub.add_argument("--seconds", type=float, default=20.0, help="length of each song")
    sub.add_argument("--seed", type=int, default=None, help="overrides generators.seed")
    _add_config_flag(sub)

    sub = command("ingest", _ingest, "materialize raw_audio -> segments -> manifests per artist")
    _add_data_flags(sub)
    _add_config_flag(sub)

    sub = command("config", _config, "validate the configuration and print it resolved")
    sub.add_argument("--docs", action="store_true", help="list every key with its meaning")
    _add_config_flag(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from mixer_core.config import ConfigError

    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except CliError as exc:
        print(f"mixer {args.command}: {exc}", file=sys.stderr)
        return exc.code
    except ConfigError as exc:
        print(f"mixer {args.command}: configuration error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0


if __name__ == "__main__":
    sys.exit(main())
