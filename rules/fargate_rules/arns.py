"""ARNs and names: ECS accepts either where it takes a resource, and answers with ARNs."""

from __future__ import annotations

import re

_REVISION_RE = re.compile(r":(\d+)$")


def name_from_arn(arn_or_name: str) -> str:
    """The last path part: a cluster's, service's or task's name (a task's id), or
    ``family:revision`` of a task definition; a bare name as it is."""
    return arn_or_name.rsplit("/", 1)[-1]


def revision_of(task_definition_arn: str) -> int:
    """The revision number of ``…:family:N`` (0 when there is none)."""
    match = _REVISION_RE.search(task_definition_arn)
    return int(match.group(1)) if match else 0
