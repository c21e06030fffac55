"""Sleep and wake: an environment that nobody uses runs no tasks and costs nothing, and comes back as it was.

Sleep records on the environment's cluster when it fell asleep and how many tasks it had
(``fargate-asleep-since``, ``fargate-awake-count``), points its load balancer rule at a fixed
"asleep" answer (its route, target group and URL are kept), and the DAG then scales the service to
0. Wake scales it back to the recorded count, waits until it is stable (behind the load balancer:
every target healthy), then points the rule at the target group again and removes the two tags.

Only an environment that is ours is touched (its cluster and service carry the provider's
``managed-by`` tag and ``fargate-environment=NAME``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from fargate_provider.environments import exposure
from fargate_provider.environments.lifetime import EXPIRY_FORMAT, own_cluster
from fargate_provider.environments.naming import ASLEEP_SINCE_TAG, AWAKE_COUNT_TAG, ENVIRONMENT_TAG
from fargate_provider.exceptions import NotOursError
from fargate_provider.utils.tags import from_ecs_tags, is_managed

MAX_AWAKE_COUNT = 10  # the form's maximum of tasks


def _own_service(hook: Any, environment: str) -> tuple[Any, dict[str, Any], dict[str, Any], dict[str, str]]:
    env, cluster, tags = own_cluster(hook, environment)
    services = hook.conn.describe_services(cluster=env.cluster, services=[env.service], include=["TAGS"])["services"]
    service = next((s for s in services if s.get("status") == "ACTIVE"), None)
    if service is None:
        raise NotOursError(f"environment {environment}: cluster {env.cluster} has no ACTIVE service {env.service}")
    service_tags = from_ecs_tags(service.get("tags"))
    if not is_managed(service_tags) or service_tags.get(ENVIRONMENT_TAG) != environment:
        raise NotOursError(f"service {env.service} in {env.cluster} is not environment {environment}'s; left as it is")
    return env, cluster, service, tags


def put_to_sleep(
    hook: Any, *, aws_conn_id: str, environment: str, listener_arn: str | None, now: dt.datetime
) -> dict[str, Any]:
    """Record the task count, answer "asleep" at the load balancer; the caller then scales to 0.
    Asleep already: nothing changes (the recorded count stays)."""
    env, cluster, service, tags = _own_service(hook, environment)
    if tags.get(ASLEEP_SINCE_TAG):
        count = awake_count(tags)
        print(f"{environment} has been asleep since {tags[ASLEEP_SINCE_TAG]}; it wakes with {count} task(s)")
    else:
        count = min(max(int(service["desiredCount"]), 1), MAX_AWAKE_COUNT)
        since = now.astimezone(dt.UTC).strftime(EXPIRY_FORMAT)
        hook.tag_resource(cluster["clusterArn"], {ASLEEP_SINCE_TAG: since, AWAKE_COUNT_TAG: str(count)})
    rules = exposure.set_route_asleep(
        aws_conn_id=aws_conn_id, environment=environment, asleep=True, listener_arn=listener_arn
    )
    return {"cluster": env.cluster, "service": env.service, "awake_count": count, "rules": rules}


def awake_count(tags: dict[str, str]) -> int:
    """The task count a sleeping environment wakes with (1 if its tag is missing or garbled)."""
    try:
        return min(max(int(tags.get(AWAKE_COUNT_TAG, "1")), 1), MAX_AWAKE_COUNT)
    except ValueError:
        return 1


def prepare_wake(hook: Any, *, environment: str) -> dict[str, Any]:
    """What wake scales the service to (the count recorded at sleep; an environment that is not
    asleep keeps its count)."""
    env, _, service, tags = _own_service(hook, environment)
    count = awake_count(tags) if tags.get(ASLEEP_SINCE_TAG) else max(int(service["desiredCount"]), 1)
    return {"cluster": env.cluster, "service": env.service, "desired_count": count}


def finish_wake(hook: Any, *, aws_conn_id: str, environment: str, listener_arn: str | None) -> dict[str, Any]:
    """After the service is stable again: the load balancer forwards again, the sleep tags go."""
    _, cluster, _, tags = _own_service(hook, environment)
    rules = exposure.set_route_asleep(
        aws_conn_id=aws_conn_id, environment=environment, asleep=False, listener_arn=listener_arn
    )
    if tags.get(ASLEEP_SINCE_TAG) or tags.get(AWAKE_COUNT_TAG):
        hook.untag_resource(cluster["clusterArn"], [ASLEEP_SINCE_TAG, AWAKE_COUNT_TAG])
    return {"environment": environment, "rules": rules, "asleep_since": tags.get(ASLEEP_SINCE_TAG)}


def sleep_outside_awake_hours(
    hook: Any,
    *,
    aws_conn_id: str,
    listener_arn: str | None,
    spec: str | None,
    now: dt.datetime,
    changing: Callable[[str], str | None] = lambda name: None,
) -> dict[str, Any]:
    """The janitor's part: outside the awake hours (``awake_hours.parse(spec)``), every awake environment
    that is ours and not expired goes to sleep (its count recorded, its rule answering "asleep", its
    service scaled to 0 without waiting); the task-hours saved until the window opens again.
    An environment a run is changing now (``changing(name)`` names that run) is left for the next round."""
    from fargate_provider.environments import awake_hours
    from fargate_provider.environments.discovery import managed_environment_clusters
    from fargate_provider.environments.lifetime import EnvironmentNotFoundError
    from fargate_provider.environments.naming import expires_at

    hours = awake_hours.parse(spec)
    if hours is None:
        return {"awake_hours": None, "slept": [], "task_hours_saved": 0.0}
    if hours.awake(now):
        return {"awake_hours": hours.text, "slept": [], "task_hours_saved": 0.0}
    until = hours.next_start(now)
    slept, left, task_hours = [], [], 0.0
    for cluster in managed_environment_clusters(hook):
        tags = cluster["tags"]
        expiry = expires_at(tags)
        if tags.get(ASLEEP_SINCE_TAG) or (expiry is not None and expiry <= now):
            continue  # asleep already, or the janitor's delete takes it
        name = tags[ENVIRONMENT_TAG]
        run = changing(name)
        if run:
            left.append(f"{name}: run {run} is changing it (next round)")
            continue
        try:
            done = put_to_sleep(hook, aws_conn_id=aws_conn_id, environment=name, listener_arn=listener_arn, now=now)
            hook.update_service(done["cluster"], done["service"], desiredCount=0)
        except (NotOursError, EnvironmentNotFoundError, ValueError) as err:
            left.append(f"{name}: {err}")
            continue
        slept.append(name)
        task_hours += done["awake_count"] * (until - now).total_seconds() / 3600
    return {
        "awake_hours": hours.text,
        "until": until.strftime(EXPIRY_FORMAT),
        "slept": slept,
        "left_awake": left,
        "task_hours_saved": round(task_hours, 1),
    }
