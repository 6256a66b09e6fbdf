"""The production topology of docker-compose.yml, run for real without Docker.

One PostgreSQL server holds the `dagster` and `mlflow` databases, created by the
compose file's own init script (deploy/postgres-init). Dagster runs against the
compose file's own instance config (deploy/dagster.yaml, Postgres storage, from env
vars), importing `pipelines.definitions` as the user_code container does. An `mlflow
server` with the Postgres backend and the proxied artifact store takes the tracking
and registry calls, first by hand, then from the whole graph (ingest, training,
evaluation). Every check reads the databases over real connections.

Not covered here: the containers, MinIO/S3 (the artifact store is a local folder
behind the same proxy), GPUs (docs/deploying.md, "What is tested").
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
import yaml
from dagster import DagsterInstance
from mlflow.tracking import MlflowClient

from mixer_core.config import SplitConfig
from mixer_core.data.splits import unit_hash
from pipelines.partitions import ARTIST_PARTITIONS_NAME
from pipelines.resources import MlflowResource
from pipelines.tracking import CHALLENGER
from tests.integration.services import (
    REPO_ROOT,
    PostgresServer,
    ensure_postgres_bin,
    is_alive,
    mlflow_server,
    postgres_server,
    run_init_script,
    server_user_exists,
)
from tests.test_training_data import tiny_training_config

pytestmark = pytest.mark.integration

DATA_ASSET_KEYS = ("raw_audio", "segments", "augmentation_manifest")
ROLES = {
    "DAGSTER_PG_USERNAME": "dagster",
    "DAGSTER_PG_PASSWORD": "dagster-secret",
    "DAGSTER_PG_DB": "dagster",
    "MLFLOW_PG_USERNAME": "mlflow",
    "MLFLOW_PG_PASSWORD": "mlflow-secret",
    "MLFLOW_PG_DB": "mlflow",
}


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    bin_dir, why = ensure_postgres_bin()
    if bin_dir is None:
        pytest.skip(why)
    if not server_user_exists():
        pytest.skip("running as root but there is no 'postgres' OS user to run the server")
    with postgres_server(bin_dir) as server:
        postmaster = server.postmaster_pid()
        run_init_script(server, ROLES)
        yield server
    assert postmaster is not None and not is_alive(postmaster)


@pytest.fixture(scope="module")
def mlflow_url(
    postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    """(tracking URL, artifacts folder behind the server's proxy)."""
    root = tmp_path_factory.mktemp("mlflow_server")
    artifacts = root / "artifacts"
    artifacts.mkdir()
    backend = postgres.url(ROLES["MLFLOW_PG_USERNAME"], ROLES["MLFLOW_PG_PASSWORD"], "mlflow")
    with mlflow_server(backend, artifacts, root / "server.log") as url:
        yield url, artifacts


@pytest.fixture
def dagster_env(postgres: PostgresServer, tmp_path: Path, tiny_config_path: Path) -> dict[str, str]:
    """The user_code container's environment, with this server and temp folders."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "deploy" / "dagster.yaml", home / "dagster.yaml")
    return {
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_HOST": postgres.host,
        "DAGSTER_PG_PORT": str(postgres.port),
        "DAGSTER_PG_USERNAME": ROLES["DAGSTER_PG_USERNAME"],
        "DAGSTER_PG_PASSWORD": ROLES["DAGSTER_PG_PASSWORD"],
        "DAGSTER_PG_DB": ROLES["DAGSTER_PG_DB"],
        "MIXER_RAW_DIR": str(tmp_path / "raw"),
        "MIXER_PROCESSED_DIR": str(tmp_path / "work" / "processed"),
        "MIXER_MODELS_DIR": str(tmp_path / "work" / "models"),
        "MIXER_DATASET_FILE": str(tmp_path / "work" / "processed" / "dataset.parquet"),
        "MIXER_STATE_DIR": str(tmp_path / "work" / "state"),
        "MIXER_CONFIG": str(tiny_config_path),
    }


# What the user_code container does with a run: import the code location with the
# container's environment, open the instance from DAGSTER_HOME, execute in-process. A
# fresh interpreter, so that resources read the environment set here at import time.
# Arguments: run configs by job name (JSON), then `job` or `job:partition` per run.
RUN_JOBS = """
import json, sys
from dagster import DagsterInstance
from pipelines.definitions import defs

run_configs = json.loads(sys.argv[1])
with DagsterInstance.get() as instance:
    for spec in sys.argv[2:]:
        name, _, partition = spec.partition(":")
        result = defs.resolve_job_def(name).execute_in_process(
            instance=instance, partition_key=partition or None, run_config=run_configs.get(name)
        )
        assert result.success, f"{spec} failed"
"""


def _run(env: dict[str, str], *command: str) -> None:
    result = subprocess.run(
        list(command),
        env={**os.environ, **env},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    assert result.returncode == 0, f"{' '.join(command)[:200]}:\n{result.stderr[-4000:]}"


def test_init_script_gives_each_service_its_own_database(postgres: PostgresServer) -> None:
    for service in ("DAGSTER", "MLFLOW"):
        user, password = ROLES[f"{service}_PG_USERNAME"], ROLES[f"{service}_PG_PASSWORD"]
        with postgres.connect(user, password, ROLES[f"{service}_PG_DB"]) as conn:
            with conn.cursor() as cur:
                cur.execute("SELECT current_user, current_database()")
                assert cur.fetchone() == (user, ROLES[f"{service}_PG_DB"])
            conn.rollback()
        conn.close()

    with pytest.raises(psycopg2.OperationalError, match="permission denied"):
        postgres.connect("dagster", ROLES["DAGSTER_PG_PASSWORD"], "mlflow")
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        postgres.connect("mlflow", "wrong-password", "mlflow")


def _query(postgres: PostgresServer, service: str, database: str, statement: str) -> list:
    """Rows of ``statement`` read as the service's own role, over TCP."""
    conn = postgres.connect(
        ROLES[f"{service}_PG_USERNAME"], ROLES[f"{service}_PG_PASSWORD"], database
    )
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
            return cur.fetchall()
    finally:
        conn.close()


def _materializations(postgres: PostgresServer, database: str) -> set[tuple[str, str | None]]:
    rows = _query(
        postgres,
        "DAGSTER",
        database,
        "SELECT DISTINCT asset_key, partition FROM event_logs "
        "WHERE dagster_event_type = 'ASSET_MATERIALIZATION'",
    )
    return {(json.loads(key)[0], partition) for key, partition in rows}


def _open_instance(env: dict[str, str], artists: list[str], monkeypatch: pytest.MonkeyPatch):
    """Check the instance DAGSTER_HOME describes and register the artist partitions."""
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 1
        instance.add_dynamic_partitions(ARTIST_PARTITIONS_NAME, artists)


def test_dagster_runs_every_artist_partition_on_postgres(
    postgres: PostgresServer,
    dagster_env: dict[str, str],
    sample_library: Path,
    artists: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shutil.copytree(sample_library, dagster_env["MIXER_RAW_DIR"])
    _open_instance(dagster_env, artists, monkeypatch)

    # What the dagster_daemon container runs before `dagster-daemon run`.
    dagster_cli = str(Path(sys.executable).parent / "dagster")
    _run(dagster_env, dagster_cli, "instance", "concurrency", "set", "gpu", "1")
    _run(dagster_env, sys.executable, "-c", RUN_JOBS, "{}", *[f"ingest:{a}" for a in artists])

    database = dagster_env["DAGSTER_PG_DB"]
    runs = _query(postgres, "DAGSTER", database, "SELECT status, partition FROM runs")
    partitions = _query(
        postgres,
        "DAGSTER",
        database,
        f"SELECT partition FROM dynamic_partitions "
        f"WHERE partitions_def_name = '{ARTIST_PARTITIONS_NAME}'",
    )
    gpu_limit = _query(
        postgres,
        "DAGSTER",
        database,
        "SELECT \"limit\" FROM concurrency_limits WHERE concurrency_key = 'gpu'",
    )
    assert sorted(runs) == sorted(("SUCCESS", artist) for artist in artists)
    assert {row[0] for row in partitions} == set(artists)
    assert _materializations(postgres, database) == {
        (key, artist) for key in DATA_ASSET_KEYS for artist in artists
    }
    assert gpu_limit == [(1,)]
    processed = Path(dagster_env["MIXER_PROCESSED_DIR"])
    assert all((processed / artist / "segments.parquet").is_file() for artist in artists)


def test_tracking_and_registry_through_mlflow_server_on_postgres(
    postgres: PostgresServer, mlflow_url: tuple[str, Path], tmp_path: Path
) -> None:
    """MlflowResource's calls against the server, checked in detail on every layer."""
    url, artifacts_store = mlflow_url
    tracking = MlflowResource(
        tracking_uri=url, experiment_name="by-hand", registered_model="by-hand"
    )
    run_id = tracking.start_run("integration")
    tracking.log_params(run_id, {"default": {"batch_size": 8, "learning_rate": 3e-4}})
    for step, loss in enumerate((2.0, 1.5, 1.2)):
        tracking.log_metrics(run_id, {"train/loss": loss}, step=step)
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "adapter_config.json").write_text('{"r": 16}')
    (model_dir / "fusion.safetensors").write_bytes(bytes(range(256)) * 4)
    tracking.log_artifacts(run_id, model_dir, "model")
    tracking.end_run(run_id)
    version = tracking.register(run_id, "model")

    client = MlflowClient(tracking_uri=url)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params == {"default.batch_size": "8", "default.learning_rate": "0.0003"}
    assert [m.value for m in client.get_metric_history(run_id, "train/loss")] == [2.0, 1.5, 1.2]
    assert run.info.artifact_uri.startswith("mlflow-artifacts:/")
    assert client.get_model_version_by_alias("by-hand", CHALLENGER).version == version.version

    stored = list(artifacts_store.rglob("fusion.safetensors"))
    assert len(stored) == 1 and stored[0].read_bytes() == bytes(range(256)) * 4
    fetched = Path(client.download_artifacts(run_id, "model", str(tmp_path / "fetched")))
    assert (fetched / "adapter_config.json").read_text() == '{"r": 16}'

    database = ROLES["MLFLOW_PG_DB"]
    latest = _query(
        postgres,
        "MLFLOW",
        database,
        f"SELECT key, value FROM latest_metrics WHERE run_uuid = '{run_id}'",
    )
    aliases = _query(
        postgres,
        "MLFLOW",
        database,
        "SELECT alias, version FROM registered_model_aliases WHERE name = 'by-hand'",
    )
    assert latest == [("train/loss", 1.2)]
    assert aliases == [(CHALLENGER, int(version.version))]


def _tiny_model_config(path: Path, raw: Path) -> Path:
    """The training tests' tiny model, trained for a handful of steps.

    Splits are by a stable hash of ``artist/song``; with only a few songs the shares are
    set between the hashes so that the last song is held out for test, the one before
    for validation, and the rest train.
    """
    points = sorted(unit_hash(f"{p.parent.name}/{p.stem}") for p in raw.glob("*/*.wav"))
    assert len(points) >= 3, "the sample library needs three songs for three splits"
    train = (points[-3] + points[-2]) / 2
    val = (points[-2] + points[-1]) / 2 - train
    cfg = tiny_training_config()
    cfg.data.split = SplitConfig(train=train, val=val, test=1.0 - train - val)
    cfg.default.max_steps = 4
    cfg.default.warmup_steps = 1
    cfg.default.eval_every_steps = 2
    cfg.default.checkpoint_every_steps = 2
    cfg.default.log_every_steps = 1
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
    return path


@pytest.mark.slow
def test_whole_graph_trains_evaluates_and_registers_through_the_stack(
    postgres: PostgresServer,
    mlflow_url: tuple[str, Path],
    dagster_env: dict[str, str],
    sample_library: Path,
    artists: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, artifacts_store = mlflow_url
    postgres.create_database("dagster_graph", owner=ROLES["DAGSTER_PG_USERNAME"])
    env = {
        **dagster_env,
        "DAGSTER_PG_DB": "dagster_graph",
        "MLFLOW_TRACKING_URI": url,
        "MIXER_CONFIG": str(_tiny_model_config(tmp_path / "tiny_model.yaml", sample_library)),
    }
    shutil.copytree(sample_library, env["MIXER_RAW_DIR"])
    _open_instance(env, artists, monkeypatch)
    evaluation = {"max_test_examples": 4, "heuristic_fit_examples": 8, "listening_examples": 1}
    run_configs = {"retrain": {"ops": {"mixer_evaluation": {"config": evaluation}}}}
    _run(
        env,
        *(sys.executable, "-c", RUN_JOBS, json.dumps(run_configs)),
        *[f"ingest:{artist}" for artist in artists],
        "retrain",
    )

    runs = _query(postgres, "DAGSTER", "dagster_graph", "SELECT pipeline_name, status FROM runs")
    assert sorted(runs) == sorted([("ingest", "SUCCESS")] * len(artists) + [("retrain", "SUCCESS")])
    assert {
        ("mixer_lora", None),
        ("mixer_evaluation", None),
    } <= _materializations(postgres, "dagster_graph")

    client = MlflowClient(tracking_uri=url)
    experiment = client.get_experiment_by_name("mixer")
    (training,) = client.search_runs(
        [experiment.experiment_id], filter_string="tags.`dagster.asset` = 'mixer_lora'"
    )
    assert training.info.status == "FINISHED"
    assert training.data.metrics and training.data.params
    (version,) = client.search_model_versions("name = 'mixer'")
    assert version.run_id == training.info.run_id
    aliases = client.get_registered_model("mixer").aliases
    assert set(aliases) <= {CHALLENGER, "champion"} and version.version in aliases.values()
    assert list(artifacts_store.rglob("MLmodel")), "no MLflow model behind the artifact proxy"
