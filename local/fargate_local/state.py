"""The emulator's own state beside moto's objects: what moto has no field for."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fargate_local.behaviours import Behaviour, Behaviours

if TYPE_CHECKING:
    from fargate_local.moto_bridge import EmulatedTask, Placement
    from fargate_local.quotas import VcpuQuotas


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
    interrupt_after: float | None = None  # a Spot task: real seconds after RUNNING when it is interrupted


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


class ControlPlaneState:
    """What the parts ``ControlPlane`` mixes in (``api_handlers``, ``task_lifecycle``,
    ``service_scheduler``, ``service_deployments``) share: the state it sets in its ``__init__``
    and, for the type checker only, the methods one part calls on another."""

    behaviours: Behaviours
    _run_task_tokens: dict[tuple[str, str, str, str], tuple[str, list[str], float]]
    _service_tokens: dict[tuple[str, str, str, str], tuple[str | None, str]]
    _addresses: Iterator[int]
    _ids: random.Random
    service_runs: dict[str, ServiceRun]
    vcpu_quotas: VcpuQuotas

    if TYPE_CHECKING:
        # task_lifecycle
        def _new_task(
            self,
            *,
            backend: Any,
            account: str,
            region: str,
            cluster: Any,
            task_definition: Any,
            placement: Placement,
            assign_public_ip: bool,
            launch_type: str | None,
            provider: str | None,
            platform_version: str,
            overrides: dict[str, Any] | None,
            started_by: str,
            group: str,
            tags: list[dict[str, str]],
            enable_execute_command: bool,
            service: str | None,
        ) -> EmulatedTask: ...

        def _request_stop(self, task: EmulatedTask, code: str, reason: str) -> None: ...

        # service_scheduler
        def _deployment(
            self, service: Any, task_definition_arn: str, desired: int, *, rollback: bool = False
        ) -> dict[str, Any]: ...

        def _count_failure(self, backend: Any, service_arn: str, task: EmulatedTask) -> None: ...

        # service_deployments
        def _history_deployment_started(self, service: Any, deployment: dict[str, Any]) -> None: ...

        def _history_breaker_tripped(
            self, service: Any, failed: dict[str, Any], rolled_back_to: str | None
        ) -> None: ...

        def _history_tick(self, service: Any) -> None: ...

        def _history_forget(self, service: Any) -> None: ...
