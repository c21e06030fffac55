"""The ECS control plane moto lacks: Fargate tasks that start, run, print and stop; services
that keep their tasks running, roll out deployments, trip the circuit breaker and drain.

``ControlPlane.handle`` answers the ECS operations moto gets wrong for Fargate (or returns
None to let moto answer); ``ControlPlane.tick`` advances time-driven state. Both run under
one lock held by the server. Wording of errors, stop codes and service events follows ECS.

The lifecycle is the layout: ``api_handlers`` (requests in), ``listings`` (List* and cluster counts),
``task_lifecycle`` (tasks through time), ``service_scheduler`` (services keeping their tasks),
``service_deployments`` (the services' deployment history), ``ecs_events`` (what ECS sends to
EventBridge); this class holds their shared state and drives them.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections import defaultdict
from typing import Any

from fargate_local import moto_bridge as bridge
from fargate_local.api_handlers import EcsApiHandlers, Forward
from fargate_local.behaviours import Behaviours
from fargate_local.ecs_events import EcsEvents
from fargate_local.listings import Listings
from fargate_local.moto_bridge import EmulatedTask, invalid_parameter
from fargate_local.quotas import VcpuQuotas
from fargate_local.service_deployments import ServiceDeployments
from fargate_local.service_scheduler import ServiceScheduler, circuit_breaker_threshold
from fargate_local.state import ServiceRun
from fargate_local.task_lifecycle import TaskLifecycle

__all__ = ["ControlPlane", "Forward", "circuit_breaker_threshold"]


class ControlPlane(EcsApiHandlers, Listings, TaskLifecycle, ServiceScheduler, ServiceDeployments):
    HANDLED = (
        "RegisterTaskDefinition",
        "DescribeTaskDefinition",
        "DeregisterTaskDefinition",
        "RunTask",
        "StopTask",
        "CreateService",
        "UpdateService",
        "DeleteService",
        "DeleteCluster",
        "DescribeTasks",
        "DescribeServices",
        "ListClusters",
        "ListServices",
        "ListTaskDefinitions",
        "ListTaskDefinitionFamilies",
        "ListTasks",
        "DescribeClusters",
        "ExecuteCommand",
        "DescribeCapacityProviders",
        "RegisterContainerInstance",
        "ListServiceDeployments",
        "DescribeServiceDeployments",
        "DescribeServiceRevisions",
    )

    def __init__(self, behaviours: Behaviours):
        self.behaviours = behaviours
        self.lock = threading.RLock()
        self._run_task_tokens: dict[tuple[str, str, str, str], tuple[str, list[str], float]] = {}
        self._service_tokens: dict[tuple[str, str, str, str], tuple[str | None, str]] = {}
        self._addresses = itertools.count(10)
        self._ids = random.Random(behaviours.seed)
        # The services this control plane schedules (moto's own objects carry no state of ours).
        self.service_runs: dict[str, ServiceRun] = {}
        self.vcpu_quotas = VcpuQuotas()
        self.ecs_events = EcsEvents(behaviours.seed)  # what ECS sends to EventBridge
        self._reset_history()

    def reset(self) -> None:
        self._run_task_tokens.clear()
        self._service_tokens.clear()
        self.service_runs.clear()
        self._reset_history()
        self._addresses = itertools.count(10)
        self._ids = random.Random(self.behaviours.seed)
        self.ecs_events.reset(self.behaviours.seed)

    # ================================================================== API

    def handle(self, operation: str, account: str, region: str, body: dict[str, Any], forward: Forward) -> dict | None:
        _check_tag_keys(body)
        if operation not in self.HANDLED:
            return None
        backend = bridge.ecs_backend(account, region)
        handler = getattr(self, f"_{operation}")
        return handler(backend, account, region, body, forward)

    def tick(self) -> None:
        now = time.monotonic()
        for account, region, backend in bridge.iter_ecs_backends():
            # One pass over the tasks per tick: advance them and group them by service.
            by_service: dict[str, list[EmulatedTask]] = defaultdict(list)
            for task in bridge.all_tasks(backend):
                if not isinstance(task, EmulatedTask):
                    continue
                if task.last_status != "STOPPED":
                    self._advance_task(backend, task, now)
                if task.run.service:
                    by_service[task.run.service].append(task)
            for service in bridge.all_services(backend):
                if service.arn in self.service_runs and service.status in ("ACTIVE", "DRAINING"):
                    self._reconcile_service(backend, account, region, service, by_service[service.arn])
            self.ecs_events.observe(account, region, backend, now, self.behaviours.timing.real)
        self.ecs_events.deliver_due(now)


def _check_tag_keys(body: dict[str, Any]) -> None:
    """ECS (ecs-using-tags.html): "Do not use aws:, AWS:, or any upper or lowercase combination of
    such as a prefix for either keys or values as it is reserved for AWS use"."""
    tags = body.get("tags")
    if not isinstance(tags, list):
        return
    for tag in tags:
        if isinstance(tag, dict) and str(tag.get("key", "")).lower().startswith("aws:"):
            raise invalid_parameter("Tag keys cannot start with 'aws:' (reserved for AWS use).")
