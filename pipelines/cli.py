"""The ``mixer`` command line.

Each sub-command imports what it needs when it runs, so ``mixer tools`` answers
without loading torch-heavy modules it does not use. Exit codes: 0 success,
1 a failure while working, 2 bad input (a bad program, file or flag).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2


class CliError(Exception):
    """A user-facing error: printed without a traceback, with an exit code."""

    def __init__(self, message: str, code: int = EXIT_BAD_INPUT) -> None:
        super().__init__(message)
        self.code = code


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


def _read_input(args: argparse.Namespace) -> tuple[np.ndarray, int, Path]:
    """The input audio of ``apply``/``mix``, and an output path that is not the input."""
    from mixer_core.audio.io import AudioFileError, read_audio

    source, target = Path(args.input), Path(args.output)
    if target.exists() and target.resolve() == source.resolve():
        raise CliError(f"{target}: refusing to overwrite the input file")
    try:
        audio, rate = read_audio(source)
    except AudioFileError as exc:
        raise CliError(str(exc)) from None
    return audio, rate, target


def _apply(args: argparse.Namespace) -> None:
    from mixer_core.audio.io import write_audio
    from mixer_core.language.grammar import InstructionError, parse
    from mixer_core.tools.mixing_tools import MixingTools

    try:
        calls = parse(args.program)
    except InstructionError as exc:
        raise CliError(f"bad program: {exc}") from None
    audio, rate, target = _read_input(args)
    processed = MixingTools().apply(audio, rate, calls)
    write_audio(target, processed, rate)
    print(f"wrote {target} ({processed.shape[0]} ch, {processed.shape[1] / rate:.2f} s)")


def _generate_samples(args: argparse.Namespace) -> None:
    from mixer_core.config import load_config
    from mixer_core.data.generator import generate_dataset

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


def _paths(args: argparse.Namespace):
    from pipelines.resources import PathsResource

    return PathsResource(
        raw_dir=args.data_dir,
        processed_dir=args.processed_dir,
        dataset_file=args.dataset_file,
        models_dir=args.models_dir,
    )


def _training_overrides(args: argparse.Namespace) -> dict[str, dict[str, object]]:
    training = {
        key: value
        for key, value in (
            ("num_epochs", args.num_epochs),
            ("max_steps", args.max_steps),
            ("max_minutes", args.max_minutes),
        )
        if value is not None
    }
    return {"default": training} if training else {}


def _train(args: argparse.Namespace) -> None:
    from pipelines.ingest import default_instance
    from pipelines.run import resolved_config_file, train_and_evaluate

    _ingest(args)
    config_path = resolved_config_file(args.config, _training_overrides(args))
    try:
        pointer = train_and_evaluate(
            _paths(args), config_path, default_instance(), evaluate=args.evaluate
        )
    except RuntimeError as exc:
        raise CliError(f"training failed: {exc}", code=EXIT_FAILURE) from None
    print(f"model: {pointer['model_dir']}")
    print(f"registered: models:/mixer/{pointer['version']} (alias challenger)")
    if args.evaluate:
        print(pointer["evaluation_markdown"])
        print(
            f"promoted to champion: {pointer['evaluation']['promoted']} "
            f"({pointer['evaluation']['reason']})"
        )


def _has_artists(data_dir: Path) -> bool:
    from pipelines.ingest import discover_artists

    return data_dir.is_dir() and bool(discover_artists(data_dir)[0])


def _demo(args: argparse.Namespace) -> None:
    from mixer_core.config import load_config
    from mixer_core.data.generator import generate_dataset

    raw = Path(args.data_dir)
    if _has_artists(raw):
        print(f"using the audio in {raw}")
    else:
        gen = load_config(args.config).generators
        paths = generate_dataset(raw, gen.artists, gen.songs_per_artist, gen.seconds, gen)
        print(f"generated {len(paths)} sample songs under {raw}")
    args.evaluate = True
    _train(args)
    from pipelines.resources import MlflowResource

    home = os.environ["DAGSTER_HOME"]
    print(
        "\nOpen the UIs on this state:\n"
        f"  DAGSTER_HOME={home} .venv/bin/dagster dev -w workspace.yaml\n"
        f"  .venv/bin/mlflow ui --backend-store-uri {MlflowResource().tracking_uri}"
    )


def _smoke_test(args: argparse.Namespace) -> None:
    import tempfile
    import time

    from dagster import DagsterInstance

    from mixer_core.audio.io import read_audio
    from mixer_core.config import load_config
    from mixer_core.data.generator import generate_dataset
    from mixer_core.language.grammar import format as format_program
    from mixer_core.model import MixerPredictor
    from mixer_core.training import load_training_table, train
    from pipelines.ingest import ingest
    from pipelines.run import resolved_config_file

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mixer-smoke-") as tmp:
        root = Path(tmp)
        overrides = {"default": {"num_epochs": args.epochs}}
        config_path = resolved_config_file(args.config, overrides, folder=root)
        cfg = load_config(config_path)
        generate_dataset(root / "raw", 3, 2, 8.0, cfg.generators)
        report = ingest(
            root / "raw",
            root / "processed",
            root / "dataset.parquet",
            config_path,
            instance=DagsterInstance.ephemeral(),
        )
        if not report.ok:
            raise CliError(f"smoke test: ingest failed: {report.failures}", code=EXIT_FAILURE)
        table = load_training_table(root / "processed")
        result = train(cfg, table, root / "processed", root / "run", resume=False)
        predictor = MixerPredictor.from_folder(result.model_dir)
        segment = table[table["split"] == "train"].iloc[0]
        audio, rate = read_audio(root / "processed" / segment["segment_path"])
        program = format_program(predictor.predict(audio, rate, segment["prompt"]))
    print(
        json.dumps(
            {
                "recipes": len(table),
                "steps": result.steps,
                "first_train_loss": result.history[0]["loss"] if result.history else None,
                "final_train_loss": result.final_train_loss,
                "last_val_loss": result.last_val_loss,
                "prompt": segment["prompt"],
                "predicted_program": program,
                "elapsed_s": round(time.monotonic() - started, 1),
            },
            indent=2,
        )
    )


def _load_predictor(model: str):
    """A model folder, or a registry/run URI resolved on the configured tracking store."""
    from mixer_core.model import MixerPredictor, ModelLoadError

    if model.startswith(("models:/", "runs:/")):
        from mlflow.exceptions import MlflowException

        from pipelines.resources import MlflowResource
        from pipelines.tracking import sqlite_path

        tracking = MlflowResource()
        database = sqlite_path(tracking.tracking_uri)
        if database is not None and not database.is_file():
            raise CliError(
                f"{model}: no MLflow store at {database} (train a model first, or set "
                "MLFLOW_TRACKING_URI / MIXER_STATE_DIR to the store that holds it)"
            )
        try:
            return tracking.load_predictor(model)
        except MlflowException as exc:
            raise CliError(f"{model}: {exc.message} (store: {tracking.tracking_uri})") from None
        except ValueError as exc:
            raise CliError(str(exc)) from None
    try:
        return MixerPredictor.from_folder(Path(model))
    except ModelLoadError as exc:
        raise CliError(str(exc)) from None


def _mix(args: argparse.Namespace) -> None:
    from mixer_core.audio.io import write_audio
    from mixer_core.language.grammar import format as format_program
    from mixer_core.tools.mixing_tools import MixingTools

    audio, rate, target = _read_input(args)
    predictor = _load_predictor(args.model)
    calls = predictor.predict(audio, rate, args.prompt)
    print(format_program(calls))
    write_audio(target, MixingTools().apply(audio, rate, calls), rate)
    print(f"wrote {target}", file=sys.stderr)


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
        {"model": _load_predictor(args.model)},
        cfg,
        seed=args.seed,
        limit=args.limit,
        progress=not args.json,
    )
    print(report.to_json() if args.json else report.to_markdown())


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
    parser.add_argument(
        "--models_dir",
        default=_env("MIXER_MODELS_DIR", "models/finetuned/mixer"),
        help="trained model folders are written here",
    )


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def _add_training_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--num_epochs", type=int, default=None, help="overrides default.num_epochs")
    parser.add_argument("--max_steps", type=int, default=None, help="overrides default.max_steps")
    parser.add_argument(
        "--max_minutes", type=float, default=None, help="overrides default.max_minutes"
    )


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

    sub = command("train", _train, "ingest, then train (and register) the model in-process")
    _add_data_flags(sub)
    _add_config_flag(sub)
    _add_training_flags(sub)
    sub.add_argument(
        "--evaluate",
        action="store_true",
        help="also evaluate, print the table and promote if it wins",
    )

    sub = command("demo", _demo, "the main job: sample audio (if none), the whole graph, the table")
    _add_data_flags(sub)
    _add_config_flag(sub)
    _add_training_flags(sub)

    sub = command(
        "smoke-test",
        _smoke_test,
        "generate audio in a temp folder, process, train briefly, load, predict once",
    )
    _add_config_flag(sub)
    sub.add_argument("--epochs", type=int, default=1)

    sub = command("mix", _mix, "let a trained model write a program for a file and apply it")
    sub.add_argument("input", help="audio file")
    sub.add_argument("--prompt", required=True, help='e.g. "the low end is boomy"')
    sub.add_argument(
        "--model",
        required=True,
        help="model folder, or an MLflow URI such as models:/mixer@champion",
    )
    sub.add_argument("-o", "--output", required=True, help="output file (.wav or .flac)")

    sub = command(
        "evaluate",
        _evaluate,
        "evaluate a model and the baselines on a folder of <artist>/<song> audio",
    )
    sub.add_argument("--model", required=True, help="model folder or models:/ URI")
    sub.add_argument("--data_dir", required=True, help="audio laid out as DIR/<artist>/<song>")
    sub.add_argument("--json", action="store_true", help="print JSON instead of tables")
    sub.add_argument("--limit", type=int, default=None, help="at most N recipes")
    sub.add_argument("--seed", type=int, default=0, help="seed of the sampled recipes")
    _add_config_flag(sub)

    sub = command("config", _config, "validate the configuration and print it resolved")
    sub.add_argument("--docs", action="store_true", help="list every key with its meaning")
    _add_config_flag(sub)
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
