"""``mixer tools``, ``mixer apply`` and ``mixer config``: the registry, programs, settings."""

from __future__ import annotations

import argparse
import json

from pipelines.cli.common import (
    OUTPUT_HELP,
    CliError,
    Commands,
    add_config_flag,
    read_input,
    write_output,
)


def _tools(args: argparse.Namespace) -> None:
    from mixer_core.language.registry import TOOLS, registry_json, registry_markdown

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
    from mixer_core.language.grammar import InstructionError, parse
    from mixer_core.tools.mixing_tools import MixingTools

    try:
        calls = parse(args.program)
    except InstructionError as exc:
        raise CliError(f"bad program: {exc}") from None
    source = read_input(args)
    frames = write_output(args.command, source, source.output(calls, MixingTools()))
    print(f"wrote {source.target} ({source.channels} ch, {frames / source.rate:.2f} s)")


def _config(args: argparse.Namespace) -> None:
    from mixer_core.config import config_docs, load_config

    if args.docs:
        for key, default, description in config_docs():
            print(f"{key:48} {default:24} {description}")
        return
    cfg = load_config(args.config)
    print(json.dumps(cfg.model_dump(mode="json"), indent=2))


def register(commands: Commands) -> None:
    sub = commands.add(
        "tools", _tools, "list the mixing tools and their parameters", "mixer tools --markdown"
    )
    sub.add_argument("--json", action="store_true", help="print the registry as JSON")
    sub.add_argument("--markdown", action="store_true", help="print docs/tools.md")

    sub = commands.add(
        "apply",
        _apply,
        "run a program of tool calls on an audio file",
        'mixer apply song.wav "change_volume(db=-3.0) apply_eq(high_gain=2.0)" -o out.wav',
    )
    sub.add_argument("input", help="audio file (wav, flac, ogg, mp3)")
    sub.add_argument("program", help='e.g. "change_volume(db=-3.0) apply_reverb()"')
    sub.add_argument("-o", "--output", required=True, help=OUTPUT_HELP)

    sub = commands.add(
        "config",
        _config,
        "validate the configuration and print it resolved",
        "mixer config --config my_config.yaml",
    )
    sub.add_argument("--docs", action="store_true", help="list every key with its meaning")
    add_config_flag(sub)
