"""Saving a trained model as an MLflow model, and loading one back as a predictor.

The MLflow model is *models from code* (``pyfunc_model.py`` is its code, ``mixer_core``
travels beside it in ``code_paths``, the model folder is its artifact ``mixer``), so it
loads in an environment that has only its declared requirements (``requirements.txt``
in the model: exact pins of what ``mixer_core`` imports to predict).

In this repository's own processes the model folder is read directly with the
installed ``mixer_core`` (``load_predictor``), never through ``code_paths``: those would
put a second, possibly older copy of the package on ``sys.path`` beside the one loaded.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import mlflow.artifacts
import mlflow.pyfunc
from mlflow.models import Model
from mlflow.tracking import MlflowClient
from packaging.version import Version

import mixer_core

MODEL_ARTIFACT = "mixer"
MODEL_CODE = Path(__file__).with_name("pyfunc_model.py")
# What ``mixer_core`` imports to load a model folder and predict, and the pyfunc itself,
# pinned to the versions the model was saved with. The PyPI project named ``mixer`` is an
# unrelated package: the code travels in ``code_paths`` instead.
_RUNTIME_PACKAGES = (
    "mlflow", "torch", "transformers", "tokenizers", "peft", "safetensors", "numpy", "scipy",
    "pandas", "soundfile", "soxr", "pyloudnorm", "pydantic", "PyYAML", "tqdm",
)  # fmt: skip


def requirements() -> list[str]:
    """Exact public versions: a local build tag (torch's ``+cpu``) is no version PyPI
    serves, and a CUDA host installs its own build of the same version."""
    return [f"{name}=={Version(metadata.version(name)).public}" for name in _RUNTIME_PACKAGES]


def save_pyfunc(model_dir: Path, destination: Path) -> Path:
    """Wrap a trained model folder as an MLflow model folder at ``destination``."""
    mlflow.pyfunc.save_model(
        path=str(destination),
        python_model=str(MODEL_CODE),
        artifacts={MODEL_ARTIFACT: str(model_dir)},
        code_paths=[str(Path(mixer_core.__file__).parent)],
        pip_requirements=requirements(),
    )
    return destination


def model_folder(mlflow_model: Path) -> Path:
    """The trained model folder inside a downloaded MLflow model folder."""
    conf = Model.load(str(mlflow_model)).flavors["python_function"]
    return Path(mlflow_model) / conf["artifacts"][MODEL_ARTIFACT]["path"]


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
    from mixer_core.model import MixerPredictor

    local = mlflow.artifacts.download_artifacts(artifact_uri=uri, tracking_uri=tracking_uri)
    return MixerPredictor.from_folder(model_folder(Path(local)))


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
