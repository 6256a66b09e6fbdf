"""docker-compose.yml and deploy/ hang together, checked without a Docker engine.

Every reference in the compose file (services, volumes, bind-mounted files, build
contexts, Dockerfiles, variables) must resolve in this repository; the pins in the
images must be the known-good set of requirements.txt; deploy/dagster.yaml must pass
Dagster's own schema. Where Debian's docker-compose (v1) is installed, it validates
the file as well.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
COMPOSE_FILE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
DEPLOY = REPO / "deploy"
SERVICES = {
    "postgres",
    "minio",
    "minio-init",
    "mlflow",
    "user_code",
    "dagster_webserver",
    "dagster_daemon",
}
LONG_RUNNING = SERVICES - {"minio-init"}
VARIABLE = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def with_defaults(text: str) -> str:
    """Compose interpolation with every variable at its default (``${X:-d}`` → d)."""
    return VARIABLE.sub(lambda m: m["arg"] if m["op"] in (":-", "-") else "", text)


def requirement_pins() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        name, sep, version = line.partition("==")
        if sep:
            pins[name.strip().lower()] = version.strip()
    return pins


def test_services_are_the_production_topology(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == SERVICES


def test_depends_on_names_existing_services_with_conditions(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        for target, spec in service.get("depends_on", {}).items():
            assert target in services, f"{name} depends on unknown service {target}"
            wanted = (
                "service_completed_successfully" if target == "minio-init" else "service_healthy"
            )
            assert spec == {"condition": wanted}, f"{name} -> {target}: {spec}"
            if wanted == "service_healthy":
                assert "healthcheck" in services[target], f"{target} has no healthcheck"


def test_long_running_services_have_healthchecks(compose: dict[str, Any]) -> None:
    for name in LONG_RUNNING:
        check = compose["services"][name].get("healthcheck", {})
        assert check.get("test"), f"{name}: no healthcheck"
    assert compose["services"]["minio-init"]["restart"] == "no"


def test_build_contexts_and_dockerfiles_exist(compose: dict[str, Any]) -> None:
    built = {}
    for name, service in compose["services"].items():
        build = service.get("build")
        if build is None:
            assert "image" in service, f"{name}: neither build nor image"
            continue
        context = (REPO / build["context"]).resolve()
        dockerfile = context / build.get("dockerfile", "Dockerfile")
        assert context.is_dir(), f"{name}: build context {context} missing"
        assert dockerfile.is_file(), f"{name}: {dockerfile} missing"
        built[name] = dockerfile
        for arg in build.get("args", {}):
            assert f"ARG {arg}" in dockerfile.read_text(), f"{dockerfile.name} lacks ARG {arg}"
    assert built["dagster_webserver"] == built["dagster_daemon"]
    assert built["user_code"].name == "Dockerfile.user_code"


def test_user_code_image_copies_only_what_exists() -> None:
    dockerfile = (DEPLOY / "Dockerfile.user_code").read_text()
    for match in re.finditer(r"^COPY (.+) \S+$", dockerfile, flags=re.MULTILINE):
        for source in match[1].split():
            assert (REPO / source).exists(), f"Dockerfile.user_code copies missing {source}"


def test_volumes_and_bind_mounts_resolve(compose: dict[str, Any]) -> None:
    declared = set(compose["volumes"])
    used = set()
    for name, service in compose["services"].items():
        for mount in service.get("volumes", []):
            source = with_defaults(mount).split(":")[0]
            if source.startswith((".", "/")):
                assert (REPO / source).exists(), f"{name}: bind source {source} missing"
            else:
                assert source in declared, f"{name}: volume {source} not declared"
                used.add(source)
        for env_file in service.get("env_file", []):
            assert (REPO / env_file).exists(), f"{name}: env_file {env_file} missing"
    assert used == declared, f"declared but unused volumes: {declared - used}"


def test_every_variable_is_documented_in_env_example(env_example: dict[str, str]) -> None:
    text = COMPOSE_FILE.read_text()
    referenced = {m["name"] for m in VARIABLE.finditer(text)}
    required = {m["name"] for m in VARIABLE.finditer(text) if m["op"] == ":?"}
    assert required <= set(env_example), f"undocumented secrets: {required - set(env_example)}"
    assert set(env_example) <= referenced, f"unused in compose: {set(env_example) - referenced}"
    for name in required:
        assert "change-me" in env_example[name] or not name.endswith(("PASSWORD", "SECRET_KEY"))
    assert ".env" in (REPO / ".gitignore").read_text().splitlines()


def test_dagster_services_share_the_instance_and_the_workspace(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("user_code", "dagster_webserver", "dagster_daemon"):
        mounts = services[name]["volumes"]
        assert "./deploy/dagster.yaml:/opt/dagster/dagster_home/dagster.yaml:ro" in mounts
        assert "dagster_storage:/opt/dagster/dagster_home/storage" in mounts
        env = services[name]["environment"]
        assert {"DAGSTER_PG_HOST", "DAGSTER_PG_PASSWORD", "DAGSTER_PG_DB"} <= set(env)
    workspace = yaml.safe_load((DEPLOY / "workspace.yaml").read_text())
    server = workspace["load_from"][0]["grpc_server"]
    assert (server["host"], server["port"]) == ("user_code", 4000)
    serve = (DEPLOY / "Dockerfile.user_code").read_text()
    assert '"-m", "pipelines.definitions"' in serve and '"-p", "4000"' in serve
    daemon = " ".join(services["dagster_daemon"]["command"])
    assert 'dagster instance concurrency set gpu "$$MIXER_GPU_SLOTS"' in daemon


def test_user_code_gets_gpu_data_and_tracking_from_configuration(compose: dict[str, Any]) -> None:
    user_code = compose["services"]["user_code"]
    devices = user_code["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]
    env = user_code["environment"]
    assert env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    paths = {k: v for k, v in env.items() if k.startswith("MIXER_") and k != "MIXER_CONFIG"}
    assert set(paths) == {
        "MIXER_RAW_DIR",
        "MIXER_PROCESSED_DIR",
        "MIXER_MODELS_DIR",
        "MIXER_DATASET_FILE",
        "MIXER_STATE_DIR",
    }
    mount_points = [with_defaults(m).split(":")[1] for m in user_code["volumes"]]
    for key, path in paths.items():
        assert any(path.startswith(point) for point in mount_points), f"{key} not on a volume"
    assert any(env["MIXER_CONFIG"].startswith(point) for point in mount_points)


def test_mlflow_serves_s3_artifacts_through_its_proxy(compose: dict[str, Any]) -> None:
    mlflow = compose["services"]["mlflow"]
    command = [with_defaults(str(part)) for part in mlflow["command"]]
    assert command[:2] == ["mlflow", "server"] and "--serve-artifacts" in command
    assert command[command.index("--artifacts-destination") + 1].startswith("s3://")
    assert "mlflow" in command[command.index("--allowed-hosts") + 1].split(",")
    env = mlflow["environment"]
    assert env["MLFLOW_S3_ENDPOINT_URL"] == "http://minio:9000"
    assert with_defaults(env["MLFLOW_BACKEND_STORE_URI"]).startswith(
        "postgresql+psycopg2://mlflow:@postgres:5432/mlflow"
    )


def test_images_pin_the_known_good_versions(compose: dict[str, Any]) -> None:
    pins = requirement_pins()
    dagster = (DEPLOY / "Dockerfile.dagster").read_text()
    assert f"ARG DAGSTER_VERSION={pins['dagster']}" in dagster
    assert f"ARG DAGSTER_LIBS_VERSION={pins['dagster-postgres']}" in dagster
    assert pins["dagster-webserver"] == pins["dagster"]
    assert f"ARG MLFLOW_VERSION={pins['mlflow']}" in (DEPLOY / "Dockerfile.mlflow").read_text()
    for dockerfile in ("Dockerfile.dagster", "Dockerfile.mlflow"):
        assert f"psycopg2-binary=={pins['psycopg2-binary']}" in (DEPLOY / dockerfile).read_text()
    args = compose["services"]["user_code"]["build"]["args"]
    assert with_defaults(args["TORCH_VERSION"]) == pins["torch"]
    assert f"ARG TORCH_VERSION={pins['torch']}" in (DEPLOY / "Dockerfile.user_code").read_text()


def test_dagster_yaml_passes_dagster_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The loader `DagsterInstance.get()` uses, without connecting to a database.
    from dagster._core.instance.config import dagster_instance_config

    for key, value in {
        "DAGSTER_PG_HOST": "postgres",
        "DAGSTER_PG_PORT": "5432",
        "DAGSTER_PG_USERNAME": "dagster",
        "DAGSTER_PG_PASSWORD": "secret",
        "DAGSTER_PG_DB": "dagster",
    }.items():
        monkeypatch.setenv(key, value)
    shutil.copy(DEPLOY / "dagster.yaml", tmp_path / "dagster.yaml")
    config, _ = dagster_instance_config(str(tmp_path))
    assert config["storage"]["postgres"]["postgres_db"]["password"] == {
        "env": "DAGSTER_PG_PASSWORD"
    }
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert config["concurrency"]["pools"]["default_limit"] == 1
    assert config["run_monitoring"]["enabled"] is True
    assert config["run_retries"]["enabled"] is True
    assert config["run_retries"]["retry_on_asset_or_op_failure"] is False


def _docker_compose(*args: str, env_file: Path) -> subprocess.CompletedProcess[str]:
    executable = shutil.which("docker-compose")
    if executable is None:
        pytest.skip("docker-compose (Debian package, v1) not installed; .ci/services.sh adds it")
    clean_env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/root")}
    return subprocess.run(
        [executable, "--env-file", str(env_file), "-f", str(COMPOSE_FILE), *args],
        capture_output=True,
        text=True,
        env=clean_env,
        cwd=REPO,
        check=False,
    )


def test_docker_compose_validates_with_env_example() -> None:
    result = _docker_compose("config", "-q", env_file=ENV_EXAMPLE)
    assert result.returncode == 0, result.stderr


def test_docker_compose_refuses_to_start_without_secrets(tmp_path: Path) -> None:
    empty = tmp_path / "empty.env"
    empty.write_text("")
    result = _docker_compose("config", "-q", env_file=empty)
    assert result.returncode != 0
    assert "in .env" in result.stderr
