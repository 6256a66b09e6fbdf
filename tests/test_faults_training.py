"""Faults of the model half, done for real: ``mixer train`` killed with SIGKILL and resumed,
and an MLflow tracking server that is closed, or stopped mid-training or mid-evaluation.

Every run is the installed ``mixer`` console script on a tiny configuration and generated
audio, with its own state (Dagster home, MLflow store) under a temp folder. The tracking
servers are real ``mlflow server`` subprocesses on loopback (``tests.integration.services``);
MLflow's client is told not to retry (``MLFLOW_HTTP_REQUEST_MAX_RETRIES=0``), so a closed
server fails a call at once instead of after minutes of back-off.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import yaml

from mixer_core.data.generator import generate_dataset
from mixer_core.model import load_mixer
from mixer_core.training.checkpoint import CONFIG_FILENAME, STATE_FILENAME, checkpoint_dir
from pipelines.resources import MlflowResource
from pipelines.tracking import TrackingError, tracked_client
from tests.integration.services import free_port, mlflow_server
from tests.training_fixtures import tiny_training_config

MIXER = str(Path(sys.executable).parent / "mixer")
NO_RETRIES = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "20"}
WAIT_S = 600  # bound on any wait for a subprocess; a hang fails the test, never blocks CI


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(raw audio folder, tiny config file): three artists of three 3 s songs, the
    training checkpointing every 4 of its 16 steps, logging every 2, validating every 6."""
    root = tmp_path_factory.mktemp("faults_training")
    cfg = tiny_training_config()
    cfg.default.max_steps = 16
    cfg.default.checkpoint_every_steps = 4
    cfg.default.log_every_steps = 2
    cfg.default.eval_every_steps = 6
    config = root / "tiny.yaml"
    config.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    generate_dataset(root / "raw", 3, 3, 3.0, cfg.generators)
    return root / "raw", config


@dataclass(frozen=True)
class Workspace:
    """One user's state: where ``mixer train`` writes, and the flags that say so."""

    root: Path
    raw: Path
    config: Path

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def state(self) -> Path:
        return self.root / "state"

    def train_command(self, *extra: str) -> list[str]:
        return [
            MIXER, "train",
            "--config", str(self.config),
            "--data_dir", str(self.raw),
            "--processed_dir", str(self.root / "processed"),
            "--dataset_file", str(self.root / "dataset.parquet"),
            "--models_dir", str(self.models),
            *extra,
        ]  # fmt: skip

    def env(self, **extra: str) -> dict[str, str]:
        env = {**os.environ, "MIXER_STATE_DIR": str(self.state), **NO_RETRIES, **extra}
        for name in ("DAGSTER_HOME", "MLFLOW_TRACKING_URI"):
            if name not in extra:
                env.pop(name, None)
        return env

    def train(self, *extra: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.train_command(*extra),
            capture_output=True,
            text=True,
            timeout=WAIT_S,
            env=self.env(**env),
        )

    def run_folders(self) -> list[Path]:
        return sorted(p for p in self.models.glob("mixer-*") if p.is_dir())

    def pointer(self) -> dict:
        return json.loads((self.models / "latest.json").read_text())

    def sqlite_tracking(self) -> MlflowResource:
        return MlflowResource(tracking_uri=f"sqlite:///{self.state / 'mlflow.db'}")


def workspace(tmp_path: Path, library: tuple[Path, Path], name: str) -> Workspace:
    raw, config = library
    return Workspace(tmp_path / name, raw, config)


class Background:
    """``mixer train`` in its own process group, output to files, waited on with bounds."""

    def __init__(self, command: list[str], env: dict[str, str], logs: Path) -> None:
        logs.mkdir(parents=True, exist_ok=True)
        self.stdout_path, self.stderr_path = logs / "stdout.txt", logs / "stderr.txt"
        with self.stdout_path.open("w") as out, self.stderr_path.open("w") as err:
            self.proc = subprocess.Popen(
                command, stdout=out, stderr=err, env=env, start_new_session=True
            )

    def __enter__(self) -> Background:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.proc.poll() is None:  # a failed assertion left it running
            self.signal(signal.SIGKILL)
            self.proc.wait()

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def wait_for(self, ready: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + WAIT_S
        while not ready():
            if self.proc.poll() is not None:
                pytest.fail(f"mixer train exited {self.proc.returncode} before {what}:\n"
                            f"{self.stderr()[-3000:]}")  # fmt: skip
            if time.monotonic() > deadline:
                self.signal(signal.SIGKILL)
                pytest.fail(f"no {what} within {WAIT_S} s:\n{self.stderr()[-3000:]}")
            time.sleep(0.02)

    def signal(self, sig: signal.Signals) -> None:
        os.killpg(self.proc.pid, sig)

    def wait(self) -> int:
        try:
            return self.proc.wait(timeout=WAIT_S)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.proc.wait()
            pytest.fail(f"mixer train did not end within {WAIT_S} s:\n{self.stderr()[-3000:]}")

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Stopped (SIGSTOP) inside the block: what the block does happens between two
        of its instructions, whatever the machine's speed."""
        self.signal(signal.SIGSTOP)
        try:
            yield
        finally:
            self.signal(signal.SIGCONT)


def first_checkpoint(ws: Workspace) -> Callable[[], bool]:
    return lambda: any((checkpoint_dir(f) / STATE_FILENAME).is_file() for f in ws.run_folders())


def trainable(model_dir: Path) -> dict[str, torch.Tensor]:
    model = load_mixer(model_dir)
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def loss_steps(tracking: MlflowResource, run_id: str) -> list[int]:
    return sorted(m.step for m in tracking.client().get_metric_history(run_id, "loss"))


LOGGED_STEPS = list(range(2, 17, 2))  # log_every_steps 2 of 16 steps


@pytest.mark.slow
@pytest.mark.reliability(
    case="`mixer train` killed with SIGKILL after its first checkpoint",
    outcome="`mixer train --resume` continues from the checkpoint; final weights equal an "
    "uninterrupted run's",
)
def test_training_killed_mid_run_resumes_to_the_uninterrupted_result(
    tmp_path: Path, library: tuple[Path, Path]
) -> None:
    straight = workspace(tmp_path, library, "straight")
    done = straight.train()
    assert done.returncode == 0, done.stderr[-3000:]

    killed = workspace(tmp_path, library, "killed")
    with Background(killed.train_command(), killed.env(), tmp_path / "killed-logs") as run:
        run.wait_for(first_checkpoint(killed), "a first checkpoint")
        run.signal(signal.SIGKILL)
        assert run.wait() == -signal.SIGKILL
    (folder,) = killed.run_folders()
    assert not (folder / "model").exists(), "the run ended before it could be killed"
    assert not (killed.models / "latest.json").exists()
    saved = json.loads((checkpoint_dir(folder) / CONFIG_FILENAME).read_text())["step"]
    assert saved in (4, 8, 12)

    resumed = killed.train("--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming run" in resumed.stdout and "from the last checkpoint" in resumed.stdout
    steps = re.findall(r"resumed from (\S+) at step (\d+)", resumed.stderr)
    assert steps and int(steps[0][1]) == saved and Path(steps[0][0]).parent.parent == folder
    assert killed.run_folders() == [folder]  # the same folder, no second training
    pointer = killed.pointer()
    assert Path(pointer["model_dir"]) == (folder / "model").resolve()
    assert pointer["version"] == 1 and "registered: models:/mixer/1" in resumed.stdout

    want, got = trainable(Path(straight.pointer()["model_dir"])), trainable(folder / "model")
    assert want and set(got) == set(want)
    for name, value in want.items():
        torch.testing.assert_close(got[name], value, rtol=1e-5, atol=1e-6)
    # the resumed MLflow run holds the whole curve: steps before the kill from the history
    tracking = killed.sqlite_tracking()
    assert loss_steps(tracking, pointer["run_id"]) == LOGGED_STEPS


@pytest.mark.slow
@pytest.mark.reliability(
    case="`mixer train --resume` when no training was interrupted",
    outcome="exit 2, 'nothing to resume' naming the Dagster instance; nothing ingested",
)
def test_resume_with_nothing_to_resume_says_so(tmp_path: Path, library) -> None:
    ws = workspace(tmp_path, library, "fresh")
    result = ws.train("--resume")
    assert result.returncode == 2, result.stderr[-3000:]
    assert "nothing to resume: no training has run" in result.stderr
    assert str((ws.state / "dagster").resolve()) in result.stderr
    assert "Traceback" not in result.stderr
    assert not (ws.root / "processed").exists()


@pytest.mark.reliability(
    case="MLflow tracking URI at a closed loopback port (any call of the tracking client)",
    outcome="TrackingError naming the URI, the call and 'connection refused'; error codes kept",
)
def test_tracking_errors_name_the_uri_and_keep_the_error_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    closed = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(TrackingError) as caught:
        tracked_client(closed).get_experiment_by_name("mixer")
    message = str(caught.value)
    assert message.startswith(f"MLflow tracking at {closed}: get_experiment_by_name failed")
    assert "connection refused" in message

    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with pytest.raises(TrackingError) as missing:
        tracked_client(store).get_registered_model("no-such-model")
    assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert store in str(missing.value)
    assert MlflowResource(tracking_uri=store).version_by_alias("champion") is None


@pytest.mark.slow
@pytest.mark.reliability(
    case="`mixer train` with MLFLOW_TRACKING_URI at a closed loopback port",
    outcome="exit 1 before any training, the URI and 'connection refused' on stderr; "
    "a retry with the right URI trains and registers",
)
def test_unreachable_tracking_server_fails_before_training_and_a_retry_works(
    tmp_path: Path, library
) -> None:
    ws = workspace(tmp_path, library, "closed")
    closed = f"http://127.0.0.1:{free_port()}"
    result = ws.train("--max_steps", "2", MLFLOW_TRACKING_URI=closed)
    assert result.returncode == 1, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("mixer train: training failed: mixer_lora: MLflow tracking at ")
    assert closed in last and "connection refused" in last and "nothing was trained" in last
    assert "Traceback" not in result.stderr
    assert not any((f / "model").exists() for f in ws.run_folders())

    retry = ws.train("--max_steps", "2")  # MLFLOW_TRACKING_URI unset: the state's SQLite
    assert retry.returncode == 0, retry.stderr[-3000:]
    assert "registered: models:/mixer/1" in retry.stdout
    assert str(ws.sqlite_tracking().version_by_alias("challenger").version) == "1"


@pytest.mark.slow
@pytest.mark.reliability(
    case="`mlflow server` stopped while `mixer train` is training",
    outcome="training goes on; exit 1 naming the URI and the kept model folder; "
    "`mixer train --resume` with the server back logs the whole curve and registers it",
)
def test_tracking_server_stopped_mid_training_keeps_the_model_and_resume_registers_it(
    tmp_path: Path, library
) -> None:
    ws = workspace(tmp_path, library, "server")
    backend = f"sqlite:///{tmp_path / 'mlflow-server.db'}"
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    with ExitStack() as server:
        first = server.enter_context(mlflow_server(backend, artifacts, tmp_path / "first.log"))
        env = ws.env(MLFLOW_TRACKING_URI=first)
        with Background(ws.train_command(), env, tmp_path / "first-logs") as run:
            run.wait_for(first_checkpoint(ws), "a first checkpoint")
            with run.paused():
                server.close()  # gone before the training takes another step
            assert run.wait() == 1, run.stderr()[-3000:]
    stderr = run.stderr()
    (folder,) = ws.run_folders()
    last = stderr.strip().splitlines()[-1]
    assert last.startswith(f"mixer train: training failed: mixer_lora: MLflow tracking at {first}")
    assert f"The trained model is kept in {folder / 'model'}" in last and "--resume" in last
    assert "training goes on" in stderr  # the server went away during the loop
    assert "Traceback" not in stderr
    kept = trainable(folder / "model")
    assert kept and not (ws.models / "latest.json").exists()

    with mlflow_server(backend, artifacts, tmp_path / "second.log") as second:
        retry = ws.train("--resume", MLFLOW_TRACKING_URI=second)
        assert retry.returncode == 0, retry.stderr[-3000:]
        assert "registered: models:/mixer/1" in retry.stdout
        pointer = ws.pointer()
        assert Path(pointer["model_dir"]) == (folder / "model").resolve()
        tracking = MlflowResource(tracking_uri=second)
        assert loss_steps(tracking, pointer["run_id"]) == LOGGED_STEPS
        served = tracking.load_predictor("models:/mixer@challenger").model
        for name, value in kept.items():
            torch.testing.assert_close(dict(served.named_parameters())[name], value)
    assert ws.run_folders() == [folder]
    for name, value in trainable(folder / "model").items():
        torch.testing.assert_close(value, kept[name])


@pytest.mark.slow
@pytest.mark.reliability(
    case="`mlflow server` stopped between training and evaluation of `mixer train --evaluate`",
    outcome="exit 1 naming the URI; the registered model kept; `--resume --evaluate` "
    "evaluates that version without training or registering again",
)
def test_tracking_server_stopped_before_evaluation_and_resume_evaluates(
    tmp_path: Path, library
) -> None:
    ws = workspace(tmp_path, library, "evaluation")
    backend = f"sqlite:///{tmp_path / 'mlflow-server.db'}"
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    short = ("--evaluate", "--max_steps", "4")
    with ExitStack() as server:
        first = server.enter_context(mlflow_server(backend, artifacts, tmp_path / "first.log"))
        env = ws.env(MLFLOW_TRACKING_URI=first)
        with Background(ws.train_command(*short), env, tmp_path / "logs") as run:
            run.wait_for((ws.models / "latest.json").is_file, "the trained version's pointer")
            with run.paused():
                server.close()  # gone before the evaluation's first MLflow call
            assert run.wait() == 1, run.stderr()[-3000:]
    last = run.stderr().strip().splitlines()[-1]
    assert last.startswith("mixer train: training failed: mixer_evaluation: ")
    assert first in last and "Traceback" not in run.stderr()
    pointer = ws.pointer()
    assert str(pointer["version"]) == "1"  # a string from an MLflow server, an int from SQLite
    model_dir = Path(pointer["model_dir"])
    kept = trainable(model_dir)

    with mlflow_server(backend, artifacts, tmp_path / "second.log") as second:
        retry = ws.train(*short, "--resume", MLFLOW_TRACKING_URI=second)
        assert retry.returncode == 0, retry.stderr[-3000:]
        assert "resuming run" in retry.stdout and "its evaluation" in retry.stdout
        assert (
            "registered: models:/mixer/1" in retry.stdout and "promoted to champion" in retry.stdout
        )
        versions = (
            MlflowResource(tracking_uri=second).client().search_model_versions("name='mixer'")
        )
        assert [str(v.version) for v in versions] == ["1"]
        again = ws.train(*short, "--resume", MLFLOW_TRACKING_URI=second)
        assert again.returncode == 2 and "nothing to resume" in again.stderr
    assert (model_dir.parent / "evaluation" / "evaluation.json").is_file()
    assert "resumed from" not in retry.stderr  # nothing was trained again
    for name, value in trainable(model_dir).items():
        torch.testing.assert_close(value, kept[name])
