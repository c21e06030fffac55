"""The emulator's own state beside moto's objects: what moto has no field for."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fargate_provider.local.behaviours import Behaviour


@dataclass
class ContainerRun:
    """One container's own clock: when it started and when (if ever) it exits on its own."""

    exit_after: float | None = None  # real seconds after its start; None: runs until the task stops
    exit_code: int = 0
    started: float | None = None  # monotonic


@dataclass
class TaskRun:
    """How one emulated task goes through time (monotonic seconds) and what it prints."""

    behaviour: Behaviour
    service: str | None  # the owning service's ARN; None for a one-off task
    pending_at: float
    running_at: float
    run_for: float | None  # None: runs until stopped (a service's task)
    exit_code: int
    logs: list[dict[str, Any]] = field(default_factory=list)  # per stream: lines, how many written, where
    started: float | None = None
    exit_at: float | None = None
    stopped_at: float | None = None
    containers: dict[str, ContainerRun] = field(default_factory=dict)  # by container name
    stop_steps: list[tuple[float, str]] = field(default_factory=list)  # (monotonic, lastStatus) still to come


@dataclass
class ServiceThrottle:
    """ECS's service throttle: tasks that keep failing to start are relaunched ever later."""

    task_definition: str | None = None  # a new task definition ends the throttle at once
    failures: int = 0  # tasks in a row that stopped before reaching RUNNING
    last_failure_at: float = 0.0  # monotonic
    launch_after: float = 0.0  # monotonic: no launch before
    announced: bool = False  # the event is written once per episode


@dataclass
class ServiceRun:
    """What the scheduler remembers of a service it runs (keyed by ARN in ControlPlane.service_runs;
    a service without one was made by moto alone and is not scheduled)."""

    completed_task_definition: str | None = None  # the rollback target of the circuit breaker
    completed_deployment_id: str | None = None  # ECS rolls back to this deployment, under its own id
    steady: bool = False
    launch_error: tuple[str, str] | None = None  # (deployment id, error) already reported
    throttle: ServiceThrottle = field(default_factory=ServiceThrottle)
