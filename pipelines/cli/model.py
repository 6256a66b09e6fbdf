"""``mixer train``, ``demo``, ``smoke-test`` and ``mix``: training a model and using it."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from pipelines.cli.common import (
    EXIT_FAILURE,
    OUTPUT_HELP,
    CliError,
    Commands,
    add_config_flag,
    add_data_flags,
    add_training_flags,
    load_predictor,
    note,
    paths,
    read_input,
    write_output,
)
from pipelines.cli.data import ingest

if TYPE_CHECKING:
    import numpy as np

    from pipelines.cli.common import InputAudio


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
    from pipelines.run import NothingToResume, find_resume, resolved_config_file, train_and_evaluate

    resume = None
    if args.resume:
        try:
            resume = find_resume(default_instance(), args.evaluate)
        except NothingToResume as exc:
            raise CliError(str(exc)) from None
        left = "its training, from the last checkpoint" if resume.train else "its evaluation"
        print(f"resuming run {resume.run_id}: {left}")
    ingest(args)
    config_path = resolved_config_file(args.config, _training_overrides(args))
    try:
        pointer = train_and_evaluate(
            paths(args), config_path, default_instance(), evaluate=args.evaluate, resume=resume
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


def _add_resume_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the newest training that did not finish (killed, or failed on MLflow; "
        "not one still running) with the same flags: from its last checkpoint, or only "
        "logging and registering its kept model, or (with --evaluate) only its evaluation",
    )


def _has_artists(data_dir: Path) -> bool:
    from pipelines.ingest import discover_artists

    return data_dir.is_dir() and bool(discover_artists(data_dir)[0])


def _demo(args: argparse.Namespace) -> None:
    from mixer_core.config import load_config
    from mixer_core.data.generator import generate_dataset, is_generated_artist

    raw = Path(args.data_dir)
    if _has_artists(raw):
        print(f"using the audio in {raw}")
    else:
        gen = load_config(args.config).generators
        generated = generate_dataset(raw, gen.artists, gen.songs_per_artist, gen.seconds, gen)
        print(f"generated {len(generated)} sample songs under {raw}")
    args.evaluate = True
    _train(args)
    from pipelines.resources import MlflowResource

    home = os.environ["DAGSTER_HOME"]
    print(
        "\nOpen the UIs on this state:\n"
        f"  DAGSTER_HOME={home} .venv/bin/dagster dev -w workspace.yaml\n"
        f"  .venv/bin/mlflow ui --backend-store-uri {MlflowResource().tracking_uri}"
    )
    artists = [p for p in raw.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))]
    if artists and all(is_generated_artist(p) for p in artists):
        print(
            "\nThe model was trained on generated sample audio only: the figures above are "
            "on generated songs, and on real music its blind fixes are less reliable.\n"
            "To train on your own music, put it in "
            f"{raw}/<artist>/<song>.wav|flac|ogg|mp3 (remove the generated artists) and run "
            "`bash scripts/demo.sh` again, or `.venv/bin/mixer train --evaluate`."
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
    from pipelines.ingest import ingest as run_ingest
    from pipelines.run import resolved_config_file

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mixer-smoke-") as tmp:
        root = Path(tmp)
        overrides = {"default": {"num_epochs": args.epochs}}
        config_path = resolved_config_file(args.config, overrides, folder=root)
        cfg = load_config(config_path)
        generate_dataset(root / "raw", 3, 2, 8.0, cfg.generators)
        report = run_ingest(
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


GENERATED_ONLY = (
    "this model was trained on generated sample audio only, so its blind fixes of real "
    "music are less reliable; to train on your own music put it in "
    "data/raw/<artist>/<song>.wav and run `bash scripts/demo.sh` (or `mixer train`)"
)


# A clip shorter than this is looped for the model: its front end needs a whole STFT
# frame (tens of ms) and hears level and spectrum better over a second than a blip.
MIN_HEARD_S = 1.0


def _heard(command: str, source: InputAudio, max_seconds: float) -> np.ndarray:
    """What the model listens to: the input (of a streamed file, its middle), a clip
    shorter than :data:`MIN_HEARD_S` looped to that length, so that its level and
    spectrum stay its own; digital silence is refused, as there is nothing to hear."""
    import numpy as np

    heard = source.excerpt(max_seconds)
    if not heard.any():
        raise CliError(
            f"{source.path}: digital silence (every sample the model hears is 0): there is "
            "nothing to mix, so nothing was written"
        )
    frames = math.ceil(MIN_HEARD_S * source.rate)
    if heard.shape[1] < frames:
        note(
            command,
            f"{source.path}: {heard.shape[1] / source.rate:.3f} s is shorter than the model "
            f"listens to: it hears the clip looped to {MIN_HEARD_S:g} s",
        )
        heard = np.tile(heard, (1, math.ceil(frames / heard.shape[1])))[:, :frames]
    return heard


def _mix(args: argparse.Namespace) -> None:
    from mixer_core.language.grammar import ToolCall, parse
    from mixer_core.language.grammar import format as format_program
    from mixer_core.model.execution_check import LIMIT_CEILING_DB, true_peak_dbfs
    from mixer_core.tools.mixing_tools import MixingTools

    source = read_input(args)
    predictor = load_predictor(args.model)
    heard = _heard(args.command, source, predictor.model.config.audio_encoder.max_seconds)
    if predictor.trained_on_generated_audio_only:
        note(args.command, GENERATED_ONLY)
    (generation,) = predictor.generate_batch([heard], source.rate, [args.prompt])
    notes = list(generation.notes)
    calls = parse(generation.program)
    tools = MixingTools()
    output = source.output(calls, tools)
    peak = max(true_peak_dbfs(block) for block in output)
    if peak > 0.0:  # the model checked an excerpt; the whole song peaks elsewhere
        calls.append(ToolCall("limit", {"threshold_db": LIMIT_CEILING_DB}))
        output = source.output(calls, tools)
        notes.append(
            f"the output's true peak is {peak:+.1f} dBFS: limited to {LIMIT_CEILING_DB:g} dBFS"
        )
    for message in notes:
        note(args.command, message)
    print(format_program(calls))
    write_output(args.command, source, output)
    print(f"wrote {source.target}", file=sys.stderr)


def register(commands: Commands) -> None:
    sub = commands.add(
        "train",
        _train,
        "ingest, then train (and register) the model in-process",
        "mixer train --data_dir data/raw --max_minutes 15 --evaluate",
    )
    add_data_flags(sub)
    add_config_flag(sub)
    add_training_flags(sub)
    sub.add_argument(
        "--evaluate",
        action="store_true",
        help="also evaluate, print the table and promote if it wins",
    )
    _add_resume_flag(sub)

    sub = commands.add(
        "demo",
        _demo,
        "the main job: sample audio (if none), the whole graph, the table",
        "mixer demo --max_minutes 12",
    )
    add_data_flags(sub)
    add_config_flag(sub)
    add_training_flags(sub)
    _add_resume_flag(sub)

    sub = commands.add(
        "smoke-test",
        _smoke_test,
        "generate audio in a temp folder, process, train briefly, load, predict once",
        "mixer smoke-test --epochs 1",
    )
    add_config_flag(sub)
    sub.add_argument("--epochs", type=int, default=1)

    sub = commands.add(
        "mix",
        _mix,
        "let a trained model write a program for a file and apply it",
        'mixer mix song.wav --prompt "the low end is boomy" '
        "--model models:/mixer@champion -o fixed.wav",
    )
    sub.add_argument("input", help="audio file")
    sub.add_argument("--prompt", required=True, help='e.g. "the low end is boomy"')
    sub.add_argument(
        "--model",
        required=True,
        help="model folder, or an MLflow URI such as models:/mixer@champion",
    )
    sub.add_argument("-o", "--output", required=True, help=OUTPUT_HELP)
