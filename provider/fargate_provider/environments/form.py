"""Form fields (Airflow Params) that DAGs using this provider share."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow.sdk import Param

from fargate_provider import settings
from fargate_provider.environments.naming import MAX_TAG_VALUE, TAG_VALUE_PATTERN
from fargate_provider.utils.networking import SUBNET_KINDS
from fargate_rules.sizes import fargate_sizes, size_choice, size_label
from fargate_rules.validation import ECS_NAME_PATTERN

# Which Airflow connection the DAGs and the environments page use (settings.AWS_CONN_ID): read when
# a task runs, never when a file is parsed. For operators, whose aws_conn_id is a template field:
AWS_CONN_ID = settings.AWS_CONN_ID.template()


def aws_conn_id() -> str:
    """The connection id, for code that runs inside a task (``@task`` functions)."""
    return str(settings.AWS_CONN_ID.get())


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


def size_param(default: str = "256/512", description: str = "Task size.") -> Param:
    """A drop-down of every cpu/memory pair Fargate runs, shown as "0.25 vCPU, 0.5 GB"."""
    pairs = fargate_sizes()
    return Param(
        default,
        type="string",
        enum=[size_choice(cpu, memory) for cpu, memory in pairs],
        values_display={size_choice(cpu, memory): size_label(cpu, memory) for cpu, memory in pairs},
        title="Size (vCPU, memory)",
        description=description + " Only the cpu/memory pairs Fargate accepts are offered.",
    )


def subnet_kind_param(default: str = "private") -> Param:
    return Param(
        default,
        type="string",
        enum=list(SUBNET_KINDS),
        values_display={"private": "Private subnets (no public IP)", "public": "Public subnets (public IP assigned)"},
        title="Subnets",
        description=(
            "Where tasks run. Subnets are found by their `fargate:subnet-kind` tag, or taken from the "
            "Variables fargate_private_subnets / fargate_public_subnets."
        ),
    )


def task_role_param(default: str | None = None) -> Param:
    """An optional IAM role (name or ARN) the containers' own AWS calls run as."""
    return Param(
        default,
        type=["null", "string"],
        pattern=r"^$|^(arn:aws[a-z-]*:iam::\d{12}:role/)?([\w+=,.@-]+/)*[\w+=,.@-]{1,64}$",
        title="Task role (optional)",
        description=(
            "IAM role the containers run as, for their own AWS calls: a role name or ARN. Empty: the Variable "
            "fargate_task_role_arn if set, else none. (The execution role, which pulls images and writes logs, "
            "comes from the Variable fargate_execution_role_arn or the account's ecsTaskExecutionRole.)"
        ),
    )


def image_param(default: str, description: str) -> Param:
    """A container image reference: no spaces, 1-255 characters."""
    return Param(
        default,
        type="string",
        minLength=1,
        maxLength=255,
        pattern=r"^\S+$",
        title="Container image",
        description=description,
    )


def command_param(default: list[str], description: str) -> Param:
    """A container command: up to 100 arguments of at most 4,096 characters each."""
    return Param(
        default,
        type="array",
        maxItems=100,
        items={"type": "string", "maxLength": 4096},
        title="Command",
        description=description,
    )


def ecs_name_param(default: str, title: str, description: str) -> Param:
    """A cluster, family or service name as ECS allows it (letters, numbers, hyphens, underscores)."""
    return Param(default, type="string", pattern=ECS_NAME_PATTERN, title=title, description=description)


def find_network_and_roles(params: Mapping[str, Any]) -> dict[str, Any]:
    """The batch DAGs' first step: subnets and security groups for the form's subnet kind
    (Variables, else tags) and the execution and task roles (Variables, else
    ecsTaskExecutionRole); read-only, before anything is created."""
    from fargate_provider.roles import find_roles
    from fargate_provider.utils.networking import find_network

    network = find_network(params["subnet_kind"], aws_conn_id=aws_conn_id())
    roles = find_roles(params.get("task_role"), aws_conn_id=aws_conn_id())
    print(f"Network for {params['subnet_kind']} subnets: {network['source']}; {roles['source']}")
    return {**network, **roles}


def who_and_what_param(title: str, description: str) -> Param:
    """An optional text that becomes a tag value of the environment (owner, source): ECS's characters
    and length, in the form's "Who and what" section."""
    return Param(
        None,
        type=["null", "string"],
        pattern=TAG_VALUE_PATTERN,
        maxLength=MAX_TAG_VALUE,
        section="Who and what",
        title=title,
        description=description,
    )
