"""ECS's events as the waits read them: which waits an event concerns, and whether it says anything
not already seen. Pure (no Airflow, no AWS call); the triggerer's consumer (``triggers/ecs_events``)
reads them from Amazon SQS.

ECS sends to EventBridge (ecs_cwe_events.html), and an EventBridge rule to an SQS queue delivers:

- **ECS Task State Change** (ecs_task_events.html): the detail is the task as DescribeTasks
  describes it, with ``clusterArn``, ``taskArn``, ``group`` (``service:NAME`` for a service's tasks)
  and ``version``, which "increments when the resource state changes"; "duplicate events have the
  same version in the detail object". A task's event concerns waits on that task and waits on the
  service whose task it is.
- **ECS Service Action** (ecs_service_events.html, e.g. SERVICE_STEADY_STATE) and **ECS Deployment
  State Change** (ecs_service_deployment_events.html): ``resources`` holds the service's ARN
  (``arn:aws:ecs:REGION:ACCOUNT:service/CLUSTER/NAME``). They carry no version: a duplicate is the
  same event ``id``.

EventBridge delivers at least once and not in order ("Events are delivered out of order",
eb-troubleshooting). An event is news when its task version is above the highest seen for that
task (an older one, arriving late, says nothing new), or, without a version, when its id was not
seen. An event only wakes the waits it concerns: they describe what they wait for at once, so the
state always comes from DescribeServices/DescribeTasks, and a lost, late or repeated event can at
worst cost a call or leave the wait to its next look.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

SERVICES, TASKS = "services", "tasks"  # what a wait describes (the shared poller reads these names)
TASK_STATE_CHANGE = "ECS Task State Change"
SERVICE_ACTION = "ECS Service Action"
DEPLOYMENT_STATE_CHANGE = "ECS Deployment State Change"
DETAIL_TYPES = (TASK_STATE_CHANGE, SERVICE_ACTION, DEPLOYMENT_STATE_CHANGE)


@dataclass(frozen=True)
class EcsEvent:
    """What an event concerns: (kind, cluster name, item) keys a wait may hold (a task by ARN or
    id, a service by name or ARN), and how to tell it was seen (the resource and its version, or
    the event's id)."""

    id: str
    detail_type: str
    resource: str
    version: int | None
    concerns: frozenset[tuple[str, str, str]]


def cluster_name(cluster: str) -> str:
    """A cluster's name from its name or ARN (``arn:aws:ecs:…:cluster/NAME``)."""
    return cluster.rsplit("/", 1)[-1]


def parse_event(body: str) -> EcsEvent | None:
    """The event an SQS message holds (EventBridge's event, as the rule's target sends it without an
    input transformer); None when it is none of ECS's events the waits read."""
    try:
        event = json.loads(body)
    except ValueError:
        return None
    if not isinstance(event, dict) or event.get("source") != "aws.ecs":
        return None
    detail_type, detail = event.get("detail-type"), event.get("detail")
    if detail_type not in DETAIL_TYPES or not isinstance(detail, dict):
        return None
    event_id = str(event.get("id", ""))
    if detail_type == TASK_STATE_CHANGE:
        task, cluster = detail.get("taskArn"), detail.get("clusterArn")
        if not isinstance(task, str) or not isinstance(cluster, str):
            return None
        name = cluster_name(cluster)
        concerns = {(TASKS, name, task), (TASKS, name, task.rsplit("/", 1)[-1])}
        group = detail.get("group")
        if isinstance(group, str) and group.startswith("service:"):
            service = group.removeprefix("service:")
            concerns.add((SERVICES, name, service))
        version = detail.get("version")
        return EcsEvent(event_id, detail_type, task, version if isinstance(version, int) else None, frozenset(concerns))
    service_arn = next((r for r in event.get("resources") or [] if isinstance(r, str) and ":service/" in r), None)
    if service_arn is None:
        return None
    parts = service_arn.split(":service/", 1)[1].split("/")
    if len(parts) != 2:  # the old ARN format (no cluster in it): the cluster is not known
        return None
    name, service = parts
    concerns = {(SERVICES, name, service), (SERVICES, name, service_arn)}
    return EcsEvent(event_id, detail_type, service_arn, None, frozenset(concerns))


class SeenEvents:
    """Which events said something new (see the module's docstring); remembers the newest ``size``
    tasks' versions and event ids."""

    def __init__(self, size: int = 100_000):
        self.size = size
        self._versions: OrderedDict[str, int] = OrderedDict()
        self._ids: OrderedDict[str, None] = OrderedDict()

    def is_news(self, event: EcsEvent) -> bool:
        if event.version is not None:
            seen = self._versions.get(event.resource)
            if seen is not None and event.version <= seen:
                return False
            self._remember(self._versions, event.resource, event.version)
            return True
        if event.id in self._ids:
            return False
        self._remember(self._ids, event.id, None)
        return True

    def _remember(self, table: OrderedDict[str, Any], key: str, value: Any) -> None:
        table[key] = value
        table.move_to_end(key)
        while len(table) > self.size:
            table.popitem(last=False)
