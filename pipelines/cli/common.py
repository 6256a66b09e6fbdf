"""What every command group shares: the error and exit-code layer, flags, inputs, models.

Exit codes: 0 success, 1 a failure while working, 2 bad input (a bad program, file or
flag). A :class:`CliError` is printed as ``mixer COMMAND: message`` without a
traceback; ``main`` maps configuration errors to 2 the same way.

Audio in and out of ``apply``/``mix`` goes through :func:`read_input` and
:func:`output_writer`, so every file shape gets a result or a message naming the file.
Output safety, the one choice made here: a result peaking above 0 dBFS is reported on
stderr with the file and its peak; a .wav (32-bit float) keeps it, and every other
format, fixed-point or decoded to fixed-point, is refused with nothing written, since
it would clip. No limiter or normalisation is slipped in behind a user's program.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from mixer_core.audio.io import AudioWriter
    from mixer_core.language.grammar import ToolCall
    from mixer_core.model import MixerPredictor
    from mixer_core.tools.mixing_tools import MixingTools
    from pipelines.resources import PathsResource

EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2

Run = Callable[[argparse.Namespace], None]

OUTPUT_HELP = (
    "output file: .wav is written as 32-bit float, .flac as 24-bit PCM (.ogg and .mp3 "
    "too). A result peaking above 0 dBFS is never clipped silently: it is reported on "
    "stderr with its peak, kept in a .wav (float holds it), and refused in any other "
    "format, which would clip it (nothing is written; lower the gain or add limit())"
)


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


@dataclass
class InputAudio:
    """The input of ``apply``/``mix``: held whole, or read in blocks when too long to hold.

    ``audio`` is None for a file over :data:`pipelines.cli.streaming.STREAM_ABOVE_SAMPLES`;
    ``fold`` says the file has more than two channels, folded to stereo as it is read.
    """

    path: Path
    target: Path
    rate: int
    channels: int
    frames: int
    fold: bool
    audio: np.ndarray | None

    def output(self, calls: Sequence[ToolCall], tools: MixingTools) -> Iterable[np.ndarray]:
        """The program's output: one array for a file held whole; for a streamed one,
        blocks computed as they are iterated, again on each iteration."""
        if self.audio is not None:
            return [tools.apply(self.audio, self.rate, calls)]
        return _Streamed(self, list(calls), tools)

    def processed(self, calls: Sequence[ToolCall], tools: MixingTools) -> Iterator[np.ndarray]:
        """The program's output on a streamed file, block by block (see
        :mod:`pipelines.cli.streaming`); a fault found deep in the file is named."""
        from mixer_core.audio.io import AudioFileError, iter_blocks
        from pipelines.cli.streaming import block_frames, run_in_blocks

        block, before = block_frames(calls, self.rate, self.channels)
        blocks = iter_blocks(self.path, block, 2 if self.fold else None)
        try:
            yield from run_in_blocks(blocks, self.rate, calls, before, tools)
        except AudioFileError as exc:
            raise CliError(str(exc)) from None

    def excerpt(self, seconds: float) -> np.ndarray:
        """The whole audio, or of a streamed file the middle ``seconds`` (and a second
        either side, for resampling), which is all a model listens to."""
        if self.audio is not None:
            return self.audio
        from mixer_core.audio.io import AudioFileError, read_frames

        frames = min(self.frames, math.ceil((seconds + 2.0) * self.rate))
        start = (self.frames - frames) // 2
        try:
            return read_frames(self.path, start, start + frames, 2 if self.fold else None)
        except AudioFileError as exc:
            raise CliError(str(exc)) from None


@dataclass(frozen=True)
class _Streamed:
    source: InputAudio
    calls: list[ToolCall]
    tools: MixingTools

    def __iter__(self) -> Iterator[np.ndarray]:
        return self.source.processed(self.calls, self.tools)


def note(command: str, message: str) -> None:
    print(f"mixer {command}: note: {message}", file=sys.stderr)


def read_input(args: argparse.Namespace) -> InputAudio:
    """The input audio of ``apply``/``mix``, and an output path that is not the input.

    Everything a file can be is answered here, before any work, with a message naming
    it: an output suffix that cannot be written, a rate below what the tools run at,
    more channels than fold to stereo. 3 to 8 channels are folded to stereo (ITU-R
    BS.775, see :mod:`mixer_core.audio.channels`) with a note; a file too long to hold
    is left to be read in blocks (:mod:`pipelines.cli.streaming`).
    """
    from mixer_core.audio.channels import LAYOUTS, fold_problem
    from mixer_core.audio.io import AudioFileError, audio_header, output_format, read_audio
    from mixer_core.tools.mixing_tools import MIN_SAMPLE_RATE
    from pipelines.cli.streaming import STREAM_ABOVE_SAMPLES

    source, target = Path(args.input), Path(args.output)
    if target.exists() and target.resolve() == source.resolve():
        raise CliError(f"{target}: refusing to overwrite the input file")
    try:
        output_format(target)
        header = audio_header(source)
        if header.sample_rate < MIN_SAMPLE_RATE:
            raise AudioFileError(
                source,
                f"sample rate {header.sample_rate} Hz is below the {MIN_SAMPLE_RATE} Hz the "
                "mixing tools run at; resample it first",
            )
        fold = header.channels > 2
        if fold and (problem := fold_problem(header.channels)):
            raise AudioFileError(source, problem)
        channels = 2 if fold else header.channels
        streamed = header.frames * channels > STREAM_ABOVE_SAMPLES
        audio = None if streamed else read_audio(source, channels=2 if fold else None)[0]
    except AudioFileError as exc:
        raise CliError(str(exc)) from None
    if fold:
        layout = " ".join(LAYOUTS[header.channels])
        note(
            args.command,
            f"{source}: {header.channels} channels ({layout}) folded to stereo by ITU-R "
            "BS.775: centre and surrounds at -3 dB into their side, LFE dropped",
        )
    if streamed:
        length = round(header.duration_s)
        note(
            args.command,
            f"{source}: {length // 3600}:{length // 60 % 60:02d}:{length % 60:02d} is too "
            "long to hold; run in blocks of about a minute, with what each tool remembers",
        )
    return InputAudio(source, target, header.sample_rate, channels, header.frames, fold, audio)


def check_peak(command: str, target: Path, peak: float, subtype: str) -> None:
    """Report a result above full scale, and refuse it in a format that would clip it.

    32-bit float keeps samples above 1.0, so a float file is written and the peak
    reported. PCM (FLAC) and the lossy codecs (decoded to PCM by players) would clip
    them, so there such a result is an error and nothing is written: clipping is never
    silent, and the fix (a limiter, less gain, a float file) is the user's to choose.
    """
    import soundfile as sf

    from mixer_core.audio.io import FLOAT_SUBTYPES

    if peak <= 1.0:
        return
    level = f"{target}: the result peaks at {20.0 * math.log10(peak):+.1f} dBFS, above full scale"
    fix = "lower the gain or end the program with limit(threshold_db=-1.0)"
    if subtype in FLOAT_SUBTYPES:
        print(
            f"mixer {command}: warning: {level}; written as 32-bit float, which keeps it, "
            f"but players and conversions to PCM clip it: {fix}",
            file=sys.stderr,
        )
        return
    kind = sf.available_subtypes().get(subtype, subtype)
    raise CliError(
        f"{level}, which {kind} would clip, so nothing was written: {fix}, or write a .wav "
        "(32-bit float keeps it)"
    )


def write_output(command: str, source: InputAudio, output: Iterable[np.ndarray]) -> int:
    """Write the result, whole or in blocks, to ``source.target`` if :func:`check_peak`
    lets it; returns the frames written."""
    with output_writer(command, source.target, source.rate, source.channels) as writer:
        for block in output:
            writer.write(block)
    return writer.frames


@contextmanager
def output_writer(command: str, target: Path, rate: int, channels: int) -> Iterator[AudioWriter]:
    """An :class:`~mixer_core.audio.io.AudioWriter` that keeps the file only if the body
    finishes and :func:`check_peak` lets it; file errors become :class:`CliError`."""
    from mixer_core.audio.io import AudioFileError, AudioWriter

    try:
        with AudioWriter(target, rate, channels) as writer:
            yield writer
            check_peak(command, target, writer.peak, writer.subtype)
            writer.commit()
    except AudioFileError as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:
        raise CliError(f"{target}: cannot write ({exc.strerror or exc})", EXIT_FAILURE) from None


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
