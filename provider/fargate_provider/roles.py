"""The task execution role and the task role: references, the shipped role file, and how a DAG
finds which roles to use.

ECS needs an execution role to pull private images, read secrets and write awslogs (it refuses
such a task definition without one); the task role is what the containers' own AWS calls run as.
A role may be given as an ARN or as a name (``ecsTaskExecutionRole``, ``service-role/x``): a
name is expanded to the ARN in the connection's account, as ECS itself does, so that what is
compared and stored is what ECS stores.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from fargate_provider.exceptions import ExecutionRoleNotFound
from fargate_provider.settings import EXECUTION_ROLE_ARN, TASK_ROLE_ARN
from fargate_rules.iam_documents import EXECUTION_ROLE_FILE
from fargate_rules.input_errors import InputError

DEFAULT_EXECUTION_ROLE = "ecsTaskExecutionRole"
EXECUTION_ROLE_VARIABLE = EXECUTION_ROLE_ARN.name

_ROLE_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,64}$")
_ROLE_NAME_RE = re.compile(r"^(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,64}$")

HOW_TO_CREATE_EXECUTION_ROLE = (
    f"No execution role: the Variable {EXECUTION_ROLE_VARIABLE} is not set and no role named "
    f"{DEFAULT_EXECUTION_ROLE} exists in this account. ECS needs one to pull images, read secrets and write "
    f'awslogs. Create it from the provider\'s {EXECUTION_ROLE_FILE} (README, "Going to AWS"):\n'
    "  aws iam create-role --role-name ecsTaskExecutionRole "
    '--assume-role-policy-document "$(jq .AssumeRolePolicyDocument iam/ecs-task-execution-role.json)"\n'
    "  aws iam attach-role-policy --role-name ecsTaskExecutionRole "
    "--policy-arn arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy\n"
    f"or set the Variable {EXECUTION_ROLE_VARIABLE} to an existing role's ARN."
)


class RoleError(InputError):
    """A role reference that is neither an IAM role ARN nor a role name."""


def check_role_reference(value: Any, field: str) -> str | None:
    """``value`` stripped, None when empty; RoleError naming ``field`` when it is no role reference."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str) or not (_ROLE_ARN_RE.match(value.strip()) or _ROLE_NAME_RE.match(value.strip())):
        raise RoleError(
            f"{field}: give an IAM role ARN (arn:aws:iam::123456789012:role/name) or a role name "
            f"(letters, digits and +=,.@_-, up to 64), got {str(value)[:100]!r}"
        )
    return value.strip()


def resolve_roles(
    *, execution_role: str | None, task_role: str | None, role_exists: Callable[[str], bool]
) -> dict[str, Any]:
    """The roles a DAG uses: the given execution role, else ``ecsTaskExecutionRole`` if it exists
    (else ExecutionRoleNotFound, before anything is created); the task role only if given."""
    execution_role = check_role_reference(execution_role, EXECUTION_ROLE_VARIABLE)
    task_role = check_role_reference(task_role, "task_role")
    if execution_role:
        source = f"execution role from Variable {EXECUTION_ROLE_VARIABLE}"
    elif role_exists(DEFAULT_EXECUTION_ROLE):
        execution_role, source = (
            DEFAULT_EXECUTION_ROLE,
            f"execution role {DEFAULT_EXECUTION_ROLE} (exists in the account)",
        )
    else:
        raise ExecutionRoleNotFound(HOW_TO_CREATE_EXECUTION_ROLE)
    return {"execution_role_arn": execution_role, "task_role_arn": task_role, "source": source}


def task_definition_roles(roles: Mapping[str, Any]) -> dict[str, str]:
    """resolve_roles' result as task definition keys (the task role only when there is one)."""
    keys = {"executionRoleArn": roles.get("execution_role_arn"), "taskRoleArn": roles.get("task_role_arn")}
    return {key: value for key, value in keys.items() if value}


def find_roles(task_role: str | None = None, aws_conn_id: str = "aws_default") -> dict[str, Any]:
    """resolve_roles as a DAG task calls it: Variables first (a task role given to the run wins
    over the Variable), then IAM GetRole through the connection (read-only)."""
    from botocore.exceptions import ClientError

    from fargate_provider.hooks.fargate import AwsServiceHook

    iam = AwsServiceHook(aws_conn_id=aws_conn_id, client_type="iam").conn

    def exists(name: str) -> bool:
        try:
            iam.get_role(RoleName=name)
            return True
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") == "NoSuchEntity":
                return False
            raise

    return resolve_roles(
        execution_role=EXECUTION_ROLE_ARN.get(),
        task_role=task_role or TASK_ROLE_ARN.get(),
        role_exists=exists,
    )
