"""What every command group shares: the error and exit-code layer, flags, inputs, models.

Exit codes: 0 success, 1 a failure while working, 2 bad input (a bad program, file or
flag). A :class:`CliError` is printed as ``mixer COMMAND: message`` without a
traceback; ``main`` maps configuration errors to 2 the same way.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from mixer_core.model import MixerPredictor
    from pipelines.resources import PathsResource

EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2

Run = Callable[[argparse.Namespace], None]


class CliError(Exception):
    """A user-facing error: printed without a traceback, with an exit code."""

    def __init__(self, message: str, code: int = EXIT_BAD_INPUT) -> None:
        super().__init__(message)
        self.code = code


class Commands:
    """Adds sub-commands with a description and a worked example in their ``--help``."""

    def __init__(self, subparsers: argparse._SubParsersAction) -> None:
        self._subparsers = subparsers

    def add(self, name: str, run: Run, help_: str, example: str) -> argparse.ArgumentParser:
        sub = self._subparsers.add_parser(
            name,
            help=help_,
            description=help_,
            epilog=f"example:\n  {example}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.set_defaults(run=run)
        return sub


def env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def add_config_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", default=None, help="configuration file (default: config/mixer_config.yaml)"
    )


def add_data_flags(parser: argparse.ArgumentParser) -> None:
    """The seed document's data flags, shared by ``ingest``, ``train`` and ``demo``."""
    parser.add_argument(
        "--data_dir",
        default=env("MIXER_RAW_DIR", "data/raw"),
        help="raw audio, laid out as DIR/<artist>/<song>.<wav|flac|ogg|mp3>",
    )
    parser.add_argument(
        "--processed_dir",
        default=env("MIXER_PROCESSED_DIR", "data/processed"),
        help="segments, indexes and manifests are written here",
    )
    parser.add_argument(
        "--dataset_file",
        default=env("MIXER_DATASET_FILE", "data/processed/dataset.parquet"),
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
        default=env("MIXER_MODELS_DIR", "models/finetuned/mixer"),
        help="trained model folders are written here",
    )


def add_training_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--num_epochs", type=int, default=None, help="overrides default.num_epochs")
    parser.add_argument("--max_steps", type=int, default=None, help="overrides default.max_steps")
    parser.add_argument(
        "--max_minutes", type=float, default=None, help="overrides default.max_minutes"
    )


def paths(args: argparse.Namespace) -> PathsResource:
    from pipelines.resources import PathsResource

    return PathsResource(
        raw_dir=args.data_dir,
        processed_dir=args.processed_dir,
        dataset_file=args.dataset_file,
        models_dir=args.models_dir,
    )


def read_input(args: argparse.Namespace) -> tuple[np.ndarray, int, Path]:
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


def load_predictor(model: str) -> MixerPredictor:
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
