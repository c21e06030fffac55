"""An environment's time-to-live after it was created: Extend (+N hours) and Keep until (a date),
as the environments page offers them.

The expiry is the ``fargate-expires-at`` tag of the environment's cluster (what the janitor
reads) and of its service. Both bounds are the form's: at most ``MAX_TTL_HOURS`` from now.
Only an environment that is ours is changed: its cluster must carry the provider's
``managed-by`` tag and ``fargate-environment=NAME``, and the service is retagged only if it
carries them too.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fargate_provider.environments.naming import (
    ENVIRONMENT_TAG,
    EXPIRES_AT_TAG,
    MAX_TTL_HOURS,
    EnvironmentNames,
    EnvironmentSpecError,
    expires_at,
    names,
)
from fargate_provider.exceptions import NotOursError
from fargate_provider.utils.tags import from_ecs_tags, is_managed

EXPIRY_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


class EnvironmentNotFoundError(LookupError):
    """No ACTIVE cluster of that environment's name."""


def extended_expiry(current: dt.datetime | None, hours: Any, now: dt.datetime) -> dt.datetime:
    """``hours`` more than the current expiry (or than now, if it has passed), at most
    ``MAX_TTL_HOURS`` from now."""
    if isinstance(hours, bool) or not isinstance(hours, int) or not 1 <= hours <= MAX_TTL_HOURS:
        raise EnvironmentSpecError(f"hours: must be a whole number of hours from 1 to {MAX_TTL_HOURS}, got {hours!r}")
    start = max(current, now) if current else now
    return _bounded(start + dt.timedelta(hours=hours), now, "hours")


def kept_until(until: Any, now: dt.datetime) -> dt.datetime:
    """The expiry for "keep until": an ISO 8601 time with its zone (``2026-12-01T18:00:00Z``,
    ``…+01:00``) or a date (the end of that day, UTC), later than now and at most
    ``MAX_TTL_HOURS`` from now."""
    if not isinstance(until, str) or not until.strip():
        raise EnvironmentSpecError("until: give a time such as 2026-12-01T18:00:00Z or a date such as 2026-12-01")
    text = until.strip()
    try:
        if len(text) == 10:  # a date: keep it through that day
            when = dt.datetime.combine(dt.date.fromisoformat(text), dt.time(23, 59, 59), dt.UTC)
        else:
            when = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise EnvironmentSpecError(
            f"until: {until!r} is not an ISO 8601 time or date (e.g. 2026-12-01T18:00:00Z)"
        ) from None
    if when.tzinfo is None:
        raise EnvironmentSpecError(f"until: {until!r} has no time zone; add Z for UTC or an offset such as +01:00")
    if when <= now:
        raise EnvironmentSpecError(f"until: {until!r} has passed; give a later time")
    return _bounded(when, now, "until")


def _bounded(expiry: dt.datetime, now: dt.datetime, field: str) -> dt.datetime:
    latest = now + dt.timedelta(hours=MAX_TTL_HOURS)
    if expiry > latest + dt.timedelta(seconds=1):
        raise EnvironmentSpecError(
            f"{field}: environments live at most {MAX_TTL_HOURS} hours from now "
            f"(until {latest.strftime(EXPIRY_FORMAT)}); "
            f"{expiry.astimezone(dt.UTC).strftime(EXPIRY_FORMAT)} is later"
        )
    return expiry.astimezone(dt.UTC).replace(microsecond=0)


def own_cluster(hook: Any, environment: str) -> tuple[EnvironmentNames, dict[str, Any], dict[str, str]]:
    """The environment's names, its ACTIVE cluster and the cluster's tags, if the cluster is ours.

    :raises EnvironmentSpecError: a bad name.
    :raises EnvironmentNotFoundError: no ACTIVE cluster of that environment.
    :raises NotOursError: the cluster is not this environment's provider-managed cluster."""
    env = names(environment)
    clusters = hook.conn.describe_clusters(clusters=[env.cluster], include=["TAGS"])["clusters"]
    cluster = next((c for c in clusters if c.get("status") == "ACTIVE"), None)
    if cluster is None:
        raise EnvironmentNotFoundError(f"environment {environment}: no ACTIVE cluster {env.cluster}")
    tags = from_ecs_tags(cluster.get("tags"))
    if not is_managed(tags) or tags.get(ENVIRONMENT_TAG) != environment:
        raise NotOursError(
            f"cluster {env.cluster} is not environment {environment}'s "
            f"(its managed-by or {ENVIRONMENT_TAG} tag differs); left as it is"
        )
    return env, cluster, tags


def set_expiry(hook: Any, environment: str, change: Any, now: dt.datetime) -> dict[str, Any]:
    """Move the environment's expiry with ``change(current expiry) -> new expiry`` (checked
    before any tag is written) and return it. Retags the cluster and, if it is ours, the service.

    :raises EnvironmentSpecError: a bad name, or ``change`` refused the input.
    :raises EnvironmentNotFoundError: no ACTIVE cluster of that environment.
    :raises NotOursError: the cluster is not this environment's provider-managed cluster."""
    env, cluster, tags = own_cluster(hook, environment)
    expiry = change(expires_at(tags))
    value = expiry.strftime(EXPIRY_FORMAT)
    # (The janitor's LEFT_ALONE_TAG, if any, is older than the new expiry: it ignores it then.)
    hook.tag_resource(cluster["clusterArn"], {EXPIRES_AT_TAG: value})
    services = hook.conn.describe_services(cluster=env.cluster, services=[env.service], include=["TAGS"])["services"]
    for service in services:
        service_tags = from_ecs_tags(service.get("tags"))
        if (
            service.get("status") == "ACTIVE"
            and is_managed(service_tags)
            and service_tags.get(ENVIRONMENT_TAG) == environment
        ):
            hook.tag_resource(service["serviceArn"], {EXPIRES_AT_TAG: value})
    return {
        "environment": environment,
        "expires_at": value,
        "previous_expires_at": tags.get(EXPIRES_AT_TAG),
        "ttl_left_seconds": int((expiry - now).total_seconds()),
    }
