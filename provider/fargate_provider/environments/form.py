"""Form fields (Airflow Params) that DAGs using this provider share."""

from __future__ import annotations

from airflow.sdk import Param

from fargate_provider import settings
from fargate_provider.utils.networking import SUBNET_KINDS
from fargate_rules.sizes import fargate_sizes, size_choice, size_label

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
