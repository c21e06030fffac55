"""ARNs and names: ECS accepts either where it takes a resource, and answers with ARNs."""

from __future__ import annotations

import re

_REVISION_RE = re.compile(r":(\d+)$")

# Where a container's secret (``secrets[].valueFrom``, ``secretOptions[].valueFrom``) comes from: the one
# definition the validator (task_definition_spec), what a task needs (task_requirements: preflight and the
# emulator's task start) read. Task definition parameters reference, "secrets": a Secrets Manager secret's
# ARN (with optional ``:json-key:version-stage:version-id``), an SSM parameter's ARN, or, for a parameter in
# the task's Region, its name.
SECRETS_MANAGER_ARN_RE = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):secretsmanager:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):secret:(?P<rest>.+)$"
)
SSM_PARAMETER_ARN_RE = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):ssm:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):parameter(?P<name>/.+)$"
)
SSM_PARAMETER_NAME_RE = re.compile(r"^/?[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)*$")


def is_secret_reference(value_from: str) -> bool:
    """A valueFrom ECS can resolve: a Secrets Manager ARN, an SSM parameter ARN or an SSM parameter name."""
    return any(
        pattern.match(value_from) for pattern in (SECRETS_MANAGER_ARN_RE, SSM_PARAMETER_ARN_RE, SSM_PARAMETER_NAME_RE)
    )


def name_from_arn(arn_or_name: str) -> str:
    """The last path part: a cluster's, service's or task's name (a task's id), or
    ``family:revision`` of a task definition; a bare name as it is."""
    return arn_or_name.rsplit("/", 1)[-1]


def revision_of(task_definition_arn: str) -> int:
    """The revision number of ``…:family:N`` (0 when there is none)."""
    match = _REVISION_RE.search(task_definition_arn)
    return int(match.group(1)) if match else 0
