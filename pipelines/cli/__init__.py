"""The ``mixer`` command line, one module per command group.

``data`` (ingest, generate-samples), ``model`` (train, demo, smoke-test, mix),
``evaluation`` (evaluate) and ``tools`` (tools, apply, config) each register their
sub-commands; ``common`` holds the error and exit-code layer and the shared flags.

It stays on argparse: the commands need nothing it lacks, each one imports the heavy
modules it uses only when it runs (``mixer tools`` answers without loading torch), and
the exit codes are ours to set; typer or click would add a dependency and a second
set of conventions for the same code.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from pipelines.cli import data, evaluation, model, tools
from pipelines.cli.common import EXIT_BAD_INPUT, CliError, Commands

GROUPS = (data, model, evaluation, tools)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mixer",
        description="Audio + prompt -> mixing instructions: data, training, evaluation, tools.",
    )
    commands = Commands(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    for group in GROUPS:
        group.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from mixer_core.config import ConfigError

    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
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
