"""Finding environments again: the managed clusters that carry an environment's tag, which of
them have expired (the janitor), and what the environments page shows of each."""

from __future__ import annotations

import datetime as dt
import functools
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from fargate_provider.environments.naming import (
    ASLEEP_SINCE_TAG,
    AWAKE_COUNT_TAG,
    ENVIRONMENT_TAG,
    EXPIRES_AT_TAG,
    IMAGE_TAG,
    LEFT_ALONE_TAG,
    OWNER_TAG,
    RUN_TAG,
    SOURCE_TAG,
    URL_TAG,
    EnvironmentNames,
    EnvironmentSpecError,
    expires_at,
    names,
)
from fargate_provider.state.service import target_counts, target_group_arns
from fargate_provider.utils.batching import DESCRIBE_CLUSTERS_BATCH, batched
from fargate_provider.utils.tags import from_ecs_tags, is_managed


def managed_environment_clusters(hook: Any) -> list[dict[str, Any]]:
    """ACTIVE clusters tagged managed-by=airflow-provider-fargate and fargate-environment=…
    (ListClusters, then DescribeClusters with tags, 100 a call: the API's limit)."""
    arns = [arn for page in hook.conn.get_paginator("list_clusters").paginate() for arn in page["clusterArns"]]
    found = []
    for batch in batched(arns, DESCRIBE_CLUSTERS_BATCH):
        for cluster in hook.conn.describe_clusters(clusters=batch, include=["TAGS"])["clusters"]:
            tags = from_ecs_tags(cluster.get("tags"))
            if cluster.get("status") == "ACTIVE" and is_managed(tags) and tags.get(ENVIRONMENT_TAG):
                found.append({**cluster, "tags": tags})
    return found


@dataclass(frozen=True)
class LeftAlone:
    """An expired environment the janitor cannot destroy, and since when it has said so (the
    cluster's LEFT_ALONE_TAG), so that it warns once and not every hour."""

    cluster: str
    cluster_arn: str
    reason: str
    since: str | None = None

    def __str__(self) -> str:
        return self.reason


def expired_environments(hook: Any, now: dt.datetime) -> tuple[list[EnvironmentNames], list[LeftAlone | str]]:
    """Environments whose TTL has passed and whose cluster holds only managed services; and,
    for the log, why other expired ones are left alone."""
    expired: list[EnvironmentNames] = []
    left_alone: list[LeftAlone | str] = []
    for cluster in managed_environment_clusters(hook):
        tags = cluster["tags"]
        expiry = expires_at(tags)
        if expiry is None or expiry > now:
            continue
        try:
            env = names(tags[ENVIRONMENT_TAG])
        except EnvironmentSpecError:
            left_alone.append(
                f"{cluster['clusterName']}: its {ENVIRONMENT_TAG} tag {tags[ENVIRONMENT_TAG]!r} "
                "is not an environment name"
            )
            continue
        if env.cluster != cluster["clusterName"]:
            left_alone.append(
                f"{cluster['clusterName']}: tagged {ENVIRONMENT_TAG}={env.environment} but not named {env.cluster}"
            )
            continue
        services = hook.describe_services(env.cluster, hook.list_services(env.cluster))
        foreign = [s["serviceName"] for s in services if s["status"] != "INACTIVE" and not is_managed(s.get("tags"))]
        # Standalone tasks (not a service's): someone else's keep the cluster alive too.
        foreign_tasks = [
            t["taskArn"].rsplit("/", 1)[-1] for t in hook.standalone_tasks(env.cluster) if not is_managed(t.get("tags"))
        ]
        if foreign or foreign_tasks:
            what = " and ".join(
                part
                for part in (
                    foreign and f"services not managed by the provider {foreign}",
                    foreign_tasks and f"tasks not managed by the provider {foreign_tasks}",
                )
                if part
            )
            # A note from before the expiry last moved (Extend, Keep until) is about another expiry.
            since = tags.get(LEFT_ALONE_TAG)
            since = since if since and since >= tags.get(EXPIRES_AT_TAG, "") else None
            left_alone.append(LeftAlone(env.cluster, cluster["clusterArn"], f"{env.cluster}: holds {what}", since))
            continue
        expired.append(env)
    return expired, left_alone


def describe_environments(hook: Any, now: dt.datetime, wait: float | None = None) -> list[dict[str, Any]]:
    """What the environments page shows: each managed environment with its service, tasks,
    age, TTL left and estimated cost so far (``environments.cost``: the larger of the service's
    deployment history and the tasks ECS still lists, read again only when the service changed).

    Calls: ListClusters and DescribeClusters (100 a call) for all of them; DescribeServices for an
    environment whose cluster changed (task counts, tags) or was last read SERVICE_MAX_AGE seconds
    ago or more, READ_WORKERS at a time; the cost's own reads only for a service seen for the first
    time or changed since, READ_WORKERS at a time.

    :param wait: seconds to wait for the services and costs still to be read (None: until all
        are). An entry whose service is still being read has ``service_pending`` true (its task
        counts are the cluster's, one service a cluster); one whose cost is, ``cost_pending``. The
        reads go on, once however many listings ask, and a later call finds them (the page asks
        again while any is pending): a page over hundreds of environments it has not seen answers
        at once instead of after every service and its history are read.
    """
    region = hook.region_name or hook.conn_region_name
    deadline = None if wait is None else time.monotonic() + wait
    clusters = managed_environment_clusters(hook)
    services = [(cluster, _service_read(hook, cluster)) for cluster in clusters]
    _wait_until([read for _, read in services], deadline)
    found = [_environment_entry(cluster, now, read.result() if read.done() else None) for cluster, read in services]
    _fill_costs(hook, found, region, now, deadline)
    return sorted((entry for entry, _ in found), key=lambda e: e["environment"])


class _BackgroundReads:
    """Reads in threads of the process, ``workers`` at a time, one per key however many listings
    ask for it meanwhile (the key says what is read: a cluster as it looks, a service's state)."""

    def __init__(self, workers: int, name: str):
        self.workers, self.name = workers, name
        self._reads: dict[Any, Future[Any]] = {}
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    def read(self, key: Any, function: Any, *args: Any, **kwargs: Any) -> Future[Any]:
        with self._lock:
            read = self._reads.get(key)
            if read is None:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix=self.name)
                read = self._reads[key] = self._pool.submit(function, *args, **kwargs)
                read.add_done_callback(functools.partial(self._forget, key))
            return read

    def _forget(self, key: Any, _: Future[Any]) -> None:
        with self._lock:
            self._reads.pop(key, None)


def _wait_until(reads: list[Future[Any]], deadline: float | None) -> None:
    wait(reads, timeout=None if deadline is None else max(deadline - time.monotonic(), 0.0))


# Services and costs being read: READ_WORKERS at a time each, in the process (the API server's).
READ_WORKERS = 4
_SERVICE_READS = _BackgroundReads(READ_WORKERS, "environment-service")
_COST_READS = _BackgroundReads(READ_WORKERS, "environment-cost")


def _fill_costs(
    hook: Any,
    found: list[tuple[dict[str, Any], dict[str, Any] | None]],
    region: str,
    now: dt.datetime,
    deadline: float | None,
) -> None:
    """Each entry's ``estimated_cost_usd`` and ``cost_note`` from its service (see describe_environments)."""
    from fargate_provider.environments.cost import cached_service_cost, known_service_cost, service_state
    from fargate_provider.utils.pricing import PriceNotKnown

    reads: list[tuple[dict[str, Any], Future[Any]]] = []
    for entry, service in found:
        if entry["service_pending"]:
            entry["cost_pending"] = True
            entry["cost_note"] = "being estimated: reading the service"
            continue
        if service is None:
            continue
        known = known_service_cost(service, now=now)
        if known is not None:
            entry["estimated_cost_usd"], entry["cost_note"] = known.usd, known.note
            continue
        key = (service["serviceArn"], service_state(service))
        read = _COST_READS.read(key, cached_service_cost, hook, entry["cluster"], service, region=region, now=now)
        reads.append((entry, read))
    _wait_until([read for _, read in reads], deadline)
    for entry, read in reads:
        if not read.done():
            entry["cost_pending"] = True
            entry["cost_note"] = "being estimated: reading the service's deployment history"
            continue
        try:
            estimate = read.result()
            entry["estimated_cost_usd"], entry["cost_note"] = estimate.usd, estimate.note
        except PriceNotKnown as err:
            entry["cost_note"] = f"not estimated: {err}"


# The service each cluster showed, while the cluster looks the same: its task counts and its tags
# (every create, sleep and wake of the DAG retags it) unchanged, and for at most SERVICE_MAX_AGE seconds
# (a change made outside the DAGs shows within that). By cluster ARN: (what the cluster looked like,
# when the service was read, the service and its targets' health).
SERVICE_MAX_AGE = 60.0
_SERVICES: dict[str, tuple[tuple[Any, ...], float, tuple[dict[str, Any] | None, dict[str, int] | None]]] = {}
_SERVICES_LOCK = threading.Lock()


def _cluster_look(cluster: dict[str, Any]) -> tuple[Any, ...]:
    counts = ("runningTasksCount", "pendingTasksCount", "activeServicesCount")
    return (*(cluster.get(c) for c in counts), tuple(sorted(cluster["tags"].items())))


def _service_read(hook: Any, cluster: dict[str, Any]) -> Future[tuple[dict[str, Any] | None, dict[str, int] | None]]:
    """The environment's service and its targets' health (see ``_read_service``): what was read
    before while its cluster looks the same (at most SERVICE_MAX_AGE seconds ago), else a read in
    the background."""
    look = _cluster_look(cluster)
    with _SERVICES_LOCK:
        cached = _SERVICES.get(cluster["clusterArn"])
    if cached is not None and cached[0] == look and time.monotonic() - cached[1] < SERVICE_MAX_AGE:
        done: Future[tuple[dict[str, Any] | None, dict[str, int] | None]] = Future()
        done.set_result(cached[2])
        return done
    return _SERVICE_READS.read((cluster["clusterArn"], look), _read_service, hook, cluster, look)


def _read_service(
    hook: Any, cluster: dict[str, Any], look: tuple[Any, ...]
) -> tuple[dict[str, Any] | None, dict[str, int] | None]:
    """The environment's service (DescribeServices: its name is the environment's) and, behind a
    load balancer, its targets' health (DescribeTargetHealth: healthy and all targets)."""
    try:
        services = hook.describe_services(cluster["clusterName"], [names(cluster["tags"][ENVIRONMENT_TAG]).service])
    except EnvironmentSpecError:  # a tag that is no environment name: listed, with no service
        services = []
    service = next((s for s in services if s["status"] != "INACTIVE" and is_managed(s.get("tags"))), None)
    groups = target_group_arns(service)
    targets = target_counts(hook.describe_target_health(groups), groups) if groups else None
    with _SERVICES_LOCK:
        _SERVICES[cluster["clusterArn"]] = (look, time.monotonic(), (service, targets))
    return service, targets


def _environment_entry(
    cluster: dict[str, Any],
    now: dt.datetime,
    read: tuple[dict[str, Any] | None, dict[str, int] | None] | None,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The page's entry for the environment of ``cluster`` (its cost still to fill) and its service;
    ``read``: the service and its targets' health, None while being read."""
    from fargate_rules.arns import name_from_arn

    tags = cluster["tags"]
    service, targets = read or (None, None)
    expiry = expires_at(tags)
    entry: dict[str, Any] = {
        "environment": tags[ENVIRONMENT_TAG],
        "cluster": cluster["clusterName"],
        "service_pending": read is None,
        "service": service["serviceName"] if service else None,
        "task_definition": name_from_arn(service["taskDefinition"]) if service else None,
        "desired_count": service["desiredCount"] if service else None if read is None else 0,
        # While the service is read: the cluster's count (an environment's cluster runs its service only).
        "running_count": service["runningCount"]
        if service
        else cluster.get("runningTasksCount", 0)
        if read is None
        else 0,
        # Behind the load balancer: its targets, healthy and all (None: not behind one).
        "targets_healthy": targets["healthy"] if targets else None,
        "targets_total": targets["total"] if targets else None,
        "created_at": service["createdAt"].isoformat() if service and service.get("createdAt") else None,
        "age_seconds": int((now - service["createdAt"]).total_seconds())
        if service and service.get("createdAt")
        else None,
        "expires_at": tags.get(EXPIRES_AT_TAG),
        "urls": tags.get(URL_TAG, "").split(),
        "owner": tags.get(OWNER_TAG),
        "source": tags.get(SOURCE_TAG),
        "image": tags.get(IMAGE_TAG),
        "last_run_id": tags.get(RUN_TAG),
        "asleep_since": tags.get(ASLEEP_SINCE_TAG),
        "awake_count": int(tags[AWAKE_COUNT_TAG]) if tags.get(AWAKE_COUNT_TAG, "").isdigit() else None,
        "ttl_left_seconds": int((expiry - now).total_seconds()) if expiry else None,
        "estimated_cost_usd": None,
        "cost_note": None,
        "cost_pending": False,
    }
    return entry, service
