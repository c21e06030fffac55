"""The task definition an environment's form describes (one essential container, its port, its
plain environment variables and awslogs), checked before any AWS call."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from fargate_provider.environments.naming import (
    CONTAINER_NAME,
    ENV_VAR_NAME_PATTERN,
    EnvironmentNames,
    EnvironmentSpecError,
    names,
)
from fargate_rules.sizes import parse_size_choice


def environment_task_definition(
    env: EnvironmentNames, *, image: Any, size: Any, container_port: Any, variables: Any, region: str
) -> dict[str, Any]:
    """The task definition the form describes: one essential container, its port, its plain
    environment variables (secrets belong in Secrets Manager, not in a form) and awslogs."""
    if not isinstance(image, str) or not image.strip() or any(c.isspace() for c in image.strip()):
        raise EnvironmentSpecError(
            f"image: give an image reference such as public.ecr.aws/nginx/nginx:1.27, got {image!r}"
        )
    cpu, memory = parse_size_choice(size, "size")
    if isinstance(container_port, bool) or not isinstance(container_port, int) or not 1 <= container_port <= 65535:
        raise EnvironmentSpecError(f"container_port: must be a port number from 1 to 65535, got {container_port!r}")
    variables = {} if variables is None else variables  # the form's field is optional
    if not isinstance(variables, Mapping):
        raise EnvironmentSpecError("environment_variables: must be a mapping of NAME to value")
    for name, value in variables.items():
        if not isinstance(name, str) or not re.fullmatch(ENV_VAR_NAME_PATTERN, name):
            raise EnvironmentSpecError(
                f"environment_variables: {name!r} is not a variable name "
                "(letters, digits, _; not starting with a digit)"
            )
        if not isinstance(value, (str, int, float, bool)):
            raise EnvironmentSpecError(f"environment_variables.{name}: must be a string, number or boolean")
    return {
        "family": env.family,
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": str(cpu),
        "memory": str(memory),
        "containerDefinitions": [
            {
                "name": CONTAINER_NAME,
                "image": image.strip(),
                "essential": True,
                "portMappings": [{"containerPort": container_port, "hostPort": container_port, "protocol": "tcp"}],
                "environment": [
                    {"name": k, "value": str(v).lower() if isinstance(v, bool) else str(v)}
                    for k, v in sorted(variables.items())
                ],
                "logConfiguration": {
                    "logDriver": "awslogs",
                    "options": {
                        "awslogs-group": env.log_group,
                        "awslogs-region": region,
                        "awslogs-stream-prefix": "env",
                        "awslogs-create-group": "true",
                    },
                },
            }
        ],
    }


def task_definition_from_form(params: Mapping[str, Any], prepared: Mapping[str, Any]) -> dict[str, Any]:
    """The environment's task definition, built where it is used (a Jinja macro of the DAG, so
    the form's variable values travel in no XCom): the form's fields, and the roles and region
    the ``prepare`` task found."""
    from fargate_provider.roles import task_definition_roles

    task_definition = environment_task_definition(
        names(params["environment"]),
        image=params["image"],
        size=params["size"],
        container_port=params["container_port"],
        variables=params["environment_variables"],
        region=prepared["region"],
    )
    task_definition.update(task_definition_roles(prepared))
    return task_definition
