"""What an environment's resources are called and tagged.

An environment named ``review-42`` is the cluster ``env-review-42``, the service
``review-42`` in it and the task definition family ``env-review-42``, each tagged
``fargate-environment=review-42`` and ``fargate-expires-at=<UTC time>`` besides the provider's
``managed-by`` tags. Same name, same resources: a second create updates the environment.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from fargate_rules.input_errors import InputError
from fargate_rules.load_balancer_quotas import CONDITION_VALUES_PER_RULE
from fargate_rules.request_limits import TAG_PATTERN

DAG_ID = "fargate_ephemeral_environment"
#: The create's task after which the environment is up and healthy and its run changes nothing more
#: (the teardown steps after it act only when a create step failed): ``fargate-env up --wait`` is
#: done and the environment's turn free once it succeeded.
READY_TASK_ID = "report"
ENVIRONMENT_TAG = "fargate-environment"
EXPIRES_AT_TAG = "fargate-expires-at"
LEFT_ALONE_TAG = "fargate-janitor-left-alone-since"
# Where people open the environment (space-separated), set on the cluster by the report task.
URL_TAG = "fargate-url"
# Who and what: set by every create (the page shows them, filters by owner and links the run).
OWNER_TAG = "fargate-owner"  # the Airflow user who triggered the run, or the form's owner
SOURCE_TAG = "fargate-source"  # e.g. a pull request URL and commit
IMAGE_TAG = "fargate-image"
RUN_TAG = "fargate-last-run"  # the DAG run that last changed the environment (its run id)
# Sleep: when the environment went to sleep and how many tasks it had then (wake restores them).
ASLEEP_SINCE_TAG = "fargate-asleep-since"
AWAKE_COUNT_TAG = "fargate-awake-count"
MAX_TAG_VALUE = 256  # ECS: tag values are at most 256 characters
# What a tag value may hold (ECS's pattern, as the rules table has it), for the form's fields.
TAG_VALUE_PATTERN = f"^{TAG_PATTERN}$"


def url_tag_value(urls: list[str]) -> str:
    """As many whole URLs as fit in one tag value."""
    kept: list[str] = []
    for url in urls:
        if len(" ".join([*kept, url])) > MAX_TAG_VALUE:
            break
        kept.append(url)
    return " ".join(kept)


ACTIONS = ("create", "destroy", "sleep", "wake")
NAME_PATTERN = r"^[a-z][a-z0-9-]{0,28}[a-z0-9]$"
ENV_VAR_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
MAX_TTL_HOURS = 168
CONTAINER_NAME = "app"
CLUSTER_PREFIX = "env-"


class EnvironmentSpecError(InputError):
    """Form input that cannot describe an environment; the message names the field."""


# Behind the load balancer, the addresses an environment is open to: a source-ip condition beside the
# host-header one, within ELB's condition values per rule (fargate_rules.load_balancer_quotas), so 4 blocks.
MAX_ALLOWED_CIDRS = CONDITION_VALUES_PER_RULE - 1
CIDR_PATTERN = r"^[0-9A-Fa-f:.]+/[0-9]{1,3}$"


def allowed_cidrs(value: Any) -> list[str] | None:
    """The form's ``allowed_cidrs``: None (open to all) or up to MAX_ALLOWED_CIDRS CIDR blocks."""
    if value is None or value == []:
        return None
    if not isinstance(value, list) or len(value) > MAX_ALLOWED_CIDRS:
        raise EnvironmentSpecError(
            f"allowed_cidrs: give at most {MAX_ALLOWED_CIDRS} CIDR blocks "
            f"(ELB allows {CONDITION_VALUES_PER_RULE} condition values per rule, "
            f"and the host name takes one), got {value!r}"
        )
    for block in value:
        try:
            ipaddress.ip_network(block, strict=True)
        except (TypeError, ValueError) as error:
            raise EnvironmentSpecError(
                f"allowed_cidrs: {block!r} is not a CIDR block such as 203.0.113.0/24 or 2001:db8::/32 ({error})"
            ) from None
    return list(value)


@dataclass(frozen=True)
class EnvironmentNames:
    environment: str
    cluster: str
    service: str
    family: str
    log_group: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


EXPOSE_AUTO = "auto"
HEALTHY_CODES_PATTERN = r"^[0-9]{3}(-[0-9]{3})?(,[0-9]{3}(-[0-9]{3})?)*$"


def names(environment: Any) -> EnvironmentNames:
    if not isinstance(environment, str) or not re.fullmatch(NAME_PATTERN, environment):
        raise EnvironmentSpecError(
            f"environment: {environment!r} is not allowed; use 2-30 lower-case letters, digits and hyphens, "
            "starting with a letter and not ending with a hyphen"
        )
    return EnvironmentNames(
        environment=environment,
        cluster=f"{CLUSTER_PREFIX}{environment}",
        service=environment,
        family=f"{CLUSTER_PREFIX}{environment}",
        log_group=f"/airflow/fargate/environments/{environment}",
    )


def tag_value(field: str, value: Any) -> str:
    """A form value that becomes a tag value: ECS's characters and length, or an error naming the field."""
    if not isinstance(value, str) or len(value) > MAX_TAG_VALUE or not re.fullmatch(TAG_PATTERN, value):
        raise EnvironmentSpecError(
            f"{field}: {value!r} is not allowed; at most {MAX_TAG_VALUE} letters, digits, spaces and _ . : / = + - @ "
            "(it becomes an AWS tag value)"
        )
    return value


def run_id_for(action: str, environment: str, now: dt.datetime) -> str:
    """``create-pr-42-20261207T031100123456Z``: a run id that says what the run does (fargate-env and
    the environments page trigger runs with it)."""
    return f"{action}-{environment}-{now.astimezone(dt.UTC).strftime('%Y%m%dT%H%M%S%fZ')}"


def environment_tags(
    environment: str,
    ttl_hours: Any,
    now: dt.datetime,
    *,
    owner: str | None = None,
    source: str | None = None,
    image: str | None = None,
    run_id: str | None = None,
) -> dict[str, str]:
    """The environment's own tags; the expiry is reset by every create, and so are who made it,
    from what, with which image and in which run (each only when given)."""
    if isinstance(ttl_hours, bool) or not isinstance(ttl_hours, (int, float)) or not 1 <= ttl_hours <= MAX_TTL_HOURS:
        raise EnvironmentSpecError(f"ttl_hours: must be a number of hours from 1 to {MAX_TTL_HOURS}, got {ttl_hours!r}")
    expires = (now + dt.timedelta(hours=ttl_hours)).astimezone(dt.UTC).replace(microsecond=0)
    tags = {ENVIRONMENT_TAG: environment, EXPIRES_AT_TAG: expires.strftime("%Y-%m-%dT%H:%M:%SZ")}
    for key, field, value in (
        (OWNER_TAG, "owner", owner),
        (SOURCE_TAG, "source", source),
        (IMAGE_TAG, "image", image),
        (RUN_TAG, "run_id", run_id),
    ):
        if value:
            tags[key] = tag_value(field, value)
    return tags


def expires_at(tags: Mapping[str, str]) -> dt.datetime | None:
    value = tags.get(EXPIRES_AT_TAG)
    try:
        return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC) if value else None
    except ValueError:
        return None
