"""ECS's documented request limits for the parameters the provider sends, as one table.

Two readers: the provider checks its arguments against it before any AWS call (``validation.
check_request_limits``, the task-definition validator, the RunTask overrides check), naming the
argument; the local emulator refuses a request that breaks a row (``fargate_local.request_validation``)
with the row's message, as ECS answers. So neither is kinder than ECS, and they cannot drift apart.

Each row cites where the limit is documented: the ECS API reference page of the operation or data type
(the same text botocore's ECS model carries as documentation), the service-quotas page "Amazon ECS
service quotas", or the developer guide. Messages: where users quote ECS's answer, that (source beside
it); else the form ECS uses for a bound of the model ("subnets can have at most 16 items.", "count must
be between 1 and 10."), marked "form, not quoted".
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["items", "characters", "range", "pattern"]


@dataclass(frozen=True)
class RequestLimit:
    """One documented limit: a member of a request (``[]``: each item of a list) and its bound."""

    operations: tuple[str, ...]
    path: str
    kind: Kind
    ecs_message: str
    source: str
    low: int | None = None
    high: int | None = None
    pattern: str | None = None
    code: str = "InvalidParameterException"
    # False: documented, but ECS is seen to accept requests that break it. The provider keeps to the
    # documentation for what it sends; the emulator does not refuse what ECS accepts (the row says why).
    ecs_enforces: bool = True

    def broken_by(self, value: Any) -> bool:
        if self.kind in ("items", "characters"):
            if not isinstance(value, list if self.kind == "items" else str):
                return False
            size = len(value)
        elif self.kind == "range":
            if isinstance(value, bool) or not isinstance(value, int):
                return False
            size = value
        else:
            return isinstance(value, str) and self.pattern is not None and re.fullmatch(self.pattern, value) is None
        return (self.low is not None and size < self.low) or (self.high is not None and size > self.high)

    @property
    def allowed(self) -> str:
        """What the limit allows, in words (for the provider's messages)."""
        if self.kind == "pattern":
            return f"must match {self.pattern}"
        unit = {"items": " items", "characters": " characters", "range": ""}[self.kind]
        if self.low is not None and self.high is not None:
            return f"must have {self.low}-{self.high}{unit}" if unit else f"must be {self.low}-{self.high}"
        if self.high is not None:
            return f"must have at most {self.high}{unit}" if unit else f"must be at most {self.high}"
        return f"must have at least {self.low}{unit}" if unit else f"must be {self.low} or more"


_NAME = r"[A-Za-z0-9_-]+"
_AWSVPC = "networkConfiguration.awsvpcConfiguration"
_NETWORKED = ("RunTask", "CreateService", "UpdateService")
_TAGGED = ("RunTask", "CreateService", "RegisterTaskDefinition", "CreateCluster", "TagResource")
_TAG_SOURCE = "ECS API reference, data type Tag (maximum 50 tags per resource, key 1-128, value 0-256 characters)"
# The characters ECS allows in tag keys and values: botocore's ECS model (2014-11-13), shapes TagKey and
# TagValue, pattern ([\p{L}\p{Z}\p{N}_.:/=+\-@]*): letters, separators (spaces), numbers and those six. Python's
# re has no \p{...}: \w (letters, numbers, _) and \s stand for them.
TAG_PATTERN = r"[\w\s.:/=+@-]*"
_TAG_PATTERN_SOURCE = (
    "ECS API reference, data type Tag; botocore's ECS model, shapes TagKey/TagValue: pattern "
    "([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*) (form, not quoted)"
)

REQUEST_LIMITS: tuple[RequestLimit, ...] = (
    RequestLimit(
        ("RunTask",),
        "count",
        "range",
        "count must be between 1 and 10.",
        "ECS API reference, RunTask: count, 'You can specify up to 10 tasks for each call'; service quotas page "
        "'Amazon ECS service quotas': tasks launched (count) per run-task, 10 (form, not quoted)",
        low=1,
        high=10,
    ),
    RequestLimit(
        ("RunTask",),
        "startedBy",
        "characters",
        "startedBy can have at most 128 characters.",
        "ECS API reference, RunTask: startedBy, 'Up to 128 letters (uppercase and lowercase), numbers, hyphens (-), "
        "forward slash (/), and underscores (_) are allowed' (StartTask's is 36) (form, not quoted)",
        high=128,
    ),
    RequestLimit(
        ("RunTask",),
        "startedBy",
        "pattern",
        "startedBy may contain only letters, numbers, hyphens (-), forward slashes (/) and underscores (_).",
        "ECS API reference, RunTask: startedBy (the allowed characters; wording ours, none quoted). Not enforced "
        "by ECS as documented: fabfuel/ecs-deploy's `ecs run` has sent startedBy 'ECS Deploy' (a space) since its "
        "run command (PR #9), on Fargate since PR #99, with no report of a refusal "
        "(tests/emulator/test_ecs_deploy_cli.py runs it against the emulator)",
        pattern=r"[A-Za-z0-9/_-]*",
        ecs_enforces=False,
    ),
    RequestLimit(
        ("RunTask",),
        "group",
        "characters",
        "group can have at most 255 characters.",
        "ECS developer guide 'Group related Amazon ECS tasks' (docs.aws.amazon.com/AmazonECS/latest/developerguide/"
        "task-groups.html): 'A task group name must be 255 or fewer characters' (form, not quoted)",
        high=255,
    ),
    RequestLimit(_TAGGED, "tags", "items", "tags can have at most 50 items.", _TAG_SOURCE, high=50),
    RequestLimit(_TAGGED, "tags[].key", "characters", "key can have at most 128 characters.", _TAG_SOURCE, 1, 128),
    RequestLimit(_TAGGED, "tags[].value", "characters", "value can have at most 256 characters.", _TAG_SOURCE, 0, 256),
    RequestLimit(
        _TAGGED,
        "tags[].key",
        "pattern",
        "key may contain only letters, numbers, spaces and _ . : / = + - @.",
        _TAG_PATTERN_SOURCE,
        pattern=TAG_PATTERN,
    ),
    RequestLimit(
        _TAGGED,
        "tags[].value",
        "pattern",
        "value may contain only letters, numbers, spaces and _ . : / = + - @.",
        _TAG_PATTERN_SOURCE,
        pattern=TAG_PATTERN,
    ),
    RequestLimit(
        ("RegisterTaskDefinition",),
        "containerDefinitions",
        "items",
        "Container list cannot be empty.",
        "ECS API reference, RegisterTaskDefinition: containerDefinitions (required); ECS's ClientException as "
        "users quote it: awsdocs/aws-cloudformation-user-guide#454",
        low=1,
        code="ClientException",
    ),
    RequestLimit(
        ("RegisterTaskDefinition",),
        "containerDefinitions",
        "items",
        "Too many containers.",
        "service quotas page 'Amazon ECS service quotas': containers per task definition, 10 (not adjustable); "
        "ECS's ClientException as users quote it: aws/amazon-ecs-cli#184, aws/amazon-ecs-cli#951",
        high=10,
        code="ClientException",
    ),
    RequestLimit(
        ("RegisterTaskDefinition",),
        "family",
        "characters",
        "family can have at most 255 characters.",
        "ECS API reference, RegisterTaskDefinition: family, 'Up to 255 letters (uppercase and lowercase), numbers, "
        "underscores, and hyphens are allowed' (form, not quoted)",
        high=255,
        code="ClientException",
    ),
    RequestLimit(
        ("RegisterTaskDefinition",),
        "family",
        "pattern",
        "family may contain only letters, numbers, underscores and hyphens.",
        "ECS API reference, RegisterTaskDefinition: family (the allowed characters; wording ours, none quoted)",
        pattern=_NAME,
        code="ClientException",
    ),
    *(
        RequestLimit(
            ("RunTask",),
            f"overrides.containerOverrides[].{member}",
            "range",
            f"{member} must be greater than or equal to 0.",
            f"ECS API reference, data type ContainerOverride: {member}, an integer amount "
            "(MiB or CPU units) of the container; no negative amount (wording ours, none quoted)",
            low=0,
        )
        for member in ("cpu", "memory", "memoryReservation")
    ),
    RequestLimit(
        _NETWORKED,
        f"{_AWSVPC}.subnets",
        "items",
        "subnets can have at most 16 items.",
        "ECS API reference, data type AwsVpcConfiguration: subnets, 'There's a limit of 16 subnets'; ECS's "
        "answer as users quote it: opensearch-project/opensearch-migrations#1430, docker-archive/compose-cli#996",
        high=16,
    ),
    RequestLimit(
        _NETWORKED,
        f"{_AWSVPC}.securityGroups",
        "items",
        "securityGroups can have at most 5 items.",
        "ECS API reference, data type AwsVpcConfiguration: securityGroups, 'There's a limit of 5 security groups' "
        "(form, not quoted)",
        high=5,
    ),
    RequestLimit(
        ("CreateService",),
        "serviceName",
        "characters",
        "serviceName can have at most 255 characters.",
        "ECS API reference, CreateService: serviceName, 'Up to 255 letters (uppercase and lowercase), numbers, "
        "underscores, and hyphens are allowed' (form, not quoted)",
        high=255,
    ),
    RequestLimit(
        ("CreateService",),
        "serviceName",
        "pattern",
        "serviceName may contain only letters, numbers, underscores and hyphens.",
        "ECS API reference, CreateService: serviceName (the allowed characters; wording ours, none quoted)",
        pattern=_NAME,
    ),
    RequestLimit(
        ("CreateService", "UpdateService"),
        "desiredCount",
        "range",
        "desiredCount must be greater than or equal to 0.",
        "ECS API reference, CreateService/UpdateService: desiredCount, the number of tasks to keep running "
        "(wording ours, none quoted); at most 5,000 per service is validation.MAX_TASKS_PER_SERVICE's quota",
        low=0,
    ),
)


# The provider's argument each request member comes from (for its messages: the field it names).
PROVIDER_ARGUMENTS: Mapping[str, str] = {
    "startedBy": "started_by",
    f"{_AWSVPC}.subnets": "subnets",
    f"{_AWSVPC}.securityGroups": "security_groups",
    "serviceName": "service_name",
    "desiredCount": "desired_count",
}


def _values(value: Any, parts: list[str], where: str) -> Iterator[tuple[str, Any]]:
    if not parts:
        yield where, value
        return
    part, rest = parts[0], parts[1:]
    each = part.endswith("[]")
    key = part[:-2] if each else part
    if not isinstance(value, Mapping) or value.get(key) is None:
        return
    item, here = value[key], f"{where}.{key}" if where else key
    if not each:
        yield from _values(item, rest, here)
    elif isinstance(item, list):
        for index, element in enumerate(item):
            yield from _values(element, rest, f"{here}[{index}]")


def broken_limits(
    operation: str, request: Mapping[str, Any], *, as_ecs: bool = False
) -> list[tuple[str, RequestLimit]]:
    """(member path, limit) for every row of the table ``request`` to ``operation`` breaks, in table order;
    ``as_ecs``: only the rows ECS is seen to enforce (the emulator's view)."""
    broken = []
    for limit in REQUEST_LIMITS:
        if operation in limit.operations and (limit.ecs_enforces or not as_ecs):
            for where, value in _values(request, limit.path.split("."), ""):
                if limit.broken_by(value):
                    broken.append((where, limit))
    return broken
