"""`dagster dev -w workspace.yaml` serves mixer's definitions: a real server, real GraphQL.

The server runs as its own process group with ``DAGSTER_HOME`` and the data paths in a
temp folder, and is always stopped by process group id (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import DagsterInstance

from pipelines.partitions import ARTIST_PARTITIONS_NAME

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT_S = 120.0
ARTISTS = ["alpha_band", "beta_crew"]
QUERY = """
{
  assetNodes {
    assetKey { path }
    groupName
    partitionDefinition { name }
    partitionKeys
  }
}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        payload = json.loads(response.read())
    assert "errors" not in payload, payload
    return payload["data"]


def wait_for_server(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"dagster dev exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(1.0)
    pytest.fail(
        f"dagster dev did not answer within {STARTUP_TIMEOUT_S} s:\n{log.read_text()[-4000:]}"
    )


def stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    pgid = os.getpgid(process.pid)
    os.killpg(pgid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(pgid, signal.SIGKILL)
        process.wait(timeout=10)


@pytest.fixture
def dagster_dev(tmp_path: Path, tiny_config_path: Path) -> Iterator[int]:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    DagsterInstance.from_config(str(home)).add_dynamic_partitions(ARTIST_PARTITIONS_NAME, ARTISTS)
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "MIXER_RAW_DIR": str(tmp_path / "raw"),
        "MIXER_PROCESSED_DIR": str(tmp_path / "processed"),
        "MIXER_CONFIG": str(tiny_config_path),
        "MIXER_SENSOR_DEFAULT_STATUS": "STOPPED",
    }
    port = free_port()
    dagster = Path(sys.executable).with_name("dagster")
    log = tmp_path / "dagster_dev.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(dagster), "dev", "-w", "workspace.yaml", "-p", str(port), "-h", "127.0.0.1"],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_server(port, process, log)
        yield port
    finally:
        stop(process)


def test_dagster_dev_serves_assets_and_artist_partitions(dagster_dev: int) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while True:
        nodes = graphql(dagster_dev, QUERY)["assetNodes"]
        if nodes or time.monotonic() > deadline:
            break
        time.sleep(1.0)
    by_key = {"/".join(node["assetKey"]["path"]): node for node in nodes}
    assert {"raw_audio", "segments", "augmentation_manifest"} <= set(by_key)
    for key in ("raw_audio", "segments", "augmentation_manifest"):
        node = by_key[key]
        assert node["groupName"] == "data"
        assert node["partitionDefinition"]["name"] == ARTIST_PARTITIONS_NAME
        assert node["partitionKeys"] == ARTISTS
