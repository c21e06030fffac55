"""An environment's cost so far, for the environments page: from the service's own deployment
history where ECS gives it, and from the tasks ECS still lists.

Two estimates, both priced with ``fargate_provider.utils.pricing`` (on-demand rates of the region
and each task definition's CPU architecture), and the page shows the larger:

- **Listed tasks**: the service's tasks ListTasks still returns, running ones up to now. Exact per
  task, but ECS forgets stopped tasks after about an hour, so it misses whatever ran before.
- **Service history**: ListServiceDeployments, DescribeServiceDeployments and DescribeServiceRevisions
  (ECS keeps 90 days of them, from October 2024 on). See ``history_cost`` for what it counts and
  what it cannot know.

Without permission for the history calls (AccessDeniedException), or where ECS does not offer them,
the page falls back to the listed tasks and says so in the note; it never fails over the estimate.
"""

from __future__ import annotations

import datetime as dt
import functools
import operator
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from fargate_provider.utils.batching import batched
from fargate_provider.utils.pricing import Cost, fargate_cost, task_cost

# DescribeServiceDeployments and DescribeServiceRevisions take at most 20 ARNs a call.
DESCRIBE_HISTORY_BATCH = 20


class HistoryUnavailable(Exception):
    """The service's history cannot be read or priced; the message says why, for the note."""


@dataclass(frozen=True)
class CostEstimate:
    usd: float | None
    note: str


def history_cost(
    deployments: list[dict[str, Any]],
    revisions: Mapping[str, Mapping[str, Any]],
    task_definition: Callable[[str], Mapping[str, Any] | None],
    *,
    region: str,
    until: dt.datetime,
) -> Cost | None:
    """What the service's deployments cost up to ``until`` (now, or the service's deletion).

    Each deployment (as DescribeServiceDeployments describes it) lasts from its ``startedAt`` (or
    ``createdAt`` while still PENDING) until the next deployment started, the last one until
    ``until``. For that time its target revision's task count — the larger of requestedTaskCount and
    runningTaskCount — is priced at the revision's task definition (``revisions``: by ARN, as
    DescribeServiceRevisions describes them; ``task_definition``: ARN -> DescribeTaskDefinition's
    task definition). A deployment the circuit breaker rolled back runs its own revision until the
    rollback started and the revision it rolled back to, at the requested count, from then on.

    An approximation, not a bill: the counts are what the deployments asked for or had running when
    they finished, not each task's own lifetime. It does not see tasks of the old revision that
    overlap a rollout, replacements of crashed tasks, a desired count changed without a new
    deployment, nor history older than ECS keeps (90 days). Each task of a segment is billed
    Fargate's one-minute minimum, as each started task is. None when there are no deployments;
    HistoryUnavailable when a revision or its task definition can no longer be described.
    """
    started = sorted(deployments, key=_start)
    if not started:
        return None
    costs: list[Cost] = []
    for deployment, following in zip(started, [*started[1:], None], strict=True):
        begin = _start(deployment)
        end = _start(following) if following is not None else until
        target = deployment.get("targetServiceRevision") or {}
        count = max(target.get("requestedTaskCount", 0), target.get("runningTaskCount", 0))
        segments = [(begin, end, target.get("arn"), count)]
        rollback = deployment.get("rollback") or {}
        if rollback.get("startedAt") and rollback.get("serviceRevisionArn"):
            turn = min(max(rollback["startedAt"], begin), end)
            segments = [
                (begin, turn, target.get("arn"), count),
                (turn, end, rollback["serviceRevisionArn"], target.get("requestedTaskCount", 0)),
            ]
        for segment_begin, segment_end, revision_arn, tasks in segments:
            seconds = (segment_end - segment_begin).total_seconds()
            if tasks <= 0 or seconds <= 0:
                continue
            cpu, memory, architecture = _size_of(revision_arn, revisions, task_definition)
            one = fargate_cost(cpu, memory, seconds, region=region, architecture=architecture)
            costs.append(functools.reduce(operator.add, [one] * tasks))
    return functools.reduce(operator.add, costs) if costs else None


def service_history(ecs: Any, cluster: str, service: str) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """The service's deployments (every page of ListServiceDeployments, described) and the service
    revisions they name, by ARN (``ecs``: a boto3 ECS client). HistoryUnavailable when ECS refuses
    (no permission, or no such API where the client or the endpoint lacks it)."""
    if not hasattr(ecs, "list_service_deployments"):
        raise HistoryUnavailable("this botocore has no ListServiceDeployments")
    try:
        arns: list[str] = []
        request: dict[str, Any] = {"cluster": cluster, "service": service, "maxResults": 100}
        while True:  # botocore has no paginator for ListServiceDeployments
            page = ecs.list_service_deployments(**request)
            arns += [d["serviceDeploymentArn"] for d in page.get("serviceDeployments", [])]
            if not page.get("nextToken"):
                break
            request["nextToken"] = page["nextToken"]
        deployments = [
            d
            for batch in batched(arns, DESCRIBE_HISTORY_BATCH)
            for d in ecs.describe_service_deployments(serviceDeploymentArns=batch)["serviceDeployments"]
        ]
        wanted = list(
            dict.fromkeys(
                arn
                for d in deployments
                for arn in (
                    (d.get("targetServiceRevision") or {}).get("arn"),
                    (d.get("rollback") or {}).get("serviceRevisionArn"),
                )
                if arn
            )
        )
        revisions = {
            r["serviceRevisionArn"]: r
            for batch in batched(wanted, DESCRIBE_HISTORY_BATCH)
            for r in ecs.describe_service_revisions(serviceRevisionArns=batch)["serviceRevisions"]
        }
    except ClientError as err:
        raise HistoryUnavailable(err.response.get("Error", {}).get("Code") or str(err)) from err
    except BotoCoreError as err:
        raise HistoryUnavailable(type(err).__name__) from err
    return deployments, revisions


def estimate_service_cost(
    hook: Any,
    cluster: str,
    service: Mapping[str, Any],
    *,
    region: str,
    now: dt.datetime,
    described: dict[str, Mapping[str, Any] | None] | None = None,
) -> CostEstimate:
    """The environments page's figure for one service (``hook``: a FargateHook; ``service``: as
    DescribeServices describes it): the larger of the history and the listed-task estimates, the
    note saying which, or why there is none. PriceNotKnown when the region or an architecture has no
    price (the caller says so on the page). ``described``: the task definitions it describes, by
    ARN (the caller's, to read them again)."""
    described = {} if described is None else described

    def task_definition(arn: str) -> Mapping[str, Any] | None:
        if arn not in described:
            described[arn] = hook.describe_task_definition(arn)
        return described[arn]

    current = task_definition(service["taskDefinition"]) or {}
    architecture = (current.get("runtimePlatform") or {}).get("cpuArchitecture", "X86_64")
    arns = [
        arn
        for status in ("RUNNING", "STOPPED")
        for page in hook.conn.get_paginator("list_tasks").paginate(
            cluster=cluster, serviceName=service["serviceName"], desiredStatus=status
        )
        for arn in page["taskArns"]
    ]
    tasks = hook.describe_tasks(cluster, arns) if arns else []
    # task_cost with the same ``now`` as the history (total_cost prices running tasks up to the clock).
    listed_costs = [task_cost(task, region=region, architecture=architecture, now=now) for task in tasks]
    listed = functools.reduce(operator.add, listed_costs) if listed_costs else None
    listed_note = f"{len(tasks)} task(s) ECS still lists"
    rates = f"{region} {architecture} on-demand rates"
    try:
        deployments, revisions = service_history(hook.conn, cluster, service["serviceArn"])
        history = history_cost(deployments, revisions, task_definition, region=region, until=now)
    except HistoryUnavailable as why:
        return CostEstimate(_usd(listed), f"{listed_note}, {rates} (service history not read: {why})")
    if history is None:
        return CostEstimate(_usd(listed), f"{listed_note}, {rates} (no service history)")
    if history.usd <= _usd(listed):
        return CostEstimate(
            _usd(listed),
            f"{listed_note}, {rates} (service history: {len(deployments)} deployment(s), no more than that)",
        )
    rates = f"{region} {history.architecture} on-demand rates"
    return CostEstimate(
        round(history.usd, 6),
        f"service history: {len(deployments)} deployment(s), "
        f"task counts x durations (more than the {listed_note}), {rates}",
    )


@dataclass(frozen=True)
class _Cached:
    at: dt.datetime
    estimate: CostEstimate
    usd_per_hour: float
    running: int


# One figure per service, as long as its deployments and task counts stay as they were (the API
# server's page asks again every few seconds; a changed state is read again, in full).
_CACHE: dict[str, tuple[tuple[Any, ...], _Cached]] = {}
_LOCK = threading.Lock()


def service_state(service: Mapping[str, Any]) -> tuple[Any, ...]:
    """What the cost cache keys a service's figure by (a change reads its cost again)."""
    deployments = tuple(sorted(str(d.get("id")) for d in service.get("deployments") or []))
    return deployments, service.get("desiredCount"), service.get("runningCount"), service.get("taskDefinition")


def known_service_cost(service: Mapping[str, Any], *, now: dt.datetime) -> CostEstimate | None:
    """The figure ``cached_service_cost`` keeps for the service, carried to ``now``: no ECS call.
    None when the service is new or changed since (``cached_service_cost`` reads it then)."""
    with _LOCK:
        hit = _CACHE.get(service["serviceArn"])
    if hit is None or hit[0] != service_state(service) or hit[1].estimate.usd is None:
        return None
    cached, before = hit[1], hit[1].estimate.usd
    hours = max((now - cached.at).total_seconds(), 0.0) / 3600
    usd = round(before + cached.usd_per_hour * hours, 6)
    since = f"; since {cached.at:%H:%M} UTC, {cached.running} running task(s) at ${cached.usd_per_hour:.4f}/h"
    return CostEstimate(usd, cached.estimate.note + since)


def cached_service_cost(
    hook: Any, cluster: str, service: Mapping[str, Any], *, region: str, now: dt.datetime
) -> CostEstimate:
    """``estimate_service_cost`` once per state of the service (its deployments, desired and running
    counts, task definition: what DescribeServices, already read for the page, shows); while that
    state holds, that figure plus its running tasks at their task definition's rate since: no ECS
    call. PriceNotKnown as ``estimate_service_cost``."""
    known = known_service_cost(service, now=now)
    if known is not None:
        return known
    described: dict[str, Mapping[str, Any] | None] = {}
    estimate = estimate_service_cost(hook, cluster, service, region=region, now=now, described=described)
    current = described.get(service["taskDefinition"]) or {}
    running = int(service.get("runningCount") or 0)
    architecture = (current.get("runtimePlatform") or {}).get("cpuArchitecture", "X86_64")
    per_task = (
        fargate_cost(current["cpu"], current["memory"], 3600, region=region, architecture=architecture).usd
        if current.get("cpu") and current.get("memory")
        else 0.0
    )
    with _LOCK:
        _CACHE[service["serviceArn"]] = (service_state(service), _Cached(now, estimate, running * per_task, running))
    return estimate


def _usd(cost: Cost | None) -> float:
    return round(cost.usd, 6) if cost else 0.0


def _start(deployment: Mapping[str, Any]) -> dt.datetime:
    started: dt.datetime = deployment.get("startedAt") or deployment["createdAt"]
    return started


def _size_of(
    revision_arn: str | None,
    revisions: Mapping[str, Mapping[str, Any]],
    task_definition: Callable[[str], Mapping[str, Any] | None],
) -> tuple[str, str, str]:
    """(cpu, memory, CPU architecture) of the revision's task definition."""
    revision = revisions.get(revision_arn or "")
    if revision is None:
        raise HistoryUnavailable(f"service revision {revision_arn} is MISSING")
    definition = task_definition(revision["taskDefinition"])
    if not definition or not definition.get("cpu") or not definition.get("memory"):
        raise HistoryUnavailable(
            f"task definition {revision['taskDefinition']} has no task-level size ECS still describes"
        )
    architecture = (definition.get("runtimePlatform") or {}).get("cpuArchitecture", "X86_64")
    return definition["cpu"], definition["memory"], architecture
