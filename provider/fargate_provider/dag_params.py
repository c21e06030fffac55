"""Form fields (Airflow Params) that DAGs using this provider share."""

from __future__ import annotations

from airflow.sdk import Param


def id_list_param(prefix: str, title: str, description: str) -> Param:
    """A non-empty list of AWS IDs starting with ``prefix`` (``subnet-``, ``sg-``)."""
    return Param(
        [],
        type="array",
        items={"type": "string", "pattern": f"^{prefix}[0-9a-f]+$"},
        minItems=1,
        title=title,
        description=description,
    )


def network_params(what: str) -> dict[str, Param]:
    """``subnets`` and ``security_groups`` for the awsvpc network of ``what``."""
    return {
        "subnets": id_list_param("subnet-", "Subnets", f"Subnet IDs for the {what} (awsvpc)."),
        "security_groups": id_list_param("sg-", "Security groups", f"Security group IDs for the {what}."),
    }
