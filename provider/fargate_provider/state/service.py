"""Judging ECS services while waiting for them: stable, still going, or failed (and why).

"Stable" is stricter than botocore's ``services_stable`` waiter, which only checks for one
deployment with runningCount == desiredCount and so also succeeds after a circuit-breaker
rollback. The operators (waiting in the worker) and the trigger (waiting in the
triggerer) both judge with this module; only their I/O differs.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from fargate_rules.arns import name_from_arn

STABLE, WAITING, FAILED = "STABLE", "WAITING", "FAILED"
STABLE_TARGET, INACTIVE_TARGET = "STABLE", "INACTIVE"


name_of = name_from_arn  # a service's name from its name or ARN


@dataclass
class Verdict:
    state: str
    reason: str = ""
    needs_stopped_tasks: bool = False  # the caller should fetch this deployment's stopped tasks
    deployment_id: str | None = None
    needs_target_health: bool = False  # the caller should describe the target groups' targets


def _breaker_on(service: dict[str, Any]) -> bool:
    breaker = (service.get("deploymentConfiguration") or {}).get("deploymentCircuitBreaker") or {}
    return bool(breaker.get("enable"))


def _expected_deployment(service: dict[str, Any], task_definition: str | None) -> dict[str, Any] | None:
    deployments = service.get("deployments") or []
    if task_definition is None:
        return deployments[0] if deployments else None
    matching = [d for d in deployments if d.get("taskDefinition") == task_definition]
    # the newest deployment of that task definition (deployments are newest first)
    return matching[0] if matching else None


def describe_stopped(tasks: list[dict[str, Any]]) -> str:
    """stoppedReason, stopCode and container exit codes of stopped tasks, newest first."""
    parts = []
    for task in tasks:
        containers = ", ".join(
            f"{c.get('name')} exit {c['exitCode']}"
            if "exitCode" in c
            else f"{c.get('name')} {c.get('reason') or 'no exit code'}"
            for c in task.get("containers", [])
        )
        parts.append(
            f"task {name_of(task['taskArn'])}: {task.get('stopCode', '?')}: "
            f"{task.get('stoppedReason', '')} ({containers})"
        )
    return "; ".join(parts)


_DEPLOYMENT_FAILED_RE = re.compile(r"\(deployment (ecs-svc/\d+)\) deployment failed: (.*)$")


def _failed_deployment_event(service: dict[str, Any]) -> tuple[str, str] | None:
    """(deployment id, reason) of the newest "deployment failed" service event."""
    for event in service.get("events") or []:
        match = _DEPLOYMENT_FAILED_RE.search(event.get("message", ""))
        if match:
            return match.group(1), match.group(2)
    return None


# ECS's stoppedReason for a task it stopped because its load balancer judged it unhealthy, and
# the service event that says why ("... is unhealthy in (target-group ...) due to (reason ...)").
ELB_HEALTH_CHECK_STOP = "Task failed ELB health checks"
_UNHEALTHY_TARGET_EVENT_RE = re.compile(r"is unhealthy in \(?target-group ([^) ]+)\)? due to \(reason (.*?)\)\.?$")
# Targets not (or no longer) serving the service: old tasks' draining targets are not its concern.
_TARGET_STATES_IGNORED = ("draining",)


def target_group_arns(service: dict[str, Any] | None) -> list[str]:
    """The target groups a service registers its tasks in (its ``loadBalancers``)."""
    return list(
        dict.fromkeys(
            lb["targetGroupArn"] for lb in (service or {}).get("loadBalancers") or [] if lb.get("targetGroupArn")
        )
    )


def target_group_name(arn: str) -> str:
    """``e-shop`` from arn:aws:elasticloadbalancing:…:targetgroup/e-shop/0123456789abcdef."""
    parts = arn.split("/")
    return parts[-2] if len(parts) >= 3 else arn


def unhealthy_target_reason(service: dict[str, Any]) -> str | None:
    """The health-check reason of the newest "is unhealthy in target-group" service event."""
    for event in service.get("events") or []:
        match = _UNHEALTHY_TARGET_EVENT_RE.search(event.get("message", ""))
        if match:
            return match.group(2)
    return None


def describe_targets(targets: list[dict[str, Any]]) -> str:
    """DescribeTargetHealth's descriptions as "10.0.1.5:80 unhealthy (Target.Timeout: Request timed out)"."""
    parts = []
    for target in targets:
        health = target.get("TargetHealth") or {}
        why = ": ".join(x for x in (health.get("Reason"), health.get("Description")) if x)
        where = f"{target['Target']['Id']}:{target['Target'].get('Port', '?')}"
        parts.append(f"{where} {health.get('State', '?')}" + (f" ({why})" if why else ""))
    return ", ".join(parts) or "no targets registered"


def serving_targets(targets: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """The targets of a target group that serve (or are to serve) the service: not those draining."""
    return [t for t in targets or [] if (t.get("TargetHealth") or {}).get("State") not in _TARGET_STATES_IGNORED]


def target_counts(target_health: dict[str, list[dict[str, Any]]], groups: list[str]) -> dict[str, int]:
    """Healthy and all serving targets of ``groups`` (draining ones are leaving: not counted)."""
    targets = [t for arn in groups for t in serving_targets(target_health.get(arn))]
    healthy = sum(1 for t in targets if t["TargetHealth"].get("State") == "healthy")
    return {"healthy": healthy, "total": len(targets)}


def targets_not_ready(service: dict[str, Any], target_health: dict[str, list[dict[str, Any]]]) -> str | None:
    """None when every target group of the service has a healthy target per running task and no
    target of its own still initial or unhealthy; else what it waits for, for the log."""
    waiting = []
    for arn in target_group_arns(service):
        targets = serving_targets(target_health.get(arn))
        healthy = sum(1 for t in targets if t["TargetHealth"].get("State") == "healthy")
        if healthy < (service.get("runningCount") or 0) or healthy < len(targets):
            waiting.append(
                f"target group {target_group_name(arn)}: {healthy}/{service.get('runningCount')} healthy: "
                f"{describe_targets(targets)}"
            )
    return "; ".join(waiting) or None


def newest_stopped(tasks: list[dict[str, Any]], deployment_id: str, limit: int = 3) -> list[dict[str, Any]]:
    """The newest stopped tasks a deployment started (ECS sets startedBy to the deployment id)."""
    mine = [t for t in tasks if t.get("startedBy") == deployment_id]
    mine.sort(key=lambda t: _timestamp(t.get("stoppedAt") or t.get("createdAt")), reverse=True)
    return mine[:limit]


def judge(
    service: dict[str, Any] | None,
    *,
    target: str = STABLE_TARGET,
    task_definition: str | None = None,
    max_failed_tasks: int = 3,
    stopped_tasks: list[dict[str, Any]] | None = None,
    target_health: dict[str, list[dict[str, Any]]] | None = None,
    failures_examined: int = 0,
) -> Verdict:
    """Where ``service`` (as DescribeServices returns it, or None if MISSING) stands.

    Behind a load balancer, stable also means reachable: every target of the service healthy
    (``target_health``: DescribeTargetHealth per target group), and a task ECS stopped for
    failing the load balancer's health checks fails the wait at once, with the reason (ECS
    has already waited out the service's health check grace period). ``failures_examined``:
    the deployment's failed tasks whose stopped reasons were already looked at."""
    if target == INACTIVE_TARGET:
        return _inactive_yet(service)
    if service is None or service.get("status") != "ACTIVE":
        return _service_gone(service)
    rollout = _Rollout.of(service, task_definition, stopped_tasks)
    verdict = (
        _deployment_gone(rollout)
        or _tasks_failed_health_checks(rollout, failures_examined)
        or _rollout_failed(rollout)
        or _tasks_keep_stopping(rollout, max_failed_tasks)
    )
    if verdict is not None:
        return verdict
    if not _counts_reached(rollout):
        return Verdict(WAITING)
    return _targets_not_healthy(rollout, target_health) or Verdict(STABLE)


@dataclass(frozen=True)
class _Rollout:
    """An ACTIVE service as ``judge``'s steps see it: its deployments (newest first), the newest
    (``primary``, {} if none), the one awaited (``expected``: the newest of ``task_definition``,
    else the primary; None if there is none) and the stopped tasks the caller fetched, if any."""

    service: dict[str, Any]
    task_definition: str | None
    stopped_tasks: list[dict[str, Any]] | None
    deployments: list[dict[str, Any]]
    primary: dict[str, Any]
    expected: dict[str, Any] | None

    @classmethod
    def of(
        cls, service: dict[str, Any], task_definition: str | None, stopped_tasks: list[dict[str, Any]] | None
    ) -> _Rollout:
        deployments = service.get("deployments") or []
        primary = deployments[0] if deployments else {}
        expected = _expected_deployment(service, task_definition)
        return cls(service, task_definition, stopped_tasks, deployments, primary, expected)

    @property
    def name(self) -> Any:
        return self.service.get("serviceName")


def _inactive_yet(service: dict[str, Any] | None) -> Verdict:
    """Waiting for INACTIVE: stable once the service is INACTIVE or missing."""
    if service is None or service.get("status") == "INACTIVE":
        return Verdict(STABLE)
    return Verdict(WAITING)


def _service_gone(service: dict[str, Any] | None) -> Verdict:
    """Failed: the service is missing, or no longer ACTIVE (DRAINING, INACTIVE)."""
    if service is None:
        return Verdict(FAILED, "the service is missing")
    return Verdict(FAILED, f"service {service.get('serviceName')} is {service.get('status')}")


def _stopped_tasks_note(stopped_tasks: list[dict[str, Any]] | None) -> str:
    return f" Stopped tasks: {describe_stopped(stopped_tasks)}" if stopped_tasks else ""


def _fetch_stopped_tasks(deployment_id: str | None) -> Verdict:
    """Waiting: one more call for the deployment's stopped tasks, so the error says why they stopped."""
    return Verdict(WAITING, needs_stopped_tasks=True, deployment_id=deployment_id)


def _deployment_gone(rollout: _Rollout) -> Verdict | None:
    """Failed if the deployment of the awaited task definition is gone already: rolled back and
    drained between two polls (after fetching the stopped tasks of a "deployment failed" event)."""
    if rollout.task_definition is None or rollout.expected is not None:
        return None
    failed = _failed_deployment_event(rollout.service)
    if failed and rollout.stopped_tasks is None:
        return _fetch_stopped_tasks(failed[0])
    what = (
        f"rollout of {rollout.task_definition} FAILED: {failed[1]}"
        if failed
        else f"the deployment of {rollout.task_definition} is gone"
    )
    return Verdict(
        FAILED,
        f"service {rollout.name}: {what}; rolled back to {rollout.primary.get('taskDefinition')}."
        f"{_stopped_tasks_note(rollout.stopped_tasks)}",
    )


def _tasks_failed_health_checks(rollout: _Rollout, failures_examined: int) -> Verdict | None:
    """Behind a load balancer, with failed tasks not yet examined: failed if ECS stopped any of
    them for failing the load balancer's health checks (after fetching the stopped tasks)."""
    expected = rollout.expected
    if expected is None or not target_group_arns(rollout.service):
        return None
    if not expected.get("failedTasks", 0) > failures_examined:
        return None
    if rollout.stopped_tasks is None:
        return _fetch_stopped_tasks(expected.get("id"))
    health_failed = [
        t for t in rollout.stopped_tasks if (t.get("stoppedReason") or "").startswith(ELB_HEALTH_CHECK_STOP)
    ]
    if not health_failed:
        return None
    reason = unhealthy_target_reason(rollout.service)
    why = f" (reason {reason})" if reason else ""
    return Verdict(
        FAILED,
        f"service {rollout.name}: {len(health_failed)} task(s) of deployment {expected.get('id')} "
        f"({expected.get('taskDefinition')}) failed the load balancer's health checks{why}. "
        f"Stopped tasks: {describe_stopped(health_failed)}",
    )


def _rollout_failed(rollout: _Rollout) -> Verdict | None:
    """Failed if the awaited deployment's rolloutState is FAILED (the circuit breaker tripped),
    saying what it rolled back to (after fetching the stopped tasks, if any failed)."""
    expected = rollout.expected
    if expected is None or expected.get("rolloutState") != "FAILED":
        return None
    if rollout.stopped_tasks is None and expected.get("failedTasks", 0) > 0:
        return _fetch_stopped_tasks(expected.get("id"))
    rolled_back = rollout.primary.get("taskDefinition")
    where = f"; rolled back to {rolled_back}" if rolled_back and rolled_back != expected.get("taskDefinition") else ""
    return Verdict(
        FAILED,
        f"service {rollout.name}: rollout of {expected.get('taskDefinition')} FAILED: "
        f"{expected.get('rolloutStateReason', '')}{where}.{_stopped_tasks_note(rollout.stopped_tasks)}",
    )


def _tasks_keep_stopping(rollout: _Rollout, max_failed_tasks: int) -> Verdict | None:
    """Failed once ``max_failed_tasks`` tasks of the awaited deployment stopped (after fetching them)."""
    expected = rollout.expected
    if expected is None or expected.get("failedTasks", 0) < max_failed_tasks:
        return None
    if rollout.stopped_tasks is None and expected.get("failedTasks", 0) > 0:
        return _fetch_stopped_tasks(expected.get("id"))
    return Verdict(
        FAILED,
        f"service {rollout.name}: {expected['failedTasks']} task(s) of deployment {expected.get('id')} "
        f"({expected.get('taskDefinition')}) stopped.{_stopped_tasks_note(rollout.stopped_tasks)}",
    )


def _counts_reached(rollout: _Rollout) -> bool:
    """The awaited deployment is the only one, its rollout COMPLETED (where a circuit breaker
    judges it), and the service runs its desired count with none pending."""
    service, primary = rollout.service, rollout.primary
    return bool(
        len(rollout.deployments) == 1
        and rollout.expected is primary
        and (not _breaker_on(service) or primary.get("rolloutState", "COMPLETED") == "COMPLETED")
        and service.get("runningCount") == service.get("desiredCount")
        and service.get("pendingCount") == 0
    )


def _targets_not_healthy(rollout: _Rollout, target_health: dict[str, list[dict[str, Any]]] | None) -> Verdict | None:
    """Behind a load balancer, waiting until every target is healthy (first for the targets'
    health, then with what they wait for as the reason); None when reachable or no load balancer."""
    if not target_group_arns(rollout.service):
        return None
    if target_health is None:
        return Verdict(WAITING, needs_target_health=True)
    waiting_for = targets_not_ready(rollout.service, target_health)
    return Verdict(WAITING, reason=waiting_for) if waiting_for else None


def counts(service: dict[str, Any] | None) -> str:
    if service is None:
        return "missing"
    deployments = ", ".join(
        f"{d.get('status')} {name_of(d.get('taskDefinition', ''))} {d.get('rolloutState', '')} "
        f"running {d.get('runningCount')}/{d.get('desiredCount')} pending {d.get('pendingCount')} "
        f"failed {d.get('failedTasks', 0)}"
        for d in service.get("deployments") or []
    )
    return (
        f"{service.get('serviceName')}: {service.get('status')}, running {service.get('runningCount')}/"
        f"{service.get('desiredCount')}, pending {service.get('pendingCount')}; deployments: {deployments}"
    )


def _timestamp(value: Any) -> float:
    if isinstance(value, dt.datetime):
        return value.timestamp()
    return float(value or 0)


def event_ids(service: dict[str, Any] | None) -> list[str]:
    """The events a service already has: what a wait that starts now must not report as new."""
    return [event["id"] for event in (service or {}).get("events") or []]


@dataclass
class EventLog:
    """Service events not yet reported, oldest first; each is reported once.

    "New" is judged by event id, not by time, so clock skew between Airflow and AWS does not
    matter. With ``known`` None, the first look only learns what is there.
    """

    known: list[str] | None = None

    def __post_init__(self) -> None:
        self.seen: set[str] = set(self.known or [])
        self.primed = self.known is not None

    def new_events(self, services: Sequence[dict[str, Any] | None]) -> list[tuple[str, str]]:
        fresh = []
        for service in services:
            if service is None:  # (a missing service has no events)
                continue
            for event in reversed(service.get("events") or []):
                if event["id"] not in self.seen:
                    self.seen.add(event["id"])
                    fresh.append((service["serviceName"], event["message"]))
        if not self.primed:
            self.primed = True
            return []
        return fresh


def last_events(service: dict[str, Any] | None, count: int = 5) -> list[str]:
    return [e["message"] for e in (service or {}).get("events", [])[:count]]


@dataclass
class Poll:
    """What one poll found: finished, failed (with the message), and the lines to log."""

    done: bool
    error: str | None
    log_lines: list[str]
    fetch_stopped: dict[str, str]  # service name -> deployment id whose stopped tasks to fetch
    fetch_targets: dict[str, list[str]] = field(default_factory=dict)  # service name -> its target groups to describe


@dataclass
class ServiceWatch:
    """The state of a wait over several services, fed with DescribeServices answers.

    Serialisable through ``to_kwargs`` so a trigger can carry it between triggerer restarts.
    """

    services: list[str]
    target: str = STABLE_TARGET
    task_definitions: dict[str, str | None] = field(default_factory=dict)
    known_events: list[str] | None = None
    max_failed_tasks: int = 3
    last: dict[str, dict[str, Any] | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.events = EventLog(self.known_events)
        # Per service: failed tasks whose stopped reasons were looked at (for the load-balancer
        # check), and what its targets were last said to wait for (logged when it changes).
        self.failures_examined: dict[str, int] = {}
        self.targets_waiting: dict[str, str | None] = {}

    def to_kwargs(self) -> dict[str, Any]:
        return {
            "services": self.services,
            "target": self.target,
            "task_definitions": self.task_definitions,
            "known_events": sorted(self.events.seen) if self.events.primed else None,
            "max_failed_tasks": self.max_failed_tasks,
        }

    def poll(
        self,
        described: list[dict[str, Any]],
        stopped: dict[str, list[dict[str, Any]]] | None = None,
        target_health: dict[str, dict[str, list[dict[str, Any]]]] | None = None,
    ) -> Poll:
        """Judge one DescribeServices answer; ``stopped`` and ``target_health`` (per service
        name) are what a first look asked for through ``fetch_stopped`` and ``fetch_targets``."""
        by_name = {service["serviceName"]: service for service in described}
        lines = [f"{name}: {message}" for name, message in self.events.new_events(described)]
        fetch, fetch_targets, errors, done = {}, {}, [], True
        for name in (name_of(s) for s in self.services):
            service = by_name.get(name)
            self.last[name] = service
            verdict = judge(
                service,
                target=self.target,
                task_definition=self.task_definitions.get(name),
                max_failed_tasks=self.max_failed_tasks,
                stopped_tasks=(stopped or {}).get(name),
                target_health=(target_health or {}).get(name),
                failures_examined=self.failures_examined.get(name, 0),
            )
            if stopped and name in stopped and service is not None:
                expected = _expected_deployment(service, self.task_definitions.get(name))
                self.failures_examined[name] = (expected or {}).get("failedTasks", 0)
            if verdict.state == FAILED:
                errors.append(verdict.reason)
            elif verdict.state == WAITING:
                done = False
                if verdict.needs_stopped_tasks and verdict.deployment_id:
                    fetch[name] = verdict.deployment_id
                if verdict.needs_target_health:
                    fetch_targets[name] = target_group_arns(service)
                if target_health and name in target_health and verdict.reason != self.targets_waiting.get(name):
                    self.targets_waiting[name] = verdict.reason
                    if verdict.reason:
                        lines.append(f"{name}: waiting for healthy targets: {verdict.reason}")
        error = "; ".join(errors) if errors else None
        return Poll(
            done=done and not errors, error=error, log_lines=lines, fetch_stopped=fetch, fetch_targets=fetch_targets
        )

    def timeout_message(self, timeout: float) -> str:
        details = []
        for name, service in self.last.items():
            events = " | ".join(last_events(service)) or "no events"
            targets = f"; {self.targets_waiting[name]}" if self.targets_waiting.get(name) else ""
            details.append(f"{counts(service)}{targets}; last events: {events}")
        goal = "stable" if self.target == STABLE_TARGET else "INACTIVE"
        return f"Timed out after {timeout:g} s waiting for service(s) to be {goal}: " + " || ".join(details)
