"""Service deployments and service revisions: ECS's own record of each rollout of a service, read
with ListServiceDeployments, DescribeServiceDeployments and DescribeServiceRevisions (moto has
none of the three). ``ControlPlane`` mixes it in; the service scheduler calls the ``_history_*``
hooks when it starts a deployment, on every tick, when the circuit breaker trips and when a service
is deleted.

As ECS keeps them (developer guide: service-deployment.html, service-revision.html; API reference:
API_ServiceDeployment, API_ServiceRevision, API_ListServiceDeployments, API_DescribeServiceDeployments):
- CreateService, and an UpdateService that starts a deployment (force new deployment, or a property
  that needs one), create a service deployment and a service revision: the task definition, launch
  type or capacity provider strategy, platform, network and load balancers being deployed. "Amazon
  ECS doesn't create a new service revision for a rollback operation": the failed deployment itself
  goes ROLLBACK_IN_PROGRESS and names the last successful revision in ``rollback``.
- States: "A service deployment starts in PENDING state", IN_PROGRESS once started, SUCCESSFUL when
  it completes; STOP_REQUESTED then STOPPED when "A user starts a new service deployment" before it
  finished, or when "The rollback option is not in use" and the circuit breaker trips;
  ROLLBACK_IN_PROGRESS, then ROLLBACK_SUCCESSFUL or ROLLBACK_FAILED, when it trips with rollback.
- Task counts (requested, running, pending) of the target and source revisions follow the rollout
  while it is ongoing and stay as they were when it finished: "This number represents the number of
  tasks running when the deployment completed."
- "Amazon ECS deletes the service deployment when you delete a service" and "deletes the service
  revision": a deleted service lists none, and their ARNs are MISSING from then on.
- "You can view the most recent 90-day history": older deployments are neither listed nor described.
- ListServiceDeployments lists the newest first, "up to 20 results" a page unless ``maxResults``
  (1 to 100) says otherwise; DescribeServiceDeployments and DescribeServiceRevisions take "a maximum
  of 20 ARNs" and answer unknown ones as ``failures`` with the reason MISSING.
- ARNs as the AWS CLI's examples show them: ``…:service-deployment/<cluster>/<service>/<21-character
  id>`` and ``…:service-revision/<cluster>/<service>/<19-digit id>``.
"""

from __future__ import annotations

import copy
import datetime as dt
import string
from dataclasses import dataclass, field
from typing import Any

from fargate_local import moto_bridge as bridge
from fargate_local.listings import page
from fargate_local.moto_bridge import invalid_parameter
from fargate_local.service_scheduler import circuit_breaker_threshold
from fargate_local.state import ControlPlaneState

RETENTION = dt.timedelta(days=90)
LIST_PAGE_SIZE = 20  # ListServiceDeployments' default page
DESCRIBE_LIMIT = 20  # ARNs per DescribeServiceDeployments / DescribeServiceRevisions call
ONGOING = ("PENDING", "IN_PROGRESS", "STOP_REQUESTED", "ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS")
_ID_CHARACTERS = string.ascii_letters + string.digits


@dataclass
class DeploymentRecord:
    """One service deployment; ``ecs_id`` is the service's deployment (DescribeServices'
    ``deployments[].id``) whose rollout it records."""

    arn: str
    service_arn: str
    cluster_arn: str
    ecs_id: str
    target: str  # the service revision being deployed
    sources: list[str]  # the revisions running when it started
    configuration: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime
    status: str = "PENDING"
    status_reason: str | None = None
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    stopped_at: dt.datetime | None = None
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # by revision ARN
    breaker: str = "DISABLED"
    failure_count: int = 0
    threshold: int = 3
    rollback: dict[str, Any] | None = None
    rollback_to: str | None = None  # the service deployment id the rollback went back to

    def brief(self) -> dict[str, Any]:
        """As ListServiceDeployments lists it."""
        return _present(
            {
                "serviceDeploymentArn": self.arn,
                "serviceArn": self.service_arn,
                "clusterArn": self.cluster_arn,
                "startedAt": _epoch(self.started_at),
                "createdAt": _epoch(self.created_at),
                "finishedAt": _epoch(self.finished_at),
                "targetServiceRevisionArn": self.target,
                "status": self.status,
                "statusReason": self.status_reason,
            }
        )

    def described(self) -> dict[str, Any]:
        """As DescribeServiceDeployments describes it."""
        return _present(
            {
                "serviceDeploymentArn": self.arn,
                "serviceArn": self.service_arn,
                "clusterArn": self.cluster_arn,
                "createdAt": _epoch(self.created_at),
                "startedAt": _epoch(self.started_at),
                "finishedAt": _epoch(self.finished_at),
                "stoppedAt": _epoch(self.stopped_at),
                "updatedAt": _epoch(self.updated_at),
                "sourceServiceRevisions": [{"arn": arn, **self.counts[arn]} for arn in self.sources],
                "targetServiceRevision": {"arn": self.target, **self.counts[self.target]},
                "status": self.status,
                "statusReason": self.status_reason,
                "deploymentConfiguration": self.configuration,
                "rollback": {**self.rollback, "startedAt": _epoch(self.rollback["startedAt"])}
                if self.rollback
                else None,
                "deploymentCircuitBreaker": {
                    "status": self.breaker,
                    "failureCount": self.failure_count,
                    "threshold": self.threshold,
                },
                "alarms": {"status": "DISABLED"},  # the emulator has no CloudWatch alarms to watch
            }
        )


class ServiceDeployments(ControlPlaneState):
    """``_<Operation>(backend, account, region, body, forward)`` for the three operations, and the
    hooks through which the service scheduler keeps the history."""

    def _reset_history(self) -> None:
        self.service_deployments: dict[str, DeploymentRecord] = {}  # by ARN
        self.service_revisions: dict[str, dict[str, Any]] = {}  # by ARN, as DescribeServiceRevisions answers
        # (service ARN, service deployment id) -> (service deployment ARN, service revision ARN)
        self._history_of_ecs_deployment: dict[tuple[str, str], tuple[str, str]] = {}

    # ================================================================== API

    def _ListServiceDeployments(self, backend, account, region, body, forward):
        cluster = bridge.get_cluster(backend, body.get("cluster"))
        service = bridge.find_service(backend, cluster.name, body["service"])
        statuses = body.get("status") or None
        created = body.get("createdAt") or {}
        after, before = _datetime(created.get("after")), _datetime(created.get("before"))
        records = [
            r
            for r in self._history(service.arn)
            if (statuses is None or r.status in statuses)
            and (after is None or r.created_at >= after)
            and (before is None or r.created_at <= before)
        ]
        size = body.get("maxResults")
        paged = {**body, "maxResults": LIST_PAGE_SIZE if size is None else size}
        # Newest first; the token is the last one listed, so deployments that changed status since do not shift pages.
        entries = [((r.created_at.isoformat(timespec="microseconds"), r.arn), r.brief()) for r in records]
        return page("ListServiceDeployments", paged, entries, "serviceDeployments", descending=True)

    def _DescribeServiceDeployments(self, backend, account, region, body, forward):
        arns = _limited(body["serviceDeploymentArns"], "serviceDeploymentArns")
        visible = {r.arn: r for r in self._history(None) if _in_scope(r.arn, account, region)}
        found = [visible[arn].described() for arn in arns if arn in visible]
        return {
            "serviceDeployments": found,
            "failures": [{"arn": arn, "reason": "MISSING"} for arn in arns if arn not in visible],
        }

    def _DescribeServiceRevisions(self, backend, account, region, body, forward):
        arns = _limited(body["serviceRevisionArns"], "serviceRevisionArns")
        visible = {arn: r for arn, r in self.service_revisions.items() if _in_scope(arn, account, region)}
        found = [_serialised(visible[arn]) for arn in arns if arn in visible]
        return {
            "serviceRevisions": found,
            "failures": [{"arn": arn, "reason": "MISSING"} for arn in arns if arn not in visible],
        }

    def _history(self, service_arn: str | None) -> list[DeploymentRecord]:
        """The service's deployments ECS still shows (all services' with None): the last 90 days."""
        oldest = bridge.utcnow() - RETENTION
        return [
            r
            for r in self.service_deployments.values()
            if (service_arn is None or r.service_arn == service_arn) and r.created_at >= oldest
        ]

    # ================================================================== hooks of the service scheduler

    def _history_deployment_started(self, service: Any, deployment: dict[str, Any]) -> None:
        """CreateService or UpdateService started ``deployment``: a new service revision and a
        PENDING service deployment from the revisions running now; an unfinished one stops."""
        now = bridge.utcnow()
        partition, region, account = _arn_parts(service.arn)
        cluster_arn = f"arn:{partition}:ecs:{region}:{account}:cluster/{service.cluster_name}"
        path = f"{service.cluster_name}/{service.name}"
        revision_arn = (
            f"arn:{partition}:ecs:{region}:{account}:service-revision/{path}/{self._ids.randrange(10**18, 10**19)}"
        )
        deployment_id = "".join(self._ids.choice(_ID_CHARACTERS) for _ in range(21))
        task_definition = bridge.get_task_definition(bridge.ecs_backend(account, region), deployment["taskDefinition"])
        revision: dict[str, Any] = {
            "serviceRevisionArn": revision_arn,
            "serviceArn": service.arn,
            "clusterArn": cluster_arn,
            "taskDefinition": deployment["taskDefinition"],
        }
        if deployment.get("capacityProviderStrategy"):
            revision["capacityProviderStrategy"] = deployment["capacityProviderStrategy"]
        else:
            revision["launchType"] = deployment.get("launchType", "FARGATE")
        revision.update(
            _present(
                {
                    "platformVersion": deployment["platformVersion"],
                    "platformFamily": deployment["platformFamily"],
                    "loadBalancers": list(service.load_balancers or []) or None,
                    "networkConfiguration": service.network_configuration,
                    "containerImages": [
                        {"containerName": c.get("name"), "image": c.get("image")}
                        for c in task_definition.container_definitions
                    ],
                    "guardDutyEnabled": False,
                    "serviceConnectConfiguration": {"enabled": False},
                    "createdAt": now,
                }
            )
        )
        sources = list(
            dict.fromkeys(
                self._history_of_ecs_deployment[(service.arn, d["id"])][1]
                for d in service.deployments
                if (service.arn, d["id"]) in self._history_of_ecs_deployment
            )
        )
        for record in self._history(service.arn):
            if record.status in ("PENDING", "IN_PROGRESS", "ROLLBACK_IN_PROGRESS"):
                record.status, record.updated_at = "STOP_REQUESTED", now
        configuration = service.deployment_configuration
        breaker = configuration.get("deploymentCircuitBreaker", {})
        record = DeploymentRecord(
            arn=f"arn:{partition}:ecs:{region}:{account}:service-deployment/{path}/{deployment_id}",
            service_arn=service.arn,
            cluster_arn=cluster_arn,
            ecs_id=deployment["id"],
            target=revision_arn,
            sources=sources,
            configuration=copy.deepcopy(configuration),
            created_at=now,
            updated_at=now,
            breaker="MONITORING" if breaker.get("enable") else "DISABLED",
            threshold=circuit_breaker_threshold(deployment["desiredCount"], breaker.get("thresholdConfiguration")),
        )
        record.counts = {arn: _counts(self._ecs_deployment_of(service, arn)) for arn in [revision_arn, *sources]}
        record.counts[revision_arn]["requestedTaskCount"] = deployment["desiredCount"]
        self.service_revisions[revision_arn] = revision
        self.service_deployments[record.arn] = record
        self._history_of_ecs_deployment[(service.arn, deployment["id"])] = (record.arn, revision_arn)

    def _history_breaker_tripped(self, service: Any, failed: dict[str, Any], rolled_back_to: str | None) -> None:
        """The circuit breaker failed ``failed``: ROLLBACK_IN_PROGRESS when ECS rolls back to the
        deployment ``rolled_back_to``, else STOP_REQUESTED."""
        record = self._record_of(service, failed["id"])
        if record is None or record.status not in ("PENDING", "IN_PROGRESS"):
            return
        now = bridge.utcnow()
        record.breaker, record.failure_count = "TRIGGERED", failed["failedTasks"]
        record.status_reason, record.updated_at = failed["rolloutStateReason"], now
        target = self._history_of_ecs_deployment.get((service.arn, rolled_back_to or ""))
        if rolled_back_to and target:
            record.status, record.rollback_to = "ROLLBACK_IN_PROGRESS", rolled_back_to
            record.rollback = {
                "reason": service.deployments[0]["rolloutStateReason"],
                "startedAt": now,
                "serviceRevisionArn": target[1],
            }
        else:
            record.status = "STOP_REQUESTED"

    def _history_tick(self, service: Any) -> None:
        """Every tick: unfinished deployments of the service follow its rollout."""
        now = bridge.utcnow()
        by_id = {d["id"]: d for d in service.deployments}
        for record in self._history(service.arn):
            if record.status not in ONGOING:
                continue
            before = (record.status, record.counts, record.failure_count)
            record.counts = {arn: self._live_counts(service, record, arn) for arn in record.counts}
            ecs = by_id.get(record.ecs_id)
            if record.status == "PENDING":
                record.status, record.started_at = "IN_PROGRESS", now
            if record.status == "IN_PROGRESS" and ecs is not None:
                record.failure_count = ecs["failedTasks"]
                if ecs["rolloutState"] == "COMPLETED":
                    record.status, record.finished_at = "SUCCESSFUL", now
                    record.breaker = "MONITORING_COMPLETE" if record.breaker == "MONITORING" else record.breaker
            elif record.status == "STOP_REQUESTED":
                record.status, record.stopped_at = "STOPPED", now
            elif record.status == "ROLLBACK_IN_PROGRESS":
                rollback = by_id.get(record.rollback_to or "")
                if rollback is not None and rollback["rolloutState"] == "COMPLETED":
                    record.status, record.finished_at = "ROLLBACK_SUCCESSFUL", now
                elif rollback is None or rollback["rolloutState"] == "FAILED":
                    record.status, record.finished_at = "ROLLBACK_FAILED", now
            if (record.status, record.counts, record.failure_count) != before:
                record.updated_at = now

    def _history_forget(self, service: Any) -> None:
        """The service was deleted: ECS deletes its service deployments and revisions."""
        for key, (deployment_arn, revision_arn) in list(self._history_of_ecs_deployment.items()):
            if key[0] == service.arn:
                del self._history_of_ecs_deployment[key]
                self.service_deployments.pop(deployment_arn, None)
                self.service_revisions.pop(revision_arn, None)

    # ------------------------------------------------------------------ helpers

    def _record_of(self, service: Any, ecs_id: str) -> DeploymentRecord | None:
        found = self._history_of_ecs_deployment.get((service.arn, ecs_id))
        return self.service_deployments.get(found[0]) if found else None

    def _ecs_deployment_of(self, service: Any, revision_arn: str) -> dict[str, Any] | None:
        """The service's current deployment that runs the revision, if it still has one."""
        return next(
            (
                d
                for d in service.deployments
                if self._history_of_ecs_deployment.get((service.arn, d["id"]), ("", ""))[1] == revision_arn
            ),
            None,
        )

    def _live_counts(self, service: Any, record: DeploymentRecord, revision_arn: str) -> dict[str, int]:
        deployment = self._ecs_deployment_of(service, revision_arn)
        if deployment is None and revision_arn == record.target:
            # A failed or replaced deployment's tasks are gone; what it asked for stays on record.
            return {**record.counts[revision_arn], "runningTaskCount": 0, "pendingTaskCount": 0}
        return _counts(deployment)


def _counts(deployment: dict[str, Any] | None) -> dict[str, int]:
    if deployment is None:
        return {"requestedTaskCount": 0, "runningTaskCount": 0, "pendingTaskCount": 0}
    return {
        "requestedTaskCount": deployment["desiredCount"],
        "runningTaskCount": deployment["runningCount"],
        "pendingTaskCount": deployment["pendingCount"],
    }


def _limited(arns: list[str], member: str) -> list[str]:
    if len(arns) > DESCRIBE_LIMIT:
        raise invalid_parameter(f"{member} can have at most {DESCRIBE_LIMIT} items.")
    return list(dict.fromkeys(arns))


def _arn_parts(arn: str) -> tuple[str, str, str]:
    """(partition, region, account) of an ARN."""
    parts = arn.split(":")
    return parts[1], parts[3], parts[4]


def _in_scope(arn: str, account: str, region: str) -> bool:
    """Only the caller's account and region see a deployment or revision."""
    parts = arn.split(":")
    return len(parts) > 5 and (parts[3], parts[4]) == (region, account)


def _epoch(value: dt.datetime | None) -> float | None:
    """Timestamps as the JSON protocol carries them: seconds since the epoch."""
    return value.timestamp() if value is not None else None


def _datetime(value: float | int | None) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(value, dt.UTC) if value is not None else None


def _serialised(revision: dict[str, Any]) -> dict[str, Any]:
    return {**revision, "createdAt": _epoch(revision["createdAt"])}


def _present(members: dict[str, Any]) -> dict[str, Any]:
    """ECS leaves out the members it has no value for."""
    return {k: v for k, v in members.items() if v is not None}
