"""The ECS operations moto answers wrongly for Fargate, answered as ECS does: registration
rules, RunTask (launch checks, client tokens), StopTask, DescribeTasks, Create/Update/DeleteService,
DeleteCluster. The first stage of the lifecycle; ``ControlPlane`` mixes it in."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any

from fargate_local import load_balancers, task_start
from fargate_local import moto_bridge as bridge
from fargate_local.moto_bridge import EcsError, EmulatedTask, invalid_parameter
from fargate_local.state import ControlPlaneState, ServiceRun
from fargate_rules.arns import SECRETS_MANAGER_ARN_RE, name_from_arn
from fargate_rules.capacity import (
    CAPACITY_UNAVAILABLE_REASON,
    FARGATE,
    FARGATE_CAPACITY_PROVIDERS,
    FARGATE_SPOT,
    VCPU_LIMIT_REASON,
    spot_architecture_problem,
    task_vcpus,
)
from fargate_rules.registration_rules import FARGATE_NETWORK_MODE_MESSAGE, fargate_size_message, registration_rules
from fargate_rules.sizes import (
    SizeError,
    check_fargate_size,
    parse_cpu,
    parse_memory,
)
from fargate_rules.task_requirements import role_arn

RUN_TASK_TOKEN_TTL = 24 * 3600.0  # emulated seconds a RunTask clientToken is remembered (ECS: 24 hours)

Forward = Callable[[str, dict[str, Any]], dict[str, Any]]
FARGATE_PROVIDERS = FARGATE_CAPACITY_PROVIDERS
LAUNCH_TYPES = ("EC2", "FARGATE", "EXTERNAL")


class EcsApiHandlers(ControlPlaneState):
    """``_<Operation>(backend, account, region, body, forward)``: one method per handled operation."""

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
        answer = forward("RegisterTaskDefinition", body)
        registered = bridge.get_task_definition(backend, answer["taskDefinition"]["taskDefinitionArn"])
        # Members ECS returns that moto has no field for (API_TaskDefinition).
        registered.registered_at = bridge.utcnow()
        registered.registered_by = f"arn:aws:iam::{account}:root"
        registered.requires_attributes = [{"name": name} for name in required_attributes(body)]
        return forward("DescribeTaskDefinition", {"taskDefinition": registered.arn, "include": ["TAGS"]})

    def _DescribeTaskDefinition(self, backend, account, region, body, forward):
        """A family without a revision is its latest ACTIVE revision (moto takes the newest of any status)."""
        reference = body.get("taskDefinition")
        if not isinstance(reference, str) or ":" in reference.rsplit("/", 1)[-1]:
            return None  # family:revision or a full ARN: moto finds that very revision
        latest = bridge.latest_active_revision(backend, bridge.get_task_definition(backend, reference))
        if latest.status != "ACTIVE":  # a family whose revisions are all INACTIVE has no latest ACTIVE one
            raise EcsError("ClientException", "Unable to describe task definition.")
        return forward("DescribeTaskDefinition", {**body, "taskDefinition": latest.arn})

    def _DeregisterTaskDefinition(self, backend, account, region, body, forward):
        """moto marks the revision INACTIVE; ECS also records when (API_TaskDefinition ``deregisteredAt``)."""
        answer = forward("DeregisterTaskDefinition", body)
        definition = bridge.get_task_definition(backend, answer["taskDefinition"]["taskDefinitionArn"])
        if getattr(definition, "deregistered_at", None) is None:
            definition.deregistered_at = bridge.utcnow()
        return {
            "taskDefinition": forward("DescribeTaskDefinition", {"taskDefinition": definition.arn})["taskDefinition"]
        }

    # ------------------------------------------------------------------ tasks

    def _RunTask(self, backend, account, region, body, forward):
        cluster = bridge.get_cluster(backend, body.get("cluster"))
        launch_type, provider = self._launch(cluster, body)
        if launch_type in ("EC2", "EXTERNAL"):
            if not bridge.has_container_instances(backend, cluster.name):
                # ECS's default launch type is EC2: an empty cluster without a default capacity
                # provider strategy has nowhere to place the task (quoted in aws/amazon-ecs-cli#1122).
                raise invalid_parameter("No Container Instances were found in your cluster.")
            return None  # moto's container-instance placement
        if body.get("propagateTags") == "SERVICE":
            # API_RunTask: "An error will be received if you specify the SERVICE option when running a task."
            raise invalid_parameter("Propagate tags should be one of [TASK_DEFINITION,NONE] when running a task.")
        _check_platform_version(body.get("platformVersion"))
        task_definition = self._task_definition_for_fargate(backend, body.get("taskDefinition"))
        self._check_size(task_definition, body.get("overrides") or {})
        known = {c.get("name") for c in task_definition.container_definitions}
        for override in (body.get("overrides") or {}).get("containerOverrides") or []:
            if override.get("name") not in known:
                raise invalid_parameter(
                    f"Override for container named {override.get('name')} is not a container in the TaskDefinition."
                )
        placement, assign_public_ip = self._placement(account, region, task_definition, body)
        count = body.get("count", 1)
        if not isinstance(count, int) or not 1 <= count <= 10:
            raise invalid_parameter("count must be between 1 and 10.")
        launch_error = task_start.launch_error(account, task_start.needs_of(task_definition, body.get("overrides")))
        if launch_error:
            raise EcsError("ClientException", launch_error)
        images = [c.get("image") for c in task_definition.container_definitions]
        behaviour = self.behaviours.for_task(task_definition.family, images)
        if behaviour.capacity_failures > 0:
            behaviour.capacity_failures -= 1
            return {
                "tasks": [],
                "failures": [
                    {
                        "arn": task_definition.arn,
                        "reason": "Capacity is unavailable at this time. "
                        "Please try again later or in a different availability zone",
                    }
                ],
            }
        # RunTask's clientToken (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/ECS_Idempotency.html):
        # idempotent per cluster for 24 hours; the same token with other parameters is a ConflictException.
        token = body.get("clientToken")
        token_key = (account, region, cluster.arn, token)
        if token:
            fingerprint = _fingerprint(body)
            previous = self._run_task_tokens.get(token_key)
            if previous is not None and time.monotonic() - previous[2] < self.behaviours.timing.real(
                RUN_TASK_TOKEN_TTL
            ):
                if previous[0] != fingerprint:
                    raise EcsError(
                        "ConflictException", "The client token has already been used with different request parameters."
                    )
                return {"tasks": self._describe_tasks(forward, cluster.arn, previous[1]), "failures": []}
        refused = self._capacity_refusal(backend, task_definition, body, provider or FARGATE, count)
        if refused:
            return {"tasks": [], "failures": [{"arn": task_definition.arn, "reason": refused}]}
        tags = list(body.get("tags") or [])
        if body.get("propagateTags") == "TASK_DEFINITION":
            tags = _merge_tags(bridge.tags_of(backend, task_definition.arn), tags)
        arns = []
        for _ in range(count):
            task = self._new_task(
                backend=backend,
                account=account,
                region=region,
                cluster=cluster,
                task_definition=task_definition,
                placement=placement,
                assign_public_ip=assign_public_ip,
                launch_type=launch_type,
                provider=provider,
                platform_version=body.get("platformVersion") or "LATEST",
                overrides=body.get("overrides"),
                started_by=body.get("startedBy") or "",
                group=body.get("group") or f"family:{task_definition.family}",
                tags=tags,
                enable_execute_command=bool(body.get("enableExecuteCommand")),
                service=None,
            )
            arns.append(task.task_arn)
        if token:
            self._run_task_tokens[token_key] = (_fingerprint(body), arns, time.monotonic())
        return {"tasks": self._describe_tasks(forward, cluster.arn, arns), "failures": []}

    def _capacity_refusal(self, backend: Any, task_definition: Any, body: dict[str, Any], provider: str, count: int):
        """Why Fargate places none of these tasks now (RunTask answers it as a failure), or None:
        Fargate Spot without capacity (``set_spot``), the account's vCPU quota of the capacity
        (``set_vcpu_quota``; On-Demand and Spot are separate quotas). An ARM64 task definition
        on Fargate Spot is refused outright (fargate_rules.capacity)."""
        if provider == FARGATE_SPOT:
            platform = getattr(task_definition, "runtime_platform", None) or {}
            problem = spot_architecture_problem({"runtimePlatform": platform})
            if problem:
                raise EcsError("ClientException", problem)
            if time.monotonic() < self.behaviours.spot.missing_until:
                return CAPACITY_UNAVAILABLE_REASON
        quota = self.vcpu_quotas.limits.get(provider)
        if quota is None:
            return None
        in_use = sum(
            task_vcpus(task.cpu)
            for task in bridge.all_tasks(backend)
            if isinstance(task, EmulatedTask)
            and task.last_status != "STOPPED"
            and (task.capacity_provider_name or FARGATE) == provider
        )
        cpu = (body.get("overrides") or {}).get("cpu") or task_definition.cpu
        if in_use + count * task_vcpus(cpu) > quota:
            return VCPU_LIMIT_REASON
        return None

    def _StopTask(self, backend, account, region, body, forward):
        cluster = bridge.get_cluster(backend, body.get("cluster"))
        task = bridge.find_task(backend, cluster.name, body.get("task") or "")
        if not isinstance(task, EmulatedTask):
            return None
        self._request_stop(task, "UserInitiated", body.get("reason") or "Task stopped by user")
        return {"task": self._describe_tasks(forward, cluster.arn, [task.task_arn])[0]}

    def _DescribeTasks(self, backend, account, region, body, forward):
        """As ECS: at most 100 a call; only the given cluster's tasks; the rest as MISSING failures."""
        wanted = list(body.get("tasks") or [])
        if len(wanted) > 100:
            raise invalid_parameter("taskIds can have at most 100 items.")
        try:
            cluster = bridge.get_cluster(backend, body.get("cluster"))
        except EcsError:
            return (
                None  # moto answers for clusters it no longer lists as ours (e.g. deleted: stopped tasks stay visible)
            )
        answer = forward("DescribeTasks", body)
        found = {t["taskArn"]: t for t in answer.get("tasks", []) if t.get("clusterArn") == cluster.arn}
        tasks, failures = [], []
        for reference in wanted:
            task = found.get(reference) or next(
                (t for arn, t in found.items() if name_from_arn(arn) == name_from_arn(reference)), None
            )
            if task is None:
                failures.append({"arn": reference, "reason": "MISSING"})
            elif task not in tasks:
                tasks.append(task)
        return {"tasks": tasks, "failures": failures}

    def _DescribeServices(self, backend, account, region, body, forward):
        """ECS's limit, checked before moto answers: at most 10 services a call."""
        if len(body.get("services") or []) > 10:
            raise invalid_parameter("service names can have at most 10 items.")
        return None

    # ------------------------------------------------------------------ services

    def _CreateService(self, backend, account, region, body, forward):
        cluster = bridge.get_cluster(backend, body.get("cluster"))
        name = body.get("serviceName")
        if not name:
            raise invalid_parameter("serviceName is required.")
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
            raise invalid_parameter("Creation of service was not idempotent.")
        if existing is not None and existing.status == "DRAINING":
            raise invalid_parameter("Unable to Start a service that is still Draining.")
        task_definition = self._task_definition_for_fargate(backend, body.get("taskDefinition"))
        self._check_size(task_definition, {})
        _check_platform_version(body.get("platformVersion"))
        placement, _ = self._placement(account, region, task_definition, body)
        load_balancers.check_service_load_balancers(account, region, task_definition, body.get("loadBalancers"))
        desired = body.get("desiredCount", 0)
        if not isinstance(desired, int) or desired < 0:
            raise invalid_parameter("desiredCount must be 0 or more.")
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
            network_configuration=_with_groups(body["networkConfiguration"], placement.security_groups),
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
        self.service_runs[service.arn] = ServiceRun()
        service.deployments = [self._deployment(service, task_definition.arn, desired)]
        self._service_tokens[key] = (body.get("clientToken"), fingerprint)
        return {"service": self._describe_service(forward, cluster.arn, service.arn)}

    def _active_service(self, backend, body) -> tuple[Any, Any] | None:
        """The (cluster, service) an update/delete names; None for services moto created itself."""
        cluster = bridge.get_cluster(backend, body.get("cluster"))
        service = bridge.find_service(backend, cluster.name, body.get("service") or "")
        if service is None or service.arn not in self.service_runs:
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
                raise invalid_parameter("desiredCount must be 0 or more.")
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
        self.service_runs[service.arn].steady = False
        return {"service": self._describe_service(forward, cluster.arn, service.arn)}

    def _DeleteService(self, backend, account, region, body, forward):
        found = self._active_service(backend, body)
        if found is None:
            return None
        cluster, service = found
        if service.desired_count > 0 and not body.get("force"):
            raise invalid_parameter("The service cannot be stopped while it is scaled above 0.")
        service.status = "DRAINING"
        service.desired_count = 0
        for deployment in service.deployments:
            deployment["desiredCount"] = 0
        return {"service": self._describe_service(forward, cluster.arn, service.arn)}

    def _DeleteCluster(self, backend, account, region, body, forward):
        cluster = bridge.get_cluster(backend, body.get("cluster"))
        if any(s.status in ("ACTIVE", "DRAINING") for s in bridge.cluster_services(backend, cluster.name)):
            raise EcsError(
                "ClusterContainsServicesException", "The Cluster cannot be deleted while Services are active."
            )
        if any(t.cluster_name == cluster.name and t.last_status != "STOPPED" for t in bridge.all_tasks(backend)):
            raise EcsError("ClusterContainsTasksException", "The Cluster cannot be deleted while Tasks are active.")
        return None

    # ------------------------------------------------------------------ EC2-side operations moto fails on (HTTP 500s)

    def _DescribeCapacityProviders(self, backend, account, region, body, forward):
        """Without ``capacityProviders`` ECS describes them all; moto iterates None."""
        if body.get("capacityProviders") is not None:
            return None
        return forward("DescribeCapacityProviders", {**body, "capacityProviders": list(backend.capacity_providers)})

    def _RegisterContainerInstance(self, backend, account, region, body, forward):
        """ECS checks the instance identity document first (its words: aws/amazon-ecs-agent#3604);
        moto parses it blindly and fails on a missing or non-JSON one."""
        try:
            document = json.loads(body.get("instanceIdentityDocument") or "")
        except ValueError:
            document = None
        if not isinstance(document, dict) or not isinstance(document.get("instanceId"), str):
            raise EcsError("ClientException", "The identity document and identity document signature were not valid.")
        return None

    # ------------------------------------------------------------------ ECS Exec

    def _ExecuteCommand(self, backend, account, region, body, forward):
        """ECS Exec: refused as ECS refuses it unless the task runs with exec enabled; otherwise the
        session ECS hands the Session Manager plugin (nothing answers on its stream here)."""
        cluster = bridge.get_cluster(backend, body.get("cluster"))
        task = bridge.find_task(backend, cluster.name, body.get("task") or "")
        if body.get("interactive") is not True:
            raise invalid_parameter("Interactive is the only mode supported currently.")
        names = [c.name for c in task.containers] if isinstance(task, EmulatedTask) else []
        container_name = body.get("container") or (names[0] if len(names) == 1 else None)
        if container_name is None or container_name not in names:
            raise invalid_parameter(
                "The specified container was not found in the task."
                if container_name
                else "container is required for a task with more than one container."
            )
        if not (isinstance(task, EmulatedTask) and task.enable_execute_command and task.last_status == "RUNNING"):
            # ECS's words, as quoted in fabfuel/ecs-deploy#193 and keidarcy/e1s#206.
            raise invalid_parameter(
                "The execute command failed because execute command was not enabled when the task was run or the "
                "execute command agent isn\u2019t running. Wait and try again or run a new task with execute command "
                "enabled and try again."
            )
        container = next(c for c in task.containers if c.name == container_name)
        session_id = f"ecs-execute-command-{self._ids.getrandbits(68):017x}"
        return {
            "clusterArn": cluster.arn,
            "containerArn": container.container_arn,
            "containerName": container_name,
            "interactive": True,
            "session": {
                "sessionId": session_id,
                "streamUrl": f"wss://ssmmessages.{region}.amazonaws.com/v1/data-channel/{session_id}?role=publish_subscribe&cell-number=AAEAAQ",
                "tokenValue": base64.b64encode(f"fargate-local:{session_id}".encode()).decode(),
            },
            "taskArn": task.task_arn,
        }

    # ------------------------------------------------------------------ validation shared by tasks and services

    def _launch(self, cluster: Any, body: dict[str, Any]) -> tuple[str, str | None]:
        launch_type, strategy = body.get("launchType"), body.get("capacityProviderStrategy")
        if launch_type and strategy:
            raise invalid_parameter("Specifying both a launch type and capacity provider strategy is not supported.")
        if launch_type:
            if launch_type not in LAUNCH_TYPES:
                raise invalid_parameter(f"launchType should be one of [{','.join(LAUNCH_TYPES)}].")
            return launch_type, None
        strategy = strategy or getattr(cluster, "default_capacity_provider_strategy", None) or []
        if not strategy:
            return "EC2", None  # ECS's default launch type
        for item in strategy:
            name = item.get("capacityProvider")
            if name not in FARGATE_PROVIDERS:
                raise invalid_parameter(
                    f"The specified capacity provider {name} is not supported by fargate-local; "
                    "use FARGATE or FARGATE_SPOT."
                )
            if name not in (cluster.capacity_providers or []):
                raise invalid_parameter(
                    "The specified capacity provider strategy cannot contain a capacity provider that is not "
                    "associated with the cluster. Associate the capacity provider with the cluster or specify a "
                    "valid capacity provider and try again."
                )
        chosen = max(strategy, key=lambda item: (item.get("base", 0), item.get("weight", 0)))
        return "FARGATE", chosen["capacityProvider"]

    @staticmethod
    def _task_definition_for_fargate(backend: Any, reference: str | None) -> Any:
        if not reference:
            raise invalid_parameter("taskDefinition is required.")
        task_definition = bridge.get_task_definition(backend, reference)
        if ":" not in reference.rsplit("/", 1)[-1]:
            task_definition = bridge.latest_active_revision(backend, task_definition)
        if task_definition.status != "ACTIVE":
            raise EcsError("ClientException", "TaskDefinition is inactive")
        if "FARGATE" not in (task_definition.requires_compatibilities or []):
            raise EcsError("ClientException", "Task definition does not support launch_type FARGATE.")
        if task_definition.network_mode != "awsvpc":
            raise EcsError("ClientException", FARGATE_NETWORK_MODE_MESSAGE)
        return task_definition

    @staticmethod
    def _check_size(task_definition: Any, overrides: dict[str, Any]) -> None:
        cpu = overrides.get("cpu") or task_definition.cpu
        memory = overrides.get("memory") or task_definition.memory
        try:
            check_fargate_size(parse_cpu(cpu), parse_memory(memory))
        except (SizeError, TypeError) as error:
            raise EcsError("ClientException", fargate_size_message(cpu, memory)) from error

    @staticmethod
    def _placement(
        account: str, region: str, task_definition: Any, body: dict[str, Any]
    ) -> tuple[bridge.Placement, bool]:
        awsvpc = (body.get("networkConfiguration") or {}).get("awsvpcConfiguration")
        if not awsvpc:
            raise invalid_parameter("Network Configuration must be provided when networkMode 'awsvpc' is specified.")
        assign = awsvpc.get("assignPublicIp", "DISABLED")
        if assign not in ("ENABLED", "DISABLED"):
            raise invalid_parameter("assignPublicIp should be one of [ENABLED,DISABLED].")
        return bridge.place_in_network(account, region, awsvpc), assign == "ENABLED"

    @staticmethod
    def _describe_tasks(forward: Forward, cluster: str, arns: list[str]) -> list[dict[str, Any]]:
        """Let moto serialize the tasks, so answers have exactly DescribeTasks' shape."""
        return forward("DescribeTasks", {"cluster": cluster, "tasks": arns, "include": ["TAGS"]})["tasks"]

    @staticmethod
    def _describe_service(forward: Forward, cluster: str, arn: str) -> dict[str, Any]:
        return forward("DescribeServices", {"cluster": cluster, "services": [arn], "include": ["TAGS"]})["services"][0]


# ------------------------------------------------------------------ helpers


FARGATE_PLATFORM_VERSIONS = ("LATEST", "1.4.0", "1.3.0")  # Linux platform versions Fargate still runs


def _check_platform_version(version: str | None) -> None:
    if version is not None and version not in FARGATE_PLATFORM_VERSIONS:
        raise EcsError("PlatformUnknownException", "The specified platform version does not exist.")


def _with_groups(network_configuration: dict[str, Any], groups: list[str]) -> dict[str, Any]:
    """The service's awsvpcConfiguration with the security groups its tasks get (the VPC's
    default group when none were given, as ECS uses)."""
    awsvpc = network_configuration["awsvpcConfiguration"]
    return {
        **network_configuration,
        "awsvpcConfiguration": {**awsvpc, "securityGroups": list(awsvpc.get("securityGroups") or groups)},
    }


def required_attributes(spec: dict[str, Any]) -> list[str]:
    """The container-agent capabilities a task definition needs, as ECS lists them in
    ``requiresAttributes`` (names from the ECS developer guide's container instance attributes)."""
    names = ["com.amazonaws.ecs.capability.docker-remote-api.1.18"]
    if spec.get("networkMode") == "awsvpc":
        names.append("ecs.capability.task-eni")
    if spec.get("taskRoleArn"):
        names.append("com.amazonaws.ecs.capability.task-iam-role")
    for container in spec.get("containerDefinitions") or []:
        if (container.get("logConfiguration") or {}).get("logDriver") == "awslogs":
            names += [
                "com.amazonaws.ecs.capability.logging-driver.awslogs",
                "ecs.capability.execution-role-awslogs",
                "com.amazonaws.ecs.capability.docker-remote-api.1.19",
            ]
        if container.get("dependsOn"):
            names.append("ecs.capability.container-ordering")
        if container.get("healthCheck"):
            names.append("ecs.capability.container-health-check")
        for secret in container.get("secrets") or []:
            kind = "asm" if SECRETS_MANAGER_ARN_RE.match(str(secret.get("valueFrom"))) else "ssm"
            names.append(f"ecs.capability.secrets.{kind}.environment-variables")
        if ".dkr.ecr." in str(container.get("image")):
            names += ["com.amazonaws.ecs.capability.ecr-auth", "ecs.capability.execution-role-ecr-pull"]
    return list(dict.fromkeys(names))


def _strategy(items: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    """As ECS stores a capacity provider strategy: weight and base filled in."""
    if not items:
        return None
    return [
        {"capacityProvider": i["capacityProvider"], "weight": i.get("weight", 0), "base": i.get("base", 0)}
        for i in items
    ]


def _fingerprint(body: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in body.items() if k != "clientToken"}, sort_keys=True, default=str)


def _merge_tags(first: list[dict[str, str]], second: list[dict[str, str]]) -> list[dict[str, str]]:
    merged = {t["key"]: t.get("value", "") for t in first}
    merged.update({t["key"]: t.get("value", "") for t in second})
    return [{"key": k, "value": v} for k, v in merged.items()]


def _deployment_configuration(current: dict[str, Any], given: dict[str, Any] | None) -> dict[str, Any]:
    result: dict[str, Any] = {
        "deploymentCircuitBreaker": {"enable": False, "rollback": False},
        "maximumPercent": 200,
        "minimumHealthyPercent": 100,
    }
    result.update(current)
    for key, value in (given or {}).items():
        result[key] = {**result.get(key, {}), **value} if isinstance(value, dict) else value
    return result
