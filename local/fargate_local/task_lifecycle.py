"""One-off and service tasks through time: PROVISIONING → PENDING → ACTIVATING → RUNNING →
DEACTIVATING → STOPPING → DEPROVISIONING → STOPPED, with start checks, container dependencies,
exit codes and the log lines they print. ``ControlPlane`` mixes it in."""

from __future__ import annotations

import bisect
import ipaddress
import json
import math
import time
from typing import Any

from fargate_local import load_balancers, shell, task_start
from fargate_local import moto_bridge as bridge
from fargate_local.behaviours import Behaviour
from fargate_local.moto_bridge import EmulatedTask, Placement
from fargate_local.state import ContainerRun, ControlPlaneState, TaskRun
from fargate_rules.capacity import FARGATE_SPOT, SPOT_INTERRUPTION_REASON, SPOT_INTERRUPTION_STOP_CODE

ACTIVATING_SECONDS = 1.0  # emulated: the last part of the start, after PENDING
INIT_CONTAINER_SECONDS = 2.0  # emulated: how long a container others wait on to exit runs
PLAYED_MINIMUM_SECONDS = 1.0  # emulated: a played command that only prints still runs this long


class TaskLifecycle(ControlPlaneState):
    """Creating emulated tasks and advancing them on each tick."""

    # ================================================================== tasks: creation and time

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
    ) -> EmulatedTask:
        """A task of ``task_definition`` placed in ``placement``; ``service`` is the owning service's
        ARN (None: a one-off task). The behaviour rules decide how it starts, runs and exits."""
        network = ipaddress.ip_network(placement.cidr)
        address = str(network.network_address + 4 + next(self._addresses) % max(network.num_addresses - 5, 1))
        task = EmulatedTask(
            backend=backend,
            account=account,
            region=region,
            cluster=cluster,
            task_definition=task_definition,
            placement=placement,
            assign_public_ip=assign_public_ip,
            launch_type=None if provider else launch_type,
            capacity_provider_name=provider,
            platform_version=platform_version,
            overrides=overrides,
            started_by=started_by,
            group=group,
            tags=tags,
            enable_execute_command=enable_execute_command,
            private_ip=address,
        )
        platform = getattr(task_definition, "runtime_platform", None) or {}
        task.attributes = [
            {"name": "ecs.cpu-architecture", "value": (platform.get("cpuArchitecture") or "X86_64").lower()}
        ]
        images = [c.image for c in task.containers]
        behaviour = self.behaviours.for_task(task_definition.family, images)
        timing = self.behaviours.timing
        now = time.monotonic()
        plays = {c.name: container_play(c) for c in task.containers}
        target = behaviour.container or next((c.name for c in task.containers if c.essential), None)
        played = plays.get(target) if target else None
        # What a behaviour sets wins over the command; what it leaves unset, the played command decides.
        run: float | None = None
        if behaviour.crash_loop:
            run = timing.crash_after
        elif behaviour.run_seconds is not None:
            run = behaviour.run_seconds
        elif service is None or behaviour.exit_code is not None:
            run = played_seconds(played) if played else timing.run
        if run is not None and math.isinf(run):
            run = None  # sleep infinity: until stopped
        exit_code = behaviour.exit_code if behaviour.exit_code is not None else (played.exit_code if played else 0)
        task.run = TaskRun(
            behaviour=behaviour,
            service=service,
            pending_at=now + timing.real(timing.provisioning),
            running_at=now + timing.real(timing.provisioning + timing.pending + behaviour.start_delay),
            run_for=None if run is None else timing.real(run),
            exit_code=1 if behaviour.crash_loop else exit_code,
            logs=self._log_plan(task, behaviour, plays),
        )
        task.run.containers = self._container_plan(task, behaviour, plays, one_off=service is None)
        if provider == FARGATE_SPOT and self.behaviours.interrupts_spot_task():
            task.run.interrupt_after = timing.real(self.behaviours.spot.interrupt_after)
        bridge.add_task(backend, task)
        return task

    def _container_plan(
        self, task: EmulatedTask, behaviour: Behaviour, plays: dict[str, shell.Play | None], one_off: bool
    ) -> dict[str, ContainerRun]:
        """When each container exits on its own. The behaviour's container (else the first essential
        one) exits after the task's run with its code; any other container whose command the emulator
        plays exits when it ends, with its code, in a one-off task (or when others wait on it); a
        non-essential container others wait on to exit (dependsOn SUCCESS/COMPLETE: an init
        container) exits 0 soon after it starts; with a non-essential target, a one-off task's
        essential containers still run their usual time."""
        run, timing = task.run, self.behaviours.timing
        target = behaviour.container or next((c.name for c in task.containers if c.essential), None)
        target_essential = any(c.name == target and c.essential for c in task.containers)
        awaited = {
            d.get("containerName")
            for c in task.containers
            for d in c.definition.get("dependsOn") or []
            if d.get("condition") in ("SUCCESS", "COMPLETE")
        }
        plan = {}
        for container in task.containers:
            played = plays.get(container.name)
            if container.name == target:
                plan[container.name] = ContainerRun(exit_after=run.run_for, exit_code=run.exit_code)
            elif played and (one_off or container.name in awaited):
                seconds = played_seconds(played)
                plan[container.name] = ContainerRun(
                    exit_after=None if math.isinf(seconds) else timing.real(seconds), exit_code=played.exit_code
                )
            elif container.name in awaited and not container.essential:
                plan[container.name] = ContainerRun(exit_after=timing.real(INIT_CONTAINER_SECONDS))
            elif one_off and not target_essential and container.essential:
                plan[container.name] = ContainerRun(exit_after=timing.real(timing.run))
            else:
                plan[container.name] = ContainerRun()  # runs until the task stops
        return plan

    def _log_plan(
        self, task: EmulatedTask, behaviour: Behaviour, plays: dict[str, shell.Play | None]
    ) -> list[dict[str, Any]]:
        """Per awslogs stream, the lines its container prints: the behaviour's, else those of the
        played command at the emulated second it prints them (``at``: real seconds after the
        container starts), else the emulator's own lines, spread over the run."""
        plans = []
        for container in task.containers:
            config = container.definition.get("logConfiguration") or {}
            if config.get("logDriver") != "awslogs":
                continue
            options = config.get("options") or {}
            played = plays.get(container.name)
            at = None
            if behaviour.output is not None:
                lines = list(behaviour.output)
            elif behaviour.output_lines is not None:
                lines = [
                    f"line {i + 1} of {behaviour.output_lines} from {container.name}"
                    for i in range(behaviour.output_lines)
                ]
            elif played is not None:
                lines = [line for _, line in played.lines]
                at = [self.behaviours.timing.real(second) for second, _ in played.lines]
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
                    "container": container.name,
                    "at": at,
                    "written": 0,
                }
            )
        return plans

    def _advance_task(self, backend: Any, task: EmulatedTask, now: float) -> None:
        run = task.run
        if run.stop_steps:
            while run.stop_steps and now >= run.stop_steps[0][0]:
                _, status = run.stop_steps.pop(0)
                if status == "STOPPED":
                    self._stopped(backend, task)
                    return
                task.last_status = status
            return
        if task.last_status == "PROVISIONING" and now >= run.pending_at:
            task.last_status = "PENDING"
            task.pull_started_at = bridge.utcnow()
            for container in task.containers:
                container.last_status = "PENDING"
        if task.last_status == "PENDING" and now >= run.running_at - self.behaviours.timing.real(ACTIVATING_SECONDS):
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
            # ECS's last step before RUNNING: networking configured, load balancer targets registered.
            task.last_status = "ACTIVATING"
        if task.last_status == "ACTIVATING" and now >= run.running_at:
            task.last_status = "RUNNING"
            task.pull_stopped_at = task.started_at = bridge.utcnow()
            task.health_status = (
                "HEALTHY" if any(c.definition.get("healthCheck") for c in task.containers) else "UNKNOWN"
            )
            run.started = now
            load_balancers.register_task(self, task)
        if task.last_status == "RUNNING" and self._interrupted(task, now):
            # fargate-spot-termination-notice: the two-minute warning goes to the task as SIGTERM;
            # the task stops with stopCode SpotInterruption.
            self._request_stop(task, SPOT_INTERRUPTION_STOP_CODE, SPOT_INTERRUPTION_REASON)
            return
        if task.last_status == "RUNNING":
            self._advance_containers(task, now)
            self._write_logs(task, now)
            if any(c.essential and c.last_status == "STOPPED" for c in task.containers):
                self._write_logs(task, now, flush=True)
                for container in task.containers:
                    if container.last_status != "STOPPED":
                        container.exit_code = 0 if container.last_status == "RUNNING" else None
                        container.last_status = "STOPPED"
                task.desired_status = "STOPPED"
                task.stop_code, task.stopped_reason = "EssentialContainerExited", "Essential container in task exited"
                self._begin_stopping(task, now)

    @staticmethod
    def _interrupted(task: EmulatedTask, now: float) -> bool:
        """A Spot task whose interruption is due before its containers end on their own."""
        run = task.run
        if run.interrupt_after is None or run.started is None or now < run.started + run.interrupt_after:
            return False
        return run.run_for is None or run.interrupt_after < run.run_for

    def _advance_containers(self, task: EmulatedTask, now: float) -> None:
        """Start the containers whose dependsOn conditions are met, stop those whose time is up.
        A container whose condition can no longer be met is stopped as the ECS agent stops it
        (exit 143, CannotStartContainerError: aws/amazon-ecs-agent#3218); a non-essential
        container that exits leaves the task running."""
        by_name = {c.name: c for c in task.containers}
        for container in task.containers:
            plan = task.run.containers[container.name]
            if container.last_status == "PENDING":
                verdict, blocker = self._dependencies_met(task, container, by_name)
                if verdict == "start":
                    container.last_status = "RUNNING"
                    container.health_status = "HEALTHY" if container.definition.get("healthCheck") else "UNKNOWN"
                    plan.started = now
                elif verdict == "never":
                    container.last_status, container.exit_code = "STOPPED", 143
                    container.reason = (
                        f"CannotStartContainerError: dependency graph: failed to resolve container ordering dependency "
                        f"[{blocker.name}({blocker.image}) (STOPPED->RUNNING) - Exit: {blocker.exit_code}] "
                        f"for target [{container.name}({container.image}) (NONE->RUNNING)]"
                    )
            elif (
                container.last_status == "RUNNING"
                and plan.exit_after is not None
                and now >= plan.started + plan.exit_after
            ):
                container.last_status, container.exit_code = "STOPPED", plan.exit_code

    @staticmethod
    def _dependencies_met(task: EmulatedTask, container: Any, by_name: dict[str, Any]) -> tuple[str, Any]:
        """("start" | "wait" | "never", the dependency that decided it)."""
        for dependency in container.definition.get("dependsOn") or []:
            other = by_name.get(dependency.get("containerName"))
            if other is None:
                continue
            condition = dependency.get("condition")
            started = task.run.containers[other.name].started is not None
            exited = other.last_status == "STOPPED"
            if condition == "START" and not started:
                return ("never", other) if exited else ("wait", other)
            if condition == "HEALTHY" and not (started and other.last_status == "RUNNING"):
                return ("never", other) if exited else ("wait", other)
            if condition == "COMPLETE" and not exited:
                return "wait", other
            if condition == "SUCCESS":
                if not exited:
                    return "wait", other
                if other.exit_code != 0:
                    return "never", other
        return "start", None

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
        """Write the lines whose time has come: a played command's as it prints them (by its
        container's clock, flush or not: a stopped container printed no more), the others spread
        over the task's run (all of them at ``flush``)."""
        started, run_for = task.run.started, task.run.run_for
        for plan in task.run.logs:
            total = len(plan["lines"])
            if plan.get("at") is not None:
                container_started = task.run.containers[plan["container"]].started
                due = 0 if container_started is None else bisect.bisect_right(plan["at"], now - container_started)
            elif flush or run_for is None or not run_for:
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
        """ECS's way down (task-lifecycle-explanation): a task that ran goes DEACTIVATING (load
        balancer targets drained) → STOPPING (containers stopped) → DEPROVISIONING (network
        interface detached and deleted) → STOPPED, in ``timing.stopping`` in all; one that never
        ran only deprovisions."""
        timing = self.behaviours.timing
        task.stopping_at = bridge.utcnow()
        drain = load_balancers.deregister_task(self, task)  # ECS waits for its targets to drain
        if immediate:
            steps = [("DEPROVISIONING", 0.0), ("STOPPED", timing.real(1.0))]
        else:
            edge = timing.real(min(1.0, timing.stopping / 3))
            steps = [
                ("DEACTIVATING", 0.0),
                ("STOPPING", edge + drain),
                ("DEPROVISIONING", timing.real(timing.stopping) - 2 * edge),
                ("STOPPED", edge),
            ]
        at, task.run.stop_steps = now, []
        for status, after in steps:
            at += after
            task.run.stop_steps.append((at, status))
        task.last_status = steps[0][0]
        task.run.stopped_at = at

    def _request_stop(self, task: EmulatedTask, code: str, reason: str) -> None:
        if task.desired_status == "STOPPED" or task.last_status == "STOPPED":
            return
        task.desired_status = "STOPPED"
        task.stop_code, task.stopped_reason = code, reason
        now = time.monotonic()
        if task.last_status == "RUNNING":
            self._write_logs(task, now)
            for container in task.containers:
                if container.last_status == "RUNNING":
                    container.exit_code = 143  # SIGTERM
                container.last_status = "STOPPED"
            self._begin_stopping(task, now)
        else:
            self._begin_stopping(task, now, immediate=True)

    def _stopped(self, backend: Any, task: EmulatedTask) -> None:
        task.last_status = "STOPPED"
        bridge.release_network_interface(task)  # ECS deletes the task's ENI as it stops
        task.stopped_at = task.execution_stopped_at = bridge.utcnow()
        task.connectivity = "DISCONNECTED"
        for container in task.containers:
            container.last_status = "STOPPED"
        service_arn = task.run.service
        if service_arn and task.stop_code in ("EssentialContainerExited", "TaskFailedToStart"):
            self._count_failure(backend, service_arn, task)


def container_play(container: Any) -> shell.Play | None:
    """What the container's command (its override, else the definition's; after its entryPoint)
    does, played by ``shell``; None when the emulator cannot play it."""
    environment = {
        e.get("name"): str(e.get("value", ""))
        for e in (container.definition.get("environment") or []) + (container.overrides.get("environment") or [])
        if e.get("name")
    }
    command = container.overrides.get("command") or container.definition.get("command")
    return shell.play(container.definition.get("entryPoint"), command, environment)


def played_seconds(played: shell.Play) -> float:
    """How long a played command runs, in emulated seconds (math.inf: until stopped)."""
    return max(played.seconds, PLAYED_MINIMUM_SECONDS)
