"""The registered model as an MLflow pyfunc: ``models:/mixer@champion`` -> programs.

The model folder written by training travels as the pyfunc's artifact ``mixer``;
``predict`` takes a DataFrame with a ``prompt`` column and either ``audio_path`` or
``audio`` (a ``(channels, samples)`` array) with ``sample_rate``, and returns one
canonical program string per row.
"""

from __future__ import annotations

import math
from importlib import metadata
from pathlib import Path
from typing import Any

import mlflow.artifacts
import mlflow.pyfunc
import numpy as np
import pandas as pd
from mlflow.tracking import MlflowClient

from mixer_core.language.grammar import format as format_program

MODEL_ARTIFACT = "mixer"
# What the wrapper imports at load and predict time, pinned to the versions it was saved
# with. The ``mixer`` code itself is this repository (``pip install -e .``): the PyPI
# project of that name is an unrelated package, so it is not listed.
_RUNTIME_PACKAGES = ("torch", "transformers", "peft", "numpy", "pandas", "soundfile", "soxr")


def _requirements() -> list[str]:
    return [f"{name}=={metadata.version(name)}" for name in _RUNTIME_PACKAGES]


class MixerPyfunc(mlflow.pyfunc.PythonModel):
    def load_context(self, context: Any) -> None:
        from mixer_core.model import MixerPredictor

        self.predictor = MixerPredictor.from_folder(context.artifacts[MODEL_ARTIFACT])

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> list[str]:
        from mixer_core.audio.io import read_audio

        frame = pd.DataFrame(model_input)
        if "prompt" not in frame:
            raise ValueError("model input needs a 'prompt' column")
        programs = []
        for row in frame.to_dict("records"):
            if _given(row.get("audio_path")):
                audio, rate = read_audio(Path(row["audio_path"]))
            elif _given(row.get("audio")) and _given(row.get("sample_rate")):
                audio, rate = np.asarray(row["audio"], dtype=np.float32), int(row["sample_rate"])
            else:
                raise ValueError("each row needs 'audio_path', or 'audio' and 'sample_rate'")
            calls = self.predictor.predict(np.atleast_2d(audio), rate, str(row["prompt"]))
            programs.append(format_program(calls))
        return programs


def _given(value: Any) -> bool:
    """A cell that holds a value: pandas fills a mixed column's gaps with None or NaN."""
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def save_pyfunc(model_dir: Path, destination: Path) -> Path:
    """Wrap a trained model folder as an MLflow model folder at ``destination``."""
    mlflow.pyfunc.save_model(
        path=str(destination),
        python_model=MixerPyfunc(),
        artifacts={MODEL_ARTIFACT: str(model_dir)},
        pip_requirements=_requirements(),
    )
    return destination


def load_predictor(uri: str, tracking_uri: str | None = None):
    """A ``MixerPredictor`` from ``models:/name@alias``, ``models:/name/N`` (or ``latest``),
    or any other MLflow model URI.

    The URIs are passed to the download, never set globally: a global
    ``mlflow.set_tracking_uri`` would also redirect every later MLflow call of this
    process (and the ``MLFLOW_TRACKING_URI`` its child processes inherit).
    """
    if uri.startswith("models:/"):
        uri = version_source(
            MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri), uri
        )
    local = mlflow.artifacts.download_artifacts(artifact_uri=uri, tracking_uri=tracking_uri)
    return mlflow.pyfunc.load_model(local).unwrap_python_model().predictor


def version_source(client: MlflowClient, uri: str) -> str:
    """The artifact URI a ``models:/`` URI names, resolved on ``client``'s registry."""
    name, _, version = uri.removeprefix("models:/").partition("/")
    if "@" in name:
        name, alias = name.split("@", 1)
        return client.get_model_version_by_alias(name, alias).source
    if not name or not version:
        raise ValueError(f"{uri}: expected models:/<name>@<alias> or models:/<name>/<version>")
    if version == "latest":
        found = client.search_model_versions(
            f"name = '{name}'", order_by=["version_number DESC"], max_results=1
        )
        if not found:
            raise ValueError(f"{uri}: registered model {name!r} has no versions")
        return found[0].source
    return client.get_model_version(name, version).source
