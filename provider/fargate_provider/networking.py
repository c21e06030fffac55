"""The awsvpc network settings of tasks and services: checked before any call, built once."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def check_network(subnets: Any, security_groups: Any) -> None:
    for field, values, prefix in (("subnets", subnets, "subnet-"), ("security_groups", security_groups, "sg-")):
        if isinstance(values, str) or not values or not all(isinstance(v, str) and v.startswith(prefix) for v in values):
            raise ValueError(f"{field}: must be a non-empty list of {prefix}… IDs, got {values!r}")


def network_configuration(subnets: Sequence[str], security_groups: Sequence[str], assign_public_ip: bool) -> dict[str, Any]:
    """Private subnets or public ones is ``assign_public_ip``."""
    return {
        "awsvpcConfiguration": {
            "subnets": list(subnets),
            "securityGroups": list(security_groups),
            "assignPublicIp": "ENABLED" if assign_public_ip else "DISABLED",
        }
    }
