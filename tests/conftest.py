"""Shared fixtures: a tiny configuration and generated artist folders in temp dirs.

Audio is generated here (never committed): ``sample_library`` writes two artists × two
songs × 6 s once per session; tests that change files get their own copy through
``raw_library``. The tiny config keeps the production schema and only shrinks sizes
(2 s segments, 2 recipes per segment), so code paths are the real ones.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from mixer_core.config import DEFAULT_CONFIG_PATH, Config, load_config
from mixer_core.data.generator import generate_dataset

TINY_OVERRIDES: dict[str, dict[str, Any]] = {
    "data": {"sample_rate": 22050, "segment_seconds": 2.0, "hop_seconds": 2.0},
    "generators": {"sample_rate": 22050, "artists": 2, "songs_per_artist": 2, "seconds": 6.0},
    "augmentation": {"recipes_per_segment": 2},
}


def write_config(path: Path, overrides: dict[str, dict[str, Any]]) -> Path:
    """The repository config with ``overrides`` merged per section, as a YAML file."""
    data = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    for section, values in overrides.items():
        data[section] = {**data.get(section, {}), **values}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    load_config(path)
    return path


@pytest.fixture(autouse=True)
def no_environment_leaks() -> Iterator[None]:
    """Each test starts from the environment the session started with.

    Code under test sets variables for its own process (``embedded_instance`` sets
    ``DAGSTER_HOME``, MLflow reads ``MLFLOW_TRACKING_URI``); one left behind would point
    later tests at an earlier test's state, so the environment is restored after each.
    """
    before = dict(os.environ)
    yield
    for name in set(os.environ) - set(before):
        del os.environ[name]
    for name, value in before.items():
        if os.environ.get(name) != value:
            os.environ[name] = value


DEFAULT_STORES = (".mixer", "mlflow.db", "mlruns", "mlartifacts")


@pytest.fixture(scope="session", autouse=True)
def no_default_store_in_the_working_directory() -> Iterator[None]:
    """Tests write state only under their temp folders.

    MLflow falls back to ``./mlflow.db`` and the embedded default to ``./.mixer`` when a
    call is given no store; a test that lets that happen would write into the checkout
    (and a user's demo state), so the session fails when one of them appears.
    """
    cwd = Path.cwd()
    before = {name for name in DEFAULT_STORES if (cwd / name).exists()}
    yield
    made = [name for name in DEFAULT_STORES if (cwd / name).exists() and name not in before]
    if made:
        pytest.fail(f"the tests wrote {', '.join(made)} into {cwd}")


@pytest.fixture(scope="session")
def tiny_config_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_config(tmp_path_factory.mktemp("config") / "mixer_config.yaml", TINY_OVERRIDES)


@pytest.fixture(scope="session")
def tiny_config(tiny_config_path: Path) -> Config:
    return load_config(tiny_config_path)


@pytest.fixture(scope="session")
def sample_library(tmp_path_factory: pytest.TempPathFactory, tiny_config: Config) -> Path:
    """Read-only generated raw folder: ``<root>/<artist>/<song>.wav``, two artists."""
    root = tmp_path_factory.mktemp("sample_library")
    gen = tiny_config.generators
    generate_dataset(root, gen.artists, gen.songs_per_artist, gen.seconds, gen)
    return root


@pytest.fixture
def raw_library(tmp_path: Path, sample_library: Path) -> Path:
    """A private, writable copy of ``sample_library`` under this test's tmp folder."""
    return Path(shutil.copytree(sample_library, tmp_path / "raw"))


@pytest.fixture
def artists(sample_library: Path) -> list[str]:
    return sorted(p.name for p in sample_library.iterdir() if p.is_dir())


def tree_snapshot(root: Path) -> dict[str, tuple[int, int, bytes]]:
    """Every entry under ``root`` with (size, mtime_ns, bytes); folders have empty bytes.

    Equal snapshots mean nothing was written, renamed, added, removed or touched.
    """
    snap = {}
    for path in sorted(root.rglob("*")):
        stat = path.stat()
        content = path.read_bytes() if path.is_file() else b""
        snap[path.relative_to(root).as_posix()] = (stat.st_size, stat.st_mtime_ns, content)
    return snap


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """Small STFTs run faster on one thread than fighting for a shared machine's cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
