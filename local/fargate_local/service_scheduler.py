"""The service scheduler: deployments, keeping the desired count running, failed-task counts,
the circuit breaker and its rollback, draining, and the service events ECS writes.
``ControlPlane`` mixes it in."""

from __future__ import annotations

import math
import time
import uuid
from typing import Any

from fargate_local import load_balancers, task_start
from fargate_local import moto_bridge as bridge
from fargate_local.moto_bridge import EmulatedTask
from fargate_local.state import ControlPlaneState, ServiceThrottle

MAX_EVENTS = 100

# ECS's service throttle (developer guide, "Amazon ECS service throttle logic"): tasks that keep
# failing to start are relaunched after delays that grow "up to a maximum of 27 minutes". ECS does
# not publish the steps; these double from one minute once three tasks in a row failed to start.
THROTTLE_AFTER_FAILURES = 3
THROTTLE_FIRST_DELAY = 60.0
THROTTLE_MAX_DELAY = 27 * 60.0
THROTTLE_EVENT = (
    "is unable to consistently start tasks successfully. For more information, see the "
    "Troubleshooting section of the Amazon ECS Developer Guide."
)


def circuit_breaker_threshold(desired_count: int, threshold_configuration: dict[str, Any] | None = None) -> int:
    """How many failed tasks trip the breaker (API_ThresholdConfiguration): COUNT is the value itself;
    the percentages are value% of the desired count, BOUNDED_PERCENT (the default, 50) kept within
    3 to 200, UNBOUNDED_PERCENT not."""
    config = threshold_configuration or {}
    kind, value = config.get("type", "BOUNDED_PERCENT"), config.get("value", 50)
    if kind == "COUNT":
        return value
    threshold = math.ceil(value * desired_count / 100)
    return threshold if kind == "UNBOUNDED_PERCENT" else max(3, min(200, threshold))


class ServiceScheduler(ControlPlaneState):
    """Reconciling each service with its tasks on every tick."""

    # ================================================================== services: reconciliation

    def _deployment(
        self, service: Any, task_definition_arn: str, desired: int, *, rollback: bool = False
    ) -> dict[str, Any]:
        """A new deployment of the service; unless it is a rollback's, recorded in the service's
        history (service_deployments: ECS creates no service deployment for a rollback)."""
        now = bridge.utcnow()
        deployment_id = f"ecs-svc/{self._ids.randrange(10**18, 10**19)}"
        deployment = {
            "id": deployment_id,
            "status": "PRIMARY",
            "taskDefinition": task_definition_arn,
            "desiredCount": desired,
            "pendingCount": 0,
            "runningCount": 0,
            "failedTasks": 0,
            "createdAt": now,
            "updatedAt": now,
            "platformVersion": "1.4.0",
            "platformFamily": "Linux",
            "rolloutState": "IN_PROGRESS",
            "rolloutStateReason": f"ECS deployment {deployment_id} in progress.",
        }
        if service.capacity_provider_strategy:
            deployment["capacityProviderStrategy"] = service.capacity_provider_strategy
        else:
            deployment["launchType"] = "FARGATE"
        if service.network_configuration:
            deployment["networkConfiguration"] = service.network_configuration
        if not rollback:
            self._history_deployment_started(service, deployment)
        return deployment

    @staticmethod
    def _event(service: Any, message: str) -> None:
        service.events.insert(
            0, {"id": str(uuid.uuid4()), "createdAt": bridge.utcnow(), "message": f"(service {service.name}) {message}"}
        )
        del service.events[MAX_EVENTS:]

    def _reconcile_service(
        self, backend: Any, account: str, region: str, service: Any, tasks: list[EmulatedTask]
    ) -> None:
        """One tick of the scheduler for one service, step by step in the order ECS takes them."""
        if service.status == "DRAINING":
            self._drain(service, tasks)
            return
        primary = service.deployments[0]
        load_balancers.reconcile_targets(self, backend, service, tasks)
        current = self._alive(tasks, primary["id"])
        self._end_throttle_if_cleared(service, primary, current)
        self._launch_missing_tasks(backend, account, region, service, primary, current)
        self._stop_surplus_tasks(service, primary, current)
        self._replace_old_deployments(service, primary, tasks)
        self._count(service, tasks)
        self._report_steady_state(service, primary, tasks)
        self._history_tick(service)

    @staticmethod
    def _alive(tasks: list[EmulatedTask], deployment_id: str) -> list[EmulatedTask]:
        """The deployment's tasks that are meant to run and have not stopped."""
        return [
            t
            for t in tasks
            if t.started_by == deployment_id and t.desired_status == "RUNNING" and t.last_status != "STOPPED"
        ]

    def _drain(self, service: Any, tasks: list[EmulatedTask]) -> None:
        """A service being deleted: stop its tasks, and make it INACTIVE once they have all stopped."""
        self._stop_tasks(
            service, [t for t in tasks if t.desired_status == "RUNNING"], "Task stopped due to service deletion"
        )
        if all(t.last_status == "STOPPED" for t in tasks):
            service.status = "INACTIVE"
        self._count(service, tasks)
        self._history_forget(service)

    def _end_throttle_if_cleared(self, service: Any, primary: dict[str, Any], current: list[EmulatedTask]) -> None:
        """A new task definition ends the throttle at once; so does a task that reached RUNNING."""
        throttle = self.service_runs[service.arn].throttle
        if throttle.task_definition != primary["taskDefinition"] or (
            throttle.failures
            and any(t.run.started is not None and t.run.started > throttle.last_failure_at for t in current)
        ):
            self.service_runs[service.arn].throttle = ServiceThrottle(task_definition=primary["taskDefinition"])

    def _launch_missing_tasks(
        self,
        backend: Any,
        account: str,
        region: str,
        service: Any,
        primary: dict[str, Any],
        current: list[EmulatedTask],
    ) -> None:
        """Start the tasks the primary deployment lacks, unless the circuit breaker failed it, the
        throttle holds launches back, or its tasks cannot launch at all."""
        missing = primary["desiredCount"] - len(current)
        if missing <= 0 or self._breaker_stopped_launches(service, primary) or self._throttled(service):
            return
        if self._report_launch_error(backend, account, service, primary):
            return
        started = [self._service_task(backend, account, region, service, primary) for _ in range(missing)]
        self._event(service, f"has started {len(started)} tasks: {' '.join(f'(task {t.id})' for t in started)}.")

    @staticmethod
    def _breaker_stopped_launches(service: Any, primary: dict[str, Any]) -> bool:
        """Whether the circuit breaker failed the rollout, which then "stop[s] launching new tasks"."""
        breaker = service.deployment_configuration.get("deploymentCircuitBreaker", {})
        return bool(primary["rolloutState"] == "FAILED" and breaker.get("enable"))

    def _throttled(self, service: Any) -> bool:
        """Whether the service throttle still delays the next launch."""
        return time.monotonic() < self.service_runs[service.arn].throttle.launch_after

    def _report_launch_error(self, backend: Any, account: str, service: Any, primary: dict[str, Any]) -> bool:
        """Whether the primary deployment's tasks cannot launch. ECS starts nothing and says so in an
        event (not once per tick: once per deployment here)."""
        task_definition = bridge.get_task_definition(backend, primary["taskDefinition"])
        launch_error = task_start.launch_error(account, task_start.needs_of(task_definition))
        if not launch_error:
            return False
        if self.service_runs[service.arn].launch_error != (primary["id"], launch_error):
            self.service_runs[service.arn].launch_error = (primary["id"], launch_error)
            self._event(service, f"failed to launch a task with (error {launch_error}).")
        return True

    def _stop_surplus_tasks(self, service: Any, primary: dict[str, Any], current: list[EmulatedTask]) -> None:
        """Stop the primary deployment's tasks beyond its desired count."""
        extra = current[primary["desiredCount"] :]
        if extra:
            self._stop_tasks(service, extra, f"Scaling activity initiated by (deployment {primary['id']})")

    def _replace_old_deployments(self, service: Any, primary: dict[str, Any], tasks: list[EmulatedTask]) -> None:
        """Stop the older deployments' tasks once the primary's are up, and retire the older
        deployments whose tasks have all stopped."""
        # With load balancers, ECS counts a new task once its targets are healthy.
        running_primary = sum(
            1
            for t in self._alive(tasks, primary["id"])
            if t.last_status == "RUNNING" and load_balancers.task_targets_healthy(service, t)
        )
        for deployment in list(service.deployments[1:]):
            old = self._alive(tasks, deployment["id"])
            # Old tasks make way for healthy new ones only. A rollout the circuit breaker failed (with
            # rollback off: with rollback, the rollback is the primary) "stop[s] launching new tasks"
            # (API_DeploymentCircuitBreaker) and the previous deployment's tasks keep running.
            if running_primary >= primary["desiredCount"] and primary["rolloutState"] != "FAILED":
                self._stop_tasks(service, old, f"Scaling activity initiated by (deployment {primary['id']})")
            if all(t.last_status == "STOPPED" for t in tasks if t.started_by == deployment["id"]):
                service.deployments.remove(deployment)

    def _report_steady_state(self, service: Any, primary: dict[str, Any], tasks: list[EmulatedTask]) -> None:
        """Complete an IN_PROGRESS rollout once the service is steady, and say when it becomes steady."""
        steady = self._steady(service, primary, tasks)
        if steady and primary["rolloutState"] == "IN_PROGRESS":
            primary["rolloutState"] = "COMPLETED"
            primary["rolloutStateReason"] = f"ECS deployment {primary['id']} completed."
            primary["updatedAt"] = bridge.utcnow()
            self.service_runs[service.arn].completed_task_definition = primary["taskDefinition"]
            self.service_runs[service.arn].completed_deployment_id = primary["id"]
            self._event(service, f"(deployment {primary['id']}) deployment completed.")
        if steady and not self.service_runs[service.arn].steady:
            self._event(service, "has reached a steady state.")
        self.service_runs[service.arn].steady = steady

    def _steady(self, service: Any, primary: dict[str, Any], tasks: list[EmulatedTask]) -> bool:
        """Whether only the primary deployment is left, with all its tasks running, settled and healthy."""
        alive = self._alive(tasks, primary["id"])
        # As ECS does, a deployment is only done once its tasks have stayed up for a while:
        # tasks that crash right after starting never make a rollout COMPLETED.
        settle = self.behaviours.timing.real(self.behaviours.timing.stabilize)
        now = time.monotonic()
        settled = all(now - (now if t.run.started is None else t.run.started) >= settle for t in alive)
        # ... and no sooner than that after it (re)entered IN_PROGRESS: a rollback onto tasks
        # still running is IN_PROGRESS for a while too.
        if primary["rolloutState"] == "IN_PROGRESS":
            settled = settled and (bridge.utcnow() - primary["updatedAt"]).total_seconds() >= settle
        return (
            len(service.deployments) == 1
            and primary["runningCount"] == primary["desiredCount"]
            and primary["pendingCount"] == 0
            and settled
            and all(load_balancers.task_targets_healthy(service, t) for t in alive)
        )

    def _service_task(
        self, backend: Any, account: str, region: str, service: Any, deployment: dict[str, Any]
    ) -> EmulatedTask:
        cluster = bridge.get_cluster(backend, service.cluster_name)
        task_definition = bridge.get_task_definition(backend, deployment["taskDefinition"])
        awsvpc = service.network_configuration["awsvpcConfiguration"]
        placement = bridge.place_in_network(account, region, awsvpc)
        tags: list[dict[str, str]] = []
        if service.propagate_tags == "SERVICE":
            tags = list(service.tags)
        elif service.propagate_tags == "TASK_DEFINITION":
            tags = bridge.tags_of(backend, task_definition.arn)
        provider = None
        if service.capacity_provider_strategy:
            provider = max(service.capacity_provider_strategy, key=lambda i: (i.get("base", 0), i.get("weight", 0)))[
                "capacityProvider"
            ]
        return self._new_task(
            backend=backend,
            account=account,
            region=region,
            cluster=cluster,
            task_definition=task_definition,
            placement=placement,
            assign_public_ip=awsvpc.get("assignPublicIp") == "ENABLED",
            launch_type="FARGATE",
            provider=provider,
            platform_version=service.platform_version or "LATEST",
            overrides=None,
            started_by=deployment["id"],
            group=f"service:{service.name}",
            tags=tags,
            enable_execute_command=service.enable_execute_command,
            service=service.arn,
        )

    def _stop_tasks(self, service: Any, tasks: list[EmulatedTask], reason: str) -> None:
        tasks = [t for t in tasks if t.desired_status == "RUNNING"]
        for task in tasks:
            self._request_stop(task, "ServiceSchedulerInitiated", reason)
        if tasks:
            self._event(
                service, f"has stopped {len(tasks)} running tasks: {' '.join(f'(task {t.id})' for t in tasks)}."
            )

    @staticmethod
    def _count(service: Any, tasks: list[EmulatedTask]) -> None:
        running = pending = 0
        for deployment in service.deployments:
            mine = [
                t
                for t in tasks
                if t.started_by == deployment["id"] and t.desired_status == "RUNNING" and t.last_status != "STOPPED"
            ]
            deployment["runningCount"] = sum(1 for t in mine if t.last_status == "RUNNING")
            deployment["pendingCount"] = len(mine) - deployment["runningCount"]
            running += deployment["runningCount"]
            pending += deployment["pendingCount"]
        service.running_count, service.pending_count = running, pending

    def _count_failure(self, backend: Any, service_arn: str, task: EmulatedTask) -> None:
        service: Any = next(  # (moto's Service, with what the emulator adds: deployment_configuration...)
            (s for s in bridge.all_services(backend) if s.arn == service_arn and s.arn in self.service_runs), None
        )
        if service is None or service.status != "ACTIVE":
            return
        deployment = next((d for d in service.deployments if d["id"] == task.started_by), None)
        if deployment is None:
            return
        deployment["failedTasks"] += 1
        breaker = service.deployment_configuration.get("deploymentCircuitBreaker", {})
        primary = service.deployments[0]
        tripping = breaker.get("enable") and primary["failedTasks"] >= circuit_breaker_threshold(
            primary["desiredCount"], breaker.get("thresholdConfiguration")
        )
        if task.run.started is None and deployment is primary and not tripping:
            self._throttle_start_failure(service, primary)
        if deployment is not primary or not tripping or primary["rolloutState"] != "IN_PROGRESS":
            return
        primary["rolloutState"] = "FAILED"
        primary["rolloutStateReason"] = "ECS deployment circuit breaker: tasks failed to start."
        primary["updatedAt"] = bridge.utcnow()
        self._event(service, f"(deployment {primary['id']}) deployment failed: tasks failed to start.")
        run = self.service_runs[service.arn]
        previous, previous_id = run.completed_task_definition, run.completed_deployment_id
        rolled_back_to = None
        if breaker.get("rollback") and previous and previous_id != primary["id"]:
            rolled_back_to = previous_id
            # ECS rolls back to the last COMPLETED deployment itself: it goes back to IN_PROGRESS
            # under its own id (deployment-circuit-breaker.html), then "deployment completed" again.
            primary["status"] = "ACTIVE"
            for other in service.deployments[1:]:
                other["status"] = "ACTIVE"
            rollback = next((d for d in service.deployments if d["id"] == previous_id), None)
            if rollback is None:
                rollback = self._deployment(service, previous, service.desired_count, rollback=True)
                rollback["id"] = previous_id
            else:
                service.deployments.remove(rollback)
            rollback.update(
                status="PRIMARY",
                desiredCount=service.desired_count,
                rolloutState="IN_PROGRESS",
                rolloutStateReason=f"ECS deployment circuit breaker: rolling back to deploymentId {previous_id}.",
                updatedAt=bridge.utcnow(),
            )
            service.deployments.insert(0, rollback)
            service.task_definition = previous
            run.steady = False
            self._event(service, f"rolling back to deployment {previous_id}.")
        self._history_breaker_tripped(service, primary, rolled_back_to)

    def _throttle_start_failure(self, service: Any, primary: dict[str, Any]) -> None:
        """A task of the primary deployment stopped before RUNNING. Only such tasks throttle: "Tasks
        that stop after reaching RUNNING state" do not (service-throttle-logic.html)."""
        throttle = self.service_runs[service.arn].throttle
        if throttle.task_definition != primary["taskDefinition"]:
            return  # the tick resets the throttle for a new task definition first
        now = time.monotonic()
        throttle.failures += 1
        throttle.last_failure_at = now
        if throttle.failures < THROTTLE_AFTER_FAILURES:
            return
        delay = min(THROTTLE_MAX_DELAY, THROTTLE_FIRST_DELAY * 2 ** (throttle.failures - THROTTLE_AFTER_FAILURES))
        throttle.launch_after = now + self.behaviours.timing.real(delay)
        if not throttle.announced:
            throttle.announced = True
            self._event(service, THROTTLE_EVENT)
