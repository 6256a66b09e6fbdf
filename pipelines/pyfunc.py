"""The registered model as an MLflow pyfunc: ``models:/mixer@champion`` -> programs.

The model folder written by training travels as the pyfunc's artifact ``mixer``;
``predict`` takes a DataFrame with a ``prompt`` column and either ``audio_path`` or
``audio`` (a ``(channels, samples)`` array) with ``sample_rate``, and returns one
canonical program string per row.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow.artifacts
import mlflow.pyfunc
import numpy as np
import pandas as pd
from mlflow.tracking import MlflowClient

from mixer_core.instructions import format as format_program

MODEL_ARTIFACT = "mixer"
_REQUIREMENTS = ["mixer", "torch", "transformers", "peft", "soundfile", "soxr", "pandas"]


class MixerPyfunc(mlflow.pyfunc.PythonModel):
    def load_context(self, context: Any) -> None:
        from mixer_core.model import MixerPredictor

        self.predictor = MixerPredictor.from_folder(context.artifacts[MODEL_ARTIFACT])

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> list[str]:
        from mixer_core.audio_io import read_audio

        frame = pd.DataFrame(model_input)
        if "prompt" not in frame:
            raise ValueError("model input needs a 'prompt' column")
        programs = []
        for row in frame.to_dict("records"):
            if row.get("audio_path"):
                audio, rate = read_audio(Path(row["audio_path"]))
            elif row.get("audio") is not None and row.get("sample_rate"):
                audio, rate = np.asarray(row["audio"], dtype=np.float32), int(row["sample_rate"])
            else:
                raise ValueError("each row needs 'audio_path', or 'audio' and 'sample_rate'")
            calls = self.predictor.predict(np.atleast_2d(audio), rate, str(row["prompt"]))
            programs.append(format_program(calls))
        return programs


def save_pyfunc(model_dir: Path, destination: Path) -> Path:
    """Wrap a trained model folder as an MLflow model folder at ``destination``."""
    mlflow.pyfunc.save_model(
        path=str(destination),
        python_model=MixerPyfunc(),
        artifacts={MODEL_ARTIFACT: str(model_dir)},
        pip_requirements=_REQUIREMENTS,
    )
    return destination


def load_predictor(uri: str, tracking_uri: str | None = None):
    """A ``MixerPredictor`` from ``models:/name@alias`` (or any MLflow model URI).

    The URIs are passed to the download, never set globally: a global
    ``mlflow.set_tracking_uri`` would also redirect every later MLflow call of this
    process (and the ``MLFLOW_TRACKING_URI`` its child processes inherit).
    """
    if uri.startswith("models:/"):
        client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        name, _, rest = uri.removeprefix("models:/").partition("/")
        if "@" in name:
            name, alias = name.split("@", 1)
            uri = client.get_model_version_by_alias(name, alias).source
        else:
            uri = client.get_model_version(name, rest).source
    local = mlflow.artifacts.download_artifacts(artifact_uri=uri, tracking_uri=tracking_uri)
    return mlflow.pyfunc.load_model(local).unwrap_python_model().predictor
