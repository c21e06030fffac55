"""One-off and service tasks through time: PROVISIONING → PENDING → RUNNING → STOPPED, with
start checks, exit codes and the log lines they print. ``ControlPlane`` mixes it in."""

from __future__ import annotations

import ipaddress
import json
import time
from typing import Any

from fargate_provider.local import moto_bridge as bridge
from fargate_provider.local import task_start
from fargate_provider.local.behaviours import Behaviour
from fargate_provider.local.moto_bridge import EmulatedTask
from fargate_provider.local.state import TaskRun


class TaskLifecycle:
    """Creating emulated tasks and advancing them on each tick."""

    # ================================================================== tasks: creation and time

    def _new_task(
        self, *, backend, account, region, cluster, task_definition, placement, assign_public_ip, launch_type,
        provider, platform_version, overrides, started_by, group, tags, enable_execute_command, service,
    ) -> EmulatedTask:
        """A task of ``task_definition`` placed in ``placement``; ``service`` is the owning service's
        ARN (None: a one-off task). The behaviour rules decide how it starts, runs and exits."""
        network = ipaddress.ip_network(placement.cidr)
        address = str(network.network_address + 4 + next(self._addresses) % max(network.num_addresses - 5, 1))
        task = EmulatedTask(
            backend=backend, account=account, region=region, cluster=cluster, task_definition=task_definition,
            placement=placement, assign_public_ip=assign_public_ip,
            launch_type=None if provider else launch_type, capacity_provider_name=provider,
            platform_version=platform_version, overrides=overrides, started_by=started_by, group=group,
            tags=tags, enable_execute_command=enable_execute_command, private_ip=address,
        )
        images = [c.image for c in task.containers]
        behaviour = self.behaviours.for_task(task_definition.family, images)
        timing = self.behaviours.timing
        now = time.monotonic()
        run = None
        if behaviour.crash_loop:
            run = timing.crash_after
        elif service is None or behaviour.exit_code is not None or behaviour.run_seconds is not None:
            run = behaviour.run_seconds if behaviour.run_seconds is not None else timing.run
        task.run = TaskRun(
            behaviour=behaviour,
            service=service,
            pending_at=now + timing.real(timing.provisioning),
            running_at=now + timing.real(timing.provisioning + timing.pending + behaviour.start_delay),
            run_for=None if run is None else timing.real(run),
            exit_code=1 if behaviour.crash_loop else (behaviour.exit_code or 0),
            logs=self._log_plan(task, behaviour),
        )
        bridge.add_task(backend, task)
        return task

    def _log_plan(self, task: EmulatedTask, behaviour: Behaviour) -> list[dict[str, Any]]:
        plans = []
        for container in task.containers:
            config = container.definition.get("logConfiguration") or {}
            if config.get("logDriver") != "awslogs":
                continue
            options = config.get("options") or {}
            if behaviour.output is not None:
                lines = list(behaviour.output)
            elif behaviour.output_lines is not None:
                lines = [f"line {i + 1} of {behaviour.output_lines} from {container.name}" for i in range(behaviour.output_lines)]
            else:
                command = container.overrides.get("command") or container.definition.get("command") or []
                lines = [
                    f"[fargate-local] {container.name}: started from image {container.image}",
                    f"[fargate-local] {container.name}: command {json.dumps(command)}",
                    f"Hello from {task.task_definition.family}:{task.task_definition.revision} on fargate-local",
                ]
            plans.append(
                {
                    "group": options.get("awslogs-group"),
                    "region": options.get("awslogs-region") or task.region_name,
                    "create_group": str(options.get("awslogs-create-group", "")).lower() == "true",
                    "stream": f"{options.get('awslogs-stream-prefix')}/{container.name}/{task.id}",
                    "lines": lines,
                    "written": 0,
                }
            )
        return plans

    def _advance_task(self, backend: Any, task: EmulatedTask, now: float) -> None:
        run = task.run
        if task.last_status in ("DEACTIVATING", "DEPROVISIONING"):
            if run.stopped_at is not None and now >= run.stopped_at:
                self._stopped(backend, task)
            return
        if task.last_status == "PROVISIONING" and now >= run.pending_at:
            task.last_status = "PENDING"
            task.pull_started_at = bridge.utcnow()
            for container in task.containers:
                container.last_status = "PENDING"
        if task.last_status == "PENDING" and now >= run.running_at:
            failure = self._start_failure(task)
            if failure:
                task.pull_stopped_at = bridge.utcnow()
                for container in task.containers:
                    container.reason = failure
                    container.last_status = "STOPPED"
                task.desired_status = "STOPPED"
                task.stop_code, task.stopped_reason = "TaskFailedToStart", failure
                self._begin_stopping(task, now, immediate=True)
                return
            task.last_status = "RUNNING"
            task.pull_stopped_at = task.started_at = bridge.utcnow()
            task.health_status = "HEALTHY" if any(c.definition.get("healthCheck") for c in task.containers) else "UNKNOWN"
            for container in task.containers:
                container.last_status = "RUNNING"
                container.health_status = "HEALTHY" if container.definition.get("healthCheck") else "UNKNOWN"
            run.started = now
            if run.run_for is not None:
                run.exit_at = now + run.run_for
        if task.last_status == "RUNNING":
            self._write_logs(task, now)
            if run.exit_at is not None and now >= run.exit_at:
                self._write_logs(task, now, flush=True)
                code = run.exit_code
                behaviour: Behaviour = run.behaviour
                target = behaviour.container or next((c.name for c in task.containers if c.essential), None)
                for container in task.containers:
                    container.exit_code = code if container.name == target else 0
                    container.last_status = "STOPPED"
                task.desired_status = "STOPPED"
                task.stop_code, task.stopped_reason = "EssentialContainerExited", "Essential container in task exited"
                self._begin_stopping(task, now)

    def _start_failure(self, task: EmulatedTask) -> str | None:
        behaviour: Behaviour = task.run.behaviour
        if behaviour.pull_failure:
            image = task.containers[0].image
            return (
                f"CannotPullContainerError: pull image manifest has been retried 7 time(s): failed to resolve ref "
                f"{image}: {image}: not found"
            )
        return task_start.start_failure(task)

    def _write_logs(self, task: EmulatedTask, now: float, flush: bool = False) -> None:
        started, run_for = task.run.started, task.run.run_for
        for plan in task.run.logs:
            total = len(plan["lines"])
            if flush or run_for is None or not run_for:
                due = total
            else:
                # Lines are spread over the run, so followers see them arrive while it runs.
                due = min(total, int(total * (now - started) / run_for) + 1)
            if due <= plan["written"]:
                continue
            stamp = int(time.time() * 1000)
            events = [{"timestamp": stamp, "message": line} for line in plan["lines"][plan["written"] : due]]
            bridge.put_log_lines(task.account, plan["region"], plan["group"], plan["stream"], events)
            plan["written"] = due

    def _begin_stopping(self, task: EmulatedTask, now: float, immediate: bool = False) -> None:
        timing = self.behaviours.timing
        task.stopping_at = bridge.utcnow()
        task.last_status = "DEPROVISIONING"
        task.run.stopped_at = now + (timing.real(1.0) if immediate else timing.real(timing.stopping))

    def _request_stop(self, task: EmulatedTask, code: str, reason: str) -> None:
        if task.desired_status == "STOPPED" or task.last_status == "STOPPED":
            return
        task.desired_status = "STOPPED"
        task.stop_code, task.stopped_reason = code, reason
        now = time.monotonic()
        if task.last_status == "RUNNING":
            self._write_logs(task, now)
            for container in task.containers:
                container.exit_code = 143  # SIGTERM
                container.last_status = "STOPPED"
            task.last_status = "DEACTIVATING"
            task.stopping_at = bridge.utcnow()
            task.run.stopped_at = now + self.behaviours.timing.real(self.behaviours.timing.stopping)
        else:
            self._begin_stopping(task, now, immediate=True)

    def _stopped(self, backend: Any, task: EmulatedTask) -> None:
        task.last_status = "STOPPED"
        task.stopped_at = task.execution_stopped_at = bridge.utcnow()
        task.connectivity = "DISCONNECTED"
        for container in task.containers:
            container.last_status = "STOPPED"
        service_arn = task.run.service
        if service_arn and task.stop_code in ("EssentialContainerExited", "TaskFailedToStart"):
            self._count_failure(backend, service_arn, task)
