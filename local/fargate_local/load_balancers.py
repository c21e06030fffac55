"""Services behind load balancers, played through moto's ELBv2 backend as ECS and ELB play them.

- CreateService: ECS's checks of ``loadBalancers`` (the target group exists, is used by a load
  balancer, has target type ``ip`` for awsvpc; the container and its port are in the task
  definition), in ECS's words.
- A service task's private IP is registered (containerPort) in each target group when the task
  reaches RUNNING and deregistered when it starts stopping; the task then waits for the target
  group's deregistration delay (draining) before it stops, as ECS does.
- Target health as ELB reports it: ``initial`` until the first health check (one interval),
  then ``healthy``; a task whose behaviour has ``unhealthy_targets`` goes ``unhealthy``
  (Target.FailedHealthChecks) after UnhealthyThresholdCount intervals. A deregistered target is
  ``draining`` for the deregistration delay.
- ECS stops a task whose target is unhealthy once the service's health check grace period is
  over, counts it as a failed task of its deployment (the circuit breaker sees it), and a
  rollout only completes once its tasks' targets are healthy.

Times are emulated seconds (the target group's interval, thresholds and delay, the service's
grace period), played at the emulator's speed.

moto's DescribeTargetHealth reports every registered target ``healthy`` and forgets deregistered
ones at once; ``_install_health_reports`` makes it answer from the table this module keeps on
each target group it registers tasks in (other target groups answer as moto does).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from fargate_local import moto_bridge as bridge
from fargate_local.moto_bridge import ELBv2Backend, EmulatedTask, FakeTargetGroup, elbv2_backends, invalid_parameter

# What this module reads, sets or wraps on moto's ELBv2 objects (moto is pinned: see moto_bridge).
MODEL_ATTRIBUTES_USED = {
    "ELBv2Backend": ("target_groups", "register_targets", "deregister_targets", "describe_target_health"),
    "FakeTargetGroup": (
        "arn",
        "target_type",
        "load_balancer_arns",
        "targets",
        "health_check_port",
        "health_check_interval_seconds",
        "unhealthy_threshold_count",
        "attributes",
        "health_for",
    ),
    "FakeHealthStatus": ("__init__",),
}

# Our table of targets on a moto target group (an attribute moto does not serialize).
_TABLE = "_fargate_local_targets"
HEALTH_CHECKS_FAILED = "Health checks failed"


@dataclass
class TargetState:
    """One task's target in one target group, in monotonic (real) seconds."""

    task_arn: str
    port: int
    checked_at: float  # the first health check: initial before it
    unhealthy_at: float | None  # None: the health checks pass
    draining_until: float | None = None  # set once deregistered
    registration_reported: bool = False  # in a service event
    deregistration_reported: bool = False


def _elbv2(account: str, region: str) -> ELBv2Backend:
    return elbv2_backends[account][region]


# ------------------------------------------------------------------ CreateService


def check_service_load_balancers(
    account: str, region: str, task_definition: Any, load_balancers: list[dict[str, Any]] | None
) -> None:
    """ECS's checks of a CreateService's ``loadBalancers``, before the service exists."""
    containers = {c.get("name"): c for c in task_definition.container_definitions}
    for entry in load_balancers or []:
        if not isinstance(entry, dict):
            raise invalid_parameter("loadBalancers: each item must be an object.")
        name = entry.get("containerName")
        if not name:
            raise invalid_parameter("Container Name can not be blank.")
        arn = entry.get("targetGroupArn")
        if arn:
            target_group = _elbv2(account, region).target_groups.get(arn)
            if target_group is None:
                raise invalid_parameter(
                    "Unable to assume role and validate the specified targetGroupArn. "
                    "Please verify that the ECS service role being passed has the proper permissions."
                )
            if not target_group.load_balancer_arns:
                raise invalid_parameter(
                    f"The target group with targetGroupArn {arn} does not have an associated load balancer."
                )
            if task_definition.network_mode == "awsvpc" and target_group.target_type != "ip":
                raise invalid_parameter(
                    f"The provided target group {arn} has target type {target_group.target_type}, "
                    "which is incompatible with the awsvpc network mode specified in the task definition."
                )
        if name not in containers:
            raise invalid_parameter(f"The container {name} does not exist in the task definition.")
        port = entry.get("containerPort")
        if port not in [m.get("containerPort") for m in containers[name].get("portMappings") or []]:
            raise invalid_parameter(f"The container {name} did not have a container port {port} defined.")


# ------------------------------------------------------------------ targets of a task


def _service_of(task: EmulatedTask) -> Any | None:
    arn = task.run.service if task.run else None
    if not arn:
        return None
    return next(
        (s for s in bridge.all_services(bridge.ecs_backend(task.account, task.region_name)) if s.arn == arn), None
    )


def _private_ip(task: EmulatedTask) -> str:
    # The containers carry it from the start (the ENI attachment lists it only once ATTACHED).
    return task.containers[0].network_interfaces[0]["privateIpv4Address"]


def _targets(task: EmulatedTask, service: Any) -> list[tuple[FakeTargetGroup, TargetState]]:
    """The (target group, target) pairs of this task that are registered or draining."""
    found: list[tuple[FakeTargetGroup, TargetState]] = []
    ip = _private_ip(task)
    for arn in _target_group_arns(service):
        target_group = _elbv2(task.account, task.region_name).target_groups.get(arn)
        if target_group is None:
            continue
        state = getattr(target_group, _TABLE, {}).get(ip)
        if state is not None and state.task_arn == task.task_arn:
            found.append((target_group, state))
    return found


def _target_group_arns(service: Any) -> list[str]:
    return list(dict.fromkeys(entry.get("targetGroupArn") for entry in getattr(service, "load_balancers", None) or []))


def _table(target_group: FakeTargetGroup) -> dict[str, TargetState]:
    if not hasattr(target_group, _TABLE):
        setattr(target_group, _TABLE, {})
    return getattr(target_group, _TABLE)


def _seconds(target_group: FakeTargetGroup, attribute: str, default: float) -> float:
    try:
        return float(getattr(target_group, attribute))
    except (TypeError, ValueError):
        return default


def register_task(plane: Any, task: EmulatedTask) -> None:
    """On RUNNING: register the task's IP (containerPort) in each of its service's target groups."""
    service = _service_of(task)
    if service is None or not service.load_balancers:
        return
    timing = plane.behaviours.timing
    now = time.monotonic()
    ip = _private_ip(task)
    elbv2 = _elbv2(task.account, task.region_name)
    for entry in service.load_balancers:
        arn, port = entry.get("targetGroupArn"), int(entry.get("containerPort") or 0)
        target_group = elbv2.target_groups.get(arn)
        if target_group is None:
            continue  # deleted since CreateService: nothing to register in
        elbv2.register_targets(arn, [{"Id": ip, "Port": port}])
        interval = _seconds(target_group, "health_check_interval_seconds", 30.0)
        failing = task.run.behaviour.unhealthy_targets
        _table(target_group)[ip] = TargetState(
            task_arn=task.task_arn,
            port=port,
            checked_at=now + timing.real(interval),
            unhealthy_at=now + timing.real(interval * _seconds(target_group, "unhealthy_threshold_count", 2.0))
            if failing
            else None,
        )


def deregister_task(plane: Any, task: EmulatedTask) -> float:
    """When the task starts stopping: deregister its targets (they drain for the target group's
    deregistration delay). Returns the real seconds ECS waits for them to drain (0: none)."""
    service = _service_of(task)
    if service is None:
        return 0.0
    timing = plane.behaviours.timing
    now = time.monotonic()
    drain = 0.0
    elbv2 = _elbv2(task.account, task.region_name)
    for target_group, state in _targets(task, service):
        if state.draining_until is not None:
            continue
        # (moto infers its attributes as dict[str, object]: they hold ints and ELB's strings)
        timeout = target_group.attributes.get("deregistration_delay.timeout_seconds", 300)
        delay = timing.real(float(timeout))  # type: ignore[arg-type]
        if _private_ip(task) in target_group.targets:
            elbv2.deregister_targets(target_group.arn, [{"Id": _private_ip(task), "Port": state.port}])
        state.draining_until = now + delay
        drain = max(drain, delay)
    return drain


def target_health(state: TargetState, now: float) -> tuple[str, str | None, str | None]:
    """(State, Reason, Description) as ELB reports the target at ``now``."""
    if state.draining_until is not None:
        if now < state.draining_until:
            return "draining", "Target.DeregistrationInProgress", "Target deregistration is in progress"
        return "unused", "Target.NotRegistered", "Target is not registered to the target group"
    if state.unhealthy_at is not None and now >= state.unhealthy_at:
        return "unhealthy", "Target.FailedHealthChecks", HEALTH_CHECKS_FAILED
    if now < state.checked_at:
        return "initial", "Elb.RegistrationInProgress", "Target registration is in progress"
    if state.unhealthy_at is not None:
        return "initial", "Elb.InitialHealthChecking", "Initial health checks in progress"
    return "healthy", None, None


def task_targets_healthy(service: Any, task: EmulatedTask) -> bool:
    """Whether ELB reports every target of the task healthy (True for services without load balancers)."""
    if not getattr(service, "load_balancers", None):
        return True
    targets = _targets(task, service)
    now = time.monotonic()
    return len(targets) == len(_target_group_arns(service)) and all(
        target_health(s, now)[0] == "healthy" for _, s in targets
    )


def reconcile_targets(plane: Any, backend: Any, service: Any, tasks: list[EmulatedTask]) -> None:
    """Each tick, for a service with load balancers: the service events of (de)registrations since
    the last tick, one per target group as ECS writes them (after "has stopped"), then ECS's
    reaction to unhealthy targets."""
    if not getattr(service, "load_balancers", None):
        return
    _report_registrations(plane, service, tasks)
    _stop_unhealthy_tasks(plane, backend, service, tasks)


def _report_registrations(plane: Any, service: Any, tasks: list[EmulatedTask]) -> None:
    states_by_group: dict[str, list[TargetState]] = {}
    for task in tasks:
        for target_group, state in _targets(task, service):
            states_by_group.setdefault(target_group.arn, []).append(state)
    for arn, states in states_by_group.items():
        registered = [s for s in states if not s.registration_reported]
        if registered:
            plane._event(service, f"registered {len(registered)} targets in (target-group {arn})")
        deregistered = [s for s in states if s.draining_until is not None and not s.deregistration_reported]
        if deregistered:
            plane._event(service, f"deregistered {len(deregistered)} targets in (target-group {arn})")
        for state in states:
            state.registration_reported = True
            state.deregistration_reported = state.draining_until is not None


def _stop_unhealthy_tasks(plane: Any, backend: Any, service: Any, tasks: list[EmulatedTask]) -> None:
    """ECS stops a task whose target ELB reports unhealthy once the service's health check grace
    period is over, and counts it as a failed task of its deployment."""
    timing = plane.behaviours.timing
    grace = timing.real(float(getattr(service, "health_check_grace_period_seconds", None) or 0))
    now = time.monotonic()
    for task in tasks:
        if task.desired_status != "RUNNING" or task.last_status != "RUNNING" or task.run.started is None:
            continue
        if now - task.run.started < grace:
            continue
        unhealthy = [(tg, s) for tg, s in _targets(task, service) if target_health(s, now)[0] == "unhealthy"]
        if not unhealthy:
            continue
        target_group, state = unhealthy[0]
        plane._event(
            service,
            f"(task {task.id}) (port {state.port}) is unhealthy in (target-group {target_group.arn}) "
            f"due to (reason {HEALTH_CHECKS_FAILED}).",
        )
        plane._stop_tasks(service, [task], f"Task failed ELB health checks in (target-group {target_group.arn})")
        plane._count_failure(backend, service.arn, task)


# ------------------------------------------------------------------ DescribeTargetHealth answers


def _target_health_answer(target_group: Any, target: dict[str, Any]) -> tuple[str, str | None, str | None, str] | None:
    """(status, reason, description, port) of a target we registered; None: moto's own answer."""
    state = getattr(target_group, _TABLE, {}).get(target["Id"])
    if state is None or ("Port" in target and int(target["Port"]) != state.port):
        return None
    if state.draining_until is None and target["Id"] not in target_group.targets:
        return None  # deregistered by someone else
    status, reason, description = target_health(state, time.monotonic())
    if status == "unused":
        return None
    return status, reason, description, str(state.port)


def _draining_targets(target_group: Any) -> list[dict[str, Any]] | None:
    """The targets still draining (ELB lists them until their deregistration delay is over); None: not ours."""
    table = getattr(target_group, _TABLE, None)
    if not table:
        return None
    now = time.monotonic()
    return [
        {"Id": ip, "Port": s.port}
        for ip, s in table.items()
        if s.draining_until is not None and now < s.draining_until and ip not in target_group.targets
    ]


bridge.answer_target_health(_target_health_answer, _draining_targets)
