"""The IAM documents the provider ships (``iam/`` at the repository root is this package's
``data/iam``): the task execution role the emulator creates and the README tells users to create.
Plain JSON readers, so the local emulator can use them without importing Airflow."""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any

EXECUTION_ROLE_FILE = "iam/ecs-task-execution-role.json"


def _read(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(files("fargate_rules").joinpath("data", "iam", name).read_text())
    return document


@cache
def execution_role_template() -> dict[str, Any]:
    """``iam/ecs-task-execution-role.json``: RoleName, AssumeRolePolicyDocument, ManagedPolicyArns, InlinePolicies."""
    return _read("ecs-task-execution-role.json")
