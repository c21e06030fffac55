"""What ECS checks when it launches a Fargate task, answered in ECS's words.

Launch: the execution and task roles must exist and trust ``ecs-tasks.amazonaws.com`` — RunTask
answers ClientException, a service logs "failed to launch a task" and starts nothing. Start: the
task's subnet must reach what it needs, the execution role must be allowed to use it, secrets and
private ECR images must exist, the awslogs group must exist or be creatable — else the task stops
with ``TaskFailedToStart`` and ECS's stoppedReason. The judgement itself (what a task needs, what a
subnet reaches, what a policy allows) is ``fargate_rules.task_requirements``, shared with preflight.

Wordings, as users quote them from ECS: role — aws-samples/aws-modern-application-workshop#149,
telia-oss/terraform-aws-ecs-fargate#58; network — AWS knowledge center "ecs-unable-to-pull-secrets",
ActionIQ/terraform-aws-retool-ecs-fargate#20; permissions — aws/copilot-cli#3104; missing secrets and
images — the ECS agent's messages (aws/amazon-ecs-agent agent/ssm, "failed to resolve ref … not found").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fargate_local import moto_bridge as bridge
from fargate_rules.task_requirements import (
    ImageRef,
    LogGroupRef,
    SecretRef,
    TaskNeeds,
    allows,
    role_arn,
    task_needs,
    trusts_ecs_tasks,
    unreachable,
)

ASSUME_ROLE_ERROR = (
    "ECS was unable to assume the role '{arn}' that was provided for this task. Please verify that the role being "
    "passed has the proper trust relationship and permissions and that your IAM user has permissions to pass this role."
)
_TIMEOUT_IP = "203.0.113.10"  # TEST-NET-3: the address in a dial timeout is not meant to be real


def needs_of(task_definition: Any, overrides: dict[str, Any] | None = None) -> TaskNeeds:
    overrides = overrides or {}
    return task_needs(
        {
            "executionRoleArn": overrides.get("executionRoleArn")
            or getattr(task_definition, "execution_role_arn", None),
            "taskRoleArn": overrides.get("taskRoleArn") or getattr(task_definition, "task_role_arn", None),
            "containerDefinitions": task_definition.container_definitions,
        }
    )


def launch_error(account: str, needs: TaskNeeds) -> str | None:
    """ECS's answer when it cannot assume a role the task names (checked before a task exists)."""
    for reference in (needs.execution_role, needs.task_role):
        if not reference:
            continue
        role = bridge.find_role(account, reference)
        if role is None or not trusts_ecs_tasks(bridge.role_trust_policy(role)):
            return ASSUME_ROLE_ERROR.format(arn=role_arn(reference, account=account))
    return None


@dataclass(frozen=True)
class _Start:
    """What every start check reads, gathered once before the first: the task's needs, what its subnet
    cannot reach, its execution role's policies and the actions that role must be allowed."""

    account: str
    region: str
    needs: TaskNeeds
    blocked: dict[str, str]
    documents: list[dict[str, Any]]
    assumed: str  # the execution role's session, as IAM names it in AccessDeniedException
    required: list[tuple[str, str, str]]

    @classmethod
    def of(cls, task: Any) -> _Start:
        account, region = task.account, task.region_name
        needs = needs_of(task.task_definition, task.overrides)
        egress = bridge.subnet_egress(account, region, task.subnet_id)
        blocked = dict(unreachable(needs, egress, region, task.assign_public_ip))
        role = bridge.find_role(account, needs.execution_role) if needs.execution_role else None
        documents = bridge.role_policy_documents(role) if role else []
        assumed = f"arn:aws:sts::{account}:assumed-role/{role.name if role else 'none'}/{task.id}"
        required = needs.execution_actions("aws", region, account)
        return cls(account, region, needs, blocked, documents, assumed, required)

    def denied(self, action: str, resource: str) -> str:
        return (
            f"AccessDeniedException: User: {self.assumed} is not authorized to perform: {action} on resource: "
            f"{resource} because no identity-based policy allows the {action} action"
        )

    def secrets(self, service: str) -> list[SecretRef]:
        return [s for s in self.needs.secrets if s.service == service]


# 1. registry auth for private ECR images, then secrets (SSM's, then Secrets Manager's)


def _ecr_auth_unreachable(start: _Start) -> str | None:
    """A private ECR image needs registry auth, and the subnet cannot reach ECR's API."""
    if any(i.is_private_ecr for i in start.needs.images) and "ecr" in start.blocked:
        return (
            "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval "
            "failed: unable to retrieve ecr registry auth: service call has been retried 3 time(s): RequestError: "
            f'send request failed caused by: Post "https://api.ecr.{start.region}.amazonaws.com/": dial tcp '
            f"{_TIMEOUT_IP}:443: i/o timeout. Please check your task network configuration."
        )
    return None


def _ecr_auth_denied(start: _Start) -> str | None:
    """A private ECR image needs registry auth, and the execution role may not get an ECR token."""
    if any(i.is_private_ecr for i in start.needs.images) and not allows(
        start.documents, "ecr:GetAuthorizationToken", "*"
    ):
        return (
            "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval "
            "failed: unable to retrieve ecr registry auth: service call has been retried 1 time(s): "
            + start.denied("ecr:GetAuthorizationToken", "*")
        )
    return None


_SSM_LABEL = "unable to retrieve secrets from ssm"
_ASM_LABEL = "unable to retrieve secret from asm"


def _secrets_unreachable(start: _Start, service: str, label: str) -> str | None:
    """The task has secrets in ``service``, and the subnet cannot reach it."""
    if start.secrets(service) and service in start.blocked:
        return (
            "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval "
            f"failed: {label}: service call has been retried 5 time(s): RequestCanceled: request context canceled "
            "caused by: context deadline exceeded. Please check your task network configuration."
        )
    return None


def _secrets_read_denied(start: _Start, service: str, label: str, action: str) -> str | None:
    """The task has secrets in ``service``, and the execution role may not read one of them."""
    if not start.secrets(service):
        return None
    for act, resource, _ in start.required:
        if act == action and not allows(start.documents, action, resource):
            return (
                "ResourceInitializationError: unable to pull secrets or registry auth: "
                f"execution resource retrieval failed: {label}: service call has been retried 1 time(s): "
                f"{start.denied(action, resource)}"
            )
    return None


def _ssm_unreachable(start: _Start) -> str | None:
    return _secrets_unreachable(start, "ssm", _SSM_LABEL)


def _ssm_read_denied(start: _Start) -> str | None:
    return _secrets_read_denied(start, "ssm", _SSM_LABEL, "ssm:GetParameters")


def _ssm_parameters_missing(start: _Start) -> str | None:
    """SSM parameters the task names that do not exist (all of them, as ECS lists them)."""
    missing = [
        s.id
        for s in start.secrets("ssm")
        if not bridge.ssm_parameter_exists(start.account, s.region or start.region, s.id)
    ]
    if missing:
        return (
            "ResourceInitializationError: unable to pull secrets or registry auth: "
            "execution resource retrieval failed: unable to retrieve secrets from ssm: "
            f"service call has been retried 1 time(s): invalid ssm parameters: {','.join(missing)}"
        )
    return None


def _asm_unreachable(start: _Start) -> str | None:
    return _secrets_unreachable(start, "secretsmanager", _ASM_LABEL)


def _asm_read_denied(start: _Start) -> str | None:
    return _secrets_read_denied(start, "secretsmanager", _ASM_LABEL, "secretsmanager:GetSecretValue")


def _asm_secret_missing(start: _Start) -> str | None:
    """The first Secrets Manager secret the task names that does not exist."""
    missing_secret = next(
        (
            s
            for s in start.secrets("secretsmanager")
            if not bridge.secret_exists(start.account, s.region or start.region, s.id)
        ),
        None,
    )
    if missing_secret:
        return (
            "ResourceInitializationError: unable to pull secrets or registry auth: "
            "execution resource retrieval failed: unable to retrieve secret from asm: "
            "service call has been retried 1 time(s): failed to fetch "
            f"secret {missing_secret.id} from secrets manager: ResourceNotFoundException: "
            "Secrets Manager can't find the specified secret."
        )
    return None


# 2. images, each in turn: the checks of _IMAGE_CHECKS on one image before the next image


def _public_image_unreachable(start: _Start, image: ImageRef) -> str | None:
    """An image outside private ECR, and the subnet cannot reach its registry."""
    if not image.is_private_ecr and "image" in start.blocked:
        host, path, reference = _image_parts(image.image)
        shown = "docker.io" if host == "registry-1.docker.io" else host
        return (
            f"CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref "
            f"{shown}/{path}:{reference}: failed to do request: "
            f'Head "https://{host}/v2/{path}/manifests/{reference}": '
            f"dial tcp {_TIMEOUT_IP}:443: i/o timeout"
        )
    return None


def _ecr_repository(image: ImageRef) -> tuple[str, str, str]:
    """(region, registry, repository) of a private ECR image."""
    # (a private ECR image's reference names all three)
    assert image.ecr_region is not None and image.ecr_registry is not None and image.repository is not None
    return image.ecr_region, image.ecr_registry, image.repository


def _ecr_pull_denied(start: _Start, image: ImageRef) -> str | None:
    """A private ECR image, and the execution role may not pull it from its repository."""
    if not image.is_private_ecr:
        return None
    region, registry, name = _ecr_repository(image)
    repository = f"arn:aws:ecr:{region}:{registry}:repository/{name}"
    # every pull action of AmazonECSTaskExecutionRolePolicy the task needs (the list preflight reads)
    pull_denied = next(
        (a for a, r, _ in start.required if r == repository and not allows(start.documents, a, repository)), None
    )
    if pull_denied:
        return (
            f"CannotPullContainerError: pull image manifest has been retried 1 time(s): failed to resolve ref "
            f"{image.image}: pull access denied: " + start.denied(pull_denied, repository)
        )
    return None


def _ecr_image_missing(start: _Start, image: ImageRef) -> str | None:
    """A private ECR image whose tag or digest is not in its repository."""
    if not image.is_private_ecr:
        return None
    region, registry, name = _ecr_repository(image)
    if not bridge.ecr_image_exists(start.account, region, registry, name, image.tag, image.digest):
        return (
            f"CannotPullContainerError: pull image manifest has been retried 7 time(s): failed to resolve ref "
            f"{image.image}: not found"
        )
    return None


_IMAGE_CHECKS: tuple[Callable[[_Start, ImageRef], str | None], ...] = (
    _public_image_unreachable,
    _ecr_pull_denied,
    _ecr_image_missing,
)


def _image_unpullable(start: _Start) -> str | None:
    """The first image ECS cannot pull, checking each image in turn."""
    for image in start.needs.images:
        for check in _IMAGE_CHECKS:
            if (failure := check(start, image)) is not None:
                return failure
    return None


# 3. the log driver, each awslogs group in turn: the checks of _LOG_GROUP_CHECKS on one group before the next


def _log_group_arn(start: _Start, group: LogGroupRef) -> str:
    return f"arn:aws:logs:{group.region or start.region}:{start.account}:log-group:{group.group}"


def _logs_unreachable(start: _Start, group: LogGroupRef) -> str | None:
    """The task logs to CloudWatch, and the subnet cannot reach it."""
    if "logs" in start.blocked:
        return (
            "ResourceInitializationError: failed to validate logger args: "
            "The task cannot find the Amazon CloudWatch log group defined in the task definition. "
            "There is a connection issue between the task and Amazon "
            "CloudWatch. Check your network configuration. : signal: killed"
        )
    return None


def _log_group_uncreatable(start: _Start, group: LogGroupRef) -> str | None:
    """A log group that does not exist: refused without awslogs-create-group, or when the execution
    role may not create it; else the log driver creates it (and the start goes on)."""
    group_region = group.region or start.region
    if bridge.log_group_exists(start.account, group_region, group.group):
        return None
    if not group.create:
        return (
            "ResourceInitializationError: failed to validate logger args: create stream has been retried "
            "1 times: failed to create Cloudwatch log stream: ResourceNotFoundException: The specified "
            "log group does not exist. : exit status 1"
        )
    arn = _log_group_arn(start, group)
    if not allows(start.documents, "logs:CreateLogGroup", arn):
        return (
            "ResourceInitializationError: failed to validate logger args: create stream has been retried "
            f"1 times: failed to create Cloudwatch log group: {start.denied('logs:CreateLogGroup', arn)} "
            ": exit status 1"
        )
    bridge.create_log_group(start.account, group_region, group.group)
    return None


def _log_stream_denied(start: _Start, group: LogGroupRef) -> str | None:
    """The execution role may not create the group's log streams or put log events in them."""
    # logs:CreateLogStream, then logs:PutLogEvents (the list preflight reads). ECS's words are quoted for
    # CreateLogStream (aws/copilot-cli#3104); a role without PutLogEvents is refused here in the same form
    # (not quoted anywhere we could find): stricter than losing the logs, never kinder.
    stream = f"{_log_group_arn(start, group)}:log-stream:*"
    log_denied = next((a for a, r, _ in start.required if r == stream and not allows(start.documents, a, stream)), None)
    if log_denied:
        step = "create stream" if log_denied == "logs:CreateLogStream" else "put log events"
        what = "create Cloudwatch log stream" if log_denied == "logs:CreateLogStream" else "put log events"
        return (
            "ResourceInitializationError: failed to validate logger args: "
            f"{step} has been retried 1 times: failed to {what}: {start.denied(log_denied, stream)} : exit status 1"
        )
    return None


_LOG_GROUP_CHECKS: tuple[Callable[[_Start, LogGroupRef], str | None], ...] = (
    _logs_unreachable,
    _log_group_uncreatable,
    _log_stream_denied,
)


def _log_driver_unready(start: _Start) -> str | None:
    """The first awslogs group the log driver cannot use, checking each group in turn."""
    for group in start.needs.log_groups:
        for check in _LOG_GROUP_CHECKS:
            if (failure := check(start, group)) is not None:
                return failure
    return None


_START_STEPS: tuple[Callable[[_Start], str | None], ...] = (
    # 1. registry auth for private ECR images, then secrets
    _ecr_auth_unreachable,
    _ecr_auth_denied,
    _ssm_unreachable,
    _ssm_read_denied,
    _ssm_parameters_missing,
    _asm_unreachable,
    _asm_read_denied,
    _asm_secret_missing,
    # 2. images
    _image_unpullable,
    # 3. the log driver
    _log_driver_unready,
)


def start_failure(task: Any) -> str | None:
    """The stoppedReason of a task that cannot start, in the order ECS prepares a task
    (registry auth and secrets, then images, then the log driver); None when it can start."""
    start = _Start.of(task)
    for step in _START_STEPS:
        if (failure := step(start)) is not None:
            return failure
    return None


def _image_parts(image: str) -> tuple[str, str, str]:
    """(registry host, repository path, tag or digest) as a container runtime resolves a reference."""
    name, _, digest = image.partition("@")
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        host, path = first, rest
    else:
        host, path = "registry-1.docker.io", name if "/" in name else f"library/{name}"
    path, _, tag = path.partition(":")
    return host, path, digest or tag or "latest"
