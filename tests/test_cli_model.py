"""The model commands as a black box: ``mixer train``, ``mix``, ``evaluate``, ``smoke-test``.

Each runs the installed console script with a tiny configuration on generated audio;
state (Dagster home, MLflow store) goes to a temp folder through ``MIXER_STATE_DIR``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from mixer_core.audio.io import read_audio, write_audio
from mixer_core.data.generator import generate_dataset
from mixer_core.language.grammar import parse
from mixer_core.model.execution_check import true_peak_dbfs
from mixer_core.tools.mixing_tools import MixingTools
from tests.training_fixtures import tiny_training_config

pytestmark = pytest.mark.slow


def mixer(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    exe = str(Path(sys.executable).parent / "mixer")
    return subprocess.run(
        [exe, *args], capture_output=True, text=True, timeout=900, env={**os.environ, **env}
    )


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("cli_model")
    cfg = tiny_training_config()
    cfg.default.max_steps = 3
    config = root / "tiny.yaml"
    config.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    generate_dataset(root / "raw", 3, 3, 3.0, cfg.generators)
    env = {"MIXER_STATE_DIR": str(root / "state")}
    result = mixer(
        "train",
        "--config", str(config),
        "--data_dir", str(root / "raw"),
        "--processed_dir", str(root / "processed"),
        "--dataset_file", str(root / "dataset.parquet"),
        "--models_dir", str(root / "models"),
        "--evaluate",
        env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return root, config, env, result.stdout


def test_train_ingests_trains_registers_and_evaluates(workspace) -> None:
    root, _config, _env, stdout = workspace
    assert "registered: models:/mixer/1" in stdout
    assert "## Overall" in stdout and "heuristic" in stdout and "oracle" in stdout
    assert (root / "dataset.parquet").is_file()
    pointer = json.loads((root / "models" / "latest.json").read_text())
    assert Path(pointer["model_dir"]).is_dir() and pointer["version"] == 1
    assert (root / "state" / "mlflow.db").is_file()
    assert (root / "state" / "dagster").is_dir()


def test_mix_with_folder_and_registry_alias(workspace, tmp_path: Path) -> None:
    root, _config, env, _ = workspace
    song = sorted((root / "raw").glob("*/*.wav"))[0]
    # a float master peaking at +6 dBFS: whatever the briefly trained model writes, the
    # output mix writes peaks at or below 0 dBFS, so the program is never empty and the
    # output never the input
    source, rate = read_audio(song)
    hot = tmp_path / "hot.wav"
    write_audio(hot, source * (2.0 / np.abs(source).max()), rate)
    model_dir = json.loads((root / "models" / "latest.json").read_text())["model_dir"]
    for model in (model_dir, "models:/mixer@challenger"):
        for given in (song, hot):
            out = tmp_path / f"{len(model)}-{given.stem}.wav"
            result = mixer(
                "mix", str(given), "--prompt", "make it louder", "--model", model, "-o", str(out),
                env=env,
            )  # fmt: skip
            assert result.returncode == 0, result.stderr[-3000:]
            program = parse(result.stdout.strip().splitlines()[-1])
            audio, _ = read_audio(out)
            source, rate = read_audio(given)
            # the file written is the printed program run on the input, nothing else
            expected = MixingTools().apply(source, rate, program)
            assert audio.shape == source.shape
            np.testing.assert_allclose(audio, expected, atol=1.5 / 2**15)
            # the model heard generated songs only, and says so once
            assert result.stderr.count("trained on generated sample audio only") == 1
        assert program and true_peak_dbfs(expected) <= 0.0
        if "limited to" in result.stderr:  # the check's limit, said why, ends the program
            assert program[-1].name == "limit" and "true peak" in result.stderr
        assert np.abs(audio).max() < 1.0 and not np.allclose(audio, source, atol=1e-3)


@pytest.mark.reliability(
    case="`mixer mix` with a model folder that does not exist",
    outcome="exit 2, the folder named on stderr",
)
def test_mix_names_a_missing_model(workspace, tmp_path: Path) -> None:
    root, _config, env, _ = workspace
    song = sorted((root / "raw").glob("*/*.wav"))[0]
    missing = tmp_path / "no-model"
    result = mixer(
        "mix", str(song), "--prompt", "x", "--model", str(missing), "-o", str(tmp_path / "o.wav"),
        env=env,
    )  # fmt: skip
    assert result.returncode == 2 and str(missing) in result.stderr


@pytest.mark.parametrize("source", ["folder", "models:/mixer@challenger"])
def test_evaluate_on_a_folder_prints_json_with_all_baselines(workspace, source: str) -> None:
    root, config, env, _ = workspace
    model_dir = json.loads((root / "models" / "latest.json").read_text())["model_dir"]
    result = mixer(
        "evaluate", "--model", model_dir if source == "folder" else source,
        "--data_dir", str(root / "raw"), "--config", str(config), "--limit", "6", "--json",
        env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert {row["predictor"] for row in report["summary"]} == {
        "model",
        "noop",
        "oracle",
        "heuristic",
    }
    assert report["summary"][0]["examples"] == 6
    # the JSON is stdout's; the one bar over the recipes stays on stderr
    assert "evaluate" in result.stderr and "6/6" in result.stderr
    rows = root / "examples.csv"
    quiet = mixer(
        "evaluate", "--model", model_dir, "--data_dir", str(root / "raw"),
        "--config", str(config), "--limit", "2", "--json", "--quiet", "--examples", str(rows),
        env=env,
    )  # fmt: skip
    assert quiet.returncode == 0 and json.loads(quiet.stdout)["summary"]
    assert "recipe/s" not in quiet.stderr and "2/2" not in quiet.stderr
    table = pd.read_csv(rows)
    assert len(table) == 2 * 4 and set(table["predictor"]) == {
        "model",
        "noop",
        "oracle",
        "heuristic",
    }
    assert {"prompt", "target", "prediction", "d_model", "d_noop"} <= set(table.columns)


@pytest.mark.reliability(
    case="`mixer evaluate` with a missing data folder, unknown alias, bad model URI, "
    "missing model folder or no MLflow store",
    outcome="exit 2, the input named on stderr; no traceback; no store created",
)
def test_evaluate_names_bad_input_with_exit_code_2(workspace, tmp_path: Path) -> None:
    root, config, env, _ = workspace
    raw = str(root / "raw")
    cases = [
        (
            ["--model", "models:/mixer@champion", "--data_dir", str(tmp_path / "none")],
            "not a folder",
        ),
        (["--model", "models:/mixer@nosuch", "--data_dir", raw], "models:/mixer@nosuch"),
        (["--model", "models:/mixer", "--data_dir", raw], "expected models:/<name>@<alias>"),
        (["--model", str(tmp_path / "no-model"), "--data_dir", raw], str(tmp_path / "no-model")),
    ]
    for flags, message in cases:
        result = mixer("evaluate", *flags, "--config", str(config), env=env)
        assert result.returncode == 2 and message in result.stderr, (flags, result.stderr[-2000:])
        assert "Traceback" not in result.stderr

    empty = tmp_path / "empty_state"
    result = mixer(
        "evaluate", "--model", "models:/mixer@champion", "--data_dir", raw,
        "--config", str(config), env={"MIXER_STATE_DIR": str(empty)},
    )  # fmt: skip
    assert result.returncode == 2 and "no MLflow store" in result.stderr
    assert not empty.exists()


def test_smoke_test_reports_a_parsed_prediction(workspace) -> None:
    _root, config, env, _ = workspace
    result = mixer("smoke-test", "--config", str(config), "--epochs", "1", env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert report["steps"] >= 1 and report["recipes"] > 0
    parse(report["predicted_program"])
