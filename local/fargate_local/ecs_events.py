"""ECS's events into EventBridge, as ECS sends them, and their delivery as EventBridge delivers them.

ECS sends (ecs_cwe_events.html, "Amazon ECS events"), and the emulator plays:

- **ECS Task State Change** (ecs_task_events.html) each time a task's state changes: the detail is the
  task as DescribeTasks describes it (dates as ISO 8601, no tags) plus ``updatedAt``, and its
  ``version`` "increments when the resource state changes"; "duplicate events have the same version in
  the detail object", and DescribeTasks reports the same version.
- **ECS Deployment State Change** (ecs_service_deployment_events.html): SERVICE_DEPLOYMENT_IN_PROGRESS
  when a deployment (initial or rollback) starts, SERVICE_DEPLOYMENT_COMPLETED when the service reaches
  a steady state after it, SERVICE_DEPLOYMENT_FAILED (eventType ERROR) when the circuit breaker fails it;
  ``reason`` is the deployment's rolloutStateReason.
- **ECS Service Action** (ecs_service_events.html): SERVICE_STEADY_STATE when the service reaches a
  steady state, SERVICE_TASK_START_IMPAIRED (eventType WARN) when the scheduler throttles its task
  launches after tasks failed to start. Not played: the other service actions (placement failures,
  service discovery, daemon placement, throttling of ECS's own operations, TASKS_STOPPED, …).

Delivery (the EventBridge User Guide): to the rules of the account's and Region's *default* event bus
that are ENABLED and whose event pattern matches (moto's pattern matching), to their Amazon SQS
targets, with the target's InputTransformer. A queue gets an event only if its resource policy lets
the ``events.amazonaws.com`` service principal call ``sqs:SendMessage`` ("Amazon SQS permissions":
without it the invocation fails and the rule counts a FailedInvocation; nothing reaches the queue).
Other target kinds are not played.

EventBridge delivers "at least once", not in order (eb-troubleshooting: "Events are delivered out of
order"; ecs_cwe_events: events "can be sent multiple times"). ``EventDelivery`` plays that as
behaviours, drawn from the emulator's seed: a delay, duplicates, reordering and loss (loss is not
something EventBridge promises; it stands for a consumer that missed messages).
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
import time
import uuid
from dataclasses import asdict, dataclass, fields
from typing import Any

from fargate_local import moto_bridge as bridge

TASK_STATE_CHANGE = "ECS Task State Change"
DEPLOYMENT_STATE_CHANGE = "ECS Deployment State Change"
SERVICE_ACTION = "ECS Service Action"
SOURCE = "aws.ecs"
# The Service Actions played (eventType, eventName), each sent when the service's own events say so:
# "SERVICE_STEADY_STATE: The service is healthy and at the desired number of tasks"; and
# "SERVICE_TASK_START_IMPAIRED: The service is unable to consistently start tasks successfully"
# (ecs_service_events.html), when the scheduler throttles the service's task launches.
SERVICE_ACTIONS = (
    ("INFO", "SERVICE_STEADY_STATE", "has reached a steady state."),
    ("WARN", "SERVICE_TASK_START_IMPAIRED", "is unable to consistently start tasks successfully."),
)
HELD_AT_MOST = 0.5  # real seconds an event held back for reordering waits for a next one


@dataclass
class EventDelivery:
    """How ECS's events reach their targets. Shares of events are drawn with the emulator's seed."""

    delay: float = 0.0  # emulated seconds from the change to the delivery
    duplicate: float = 0.0  # share of events delivered twice (the same detail.version)
    reorder: float = 0.0  # share of events held back and delivered after the next one
    loss: float = 0.0  # share of events never delivered

    def update(self, values: dict[str, Any]) -> None:
        known = {f.name for f in fields(self)}
        for key, value in values.items():
            if key not in known:
                raise ValueError(f"event_delivery.{key}: unknown; allowed: {', '.join(sorted(known))}")
            value = float(value)
            if value < 0 or (key != "delay" and value > 1):
                raise ValueError(f"event_delivery.{key}: {value:g} is not allowed; give 0 to 1")
            setattr(self, key, value)


def _iso(value: Any) -> Any:
    """A DescribeTasks timestamp (epoch seconds in the JSON protocol) as the events write it."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        stamp = dt.datetime.fromtimestamp(value, dt.UTC)
        return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"
    return value


TASK_DATES = (
    "connectivityAt",
    "createdAt",
    "executionStoppedAt",
    "pullStartedAt",
    "pullStoppedAt",
    "startedAt",
    "stoppedAt",
    "stoppingAt",
)


def _now_iso() -> str:
    return _iso(time.time())


class EcsEvents:
    """What ECS would send since the last look, queued for delivery (see the module's docstring)."""

    def __init__(self, seed: int = 0) -> None:
        self.delivery = EventDelivery()
        self.sent: dict[str, int] = {}  # events delivered to at least one queue, by detail-type
        self.reset(seed)

    def reset(self, seed: int = 0) -> None:
        self.delivery = EventDelivery()
        self.sent = {}
        self._random = random.Random(seed)
        self._tasks: dict[str, tuple[Any, ...]] = {}  # task ARN -> the state last seen
        self._deployments: dict[tuple[str, str], str] = {}  # (service ARN, deployment id) -> rolloutState
        self._newest_event: dict[str, str | None] = {}  # service ARN -> id of its newest service event seen
        self._outbox: list[tuple[float, int, str, str, dict[str, Any]]] = []
        self._held: list[tuple[float, int, str, str, dict[str, Any]]] = []
        self._sequence = 0

    # ------------------------------------------------------------------ what changed

    def observe(self, account: str, region: str, backend: Any, now: float, real: Any) -> None:
        """Queue an event for each task, deployment and service whose state changed since the last look
        (``real``: emulated seconds to real ones)."""
        listened = bridge.has_event_rules(account, region)  # else only the versions move (no event to build)
        for task in bridge.all_tasks(backend):
            if not isinstance(task, bridge.EmulatedTask):
                continue
            seen = self._tasks.get(task.task_arn)
            if seen is not None and seen[0] == "STOPPED":
                continue  # a stopped task changes no more
            state = _task_state(task)
            if seen == state:
                continue
            if seen is not None:
                task.version += 1  # DescribeTasks shows the version the event carries
            self._tasks[task.task_arn] = state
            if not listened:
                continue
            detail = {k: _iso(v) if k in TASK_DATES else v for k, v in bridge.describe_task(task).items()}
            detail.pop("tags", None)
            detail["updatedAt"] = _now_iso()
            self._queue(account, region, TASK_STATE_CHANGE, [task.task_arn], detail, now, real)
        for service in bridge.all_services(backend):
            self._observe_service(account, region, service, now, real, listened)

    def _observe_service(self, account: str, region: str, service: Any, now: float, real: Any, listened: bool) -> None:
        for deployment in service.deployments:
            state = deployment.get("rolloutState")
            key = (service.arn, deployment["id"])
            if not state or self._deployments.get(key) == state:
                continue
            self._deployments[key] = state
            if not listened:
                continue
            detail = {
                "eventType": "ERROR" if state == "FAILED" else "INFO",
                "eventName": f"SERVICE_DEPLOYMENT_{state}",
                "deploymentId": deployment["id"],
                "updatedAt": _now_iso(),
                "reason": deployment.get("rolloutStateReason", ""),
            }
            self._queue(account, region, DEPLOYMENT_STATE_CHANGE, [service.arn], detail, now, real)
        # The service's own events, newest first: those since the newest one seen before.
        newest = service.events[0]["id"] if service.events else None
        before = self._newest_event.get(service.arn)
        if newest == before:
            return
        self._newest_event[service.arn] = newest
        new = list(itertools.takewhile(lambda e: e["id"] != before, service.events))
        if not listened:
            return
        for event_type, event_name, said in SERVICE_ACTIONS:
            if any(said in e["message"] for e in new):
                detail = {
                    "eventType": event_type,
                    "eventName": event_name,
                    "clusterArn": service.cluster_arn,
                    "createdAt": _now_iso(),
                }
                self._queue(account, region, SERVICE_ACTION, [service.arn], detail, now, real)

    def _queue(
        self,
        account: str,
        region: str,
        detail_type: str,
        resources: list[str],
        detail: dict[str, Any],
        now: float,
        real: Any,
    ) -> None:
        event = {
            "version": "0",
            "id": str(uuid.UUID(int=self._random.getrandbits(128), version=4)),
            "detail-type": detail_type,
            "source": SOURCE,
            "account": account,
            "time": time.time(),
            "region": region,
            "resources": resources,
            "detail": detail,
        }
        delivery = self.delivery
        if delivery.loss and self._random.random() < delivery.loss:
            return
        copies = 2 if delivery.duplicate and self._random.random() < delivery.duplicate else 1
        for _ in range(copies):
            self._sequence += 1
            entry = (now + real(delivery.delay), self._sequence, account, region, event)
            if delivery.reorder and self._random.random() < delivery.reorder:
                self._held.append(entry)  # goes out after the next event
            else:
                self._outbox.append(entry)
                self._outbox.extend(self._held)
                self._held.clear()

    # ------------------------------------------------------------------ delivery

    def deliver_due(self, now: float) -> None:
        if self._held and self._held[0][0] + HELD_AT_MOST < now:  # no next event came: out of order all the same
            self._outbox.extend(self._held)
            self._held.clear()
        due = [entry for entry in self._outbox if entry[0] <= now]
        if not due:
            return
        self._outbox = [entry for entry in self._outbox if entry[0] > now]
        for _, _, account, region, event in due:
            if bridge.deliver_event(account, region, event):
                self.sent[event["detail-type"]] = self.sent.get(event["detail-type"], 0) + 1

    def describe(self) -> dict[str, Any]:
        return {"delivery": asdict(self.delivery), "sent": dict(self.sent), "queued": len(self._outbox)}


def _task_state(task: Any) -> tuple[Any, ...]:
    """What makes a task's state change (and its version increment) for ECS."""
    return (
        task.last_status,
        task.desired_status,
        task.health_status,
        task.stop_code,
        tuple((c.last_status, c.exit_code, c.health_status) for c in task.containers),
    )
