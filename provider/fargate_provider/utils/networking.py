"""The awsvpc network settings of tasks and services: checked before any call, built once,
and found from tags or Variables when a DAG asks for "private" or "public" subnets."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from fargate_provider import settings
from fargate_rules.input_errors import InputError
from fargate_rules.network_tags import SECURITY_GROUP_TAG, SECURITY_GROUP_TAG_VALUE, SUBNET_KIND_TAG

SUBNET_KINDS = ("private", "public")
# Subnets and the tasks' security group are found by tags (fargate_rules.network_tags), which
# the local emulator's ready-made network carries.
# Variables win over tags (JSON lists or comma-separated IDs): settings.SUBNETS and SECURITY_GROUPS.
SECURITY_GROUPS_VARIABLE = settings.SECURITY_GROUPS.name


class NetworkNotFound(LookupError):
    """No subnets or security groups for a subnet kind; the message says how to provide them."""


def check_network(subnets: Any, security_groups: Any) -> None:
    for field, values, prefix in (("subnets", subnets, "subnet-"), ("security_groups", security_groups, "sg-")):
        if (
            isinstance(values, str)
            or not values
            or not all(isinstance(v, str) and v.startswith(prefix) for v in values)
        ):
            raise InputError(f"{field}: must be a non-empty list of {prefix}… IDs, got {values!r}")


def network_configuration(
    subnets: Sequence[str], security_groups: Sequence[str], assign_public_ip: bool
) -> dict[str, Any]:
    """Private subnets or public ones is ``assign_public_ip``."""
    return {
        "awsvpcConfiguration": {
            "subnets": list(subnets),
            "securityGroups": list(security_groups),
            "assignPublicIp": "ENABLED" if assign_public_ip else "DISABLED",
        }
    }


def parse_id_list(value: str, field: str) -> list[str]:
    """A Variable's IDs: a JSON list or comma-separated."""
    text = value.strip()
    if text.startswith("["):
        try:
            ids = json.loads(text)
        except ValueError:
            raise InputError(f"Variable {field}: not a JSON list of IDs") from None
    else:
        ids = [part.strip() for part in text.split(",")]
    return [str(i) for i in ids if str(i).strip()]


def discover_network(kind: str, variable: Callable[[str], str | None], ec2_client: Callable[[], Any]) -> dict[str, Any]:
    """Subnets and security groups for ``kind`` ("private" or "public"), from Variables if set,
    else from the tags above (EC2 DescribeSubnets / DescribeSecurityGroups); the client is
    only made when a tag lookup is needed."""
    if kind not in SUBNET_KINDS:
        raise InputError(f"subnet_kind: {kind!r} is not allowed; allowed: {', '.join(SUBNET_KINDS)}")
    subnets_variable = settings.SUBNETS[kind].name
    subnets_value, groups_value = variable(subnets_variable), variable(SECURITY_GROUPS_VARIABLE)
    subnets = parse_id_list(subnets_value, subnets_variable) if subnets_value else None
    groups = parse_id_list(groups_value, SECURITY_GROUPS_VARIABLE) if groups_value else None
    source = []
    if subnets:
        source.append(f"subnets from Variable {subnets_variable}")
    else:
        found = ec2_client().describe_subnets(Filters=[{"Name": f"tag:{SUBNET_KIND_TAG}", "Values": [kind]}])["Subnets"]
        subnets = sorted(s["SubnetId"] for s in found)
        source.append(f"subnets tagged {SUBNET_KIND_TAG}={kind}")
    if groups:
        source.append(f"security groups from Variable {SECURITY_GROUPS_VARIABLE}")
    else:
        found = ec2_client().describe_security_groups(
            Filters=[{"Name": f"tag:{SECURITY_GROUP_TAG}", "Values": [SECURITY_GROUP_TAG_VALUE]}]
        )["SecurityGroups"]
        groups = sorted(g["GroupId"] for g in found)
        source.append(f"security groups tagged {SECURITY_GROUP_TAG}={SECURITY_GROUP_TAG_VALUE}")
    if not subnets:
        raise NetworkNotFound(
            f"subnet_kind: no {kind} subnets found; tag them {SUBNET_KIND_TAG}={kind} "
            f"or set the Variable {subnets_variable}"
        )
    if not groups:
        raise NetworkNotFound(
            f"subnet_kind: no security group found; tag one {SECURITY_GROUP_TAG}={SECURITY_GROUP_TAG_VALUE} "
            f"or set the Variable {SECURITY_GROUPS_VARIABLE}"
        )
    check_network(subnets, groups)
    return {
        "subnets": subnets,
        "security_groups": groups,
        "assign_public_ip": kind == "public",
        "source": "; ".join(source),
    }


def find_network(kind: str, aws_conn_id: str = "aws_default") -> dict[str, Any]:
    """discover_network as a task calls it: Airflow Variables, then EC2 through the connection."""
    from airflow.sdk import Variable

    from fargate_provider.hooks.fargate import AwsServiceHook

    return discover_network(
        kind,
        variable=lambda key: Variable.get(key, default=None),
        ec2_client=lambda: AwsServiceHook(aws_conn_id=aws_conn_id, client_type="ec2").conn,
    )
