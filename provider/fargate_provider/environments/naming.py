"""What an environment's resources are called and tagged.

An environment named ``review-42`` is the cluster ``env-review-42``, the service
``review-42`` in it and the task definition family ``env-review-42``, each tagged
``fargate-environment=review-42`` and ``fargate-expires-at=<UTC time>`` besides the provider's
``managed-by`` tags. Same name, same resources: a second create updates the environment.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from fargate_rules.input_errors import InputError

DAG_ID = "fargate_ephemeral_environment"
ENVIRONMENT_TAG = "fargate-environment"
EXPIRES_AT_TAG = "fargate-expires-at"
LEFT_ALONE_TAG = "fargate-janitor-left-alone-since"
# Where people open the environment (space-separated), set on the cluster by the report task.
URL_TAG = "fargate-url"
MAX_TAG_VALUE = 256  # ECS: tag values are at most 256 characters


def url_tag_value(urls: list[str]) -> str:
    """As many whole URLs as fit in one tag value."""
    kept: list[str] = []
    for url in urls:
        if len(" ".join([*kept, url])) > MAX_TAG_VALUE:
            break
        kept.append(url)
    return " ".join(kept)


ACTIONS = ("create", "destroy")
NAME_PATTERN = r"^[a-z][a-z0-9-]{0,28}[a-z0-9]$"
ENV_VAR_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
MAX_TTL_HOURS = 168
CONTAINER_NAME = "app"
CLUSTER_PREFIX = "env-"


class EnvironmentSpecError(InputError):
    """Form input that cannot describe an environment; the message names the field."""


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


def environment_tags(environment: str, ttl_hours: Any, now: dt.datetime) -> dict[str, str]:
    """The environment's own tags; the expiry is reset by every create."""
    if isinstance(ttl_hours, bool) or not isinstance(ttl_hours, (int, float)) or not 1 <= ttl_hours <= MAX_TTL_HOURS:
        raise EnvironmentSpecError(f"ttl_hours: must be a number of hours from 1 to {MAX_TTL_HOURS}, got {ttl_hours!r}")
    expires = (now + dt.timedelta(hours=ttl_hours)).astimezone(dt.UTC).replace(microsecond=0)
    return {ENVIRONMENT_TAG: environment, EXPIRES_AT_TAG: expires.strftime("%Y-%m-%dT%H:%M:%SZ")}


def expires_at(tags: Mapping[str, str]) -> dt.datetime | None:
    value = tags.get(EXPIRES_AT_TAG)
    try:
        return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC) if value else None
    except ValueError:
        return None
