"""The registered model loads where this repository is not installed.

A trained model folder is logged and registered in a SQLite MLflow, a fresh virtual
environment gets exactly the model's ``requirements.txt`` (no ``mixer``, no ``pip install
-e .``), and a script there loads ``models:/mixer@challenger`` from the registry with
``mlflow.pyfunc.load_model`` and predicts: the code
travels as *models from code* (``code_paths``), the weights as safetensors, nothing is
unpickled.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from mixer_core.audio.io import write_audio
from mixer_core.language.grammar import parse
from mixer_core.model import MixerModel, save_mixer
from pipelines.resources import MlflowResource
from tests.test_model import RATE, tiny_config

pytestmark = pytest.mark.slow

SCRIPT = textwrap.dedent(
    """
    import importlib.util, json, sys
    import mlflow.pyfunc, pandas as pd
    assert importlib.util.find_spec("mixer_core") is None, "mixer_core is installed here"
    assert importlib.util.find_spec("pipelines") is None, "pipelines is installed here"
    model = mlflow.pyfunc.load_model(sys.argv[1])
    print(json.dumps(model.predict(pd.DataFrame({"audio_path": [sys.argv[2]],
                                                 "prompt": ["turn it down by 3 dB"]}))))
    """
)


def test_the_model_loads_in_an_environment_with_only_its_requirements(tmp_path: Path) -> None:
    model = MixerModel.from_config(tiny_config(), RATE, seed=0)
    tracking = MlflowResource(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    run_id = tracking.start_run("clean-env")
    logged = tracking.log_model(run_id, save_mixer(model, tmp_path / "model"), tmp_path / "staged")
    tracking.register(run_id, logged=logged)
    tracking.end_run(run_id)
    folder = tmp_path / "staged"
    requirements = (folder / "requirements.txt").read_text().split()
    assert not any(r.split("==")[0] in ("mixer", "mixer-core") for r in requirements)
    assert not any("+" in r for r in requirements), "a local build tag PyPI does not serve"
    assert not list(folder.rglob("*.pkl")), "the model is code and safetensors, not a pickle"
    assert (folder / "code" / "mixer_core" / "model" / "predictor.py").is_file()
    assert list((folder / "artifacts").rglob("*.safetensors"))

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "-r", str(folder / "requirements.txt")],
        capture_output=True,
        text=True,
        timeout=1800,
        cwd=tmp_path,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    song = write_audio(
        tmp_path / "song.wav", (0.1 * np.random.default_rng(0).standard_normal((2, RATE))), RATE
    )
    script = tmp_path / "predict.py"
    script.write_text(SCRIPT)
    # the registered version, by alias, from the registry: what a user of the model loads
    result = subprocess.run(
        [str(python), str(script), f"models:/{tracking.registered_model}@challenger", str(song)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,  # not the repository: nothing of it is importable by accident
        env={
            **{k: os.environ[k] for k in ("PATH", "HOME") if k in os.environ},
            "MLFLOW_TRACKING_URI": tracking.tracking_uri,
        },
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (program,) = json.loads(result.stdout.strip().splitlines()[-1])
    parse(program)
