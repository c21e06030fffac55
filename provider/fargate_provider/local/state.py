"""The emulator's own state beside moto's objects: what moto has no field for."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fargate_provider.local.behaviours import Behaviour


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


@dataclass
class ServiceRun:
    """What the scheduler remembers of a service it runs (keyed by ARN in ControlPlane.service_runs;
    a service without one was made by moto alone and is not scheduled)."""

    completed_task_definition: str | None = None  # the rollback target of the circuit breaker
    steady: bool = False
    launch_error: tuple[str, str] | None = None  # (deployment id, error) already reported
