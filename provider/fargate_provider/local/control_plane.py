"""The ECS control plane moto lacks: Fargate tasks that start, run, print and stop; services
that keep their tasks running, roll out deployments, trip the circuit breaker and drain.

``ControlPlane.handle`` answers the ECS operations moto gets wrong for Fargate (or returns
None to let moto answer); ``ControlPlane.tick`` advances time-driven state. Both run under
one lock held by the server. Wording of errors, stop codes and service events follows ECS.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
import itertools
import json
import math
import random
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from fargate_provider.utils.sizes import (
    SizeError,
    check_fargate_size,
    parse_cpu,
    parse_memory,
)
from fargate_provider.local import moto_bridge as bridge
from fargate_provider.local import task_start
from fargate_provider.local.behaviours import Behaviour, Behaviours
from fargate_provider.local.moto_bridge import EcsError, EmulatedTask
from fargate_provider.registration_rules import registration_rules
from fargate_provider.task_requirements import role_arn

Forward = Callable[[str, dict[str, Any]], dict[str, Any]]
FARGATE_PROVIDERS = ("FARGATE", "FARGATE_SPOT")
LAUNCH_TYPES = ("EC2", "FARGATE", "EXTERNAL")
MAX_EVENTS = 100


def _invalid(message: str) -> EcsError:
    return EcsError("InvalidParameterException", message)


def circuit_breaker_threshold(desired_count: int) -> int:
    """ECS: half the desired count, at least 3 and at most 200 failed tasks."""
    return max(3, min(200, math.ceil(0.5 * desired_count)))


class ControlPlane:
    HANDLED = (
        "RegisterTaskDefinition", "RunTask", "StopTask", "CreateService", "UpdateService", "DeleteService", "ListTasks",
        "DeleteCluster",
    )

    def __init__(self, behaviours: Behaviours):
        self.behaviours = behaviours
        self.lock = threading.RLock()
        self._run_task_tokens: dict[tuple[str, str, str], tuple[str, list[str]]] = {}
        self._service_tokens: dict[tuple[str, str, str, str], tuple[str | None, str]] = {}
        self._addresses = itertools.count(10)
        self._ids = random.Random(behaviours.seed)

    def reset(self) -> None:
        self._run_task_tokens.clear()
        self._service_tokens.clear()
        self._addresses = itertools.count(10)
        self._ids = random.Random(self.behaviours.seed)

    # ================================================================== API

    def handle(self, operation: str, account: str, region: str, body: dict[str, Any], forward: Forward) -> dict | None:
        if operation not in self.HANDLED:
            return None
        backend = bridge.ecs_backend(account, region)
        handler = getattr(self, f"_{operation}")
        return handler(backend, account, region, body, forward)

    # ------------------------------------------------------------------ task definitions

    def _RegisterTaskDefinition(self, backend, account, region, body, forward):
        """ECS's registration rules (the table the validator uses too); moto registers the rest."""
        broken = registration_rules(body)
        if broken:
            raise EcsError("ClientException", broken[0].ecs_message)
        # ECS takes a role name and stores the role's ARN.
        for key in ("executionRoleArn", "taskRoleArn"):
            if isinstance(body.get(key), str) and body[key]:
                body = {**body, key: role_arn(body[key], account=account)}
        return forward("RegisterTaskDefinition", body)

    # ------------------------------------------------------------------ tasks

    def _RunTask(self, backend, account, region, body, forward):
        cluster = bridge.get_cluster(backend, body.get("cluster"))
        launch_type, provider = self._launch(cluster, body)
        if launch_type in ("EC2", "EXTERNAL"):
            return None  # moto's container-instance placement
        task_definition = self._task_definition_for_fargate(backend, body.get("taskDefinition"))
        self._check_size(task_definition, body.get("overrides") or {})
        placement, assign_public_ip = self._placement(account, region, task_definition, body)
        count = body.get("count", 1)
        if not isinstance(count, int) or not 1 <= count <= 10:
            raise _invalid("count must be between 1 and 10.")
        launch_error = task_start.launch_error(account, task_start.needs_of(task_definition, body.get("overrides")))
        if launch_error:
            raise EcsError("ClientException", launch_error)
        images = [c.get("image") for c in task_definition.container_definitions]
        behaviour = self.behaviours.for_task(task_definition.family, images)
        if behaviour.capacity_failures > 0:
            behaviour.capacity_failures -= 1
            return {
                "tasks": [],
                "failures": [{"arn": task_definition.arn, "reason": "Capacity is unavailable at this time. "
                              "Please try again later or in a different availability zone"}],
            }
        token = body.get("clientToken")
        if token:
            fingerprint = _fingerprint(body)
            previous = self._run_task_tokens.get((account, region, token))
            if previous is not None:
                if previous[0] != fingerprint:
                    raise _invalid("The client token has already been used with different request parameters.")
                return {"tasks": self._describe_tasks(forward, cluster.arn, previous[1]), "failures": []}
        tags = list(body.get("tags") or [])
        if body.get("propagateTags") == "TASK_DEFINITION":
            tags = _merge_tags(bridge.tags_of(backend, task_definition.arn), tags)
        arns = []
        for _ in range(count):
            task = self._new_task(
                backend, account, region, cluster, task_definition, placement, assign_public_ip,
                launch_type, provider, body.get("platformVersion") or "LATEST", body.get("overrides"),
                body.get("startedBy") or "", body.get("group") or f"family:{task_definition.family}", tags,
                bool(body.get("enableExecuteCommand")), service=None,
            )
            arns.append(task.task_arn)
        if token:
            self._run_task_tokens[(account, region, token)] = (_fingerprint(body), arns)
        return {"tasks": self._describe_tasks(forward, cluster.arn, arns), "failures": []}

    def _StopTask(self, backend, account, region, body, forward):
        cluster = bridge.get_cluster(backend, body.get("cluster"))
        task = bridge.find_task(backend, cluster.name, body.get("task") or "")
        if not isinstance(task, EmulatedTask):
            return None
        self._request_stop(task, "UserInitiated", body.get("reason") or "Task stopped by user")
        return {"task": self._describe_tasks(forward, cluster.arn, [task.task_arn])[0]}

    def _ListTasks(self, backend, account, region, body, forward):
        cluster = bridge.get_cluster(backend, body.get("cluster"))
        desired = body.get("desiredStatus") or "RUNNING"  # ECS's default filter
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
        start = int(body.get("nextToken") or 0)
        size = int(body.get("maxResults") or 100)
        page = {"taskArns": arns[start : start + size]}
        if start + size < len(arns):
            page["nextToken"] = str(start + size)
        return page

    # ------------------------------------------------------------------ services

    def _CreateService(self, backend, account, region, body, forward):
        cluster = bridge.get_cluster(backend, body.get("cluster"))
        name = body.get("serviceName")
        if not name:
            raise _invalid("serviceName is required.")
        launch_type, _ = self._launch(cluster, body)
        if launch_type in ("EC2", "EXTERNAL"):
            return None
        existing = bridge.service_or_none(backend, cluster.name, name)
        fingerprint = _fingerprint(body)
        key = (account, region, cluster.name, name)
        if existing is not None and existing.status == "ACTIVE":
            token, previous = self._service_tokens.get(key, (None, ""))
            if body.get("clientToken") and token == body.get("clientToken") and previous == fingerprint:
                return {"service": self._describe_service(forward, cluster.arn, existing.arn)}
            raise _invalid("Creation of service was not idempotent.")
        if existing is not None and existing.status == "DRAINING":
            raise _invalid("Unable to Start a service that is still Draining.")
        task_definition = self._task_definition_for_fargate(backend, body.get("taskDefinition"))
        self._check_size(task_definition, {})
        self._placement(account, region, task_definition, body)
        desired = body.get("desiredCount", 0)
        if not isinstance(desired, int) or desired < 0:
            raise _invalid("desiredCount must be 0 or more.")
        service = bridge.create_moto_service(
            backend,
            cluster_str=cluster.name,
            service_name=name,
            desired_count=desired,
            task_definition_str=task_definition.arn,
            load_balancers=body.get("loadBalancers"),
            scheduling_strategy=body.get("schedulingStrategy"),
            tags=body.get("tags"),
            deployment_controller=body.get("deploymentController"),
            launch_type="FARGATE",
            service_registries=body.get("serviceRegistries"),
            platform_version=body.get("platformVersion") or "LATEST",
            propagate_tags=body.get("propagateTags") or "NONE",
            network_configuration=body.get("networkConfiguration"),
        )
        service.launch_type = body.get("launchType") if not body.get("capacityProviderStrategy") else None
        service.capacity_provider_strategy = _strategy(body.get("capacityProviderStrategy"))
        service.platform_family = "Linux"
        service.deployment_configuration = _deployment_configuration({}, body.get("deploymentConfiguration"))
        service.enable_execute_command = bool(body.get("enableExecuteCommand"))
        service.enable_ecs_managed_tags = bool(body.get("enableECSManagedTags"))
        service.health_check_grace_period_seconds = body.get("healthCheckGracePeriodSeconds")
        service.created_at = bridge.utcnow()
        service.running_count = 0
        service.pending_count = 0
        service.events = []
        service.emu = {"completed_task_definition": None, "steady": False}
        service.deployments = [self._deployment(service, task_definition.arn, desired)]
        self._service_tokens[key] = (body.get("clientToken"), fingerprint)
        return {"service": self._describe_service(forward, cluster.arn, service.arn)}

    @staticmethod
    def _active_service(backend, body) -> tuple[Any, Any] | None:
        """The (cluster, service) an update/delete names; None for services moto created itself."""
        cluster = bridge.get_cluster(backend, body.get("cluster"))
        service = bridge.find_service(backend, cluster.name, body.get("service") or "")
        if not hasattr(service, "emu"):
            return None
        if service.status != "ACTIVE":
            raise EcsError("ServiceNotActiveException", "Service was not ACTIVE.")
        return cluster, service

    def _UpdateService(self, backend, account, region, body, forward):
        found = self._active_service(backend, body)
        if found is None:
            return None
        cluster, service = found
        primary = service.deployments[0]
        new_deployment = bool(body.get("forceNewDeployment"))
        task_definition_arn = primary["taskDefinition"]
        if body.get("taskDefinition"):
            task_definition = self._task_definition_for_fargate(backend, body["taskDefinition"])
            self._check_size(task_definition, {})
            new_deployment |= task_definition.arn != task_definition_arn
            task_definition_arn = task_definition.arn
        if body.get("networkConfiguration"):
            self._placement(account, region, None, body)
            new_deployment |= body["networkConfiguration"] != service.network_configuration
            service.network_configuration = body["networkConfiguration"]
        if body.get("desiredCount") is not None:
            if not isinstance(body["desiredCount"], int) or body["desiredCount"] < 0:
                raise _invalid("desiredCount must be 0 or more.")
            service.desired_count = body["desiredCount"]
            primary["desiredCount"] = service.desired_count
        if body.get("deploymentConfiguration"):
            service.deployment_configuration = _deployment_configuration(
                service.deployment_configuration, body["deploymentConfiguration"]
            )
        if body.get("enableExecuteCommand") is not None:
            service.enable_execute_command = bool(body["enableExecuteCommand"])
        if body.get("capacityProviderStrategy"):
            service.capacity_provider_strategy = _strategy(body["capacityProviderStrategy"])
            service.launch_type = None
            new_deployment = True
        if new_deployment:
            for deployment in service.deployments:
                deployment["status"] = "ACTIVE"
            service.deployments.insert(0, self._deployment(service, task_definition_arn, service.desired_count))
            service.task_definition = task_definition_arn
        service.emu["steady"] = False
        return {"service": self._describe_service(forward, cluster.arn, service.arn)}

    def _DeleteService(self, backend, account, region, body, forward):
        found = self._active_service(backend, body)
        if found is None:
            return None
        cluster, service = found
        if service.desired_count > 0 and not body.get("force"):
            raise _invalid("The service cannot be stopped while it is scaled above 0.")
        service.status = "DRAINING"
        service.desired_count = 0
        for deployment in service.deployments:
            deployment["desiredCount"] = 0
        return {"service": self._describe_service(forward, cluster.arn, service.arn)}

    def _DeleteCluster(self, backend, account, region, body, forward):
        cluster = bridge.get_cluster(backend, body.get("cluster"))
        if any(s.status in ("ACTIVE", "DRAINING") for s in bridge.cluster_services(backend, cluster.name)):
            raise EcsError("ClusterContainsServicesException", "The Cluster cannot be deleted while Services are active.")
        if any(t.cluster_name == cluster.name and t.last_status != "STOPPED" for t in bridge.all_tasks(backend)):
            raise EcsError("ClusterContainsTasksException", "The Cluster cannot be deleted while Tasks are active.")
        return None

    # ------------------------------------------------------------------ validation shared by tasks and services

    def _launch(self, cluster: Any, body: dict[str, Any]) -> tuple[str, str | None]:
        launch_type, strategy = body.get("launchType"), body.get("capacityProviderStrategy")
        if launch_type and strategy:
            raise _invalid("Specifying both a launch type and capacity provider strategy is not supported.")
        if launch_type:
            if launch_type not in LAUNCH_TYPES:
                raise _invalid(f"launchType should be one of [{','.join(LAUNCH_TYPES)}].")
            return launch_type, None
        strategy = strategy or getattr(cluster, "default_capacity_provider_strategy", None) or []
        if not strategy:
            return "EC2", None  # ECS's default launch type
        for item in strategy:
            name = item.get("capacityProvider")
            if name not in FARGATE_PROVIDERS:
                raise _invalid(f"The specified capacity provider {name} is not supported by fargate-local; use FARGATE or FARGATE_SPOT.")
            if name not in (cluster.capacity_providers or []):
                raise _invalid("The specified capacity provider strategy cannot contain a capacity provider that is not associated with the cluster. Associate the capacity provider with the cluster or specify a valid capacity provider and try again.")
        chosen = max(strategy, key=lambda item: (item.get("base", 0), item.get("weight", 0)))
        return "FARGATE", chosen["capacityProvider"]

    @staticmethod
    def _task_definition_for_fargate(backend: Any, reference: str | None) -> Any:
        if not reference:
            raise _invalid("taskDefinition is required.")
        task_definition = bridge.get_task_definition(backend, reference)
        if ":" not in reference.rsplit("/", 1)[-1]:
            task_definition = bridge.latest_active_revision(backend, task_definition)
        if task_definition.status != "ACTIVE":
            raise EcsError("ClientException", "TaskDefinition is inactive")
        if "FARGATE" not in (task_definition.requires_compatibilities or []):
            raise EcsError("ClientException", "Task definition does not support launch_type FARGATE.")
        if task_definition.network_mode != "awsvpc":
            raise EcsError("ClientException", "Fargate only supports network mode 'awsvpc'.")
        return task_definition

    @staticmethod
    def _check_size(task_definition: Any, overrides: dict[str, Any]) -> None:
        cpu = overrides.get("cpu") or task_definition.cpu
        memory = overrides.get("memory") or task_definition.memory
        try:
            check_fargate_size(parse_cpu(cpu), parse_memory(memory))
        except (SizeError, TypeError) as error:
            raise EcsError(
                "ClientException",
                f"No Fargate configuration exists for given values: {cpu} CPU, {memory} memory. ({error})",
            ) from error

    @staticmethod
    def _placement(account: str, region: str, task_definition: Any, body: dict[str, Any]) -> tuple[bridge.Placement, bool]:
        awsvpc = (body.get("networkConfiguration") or {}).get("awsvpcConfiguration")
        if not awsvpc:
            raise _invalid("Network Configuration must be provided when networkMode 'awsvpc' is specified.")
        assign = awsvpc.get("assignPublicIp", "DISABLED")
        if assign not in ("ENABLED", "DISABLED"):
            raise _invalid("assignPublicIp should be one of [ENABLED,DISABLED].")
        return bridge.place_in_network(account, region, awsvpc), assign == "ENABLED"

    @staticmethod
    def _describe_tasks(forward: Forward, cluster: str, arns: list[str]) -> list[dict[str, Any]]:
        """Let moto serialize the tasks, so answers have exactly DescribeTasks' shape."""
        return forward("DescribeTasks", {"cluster": cluster, "tasks": arns, "include": ["TAGS"]})["tasks"]

    @staticmethod
    def _describe_service(forward: Forward, cluster: str, arn: str) -> dict[str, Any]:
        return forward("DescribeServices", {"cluster": cluster, "services": [arn], "include": ["TAGS"]})["services"][0]

    # ================================================================== tasks: creation and time

    def _new_task(
        self, backend, account, region, cluster, task_definition, placement, assign_public_ip, launch_type,
        provider, platform_version, overrides, started_by, group, tags, enable_execute_command, service,
    ) -> EmulatedTask:
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
        task.emu.update(
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
                if task.emu.get("service"):
                    by_service[task.emu["service"]].append(task)
            for service in bridge.all_services(backend):
                if hasattr(service, "emu") and service.status in ("ACTIVE", "DRAINING"):
                    self._reconcile_service(backend, account, region, service, by_service[service.arn])

    def _advance_task(self, backend: Any, task: EmulatedTask, now: float) -> None:
        emu = task.emu
        if task.last_status in ("DEACTIVATING", "DEPROVISIONING"):
            if now >= emu["stopped_at"]:
                self._stopped(backend, task)
            return
        if task.last_status == "PROVISIONING" and now >= emu["pending_at"]:
            task.last_status = "PENDING"
            task.pull_started_at = bridge.utcnow()
            for container in task.containers:
                container.last_status = "PENDING"
        if task.last_status == "PENDING" and now >= emu["running_at"]:
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
            emu["started"] = now
            if emu["run_for"] is not None:
                emu["exit_at"] = now + emu["run_for"]
        if task.last_status == "RUNNING":
            self._write_logs(task, now)
            if emu.get("exit_at") is not None and now >= emu["exit_at"]:
                self._write_logs(task, now, flush=True)
                code = emu["exit_code"]
                behaviour: Behaviour = emu["behaviour"]
                target = behaviour.container or next((c.name for c in task.containers if c.essential), None)
                for container in task.containers:
                    container.exit_code = code if container.name == target else 0
                    container.last_status = "STOPPED"
                task.desired_status = "STOPPED"
                task.stop_code, task.stopped_reason = "EssentialContainerExited", "Essential container in task exited"
                self._begin_stopping(task, now)

    def _start_failure(self, task: EmulatedTask) -> str | None:
        behaviour: Behaviour = task.emu["behaviour"]
        if behaviour.pull_failure:
            image = task.containers[0].image
            return (
                f"CannotPullContainerError: pull image manifest has been retried 7 time(s): failed to resolve ref "
                f"{image}: {image}: not found"
            )
        return task_start.start_failure(task)

    def _write_logs(self, task: EmulatedTask, now: float, flush: bool = False) -> None:
        started, run_for = task.emu.get("started"), task.emu.get("run_for")
        for plan in task.emu["logs"]:
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
        task.emu["stopped_at"] = now + (timing.real(1.0) if immediate else timing.real(timing.stopping))

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
            task.emu["stopped_at"] = now + self.behaviours.timing.real(self.behaviours.timing.stopping)
        else:
            self._begin_stopping(task, now, immediate=True)

    def _stopped(self, backend: Any, task: EmulatedTask) -> None:
        task.last_status = "STOPPED"
        task.stopped_at = task.execution_stopped_at = bridge.utcnow()
        task.connectivity = "DISCONNECTED"
        for container in task.containers:
            container.last_status = "STOPPED"
        service_arn = task.emu.get("service")
        if service_arn and task.stop_code in ("EssentialContainerExited", "TaskFailedToStart"):
            self._count_failure(backend, service_arn, task)

    # ================================================================== services: reconciliation

    def _deployment(self, service: Any, task_definition_arn: str, desired: int) -> dict[str, Any]:
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
        return deployment

    @staticmethod
    def _event(service: Any, message: str) -> None:
        service.events.insert(0, {"id": str(uuid.uuid4()), "createdAt": bridge.utcnow(), "message": f"(service {service.name}) {message}"})
        del service.events[MAX_EVENTS:]

    def _reconcile_service(self, backend: Any, account: str, region: str, service: Any, tasks: list[EmulatedTask]) -> None:

        def alive(deployment_id: str) -> list[EmulatedTask]:
            return [t for t in tasks if t.started_by == deployment_id and t.desired_status == "RUNNING" and t.last_status != "STOPPED"]

        if service.status == "DRAINING":
            self._stop_tasks(service, [t for t in tasks if t.desired_status == "RUNNING"], "Task stopped due to service deletion")
            if all(t.last_status == "STOPPED" for t in tasks):
                service.status = "INACTIVE"
            self._count(service, tasks)
            return

        primary = service.deployments[0]
        current = alive(primary["id"])
        breaker = service.deployment_configuration.get("deploymentCircuitBreaker", {})
        launching = not (primary["rolloutState"] == "FAILED" and breaker.get("enable"))
        if launching and len(current) < primary["desiredCount"]:
            task_definition = bridge.get_task_definition(backend, primary["taskDefinition"])
            launch_error = task_start.launch_error(account, task_start.needs_of(task_definition))
            if launch_error:
                # ECS starts nothing and says so in an event (not once per tick: once per deployment here).
                if service.emu.get("launch_error") != (primary["id"], launch_error):
                    service.emu["launch_error"] = (primary["id"], launch_error)
                    self._event(service, f"failed to launch a task with (error {launch_error}).")
                launching = False
        if launching and len(current) < primary["desiredCount"]:
            started = [self._service_task(backend, account, region, service, primary) for _ in range(primary["desiredCount"] - len(current))]
            self._event(service, f"has started {len(started)} tasks: {' '.join(f'(task {t.id})' for t in started)}.")
        elif len(current) > primary["desiredCount"]:
            extra = current[primary["desiredCount"] :]
            self._stop_tasks(service, extra, f"Scaling activity initiated by (deployment {primary['id']})")

        running_primary = sum(1 for t in alive(primary["id"]) if t.last_status == "RUNNING")
        for deployment in list(service.deployments[1:]):
            old = alive(deployment["id"])
            if running_primary >= primary["desiredCount"] or primary["rolloutState"] == "FAILED":
                self._stop_tasks(service, old, f"Scaling activity initiated by (deployment {primary['id']})")
            if all(t.last_status == "STOPPED" for t in tasks if t.started_by == deployment["id"]):
                service.deployments.remove(deployment)

        self._count(service, tasks)
        # As ECS does, a deployment is only done once its tasks have stayed up for a while:
        # tasks that crash right after starting never make a rollout COMPLETED.
        settle = self.behaviours.timing.real(self.behaviours.timing.stabilize)
        now = time.monotonic()
        settled = all(now - t.emu.get("started", now) >= settle for t in alive(primary["id"]))
        steady = (
            len(service.deployments) == 1
            and primary["runningCount"] == primary["desiredCount"]
            and primary["pendingCount"] == 0
            and settled
        )
        if steady and primary["rolloutState"] == "IN_PROGRESS":
            primary["rolloutState"] = "COMPLETED"
            primary["rolloutStateReason"] = f"ECS deployment {primary['id']} completed."
            primary["updatedAt"] = bridge.utcnow()
            service.emu["completed_task_definition"] = primary["taskDefinition"]
            self._event(service, f"(deployment {primary['id']}) deployment completed.")
        if steady and not service.emu["steady"]:
            self._event(service, "has reached a steady state.")
        service.emu["steady"] = steady

    def _service_task(self, backend: Any, account: str, region: str, service: Any, deployment: dict[str, Any]) -> EmulatedTask:
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
            provider = max(service.capacity_provider_strategy, key=lambda i: (i.get("base", 0), i.get("weight", 0)))["capacityProvider"]
        return self._new_task(
            backend, account, region, cluster, task_definition, placement,
            awsvpc.get("assignPublicIp") == "ENABLED", "FARGATE", provider, service.platform_version or "LATEST",
            None, deployment["id"], f"service:{service.name}", tags, service.enable_execute_command,
            service=service.arn,
        )

    def _stop_tasks(self, service: Any, tasks: list[EmulatedTask], reason: str) -> None:
        tasks = [t for t in tasks if t.desired_status == "RUNNING"]
        for task in tasks:
            self._request_stop(task, "ServiceSchedulerInitiated", reason)
        if tasks:
            self._event(service, f"has stopped {len(tasks)} running tasks: {' '.join(f'(task {t.id})' for t in tasks)}.")

    @staticmethod
    def _count(service: Any, tasks: list[EmulatedTask]) -> None:
        running = pending = 0
        for deployment in service.deployments:
            mine = [t for t in tasks if t.started_by == deployment["id"] and t.desired_status == "RUNNING" and t.last_status != "STOPPED"]
            deployment["runningCount"] = sum(1 for t in mine if t.last_status == "RUNNING")
            deployment["pendingCount"] = len(mine) - deployment["runningCount"]
            running += deployment["runningCount"]
            pending += deployment["pendingCount"]
        service.running_count, service.pending_count = running, pending

    def _count_failure(self, backend: Any, service_arn: str, task: EmulatedTask) -> None:
        service = next((s for s in bridge.all_services(backend) if s.arn == service_arn and hasattr(s, "emu")), None)
        if service is None or service.status != "ACTIVE":
            return
        deployment = next((d for d in service.deployments if d["id"] == task.started_by), None)
        if deployment is None:
            return
        deployment["failedTasks"] += 1
        breaker = service.deployment_configuration.get("deploymentCircuitBreaker", {})
        primary = service.deployments[0]
        if (
            deployment is not primary
            or not breaker.get("enable")
            or primary["rolloutState"] != "IN_PROGRESS"
            or primary["failedTasks"] < circuit_breaker_threshold(primary["desiredCount"])
        ):
            return
        primary["rolloutState"] = "FAILED"
        primary["rolloutStateReason"] = "ECS deployment circuit breaker: tasks failed to start."
        primary["updatedAt"] = bridge.utcnow()
        self._event(service, f"(deployment {primary['id']}) deployment failed: tasks failed to start.")
        previous = service.emu["completed_task_definition"]
        if breaker.get("rollback") and previous and previous != primary["taskDefinition"]:
            primary["status"] = "ACTIVE"
            for other in service.deployments[1:]:
                other["status"] = "ACTIVE"
            rollback = self._deployment(service, previous, service.desired_count)
            service.deployments.insert(0, rollback)
            service.task_definition = previous
            self._event(service, f"(deployment {primary['id']}) rolling back to deployment {rollback['id']} ({previous}).")


# ------------------------------------------------------------------ helpers


def _strategy(items: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    """As ECS stores a capacity provider strategy: weight and base filled in."""
    if not items:
        return None
    return [{"capacityProvider": i["capacityProvider"], "weight": i.get("weight", 0), "base": i.get("base", 0)} for i in items]


def _fingerprint(body: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in body.items() if k != "clientToken"}, sort_keys=True, default=str)


def _merge_tags(first: list[dict[str, str]], second: list[dict[str, str]]) -> list[dict[str, str]]:
    merged = {t["key"]: t.get("value", "") for t in first}
    merged.update({t["key"]: t.get("value", "") for t in second})
    return [{"key": k, "value": v} for k, v in merged.items()]


def _deployment_configuration(current: dict[str, Any], given: dict[str, Any] | None) -> dict[str, Any]:
    result = {
        "deploymentCircuitBreaker": {"enable": False, "rollback": False},
        "maximumPercent": 200,
        "minimumHealthyPercent": 100,
    }
    result.update(current)
    for key, value in (given or {}).items():
        result[key] = {**result.get(key, {}), **value} if isinstance(value, dict) else value
    return result
