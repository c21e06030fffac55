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

from typing import Any

from fargate_local import moto_bridge as bridge
from fargate_rules.task_requirements import TaskNeeds, allows, role_arn, task_needs, trusts_ecs_tasks, unreachable

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


def start_failure(task: Any) -> str | None:
    """The stoppedReason of a task that cannot start, in the order ECS prepares a task
    (registry auth and secrets, then images, then the log driver); None when it can start."""
    account, region = task.account, task.region_name
    needs = needs_of(task.task_definition, task.overrides)
    egress = bridge.subnet_egress(account, region, task.subnet_id)
    blocked = dict(unreachable(needs, egress, region, task.assign_public_ip))
    role = bridge.find_role(account, needs.execution_role) if needs.execution_role else None
    documents = bridge.role_policy_documents(role) if role else []
    assumed = f"arn:aws:sts::{account}:assumed-role/{role.name if role else 'none'}/{task.id}"

    def denied(action: str, resource: str) -> str:
        return (
            f"AccessDeniedException: User: {assumed} is not authorized to perform: {action} on resource: {resource} "
            f"because no identity-based policy allows the {action} action"
        )

    required = needs.execution_actions("aws", region, account)
    private_images = [i for i in needs.images if i.is_private_ecr]
    # 1. registry auth for private ECR images, then secrets
    if private_images:
        if "ecr" in blocked:
            return (
                "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval "
                "failed: unable to retrieve ecr registry auth: service call has been retried 3 time(s): RequestError: "
                f'send request failed caused by: Post "https://api.ecr.{region}.amazonaws.com/": dial tcp '
                f"{_TIMEOUT_IP}:443: i/o timeout. Please check your task network configuration."
            )
        if not allows(documents, "ecr:GetAuthorizationToken", "*"):
            return (
                "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval "
                "failed: unable to retrieve ecr registry auth: service call has been retried 1 time(s): "
                + denied("ecr:GetAuthorizationToken", "*")
            )
    for service, label in (
        ("ssm", "unable to retrieve secrets from ssm"),
        ("secretsmanager", "unable to retrieve secret from asm"),
    ):
        secrets = [s for s in needs.secrets if s.service == service]
        if not secrets:
            continue
        if service in blocked:
            return (
                "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval "
                f"failed: {label}: service call has been retried 5 time(s): RequestCanceled: request context canceled "
                "caused by: context deadline exceeded. Please check your task network configuration."
            )
        action = "ssm:GetParameters" if service == "ssm" else "secretsmanager:GetSecretValue"
        for act, resource, _ in required:
            if act == action and not allows(documents, action, resource):
                return (
                    "ResourceInitializationError: unable to pull secrets or registry auth: "
                    f"execution resource retrieval failed: {label}: service call has been retried 1 time(s): "
                    f"{denied(action, resource)}"
                )
        if service == "ssm":
            missing = [s.id for s in secrets if not bridge.ssm_parameter_exists(account, s.region or region, s.id)]
            if missing:
                return (
                    "ResourceInitializationError: unable to pull secrets or registry auth: "
                    "execution resource retrieval failed: unable to retrieve secrets from ssm: "
                    f"service call has been retried 1 time(s): invalid ssm parameters: {','.join(missing)}"
                )
        else:
            missing_secret = next(
                (s for s in secrets if not bridge.secret_exists(account, s.region or region, s.id)), None
            )
            if missing_secret:
                return (
                    "ResourceInitializationError: unable to pull secrets or registry auth: "
                    "execution resource retrieval failed: unable to retrieve secret from asm: "
                    "service call has been retried 1 time(s): failed to fetch "
                    f"secret {missing_secret.id} from secrets manager: ResourceNotFoundException: "
                    "Secrets Manager can't find the specified secret."
                )
    # 2. images
    for image in needs.images:
        if not image.is_private_ecr and "image" in blocked:
            host, path, reference = _image_parts(image.image)
            shown = "docker.io" if host == "registry-1.docker.io" else host
            return (
                f"CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref "
                f"{shown}/{path}:{reference}: failed to do request: "
                f'Head "https://{host}/v2/{path}/manifests/{reference}": '
                f"dial tcp {_TIMEOUT_IP}:443: i/o timeout"
            )
        if image.is_private_ecr:
            # (a private ECR image's reference names all three)
            assert image.ecr_region is not None and image.ecr_registry is not None and image.repository is not None
            repository = f"arn:aws:ecr:{image.ecr_region}:{image.ecr_registry}:repository/{image.repository}"
            # every pull action of AmazonECSTaskExecutionRolePolicy the task needs (the list preflight reads)
            pull_denied = next(
                (a for a, r, _ in required if r == repository and not allows(documents, a, repository)), None
            )
            if pull_denied:
                return (
                    f"CannotPullContainerError: pull image manifest has been retried 1 time(s): failed to resolve ref "
                    f"{image.image}: pull access denied: " + denied(pull_denied, repository)
                )
            if not bridge.ecr_image_exists(
                account, image.ecr_region, image.ecr_registry, image.repository, image.tag, image.digest
            ):
                return (
                    f"CannotPullContainerError: pull image manifest has been retried 7 time(s): failed to resolve ref "
                    f"{image.image}: not found"
                )
    # 3. the log driver
    for group in needs.log_groups:
        group_region = group.region or region
        if "logs" in blocked:
            return (
                "ResourceInitializationError: failed to validate logger args: "
                "The task cannot find the Amazon CloudWatch log group defined in the task definition. "
                "There is a connection issue between the task and Amazon "
                "CloudWatch. Check your network configuration. : signal: killed"
            )
        arn = f"arn:aws:logs:{group_region}:{account}:log-group:{group.group}"
        if not bridge.log_group_exists(account, group_region, group.group):
            if not group.create:
                return (
                    "ResourceInitializationError: failed to validate logger args: create stream has been retried "
                    "1 times: failed to create Cloudwatch log stream: ResourceNotFoundException: The specified "
                    "log group does not exist. : exit status 1"
                )
            if not allows(documents, "logs:CreateLogGroup", arn):
                return (
                    "ResourceInitializationError: failed to validate logger args: create stream has been retried "
                    f"1 times: failed to create Cloudwatch log group: {denied('logs:CreateLogGroup', arn)} "
                    ": exit status 1"
                )
            bridge.create_log_group(account, group_region, group.group)
        # logs:CreateLogStream, then logs:PutLogEvents (the list preflight reads). ECS's words are quoted for
        # CreateLogStream (aws/copilot-cli#3104); a role without PutLogEvents is refused here in the same form
        # (not quoted anywhere we could find): stricter than losing the logs, never kinder.
        stream = f"{arn}:log-stream:*"
        log_denied = next((a for a, r, _ in required if r == stream and not allows(documents, a, stream)), None)
        if log_denied:
            step = "create stream" if log_denied == "logs:CreateLogStream" else "put log events"
            what = "create Cloudwatch log stream" if log_denied == "logs:CreateLogStream" else "put log events"
            return (
                "ResourceInitializationError: failed to validate logger args: "
                f"{step} has been retried 1 times: failed to {what}: {denied(log_denied, stream)} : exit status 1"
            )
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
