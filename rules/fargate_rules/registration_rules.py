"""ECS's own RegisterTaskDefinition rules for Fargate, in ECS's words.

One table serves two readers: the validator (``task_definition_spec``), which reports every
broken rule before any AWS call and adds the fix, and the local emulator, which answers
RegisterTaskDefinition with the first broken rule as ECS's ``ClientException`` — so a spec our
validator lets through is one the emulator accepts, and neither is kinder than ECS.

The messages are ECS's answers as users quote them (sources beside each rule); the rule is
only applied where ECS applies it (``FARGATE`` in ``requiresCompatibilities``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

# 123456789012.dkr.ecr.us-east-1.amazonaws.com/repo:tag (also .com.cn and the FIPS/dualstack forms)
PRIVATE_ECR_IMAGE_RE = re.compile(
    r"^(?P<registry>\d{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/"
    r"(?P<repository>[^:@]+)(?::(?P<tag>[^@]+))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?$"
)
EXECUTION_ROLE_FIX = (
    "set executionRoleArn (the operator's execution_role_arn=) to a role that trusts ecs-tasks.amazonaws.com "
    "and has AmazonECSTaskExecutionRolePolicy, e.g. ecsTaskExecutionRole created from iam/ecs-task-execution-role.json"
)

EPHEMERAL_STORAGE_MIN_GIB, EPHEMERAL_STORAGE_MAX_GIB = 21, 200
EPHEMERAL_STORAGE_MESSAGE = (
    f"The ephemeral storage size must be between {EPHEMERAL_STORAGE_MIN_GIB} and {EPHEMERAL_STORAGE_MAX_GIB} GiB "
    "for tasks using the Fargate launch type."
)


def fargate_size_message(cpu: Any, memory: Any) -> str:
    """ECS's answer to a cpu/memory pair Fargate does not offer, at registration and at RunTask
    (ClientException as users quote it: aws-games/cloud-game-development-toolkit#737). The one wording."""
    return (
        f"No Fargate configuration exists for given values: {cpu} CPU, {memory} memory. "
        "See the Amazon ECS documentation for the valid values."
    )


def _parsed_cpu(value: int | str) -> int | None:
    from fargate_rules.sizes import SizeError, parse_cpu

    try:
        return parse_cpu(value)
    except SizeError:
        return None


# ECS's words (aws/amazon-ecs-cli#1145) at registration and at RunTask of a non-awsvpc task definition.
FARGATE_NETWORK_MODE_MESSAGE = "Fargate only supports network mode \u2018awsvpc\u2019."


@dataclass(frozen=True)
class BrokenRule:
    """One rule ECS refuses the registration for: where, ECS's message, and how to fix it."""

    path: str
    ecs_message: str
    fix: str


def is_private_ecr_image(image: Any) -> bool:
    return isinstance(image, str) and PRIVATE_ECR_IMAGE_RE.match(image.strip()) is not None


def _containers(spec: dict[str, Any]) -> Iterator[tuple[int, dict[str, Any]]]:
    containers = spec.get("containerDefinitions")
    if isinstance(containers, list):
        for index, container in enumerate(containers):
            if isinstance(container, dict):
                yield index, container


def _is_fargate(spec: dict[str, Any]) -> bool:
    compatibilities = spec.get("requiresCompatibilities")
    return isinstance(compatibilities, list) and "FARGATE" in compatibilities


def execution_role_rules(spec: dict[str, Any]) -> list[BrokenRule]:
    """What needs ``executionRoleArn`` and lacks it: ECS pulls secrets, private images and
    writes awslogs with the execution role, so it refuses such a task definition without one.

    Sources (ClientException from RegisterTaskDefinition, quoted by users):
    - awslogs: virtual-kubelet/virtual-kubelet#193
    - secrets: fabfuel/ecs-deploy#87, hashicorp/terraform-provider-aws#6503 (any launch type)
    - ECR images: hashicorp/terraform-provider-aws#3051, jenkinsci/amazon-ecs-plugin#53
    - repositoryCredentials: sil-org/ecs-deploy#188
    """
    if spec.get("executionRoleArn"):
        return []
    fargate = _is_fargate(spec)
    broken: list[BrokenRule] = []
    for index, container in _containers(spec):
        base = f"containerDefinitions[{index}]"
        if container.get("secrets"):
            broken.append(
                BrokenRule(
                    f"{base}.secrets",
                    "When you are specifying container secrets, you must also specify a value for 'executionRoleArn'.",
                    EXECUTION_ROLE_FIX,
                )
            )
        log_configuration = container.get("logConfiguration")
        log = log_configuration if isinstance(log_configuration, dict) else {}
        if log.get("secretOptions"):
            # ECS pulls log-driver secrets with the execution role too; its wording for this case
            # is not quoted anywhere we could find, so the container-secrets message stands in.
            broken.append(
                BrokenRule(
                    f"{base}.logConfiguration.secretOptions",
                    "When you are specifying container secrets, you must also specify a value for 'executionRoleArn'.",
                    EXECUTION_ROLE_FIX,
                )
            )
        if fargate and log.get("logDriver") == "awslogs":
            broken.append(
                BrokenRule(
                    f"{base}.logConfiguration.logDriver",
                    "Fargate requires task definition to have execution role ARN to support log driver awslogs.",
                    EXECUTION_ROLE_FIX,
                )
            )
        if fargate and is_private_ecr_image(container.get("image")):
            broken.append(
                BrokenRule(
                    f"{base}.image",
                    "Fargate requires task definition to have execution role ARN to support ECR images.",
                    EXECUTION_ROLE_FIX,
                )
            )
        if container.get("repositoryCredentials"):
            broken.append(
                BrokenRule(
                    f"{base}.repositoryCredentials",
                    (
                        "Private repository authentication requires that the task definition specify a value for "
                        "executionRoleArn."
                    ),
                    EXECUTION_ROLE_FIX,
                )
            )
    return broken


def fargate_container_rules(spec: dict[str, Any]) -> list[BrokenRule]:
    """Container settings ECS refuses under awsvpc / on Fargate. The hostname message is ECS's
    as users quote it; for links and privileged the rule is the task definition parameters
    reference's ("not supported ... awsvpc" / "... tasks run on AWS Fargate"), the wording ours."""
    awsvpc = spec.get("networkMode") == "awsvpc" or _is_fargate(spec)  # Fargate is always awsvpc
    broken: list[BrokenRule] = []
    for index, container in _containers(spec):
        base = f"containerDefinitions[{index}]"
        if awsvpc and container.get("hostname"):
            broken.append(
                BrokenRule(
                    f"{base}.hostname",
                    "hostname is not supported on container when networkMode=awsvpc.",
                    "remove hostname",
                )
            )
        if awsvpc and container.get("links"):
            broken.append(
                BrokenRule(
                    f"{base}.links",
                    "links are not supported when networkMode=awsvpc.",
                    "remove links; containers of one task reach each other on localhost",
                )
            )
        if _is_fargate(spec) and container.get("privileged"):
            broken.append(
                BrokenRule(
                    f"{base}.privileged", "privileged containers are not supported on Fargate.", "remove privileged"
                )
            )
    return broken


def fargate_task_rules(spec: dict[str, Any]) -> list[BrokenRule]:
    """Task-level Fargate rules. The validator checks these itself with richer messages (the
    allowed values); the emulator answers them in ECS's words. Sources (ClientException):
    cpu — mongodb/terraform-aws-ecs-task-definition#38; sizes — aws-games/cloud-game-development-toolkit#737;
    network mode — aws/amazon-ecs-cli#1145; ports — pulumi/pulumi-awsx#935; essential — eagletmt/hako#68;
    names — Shippable/support#2946."""
    from fargate_rules.sizes import FARGATE_MEMORY_BY_CPU, SizeError, check_fargate_size, parse_cpu, parse_memory

    broken: list[BrokenRule] = []
    if _is_fargate(spec):
        if spec.get("networkMode") != "awsvpc":
            broken.append(BrokenRule("networkMode", FARGATE_NETWORK_MODE_MESSAGE, "set networkMode to awsvpc"))
        if not spec.get("cpu"):
            broken.append(
                BrokenRule("cpu", "Fargate requires that 'cpu' be defined at the task level.", "set a task-level cpu")
            )
        elif not spec.get("memory"):
            broken.append(
                BrokenRule(
                    "memory", "Fargate requires that 'memory' be defined at the task level.", "set a task-level memory"
                )
            )
        else:
            try:
                check_fargate_size(parse_cpu(spec["cpu"]), parse_memory(spec["memory"]))
            except (SizeError, TypeError) as error:
                known_cpu = isinstance(spec["cpu"], (int, str)) and _parsed_cpu(spec["cpu"]) in FARGATE_MEMORY_BY_CPU
                broken.append(
                    BrokenRule(
                        "memory" if known_cpu else "cpu",
                        fargate_size_message(spec["cpu"], spec["memory"]),
                        str(error) if isinstance(error, SizeError) else "use a cpu/memory pair Fargate offers",
                    )
                )
        if spec.get("pidMode") not in (None, "task"):
            # ClientException as users quote it: aws/aws-cdk#29619.
            broken.append(
                BrokenRule(
                    "pidMode",
                    f"Tasks using the Fargate launch type do not support pidMode '{spec['pidMode']}'. "
                    "The supported value for pidMode is 'task'.",
                    "set pidMode to 'task' or remove it",
                )
            )
        if spec.get("ipcMode") is not None:
            # ClientException as users quote it: cn-terraform/terraform-aws-ecs-fargate#2.
            broken.append(
                BrokenRule(
                    "ipcMode",
                    "Tasks using the Fargate launch type do not support ipcMode.",
                    "remove ipcMode (Fargate supports no IPC namespace setting)",
                )
            )
        storage = spec.get("ephemeralStorage")
        size = storage.get("sizeInGiB") if isinstance(storage, dict) else None
        if (
            isinstance(size, int)
            and not isinstance(size, bool)
            and not (EPHEMERAL_STORAGE_MIN_GIB <= size <= EPHEMERAL_STORAGE_MAX_GIB)
        ):
            # The range is the task definition parameters reference's (ephemeralStorage: "minimum supported
            # value is 21 GiB and the maximum supported value is 200 GiB"); ECS's error text for it is not
            # quoted anywhere we could find, so this wording is ours.
            broken.append(
                BrokenRule(
                    "ephemeralStorage.sizeInGiB",
                    EPHEMERAL_STORAGE_MESSAGE,
                    "omit ephemeralStorage (20 GiB by default) or give 21-200",
                )
            )
    containers = list(_containers(spec))
    if containers and not any(c.get("essential", True) for _, c in containers):
        broken.append(
            BrokenRule(
                "containerDefinitions",
                "Task definition doesn't have any essential container.",
                "mark one container essential",
            )
        )
    seen: set[Any] = set()
    for index, container in containers:
        name = container.get("name")
        if name in seen:
            broken.append(
                BrokenRule(
                    f"containerDefinitions[{index}].name",
                    "Container names must be unique within a Task Definition.",
                    "rename the duplicates",
                )
            )
            break  # ECS answers once
        seen.add(name)
    if spec.get("networkMode") == "awsvpc":
        # hostPort 0 (a dynamic host port, bridge mode's) is no exception: under awsvpc "the hostPort can
        # either be left blank or set to the same value as the containerPort" (task definition parameters
        # reference, portMappings), so ECS answers 0 with the same message.
        for index, container in containers:
            for position, mapping in enumerate(container.get("portMappings") or []):
                host = mapping.get("hostPort") if isinstance(mapping, dict) else None
                if host is not None and host != mapping.get("containerPort"):
                    broken.append(
                        BrokenRule(
                            f"containerDefinitions[{index}].portMappings[{position}].hostPort",
                            "When networkMode=awsvpc, the host ports and container ports in port mappings must match.",
                            "omit hostPort or make it equal containerPort",
                        )
                    )
    return broken


def dependency_rules(spec: dict[str, Any]) -> list[BrokenRule]:
    """``dependsOn``: a container others wait on to exit (SUCCESS, COMPLETE) must be allowed to
    exit, so it cannot be essential. Source (ClientException quoted in boto/boto3#2436). The
    validator checks this itself (task_definition_spec's dependsOn checks); the emulator answers it."""
    containers = list(_containers(spec))
    essential = {c.get("name") for _, c in containers if c.get("essential", True)}
    broken: list[BrokenRule] = []
    for index, container in containers:
        for position, dependency in enumerate(container.get("dependsOn") or []):
            if not isinstance(dependency, dict):
                continue
            if dependency.get("condition") in ("SUCCESS", "COMPLETE") and dependency.get("containerName") in essential:
                broken.append(
                    BrokenRule(
                        f"containerDefinitions[{index}].dependsOn[{position}]",
                        "A dependency container with SUCCESS or COMPLETE condition cannot be an essential container",
                        f"set essential: false on container {dependency.get('containerName')!r} (an init container), "
                        "or wait for it with START or HEALTHY",
                    )
                )
    return broken


def validator_rules(spec: dict[str, Any]) -> list[BrokenRule]:
    """Every rule of this table, for the validator: it reports each in ECS's words (beside its own,
    richer message for the same field where it has one), so it refuses exactly what the emulator does."""
    return registration_rules(spec)


def registration_rules(spec: dict[str, Any]) -> list[BrokenRule]:
    """Every rule of this module that ``spec`` breaks, task-level first (as the emulator answers)."""
    return (
        fargate_task_rules(spec) + execution_role_rules(spec) + fargate_container_rules(spec) + dependency_rules(spec)
    )
