"""Resources the data stages read their locations and configuration from.

Every location defaults from an environment variable, read when the resource is built
(so `dagster dev`, the daemon and `mixer ingest` all honour the same variables):

- ``MIXER_RAW_DIR`` → ``raw_dir`` (default ``data/raw``)
- ``MIXER_PROCESSED_DIR`` → ``processed_dir`` (default ``data/processed``)
- ``MIXER_MODELS_DIR`` → ``models_dir`` (default ``models/finetuned/mixer``)
- ``MIXER_DATASET_FILE`` → ``dataset_file`` (default ``data/processed/dataset.parquet``)
- ``MIXER_CONFIG`` → ``MixerConfigResource.path`` (default: the repository's
  ``config/mixer_config.yaml``, ``mixer_core.config.DEFAULT_CONFIG_PATH``)

Relative paths resolve against the working directory of the process (the repository
root for `dagster dev -w workspace.yaml` and the CLI); the config default is absolute,
so it is found from any working directory.

``PathsResource`` also owns the layout of the processed directory, so that no asset
spells a path by hand: ``<processed>/<artist>/`` holds an artist's segments and their
``segments.parquet`` index, ``<processed>/_inventory/<artist>.parquet`` the raw
inventory and ``<processed>/_manifests/<artist>.parquet`` the augmentation manifest.
Folders starting with ``_`` are never artists.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
from dagster import ConfigurableResource
from pydantic import Field

from mixer_core.config import DEFAULT_CONFIG_PATH, Config, load_config

INVENTORY_FOLDER = "_inventory"
MANIFEST_FOLDER = "_manifests"
SEGMENT_INDEX_NAME = "segments.parquet"


def _env(name: str, default: str) -> Any:
    return Field(
        default_factory=lambda: os.environ.get(name, default),
        description=f"defaults to ${name}, else '{default}'",
    )


class PathsResource(ConfigurableResource):
    """Where raw audio, processed data, models and the combined dataset live."""

    raw_dir: str = _env("MIXER_RAW_DIR", "data/raw")
    processed_dir: str = _env("MIXER_PROCESSED_DIR", "data/processed")
    models_dir: str = _env("MIXER_MODELS_DIR", "models/finetuned/mixer")
    dataset_file: str = _env("MIXER_DATASET_FILE", "data/processed/dataset.parquet")

    @property
    def raw_path(self) -> Path:
        return Path(self.raw_dir)

    @property
    def processed_path(self) -> Path:
        return Path(self.processed_dir)

    @property
    def models_path(self) -> Path:
        return Path(self.models_dir)

    @property
    def dataset_path(self) -> Path:
        return Path(self.dataset_file)

    def artist_raw_dir(self, artist: str) -> Path:
        return self.raw_path / artist

    def artist_processed_dir(self, artist: str) -> Path:
        return self.processed_path / artist

    def segment_index_path(self, artist: str) -> Path:
        return self.artist_processed_dir(artist) / SEGMENT_INDEX_NAME

    def inventory_path(self, artist: str) -> Path:
        return self.processed_path / INVENTORY_FOLDER / f"{artist}.parquet"

    def manifest_path(self, artist: str) -> Path:
        return self.processed_path / MANIFEST_FOLDER / f"{artist}.parquet"


class MixerConfigResource(ConfigurableResource):
    """The validated `config/mixer_config.yaml`, loaded fresh for every run.

    Loading per run (not per code-server start) means an edited config takes effect on
    the next materialization without restarting `dagster dev`.
    """

    path: str = _env("MIXER_CONFIG", str(DEFAULT_CONFIG_PATH))

    def load(self) -> Config:
        return load_config(Path(self.path))


def write_parquet_atomic(frame: pd.DataFrame, path: Path) -> Path:
    """Write a stage table so that readers see the old file or the new one, never half.

    The table goes to a temporary file in the same folder (same filesystem) and is then
    renamed over the target, which is atomic on POSIX and Windows.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    tmp = Path(tmp_name)
    try:
        frame.to_parquet(tmp, index=False)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
