"""Real PostgreSQL and MLflow servers for the integration tests, without Docker.

They stand in for the `postgres` and `mlflow` services of docker-compose.yml: Debian's
PostgreSQL binaries run a throwaway cluster on a free loopback port, and the
project's own `mlflow server` runs on it with the proxied artifact store. Each helper
is a context manager that stops, by PID, every process it started, and checks that
none is left.

PostgreSQL refuses to run as root, so under root every server command runs as the
`postgres` OS user (Debian's package creates it) in a folder that user owns. When the
binaries are missing and this process is root, ``.ci/services.sh`` installs them.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import psutil
import psycopg2
from psycopg2 import sql

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVICES_SCRIPT = REPO_ROOT / ".ci" / "services.sh"
POSTGRES_INIT_SCRIPT = REPO_ROOT / "deploy" / "postgres-init" / "10-create-databases.sh"
POSTGRES_OS_USER = "postgres"
SUPERUSER = "postgres"
LOOPBACK = "127.0.0.1"


class ServiceError(RuntimeError):
    """A service did not start or stop; the message carries the tail of its log."""


def free_port() -> int:
    """A TCP port that nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def _log_tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return f"(no log at {path})"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def find_postgres_bin() -> Path | None:
    """The folder holding ``pg_ctl``/``initdb``/``postgres``: PATH first, then Debian's
    versioned ``/usr/lib/postgresql/<major>/bin`` (newest major)."""
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(on_path).resolve().parent
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else -1,
    )
    return candidates[-1].parent if candidates else None


def ensure_postgres_bin() -> tuple[Path | None, str]:
    """(bin folder, why not) — installs Debian's `postgresql` through .ci/services.sh
    when the binaries are missing and this process may do so."""
    found = find_postgres_bin()
    if found:
        return found, ""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return None, "PostgreSQL binaries (pg_ctl) not found; run .ci/services.sh as root"
    result = subprocess.run(
        ["bash", str(SERVICES_SCRIPT)], capture_output=True, text=True, check=False
    )
    found = find_postgres_bin()
    if found:
        return found, ""
    return None, f".ci/services.sh could not install PostgreSQL: {result.stderr[-2000:]}"


def _as_server_user(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", POSTGRES_OS_USER, "--", *command]


def server_user_exists() -> bool:
    if os.geteuid() != 0:
        return True
    try:
        import pwd

        pwd.getpwnam(POSTGRES_OS_USER)
    except KeyError:
        return False
    return True


@dataclass(frozen=True)
class PostgresServer:
    """A running throwaway cluster; ``superuser`` connects over the socket without password."""

    bin_dir: Path
    data_dir: Path
    socket_dir: Path
    port: int
    host: str = LOOPBACK

    def url(self, user: str, password: str, database: str) -> str:
        """SQLAlchemy URL with the psycopg2 driver named, as the compose file writes it."""
        return f"postgresql+psycopg2://{user}:{password}@{self.host}:{self.port}/{database}"

    def connect(self, user: str, password: str, database: str) -> psycopg2.extensions.connection:
        """A TCP connection with password authentication, as the services make it."""
        return psycopg2.connect(
            host=self.host, port=self.port, user=user, password=password, dbname=database
        )

    def superuser_env(self) -> dict[str, str]:
        """Environment that points psql at this server as its superuser (socket, trust)."""
        return {
            "PATH": f"{self.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "PGHOST": str(self.socket_dir),
            "PGPORT": str(self.port),
            "PGUSER": SUPERUSER,
        }

    def create_database(self, name: str, owner: str) -> None:
        """A further database for ``owner``, as the init script makes them."""
        conn = psycopg2.connect(
            host=str(self.socket_dir), port=self.port, user=SUPERUSER, dbname="postgres"
        )
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(name), sql.Identifier(owner)
                    )
                )
        finally:
            conn.close()

    def postmaster_pid(self) -> int | None:
        pid_file = self.data_dir / "postmaster.pid"
        try:
            return int(pid_file.read_text().splitlines()[0])
        except (FileNotFoundError, IndexError, ValueError):
            return None

    def is_running(self) -> bool:
        """``pg_ctl status``: exit code 0 while the server runs."""
        status = subprocess.run(
            _as_server_user([str(self.bin_dir / "pg_ctl"), "status", "-D", str(self.data_dir)]),
            capture_output=True,
            check=False,
        )
        return status.returncode == 0


def run_init_script(server: PostgresServer, env: Mapping[str, str]) -> None:
    """Run deploy/postgres-init/10-create-databases.sh, the compose file's init script."""
    result = subprocess.run(
        ["bash", str(POSTGRES_INIT_SCRIPT)],
        env={**server.superuser_env(), **env},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ServiceError(f"{POSTGRES_INIT_SCRIPT} failed:\n{result.stdout}\n{result.stderr}")


def _stop_pids(pids: list[int], timeout: float = 20.0) -> None:
    """SIGTERM each PID still alive, then SIGKILL what outlives ``timeout``."""
    procs = []
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            proc.terminate()
            procs.append(proc)
        except psutil.NoSuchProcess:
            continue
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    for proc in alive:
        proc.kill()
    psutil.wait_procs(alive, timeout=5)
    leftover = [pid for pid in pids if is_alive(pid)]
    if leftover:
        raise ServiceError(f"processes still running after stop: {leftover}")


def is_alive(pid: int) -> bool:
    """Whether ``pid`` is a running process (a zombie awaiting its reaper is not)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@contextmanager
def postgres_server(bin_dir: Path) -> Iterator[PostgresServer]:
    """initdb + pg_ctl start on a free loopback port; pg_ctl stop and PID check after.

    Durability is switched off (fsync, full-page writes): the cluster lives for one
    test session, and the tests are about the services talking to each other.
    """
    base = Path(tempfile.mkdtemp(prefix="mixer-pg-"))
    data_dir, log_file = base / "data", base / "server.log"
    if os.geteuid() == 0:
        shutil.chown(base, user=POSTGRES_OS_USER)
    server = PostgresServer(bin_dir=bin_dir, data_dir=data_dir, socket_dir=base, port=free_port())
    started_pids: list[int] = []
    try:
        _run_checked(
            _as_server_user(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(data_dir),
                    f"--username={SUPERUSER}",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "--encoding=UTF8",
                    "--no-locale",
                    "--no-sync",
                ]
            ),
            "initdb",
        )
        options = (
            f"-p {server.port} -k {base} -c listen_addresses={LOOPBACK} "
            "-c fsync=off -c full_page_writes=off -c synchronous_commit=off"
        )
        start = subprocess.run(
            _as_server_user(
                [
                    str(bin_dir / "pg_ctl"),
                    "start",
                    "-D",
                    str(data_dir),
                    "-l",
                    str(log_file),
                    "-o",
                    options,
                    "-w",
                    "-t",
                    "60",
                ]
            ),
            capture_output=True,
            text=True,
            check=False,
        )
        pid = server.postmaster_pid()
        if pid is not None:
            started_pids.append(pid)
        if start.returncode != 0:
            raise ServiceError(f"pg_ctl start failed: {start.stderr}\n{_log_tail(log_file)}")
        yield server
    finally:
        if started_pids:
            subprocess.run(
                _as_server_user(
                    [str(bin_dir / "pg_ctl"), "stop", "-D", str(data_dir), "-m", "fast", "-w"]
                ),
                capture_output=True,
                check=False,
            )
            if server.is_running():
                raise ServiceError(f"pg_ctl status: {data_dir} still running after stop")
            _stop_pids(started_pids)
        shutil.rmtree(base, ignore_errors=True)


def _run_checked(command: list[str], what: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ServiceError(f"{what} failed ({result.returncode}): {result.stderr[-2000:]}")


def _wait_http_ok(url: str, proc: subprocess.Popen, log_file: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServiceError(
                f"{url}: server exited with {proc.returncode}\n{_log_tail(log_file)}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    raise ServiceError(f"{url}: no answer within {timeout:.0f} s\n{_log_tail(log_file)}")


@contextmanager
def mlflow_server(
    backend_store_uri: str, artifacts_dir: Path, log_file: Path, timeout: float = 240.0
) -> Iterator[str]:
    """`mlflow server` as docker-compose.yml runs it, on a free loopback port.

    The artifact store is a local folder behind the server's artifact proxy (the
    compose file puts S3 there); clients only ever see ``mlflow-artifacts:/`` URIs.
    The server starts in its own session; on exit the leader and every process it
    spawned (uvicorn workers) are stopped by PID. Yields the tracking URL.
    """
    port = free_port()
    command = [
        str(Path(sys.executable).parent / "mlflow"),
        "server",
        "--backend-store-uri",
        backend_store_uri,
        "--artifacts-destination",
        artifacts_dir.resolve().as_uri(),
        "--serve-artifacts",
        "--host",
        LOOPBACK,
        "--port",
        str(port),
        "--workers",
        "1",
        "--allowed-hosts",
        f"{LOOPBACK},{LOOPBACK}:*,localhost,localhost:*",
    ]
    url = f"http://{LOOPBACK}:{port}"
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    with log_file.open("w") as log:
        proc = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=log_file.parent,
            start_new_session=True,
        )
    known = {proc.pid}
    try:
        _wait_http_ok(f"{url}/health", proc, log_file, timeout)
        yield url
    finally:
        with suppress(psutil.NoSuchProcess):
            known.update(c.pid for c in psutil.Process(proc.pid).children(recursive=True))
        _stop_pids(sorted(known))
        proc.wait(timeout=5)
