"""The ECS List* operations and DescribeClusters, answered as ECS does: pages of ECS's default
size with an opaque ``nextToken`` (moto returns everything in one page and ignores
``maxResults``), deleted services and clusters not listed, and cluster counts taken from the
tasks and services the control plane runs. ``ControlPlane`` mixes it in.

Page sizes (API reference, ``maxResults``): ListServices returns up to 10 results by default,
the others up to 100; ``maxResults`` can be between 1 and 100.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any

from fargate_local import moto_bridge as bridge
from fargate_local.moto_bridge import invalid_parameter

DEFAULT_PAGE_SIZE = {"ListServices": 10}
MAX_PAGE_SIZE = 100
# The members that select what is listed: a token is only good for the same selection.
_PAGING_MEMBERS = ("maxResults", "nextToken")


def page(operation: str, body: dict[str, Any], items: list[str], key: str) -> dict[str, Any]:
    """One page of ``items`` as ``{key: [...], "nextToken": ...}``."""
    size = body.get("maxResults")
    if size is None:
        size = DEFAULT_PAGE_SIZE.get(operation, MAX_PAGE_SIZE)
    elif isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_PAGE_SIZE:
        raise invalid_parameter(f"maxResults must be between 1 and {MAX_PAGE_SIZE}.")
    start = _offset(operation, body)
    answer: dict[str, Any] = {key: items[start : start + size]}
    if start + size < len(items):
        answer["nextToken"] = _token(operation, body, start + size)
    return answer


def _selection(operation: str, body: dict[str, Any]) -> str:
    chosen = {k: v for k, v in body.items() if k not in _PAGING_MEMBERS}
    return hashlib.sha256(json.dumps([operation, chosen], sort_keys=True, default=str).encode()).hexdigest()[:16]


def _token(operation: str, body: dict[str, Any], offset: int) -> str:
    raw = json.dumps({"offset": offset, "selection": _selection(operation, body)}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _offset(operation: str, body: dict[str, Any]) -> int:
    token = body.get("nextToken")
    if token in (None, ""):
        return 0
    try:
        decoded = json.loads(base64.urlsafe_b64decode(str(token).encode()))
        offset, selection = decoded["offset"], decoded["selection"]
    except (binascii.Error, ValueError, TypeError, KeyError):
        offset, selection = None, None
    # ECS refuses a token it did not hand out for this request (a 4xx, never a 500).
    if not isinstance(offset, int) or offset < 0 or selection != _selection(operation, body):
        raise invalid_parameter(
            "Invalid token: nextToken was not returned by a previous call with the same parameters."
        )
    return offset


class Listings:
    """``_<Operation>(backend, account, region, body, forward)`` for the listing operations."""

    def _ListClusters(self, backend, account, region, body, forward):
        # A deleted cluster is INACTIVE (DescribeClusters still finds it a while) but not listed.
        arns = [c.arn for c in backend.clusters.values() if c.status != "INACTIVE"]
        return page("ListClusters", body, arns, "clusterArns")

    def _ListServices(self, backend, account, region, body, forward):
        cluster = bridge.get_cluster(backend, body.get("cluster"))
        strategy, launch_type = body.get("schedulingStrategy"), body.get("launchType")
        arns = [
            s.arn
            for s in bridge.cluster_services(backend, cluster.name)
            # A deleted service is INACTIVE: DescribeServices shows it a while, ListServices does not.
            if s.status != "INACTIVE"
            and (strategy is None or s.scheduling_strategy == strategy)
            and (launch_type is None or s.launch_type == launch_type)
        ]
        return page("ListServices", body, sorted(arns), "serviceArns")

    def _ListTaskDefinitions(self, backend, account, region, body, forward):
        status = body.get("status") or "ACTIVE"
        if status not in ("ACTIVE", "INACTIVE", "DELETE_IN_PROGRESS"):
            raise invalid_parameter("status should be one of [ACTIVE,INACTIVE,DELETE_IN_PROGRESS].")
        sort = body.get("sort") or "ASC"
        if sort not in ("ASC", "DESC"):
            raise invalid_parameter("sort should be one of [ASC,DESC].")
        family = body.get("familyPrefix")
        found = [
            (definition.family, definition.revision, definition.arn)
            for revisions in backend.task_definitions.values()
            for definition in revisions.values()
            if definition.status == status and (not family or definition.family == family)
        ]
        # ECS: by family name, then revision (newest last); DESC reverses both.
        found.sort(reverse=sort == "DESC")
        return page("ListTaskDefinitions", body, [arn for _, _, arn in found], "taskDefinitionArns")

    def _ListTaskDefinitionFamilies(self, backend, account, region, body, forward):
        status = body.get("status") or "ACTIVE"
        if status not in ("ACTIVE", "INACTIVE", "ALL"):
            raise invalid_parameter("status should be one of [ACTIVE,INACTIVE,ALL].")
        prefix = body.get("familyPrefix") or ""
        families = []
        for family, revisions in sorted(backend.task_definitions.items()):
            statuses = {d.status for d in revisions.values()}
            # ACTIVE: a family with an active revision; INACTIVE: one whose revisions are all inactive.
            if not family.startswith(prefix) or not statuses:
                continue
            if (
                status == "ALL"
                or (status == "ACTIVE" and "ACTIVE" in statuses)
                or (status == "INACTIVE" and "ACTIVE" not in statuses)
            ):
                families.append(family)
        return page("ListTaskDefinitionFamilies", body, families, "families")

    def _ListTasks(self, backend, account, region, body, forward):
        cluster = bridge.get_cluster(backend, body.get("cluster"))
        desired = body.get("desiredStatus") or "RUNNING"  # ECS's default filter
        if desired not in ("RUNNING", "PENDING", "STOPPED"):
            raise invalid_parameter("desiredStatus should be one of [RUNNING,PENDING,STOPPED].")
        family, started_by = body.get("family"), body.get("startedBy")
        service_name, launch_type = body.get("serviceName"), body.get("launchType")
        arns = []
        for task in bridge.all_tasks(backend):
            if task.cluster_name != cluster.name or task.desired_status != desired:
                continue
            if family and task.task_definition_arn.rsplit("/", 1)[-1].split(":")[0] != family:
                continue
            if started_by and task.started_by != started_by:
                continue
            if service_name and getattr(task, "group", None) != f"service:{service_name.rsplit('/', 1)[-1]}":
                continue
            if launch_type and getattr(task, "launch_type", None) != launch_type:
                continue
            arns.append(task.task_arn)
        return page("ListTasks", body, arns, "taskArns")

    def _DescribeClusters(self, backend, account, region, body, forward):
        """moto's clusters with the counts ECS keeps: tasks by last status, ACTIVE services, and
        with ``include: [STATISTICS]`` the per-launch-type statistics."""
        answer = forward("DescribeClusters", body)
        include = body.get("include") or []
        for cluster in answer.get("clusters", []):
            name = cluster["clusterName"]
            tasks = [t for t in bridge.all_tasks(backend) if t.cluster_name == name]
            running = [t for t in tasks if t.last_status == "RUNNING"]
            pending = [t for t in tasks if t.last_status in ("PROVISIONING", "PENDING", "ACTIVATING")]
            services = bridge.cluster_services(backend, name)
            active = [s for s in services if s.status == "ACTIVE"]
            draining = [s for s in services if s.status == "DRAINING"]
            cluster["runningTasksCount"] = len(running)
            cluster["pendingTasksCount"] = len(pending)
            cluster["activeServicesCount"] = len(active)
            if "STATISTICS" in include:

                def fargate(items: list[Any]) -> int:
                    return sum(1 for i in items if getattr(i, "launch_type", None) != "EC2")

                counts = {
                    "runningEC2TasksCount": len(running) - fargate(running),
                    "runningFargateTasksCount": fargate(running),
                    "pendingEC2TasksCount": len(pending) - fargate(pending),
                    "pendingFargateTasksCount": fargate(pending),
                    "activeEC2ServiceCount": len(active) - fargate(active),
                    "activeFargateServiceCount": fargate(active),
                    "drainingEC2ServiceCount": len(draining) - fargate(draining),
                    "drainingFargateServiceCount": fargate(draining),
                }
                cluster["statistics"] = [{"name": k, "value": str(v)} for k, v in counts.items()]
            else:
                cluster.pop("statistics", None)
        return answer
