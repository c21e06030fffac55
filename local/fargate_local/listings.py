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


def page(
    operation: str, body: dict[str, Any], entries: list[tuple[Any, Any]], key: str, *, descending: bool = False
) -> dict[str, Any]:
    """One page of ``entries`` (``(sort key, item)`` pairs, the sort keys unique) as
    ``{key: [item, ...], "nextToken": ...}``, in the order of the sort keys (``descending``: reversed).

    The token is a cursor, not a position: it holds the sort key of the last item returned, and the
    next page starts after it. Items deleted or filtered out meanwhile (a service deleted, a task
    stopped) shift nothing, so a "list a page, delete what it holds, go on" loop sees every item."""
    size = body.get("maxResults")
    if size is None:
        size = DEFAULT_PAGE_SIZE.get(operation, MAX_PAGE_SIZE)
    elif isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_PAGE_SIZE:
        raise invalid_parameter(f"maxResults must be between 1 and {MAX_PAGE_SIZE}.")
    ordered = sorted(((_comparable(k), item) for k, item in entries), key=lambda e: e[0], reverse=descending)
    after = _cursor(operation, body)
    if after is not None:
        try:
            ordered = [e for e in ordered if (e[0] < after if descending else e[0] > after)]
        except TypeError:  # a sort key of another shape than this listing's
            raise _invalid_token() from None
    answer: dict[str, Any] = {key: [item for _, item in ordered[:size]]}
    if len(ordered) > size:
        answer["nextToken"] = _token(operation, body, ordered[size - 1][0])
    return answer


def _comparable(sort_key: Any) -> Any:
    """The sort key as it comes back out of a token (tuples become lists)."""
    return json.loads(json.dumps(sort_key))


def _selection(operation: str, body: dict[str, Any]) -> str:
    chosen = {k: v for k, v in body.items() if k not in _PAGING_MEMBERS}
    return hashlib.sha256(json.dumps([operation, chosen], sort_keys=True, default=str).encode()).hexdigest()[:16]


def _token(operation: str, body: dict[str, Any], last: Any) -> str:
    raw = json.dumps({"after": last, "selection": _selection(operation, body)}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _invalid_token() -> Exception:
    return invalid_parameter("Invalid token: nextToken was not returned by a previous call with the same parameters.")


def _cursor(operation: str, body: dict[str, Any]) -> Any:
    """The sort key of the last item the previous page returned; None for the first page."""
    token = body.get("nextToken")
    if token in (None, ""):
        return None
    try:
        decoded = json.loads(base64.urlsafe_b64decode(str(token).encode()))
        after, selection = decoded["after"], decoded["selection"]
    except (binascii.Error, ValueError, TypeError, KeyError):
        after, selection = None, None
    # ECS refuses a token it did not hand out for this request (a 4xx, never a 500).
    if after is None or selection != _selection(operation, body):
        raise _invalid_token()
    return after


class Listings:
    """``_<Operation>(backend, account, region, body, forward)`` for the listing operations."""

    def _ListClusters(self, backend, account, region, body, forward):
        # A deleted cluster is INACTIVE (DescribeClusters still finds it a while) but not listed.
        # Sorted by creation (moto keeps the clusters in that order and never drops one).
        entries = [(n, c.arn) for n, c in enumerate(backend.clusters.values()) if c.status != "INACTIVE"]
        return page("ListClusters", body, entries, "clusterArns")

    def _ListServices(self, backend, account, region, body, forward):
        cluster = bridge.get_cluster(backend, body.get("cluster"))
        strategy, launch_type = body.get("schedulingStrategy"), body.get("launchType")
        arns = [
            s.arn
            for s in bridge.cluster_services(backend, cluster.name)
            # A deleted service is DRAINING, then INACTIVE: DescribeServices shows it a while,
            # ListServices no longer does (API_DeleteService).
            if s.status == "ACTIVE"
            and (strategy is None or s.scheduling_strategy == strategy)
            and (launch_type is None or s.launch_type == launch_type)
        ]
        return page("ListServices", body, [(arn, arn) for arn in arns], "serviceArns")

    def _ListTaskDefinitions(self, backend, account, region, body, forward):
        status = body.get("status") or "ACTIVE"
        if status not in ("ACTIVE", "INACTIVE", "DELETE_IN_PROGRESS"):
            raise invalid_parameter("status should be one of [ACTIVE,INACTIVE,DELETE_IN_PROGRESS].")
        sort = body.get("sort") or "ASC"
        if sort not in ("ASC", "DESC"):
            raise invalid_parameter("sort should be one of [ASC,DESC].")
        family = body.get("familyPrefix")
        found = [
            ((definition.family, definition.revision), definition.arn)
            for revisions in backend.task_definitions.values()
            for definition in revisions.values()
            if definition.status == status and (not family or definition.family == family)
        ]
        # ECS: by family name, then revision (newest last); DESC reverses both.
        return page("ListTaskDefinitions", body, found, "taskDefinitionArns", descending=sort == "DESC")

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
        return page("ListTaskDefinitionFamilies", body, [(f, f) for f in families], "families")

    def _ListTasks(self, backend, account, region, body, forward):
        cluster = bridge.get_cluster(backend, body.get("cluster"))
        desired = body.get("desiredStatus") or "RUNNING"  # ECS's default filter
        if desired not in ("RUNNING", "PENDING", "STOPPED"):
            raise invalid_parameter("desiredStatus should be one of [RUNNING,PENDING,STOPPED].")
        family, started_by = body.get("family"), body.get("startedBy")
        service_name, launch_type = body.get("serviceName"), body.get("launchType")
        entries = []
        # In the order they were started: the cluster's tasks in moto's backend, which keeps them all.
        for position, task in enumerate(list(backend.tasks.get(cluster.name, {}).values())):
            if task.desired_status != desired:
                continue
            if family and task.task_definition_arn.rsplit("/", 1)[-1].split(":")[0] != family:
                continue
            if started_by and task.started_by != started_by:
                continue
            if service_name and getattr(task, "group", None) != f"service:{service_name.rsplit('/', 1)[-1]}":
                continue
            if launch_type and getattr(task, "launch_type", None) != launch_type:
                continue
            entries.append((position, task.task_arn))
        return page("ListTasks", body, entries, "taskArns")

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
