"""docker-compose.yaml and the Dockerfile, checked without a Docker engine (none runs here)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT.parent / "shared" / "schemas" / "compose-spec.json"
AIRFLOW_VERSION = "3.3.2"


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((ROOT / "docker-compose.yaml").read_text())


def test_compose_file_is_valid_against_the_compose_spec(compose):
    schema = json.loads(SCHEMA.read_text())
    jsonschema.validate(compose, schema)


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
    assert re.search(rf"^FROM apache/airflow:{re.escape(AIRFLOW_VERSION)}$", dockerfile, re.M)
    assert f'"apache-airflow=={AIRFLOW_VERSION}"' in (ROOT / "pyproject.toml").read_text()
