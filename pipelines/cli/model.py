"""``mixer train``, ``demo``, ``smoke-test`` and ``mix``: training a model and using it."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from pipelines.cli.common import (
    EXIT_FAILURE,
    CliError,
    Commands,
    add_config_flag,
    add_data_flags,
    add_training_flags,
    load_predictor,
    paths,
    read_input,
)
from pipelines.cli.data import ingest


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

    ingest(args)
    config_path = resolved_config_file(args.config, _training_overrides(args))
    try:
        pointer = train_and_evaluate(
            paths(args), config_path, default_instance(), evaluate=args.evaluate
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


def _mix(args: argparse.Namespace) -> None:
    from mixer_core.audio.io import write_audio
    from mixer_core.language.grammar import ToolCall, parse
    from mixer_core.language.grammar import format as format_program
    from mixer_core.model.execution_check import LIMIT_CEILING_DB, true_peak_dbfs
    from mixer_core.tools.mixing_tools import MixingTools

    audio, rate, target = read_input(args)
    predictor = load_predictor(args.model)
    if predictor.trained_on_generated_audio_only:
        print(f"mixer mix: note: {GENERATED_ONLY}", file=sys.stderr)
    (generation,) = predictor.generate_batch([audio], rate, [args.prompt])
    notes = list(generation.notes)
    calls = parse(generation.program)
    tools = MixingTools()
    output = tools.apply(audio, rate, calls)
    peak = true_peak_dbfs(output)
    if peak > 0.0:  # the model checked an excerpt; the whole song peaks elsewhere
        calls.append(ToolCall("limit", {"threshold_db": LIMIT_CEILING_DB}))
        output = tools.apply(audio, rate, calls)
        notes.append(
            f"the output's true peak is {peak:+.1f} dBFS: limited to {LIMIT_CEILING_DB:g} dBFS"
        )
    for note in notes:
        print(f"mixer mix: note: {note}", file=sys.stderr)
    print(format_program(calls))
    write_audio(target, output, rate)
    print(f"wrote {target}", file=sys.stderr)


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

    sub = commands.add(
        "demo",
        _demo,
        "the main job: sample audio (if none), the whole graph, the table",
        "mixer demo --max_minutes 12",
    )
    add_data_flags(sub)
    add_config_flag(sub)
    add_training_flags(sub)

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
    sub.add_argument("-o", "--output", required=True, help="output file (.wav or .flac)")
