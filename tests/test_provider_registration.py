"""The provider is registered with Airflow and everything it declares imports."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

from fargate_provider.get_provider_info import get_provider_info

VENV_BIN = Path(sys.executable).parent


def declared_modules(info):
    for key in ("hooks", "operators", "sensors", "triggers"):
        for entry in info.get(key, []):
            yield from entry["python-modules"]


def test_every_module_named_in_provider_info_imports():
    info = get_provider_info()
    modules = list(declared_modules(info))
    assert "fargate_provider.hooks.fargate" in modules
    assert "fargate_provider.operators.cluster" in modules
    assert "fargate_provider.operators.task_definition" in modules
    for module in modules:
        importlib.import_module(module)
    for class_path in info.get("extra-links", []):
        module, _, name = class_path.rpartition(".")
        assert hasattr(importlib.import_module(module), name), class_path
    integrations = {i["integration-name"] for i in info["integrations"]}
    for key in ("hooks", "operators", "sensors", "triggers"):
        for entry in info.get(key, []):
            assert entry["integration-name"] in integrations


def test_provider_info_passes_airflows_schema():
    import json

    import jsonschema
    from airflow import providers_manager

    schema = json.loads((Path(providers_manager.__file__).parent / "provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_airflow_providers_list_shows_the_provider(airflow_db):
    result = subprocess.run(
        [str(VENV_BIN / "airflow"), "providers", "list", "--output", "plain"],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=120,
        check=True,
    )
    line = next(line for line in result.stdout.splitlines() if "airflow-provider-fargate" in line)
    assert "Run containers on AWS ECS with Fargate" in line


def test_providers_manager_finds_the_hook_and_version(airflow_db):
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    provider = manager.providers["airflow-provider-fargate"]
    from importlib.metadata import version

    assert provider.version == version("airflow-provider-fargate")
    assert provider.data["name"] == "Fargate"
