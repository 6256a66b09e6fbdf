"""A real ``mlflow models serve`` on loopback, for the load test and the serving benchmark.

The server is the command a user runs (``--env-manager local``: this environment's
packages), started in its own session so that stopping it kills its whole process group:
``mlflow`` starts ``uvicorn`` through ``bash -c exec``, and a server left behind would
hold its port and its memory after the test. Requests go over real HTTP (``urllib``),
a bounded number at a time, each with a timeout.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psutil

from tests.integration.services import LOOPBACK, ServiceError, free_port

STARTUP_TIMEOUT_S = 300.0
REQUEST_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Answer:
    """One request's outcome: HTTP status, body, and its latency in seconds."""

    status: int
    body: bytes
    seconds: float

    def json(self) -> dict:
        return json.loads(self.body)


@dataclass(frozen=True)
class ModelServer:
    """A running scoring server: its URL, its command and its process group leader."""

    url: str
    command: list[str]
    process: subprocess.Popen
    log: Path

    def tree_rss(self) -> int:
        """Resident bytes of the server's whole process tree (the CLI, uvicorn, workers)."""
        leader = psutil.Process(self.process.pid)
        total = 0
        for proc in [leader, *leader.children(recursive=True)]:
            try:
                total += proc.memory_info().rss
            except psutil.NoSuchProcess:
                continue
        return total

    def post(self, body: bytes, content_type: str = "application/json") -> Answer:
        """POST ``body`` to ``/invocations``; an HTTP error status is an answer, not a raise."""
        request = urllib.request.Request(
            f"{self.url}/invocations",
            data=body,
            headers={"Content-Type": content_type},
            method="POST",
        )
        start = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as response:
                status, payload = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, payload = error.code, error.read()
        return Answer(status, payload, time.perf_counter() - start)

    def post_all(self, bodies: Sequence[bytes], concurrency: int) -> list[Answer]:
        """Every body posted, at most ``concurrency`` in flight; answers in ``bodies`` order."""
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            return list(pool.map(self.post, bodies))


def request_body(records: Iterable[dict]) -> bytes:
    """A ``dataframe_records`` request: one record per row of the model's input frame."""
    rows = [
        {k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in record.items()}
        for record in records
    ]
    return json.dumps({"dataframe_records": rows}).encode()


def _log_tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _wait_until_ready(server: ModelServer, timeout: float) -> None:
    """``/ping`` answers 200 once the model is loaded; an exited server is an error at once."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise ServiceError(
                f"`{shlex.join(server.command)}` exited with {server.process.returncode}:\n"
                f"{_log_tail(server.log)}"
            )
        try:
            with urllib.request.urlopen(f"{server.url}/ping", timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    raise ServiceError(
        f"`{shlex.join(server.command)}` not ready after {timeout:.0f} s:\n{_log_tail(server.log)}"
    )


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM the server's process group, SIGKILL what outlives ``STOP_TIMEOUT_S``."""
    try:
        members = [psutil.Process(process.pid)]
        members += members[0].children(recursive=True)
    except psutil.NoSuchProcess:
        members = []
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    _, alive = psutil.wait_procs(members, timeout=STOP_TIMEOUT_S)
    if alive:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        psutil.wait_procs(alive, timeout=10)
    process.wait(timeout=10)


@contextmanager
def served_model(
    model_uri: str, work_dir: Path, tracking_uri: str | None = None
) -> Iterator[ModelServer]:
    """``mlflow models serve -m model_uri`` on a free loopback port, ready to answer.

    ``tracking_uri`` is where a ``models:/`` URI is resolved (the server's
    ``MLFLOW_TRACKING_URI``). The server runs in ``work_dir`` and logs to
    ``work_dir/server.log``; it is stopped, with every process it started, on exit.
    """
    port = free_port()
    command = [
        sys.executable, "-m", "mlflow", "models", "serve", "-m", model_uri,
        "--env-manager", "local", "-h", LOOPBACK, "-p", str(port),
    ]  # fmt: skip
    env = dict(os.environ)
    # mlflow runs `uvicorn` by name: the one beside this interpreter, activated or not
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    if tracking_uri is not None:
        env["MLFLOW_TRACKING_URI"] = tracking_uri
    log = work_dir / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            cwd=work_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        server = ModelServer(f"http://{LOOPBACK}:{port}", command, process, log)
        _wait_until_ready(server, STARTUP_TIMEOUT_S)
        yield server
    finally:
        _stop(process)
