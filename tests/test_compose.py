"""docker-compose.yaml and the Dockerfile, checked without a Docker engine (none runs here)."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
# Vendored from compose-spec/compose-spec (source, licence and date: tests/data/README.md).
SCHEMA = ROOT / "tests" / "data" / "compose-spec.json"
AIRFLOW_VERSION = "3.3.2"


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((ROOT / "docker-compose.yaml").read_text())


def test_compose_file_is_valid_against_the_compose_spec(compose):
    schema = json.loads(SCHEMA.read_text())
    jsonschema.validate(compose, schema)


def test_the_vendored_schema_is_the_one_its_readme_names():
    """The README gives the copy's source, licence, date and checksum: a changed copy needs a new entry."""
    readme = (SCHEMA.parent / "README.md").read_text()
    entry = next(line for line in readme.splitlines() if line.startswith("| `compose-spec.json`"))
    assert "compose-spec/compose-spec" in entry and "`schema/compose-spec.json`" in entry and "Apache-2.0" in entry
    assert re.search(r"\b\d{4}-\d{2}-\d{2}\b", entry), entry  # the date it was copied
    assert hashlib.sha256(SCHEMA.read_bytes()).hexdigest() in entry
    assert json.loads(SCHEMA.read_text())["title"] == "Compose Specification"


def test_official_airflow_topology_is_there(compose):
    services = compose["services"]
    commands = {name: str(service.get("command")) for name, service in services.items()}
    assert {"postgres", "redis", "airflow-init"} <= set(services)
    for command in ("api-server", "scheduler", "dag-processor", "triggerer", "celery worker"):
        assert command in commands.values(), command
    assert services["fargate-local"]["profiles"] == ["local"]
    for name in ("airflow-apiserver", "airflow-scheduler", "airflow-worker"):
        volumes = services[name]["volumes"]
        assert "./dags:/opt/airflow/dags" in volumes and "./plugins:/opt/airflow/plugins" in volumes


def test_every_airflow_image_and_the_dockerfile_use_the_pinned_version(compose):
    images = [s.get("image", "") for s in compose["services"].values() if "airflow" in s.get("image", "")]
    assert images and all(image.endswith(f":{AIRFLOW_VERSION}") for image in images), images
    dockerfile = (ROOT / "Dockerfile").read_text()
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert f"apache-airflow=={AIRFLOW_VERSION}" in pyproject["dependencies"]
    assert re.search(rf"^ARG AIRFLOW_VERSION={re.escape(AIRFLOW_VERSION)}$", dockerfile, re.M)
    # The image's Python is the one pyproject.toml admits (the default image's Python may be newer).
    python = re.search(r"^ARG PYTHON_VERSION=(3\.\d+)$", dockerfile, re.M).group(1)
    assert (
        f">={python}" in pyproject["requires-python"]
        and f"<3.{int(python.split('.')[1]) + 1}" in pyproject["requires-python"]
    )
    assert "FROM apache/airflow:${AIRFLOW_VERSION}-python${PYTHON_VERSION}" in dockerfile


def test_the_dockerfile_installs_against_airflows_constraints_except_what_the_provider_pins():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "apache/airflow/constraints-${AIRFLOW_VERSION}/constraints-${PYTHON_VERSION}.txt" in dockerfile
    assert re.search(
        r"pip install --no-cache-dir --constraint /tmp/constraints.txt\s*\\?\s*"
        r"\"apache-airflow==\$\{AIRFLOW_VERSION\}\"",
        dockerfile,
    )
    dropped = set(re.search(r"grep -v -E '\^\(([^)]*)\)=='", dockerfile).group(1).split("|"))
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + project["optional-dependencies"]["local"]
    pinned = {re.split(r"[\[=]", r)[0] for r in requirements if "==" in r} - {"apache-airflow"}
    # A package the provider pins exactly and the constraints pin too would make pip refuse the build.
    assert pinned <= dropped, pinned - dropped


def test_the_shared_secrets_and_the_login_come_from_env_and_are_required(compose):
    """Every container must share the JWT secret and API secret key (else task tokens fail with
    "Invalid auth token"), a Fernet key encrypts connections; compose refuses to start without them."""
    env = compose["x-airflow-common"]["environment"]
    for key, variable in (
        ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW_JWT_SECRET"),
        ("AIRFLOW__API__SECRET_KEY", "AIRFLOW_API_SECRET_KEY"),
        ("AIRFLOW__CORE__FERNET_KEY", "AIRFLOW_FERNET_KEY"),
    ):
        assert env[key].startswith("${" + variable + ":?"), key  # ${VAR:?message}: an error when unset
    assert env["AIRFLOW__API__BASE_URL"].startswith("${AIRFLOW_BASE_URL:-http")
    assert (
        env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]
        == "/opt/airflow/config/simple_auth_manager_passwords.json"
    )
    init = compose["services"]["airflow-init"]
    assert init["environment"]["AIRFLOW_ADMIN_PASSWORD"].startswith("${AIRFLOW_ADMIN_PASSWORD:?")
    assert "simple_auth_manager_passwords.json" in init["command"][1]
    assert not [k for k in init["environment"] if k.startswith("_AIRFLOW_WWW_USER")]  # FAB-only settings, ignored here
    for name, service in compose["services"].items():
        if name.startswith("airflow-"):
            assert "airflow-config:/opt/airflow/config" in service["volumes"], name


def test_compose_env_writes_usable_secrets_once(tmp_path):
    import subprocess
    import sys

    from cryptography.fernet import Fernet

    target = tmp_path / ".env"
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "compose_env.py"), str(target)], check=True, capture_output=True
    )
    values = dict(line.split("=", 1) for line in target.read_text().splitlines())
    Fernet(values["AIRFLOW_FERNET_KEY"].encode())  # a valid Fernet key
    assert len(values["AIRFLOW_JWT_SECRET"]) >= 64 and len(values["AIRFLOW_API_SECRET_KEY"]) >= 32
    assert oct(target.stat().st_mode & 0o777) == "0o600"
    before = target.read_text()
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "compose_env.py"), str(target)],
        check=True,
        capture_output=True,
        text=True,
    )
    assert "left as it is" in out.stdout and target.read_text() == before


LOAD_BALANCER_VARIABLES = ("AIRFLOW_VAR_FARGATE_ENVIRONMENTS_LISTENER_ARN", "AIRFLOW_VAR_FARGATE_ENVIRONMENTS_DOMAIN")


def test_the_load_balancer_variables_pass_from_env_only_when_set_there(compose, tmp_path):
    """No value in the file: compose takes it from .env, or leaves it unset; an empty value would
    hide the Variables in Airflow's database (the environment comes first)."""
    from tests.topology.compose_stack import environment_of, load_compose

    env = compose["x-airflow-common"]["environment"]
    assert all(key in env and env[key] is None for key in LOAD_BALANCER_VARIABLES)
    env_file = tmp_path / ".env"
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "compose_env.py"), str(env_file)], check=True, capture_output=True
    )
    unset = environment_of(load_compose(ROOT / "docker-compose.yaml", env_file)["airflow-worker"])
    assert not set(LOAD_BALANCER_VARIABLES) & set(unset)
    with env_file.open("a") as lines:
        lines.write(
            "AIRFLOW_VAR_FARGATE_ENVIRONMENTS_LISTENER_ARN=arn:aws:elasticloadbalancing:eu-west-1:1:listener/app/a/b/c\n"
        )
    given = environment_of(load_compose(ROOT / "docker-compose.yaml", env_file)["airflow-worker"])
    assert given["AIRFLOW_VAR_FARGATE_ENVIRONMENTS_LISTENER_ARN"].endswith("listener/app/a/b/c")
    assert "AIRFLOW_VAR_FARGATE_ENVIRONMENTS_DOMAIN" not in given


def test_only_the_local_profile_sets_the_variables_from_the_emulator(compose):
    services = compose["services"]
    setter = services["fargate-local-variables"]
    assert setter["profiles"] == ["local"]
    assert setter["depends_on"] == {
        "fargate-local": {"condition": "service_healthy"},
        "airflow-init": {"condition": "service_completed_successfully"},
    }
    # Without the profile these services do not exist: nothing else may depend on them.
    local_only = {name for name, service in services.items() if service.get("profiles")}
    for name, service in services.items():
        if not service.get("profiles"):
            assert not local_only & set(service.get("depends_on") or {}), name


def test_the_local_profiles_variables_are_the_emulators_ready_made_listener(emulator, airflow_db, tmp_path):
    """fargate-local-variables' own command (the emulator's address aside), run against the emulator:
    Airflow then has the listener and domain of the emulator's ready-made load balancer."""
    import os

    from airflow.models.variable import Variable

    from tests.topology.compose_stack import load_compose

    env_file = tmp_path / ".env"
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "compose_env.py"), str(env_file)], check=True, capture_output=True
    )
    service = load_compose(ROOT / "docker-compose.yaml", env_file, profiles=("local",))["fargate-local-variables"]
    assert service["entrypoint"] == "/bin/bash" and service["command"][0] == "-c"
    script = service["command"][1]
    assert "http://fargate-local:5000" in script
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    try:
        done = subprocess.run(
            ["/bin/bash", "-c", script.replace("http://fargate-local:5000", emulator.endpoint)],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "2 of 2 variables successfully updated." in done.stdout

        def stored(key: str) -> str:  # read as the Airflow processes read it (their configuration, their Fernet key)
            got = subprocess.run(
                ["airflow", "variables", "get", key], env=env, capture_output=True, text=True, timeout=120
            )
            assert got.returncode == 0, got.stderr
            return got.stdout.strip()

        assert stored("fargate_environments_listener_arn") == emulator.network["listener_arn"]
        assert stored("fargate_environments_domain") == emulator.network["environments_domain"] == "env.fargate.local"
    finally:  # other tests in this process expect no load balancer Variables
        for key in ("fargate_environments_listener_arn", "fargate_environments_domain"):
            Variable.delete(key)


def test_fargate_local_airflow_variables_needs_a_running_emulator():
    done = subprocess.run(
        [str(Path(sys.executable).parent / "fargate-local"), "airflow-variables", "--endpoint", "http://127.0.0.1:9"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1 and done.stdout == "" and done.stderr.startswith("fargate-local: ")
