"""What a Fargate task needs from its account before it can start, judged on plain data.

ECS starts a task in steps, each needing something the task definition alone cannot promise:
the roles must trust ``ecs-tasks.amazonaws.com``; the execution role must be allowed to fetch
registry auth, secrets and write logs; the task's subnets must reach ECR, CloudWatch Logs and
SSM / Secrets Manager (through a NAT gateway, an internet gateway with a public IP, or VPC
endpoints). The preflight check (read-only calls on a real account) and the local emulator
(which stops the task as ECS does) both judge with this module, so they cannot disagree.

Sources: task execution IAM role and its managed policy (AmazonECSTaskExecutionRolePolicy);
"Amazon ECR interface VPC endpoints" (ecr.api + ecr.dkr + the S3 gateway endpoint on platform
1.4.0); "Fargate task networking" (public IP needs an internet gateway route).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fargate_rules.arns import SECRETS_MANAGER_ARN_RE, SSM_PARAMETER_ARN_RE
from fargate_rules.registration_rules import PRIVATE_ECR_IMAGE_RE

ECS_TASKS_PRINCIPAL = "ecs-tasks.amazonaws.com"
ECR_PULL_ACTIONS = (
    "ecr:GetAuthorizationToken",
    "ecr:BatchCheckLayerAvailability",
    "ecr:GetDownloadUrlForLayer",
    "ecr:BatchGetImage",
)
LOG_ACTIONS = ("logs:CreateLogStream", "logs:PutLogEvents")
# The actions of AWS's managed AmazonECSTaskExecutionRolePolicy (AWS managed policy reference; the
# "Amazon ECS task execution IAM role" page): what ECS does with the execution role to pull a private
# ECR image and to send awslogs. Preflight requires each one a task needs (TaskNeeds.execution_actions)
# and the emulator's task start (fargate_local.task_start) refuses to start a task whose role lacks any
# of them: one list, so the two cannot disagree.
EXECUTION_ROLE_POLICY_ACTIONS = ECR_PULL_ACTIONS + LOG_ACTIONS


# --------------------------------------------------------------------------- IAM documents


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def role_arn(reference: str, *, account: str, partition: str = "aws") -> str:
    """A role name as the ARN ECS stores for it (ECS takes either); an ARN as it is."""
    if reference.startswith("arn:"):
        return reference
    return f"arn:{partition}:iam::{account}:role/{reference}"


def trusts_ecs_tasks(trust_policy: Mapping[str, Any] | None) -> bool:
    """The role's trust policy lets ecs-tasks.amazonaws.com call sts:AssumeRole."""
    for statement in _as_list((trust_policy or {}).get("Statement")):
        if statement.get("Effect") != "Allow":
            continue
        actions = _as_list(statement.get("Action"))
        if not any(fnmatch.fnmatchcase("sts:AssumeRole".lower(), str(a).lower()) for a in actions):
            continue
        principal = statement.get("Principal") or {}
        services = _as_list(principal.get("Service")) if isinstance(principal, dict) else []
        if ECS_TASKS_PRINCIPAL in services:
            return True
    return False


def _matches(value: str, patterns: list[Any]) -> bool:
    return any(fnmatch.fnmatchcase(value, str(p)) for p in patterns)


def allows(policy_documents: Iterable[Mapping[str, Any]], action: str, resource: str = "*") -> bool:
    """IAM's verdict on ``action`` over ``resource`` for a role's policies, on actions and
    resources (wildcards as IAM reads them; conditions are not judged): an explicit Deny wins,
    else some Allow must cover both."""
    allowed = False
    for document in policy_documents:
        for statement in _as_list(document.get("Statement")):
            actions = [str(a).lower() for a in _as_list(statement.get("Action"))]
            if not _matches(action.lower(), actions):
                continue
            resources = _as_list(statement.get("Resource")) or ["*"]
            if not _matches(resource, resources):
                continue
            if statement.get("Effect") == "Deny":
                return False
            allowed = allowed or statement.get("Effect") == "Allow"
    return allowed


# --------------------------------------------------------------------------- what a task definition needs


@dataclass(frozen=True)
class SecretRef:
    container: str
    name: str
    value_from: str
    service: str  # "ssm" or "secretsmanager"
    region: str | None  # None: the task's region
    id: str  # the parameter name, or the secret ARN/name without json-key/version suffixes


@dataclass(frozen=True)
class ImageRef:
    container: str
    image: str
    ecr_registry: str | None = None  # account id of a private ECR image
    ecr_region: str | None = None
    repository: str | None = None
    tag: str | None = None
    digest: str | None = None

    @property
    def is_private_ecr(self) -> bool:
        return self.ecr_registry is not None


@dataclass(frozen=True)
class LogGroupRef:
    container: str
    group: str
    region: str | None
    create: bool


@dataclass
class TaskNeeds:
    execution_role: str | None
    task_role: str | None
    images: list[ImageRef] = field(default_factory=list)
    secrets: list[SecretRef] = field(default_factory=list)
    log_groups: list[LogGroupRef] = field(default_factory=list)

    def execution_actions(self, partition: str, region: str, account: str) -> list[tuple[str, str, str]]:
        """(IAM action, resource ARN, why) the execution role must be allowed."""
        needed: list[tuple[str, str, str]] = []
        for image in self.images:
            if image.is_private_ecr:
                repository = (
                    f"arn:{partition}:ecr:{image.ecr_region}:{image.ecr_registry}:repository/{image.repository}"
                )
                needed.append(("ecr:GetAuthorizationToken", "*", "to get ECR registry auth"))
                needed += [(a, repository, f"to pull {image.image}") for a in ECR_PULL_ACTIONS[1:]]
        for group in self.log_groups:
            arn = f"arn:{partition}:logs:{group.region or region}:{account}:log-group:{group.group}"
            needed += [(a, f"{arn}:log-stream:*", f"to write awslogs to {group.group}") for a in LOG_ACTIONS]
            if group.create:
                needed.append(("logs:CreateLogGroup", arn, f"to create {group.group} (awslogs-create-group)"))
        for secret in self.secrets:
            if secret.service == "ssm":
                name = secret.id.lstrip("/")
                arn = f"arn:{partition}:ssm:{secret.region or region}:{account}:parameter/{name}"
                needed.append(
                    ("ssm:GetParameters", arn, f"to read secret {secret.name} of container {secret.container}")
                )
            else:
                arn = (
                    secret.id
                    if secret.id.startswith("arn:")
                    else f"arn:{partition}:secretsmanager:{secret.region or region}:{account}:secret:{secret.id}"
                )
                needed.append(
                    (
                        "secretsmanager:GetSecretValue",
                        arn,
                        f"to read secret {secret.name} of container {secret.container}",
                    )
                )
        return list(dict.fromkeys(needed))


def image_ref(container: str, image: str) -> ImageRef:
    match = PRIVATE_ECR_IMAGE_RE.match(image.strip())
    if not match:
        return ImageRef(container, image)
    return ImageRef(
        container,
        image,
        match["registry"],
        match["region"],
        match["repository"],
        match["tag"] or (None if match["digest"] else "latest"),
        match["digest"],
    )


def secret_ref(container: str, name: str, value_from: str) -> SecretRef:
    found = SECRETS_MANAGER_ARN_RE.match(value_from)
    if found:
        # arn:…:secret:NAME-AbCdEf[:json-key:version-stage:version-id]: the secret is the first part.
        secret_arn = ":".join(value_from.split(":")[:7])
        return SecretRef(container, name, value_from, "secretsmanager", found["region"], secret_arn)
    found = SSM_PARAMETER_ARN_RE.match(value_from)
    if found:
        # parameter/db is "db"; parameter/prod/db is the hierarchical "/prod/db".
        rest = found["name"][1:]
        return SecretRef(container, name, value_from, "ssm", found["region"], f"/{rest}" if "/" in rest else rest)
    return SecretRef(container, name, value_from, "ssm", None, value_from)


def task_needs(task_definition: Mapping[str, Any]) -> TaskNeeds:
    """What ``task_definition`` (RegisterTaskDefinition's or DescribeTaskDefinition's shape) needs."""
    needs = TaskNeeds(task_definition.get("executionRoleArn"), task_definition.get("taskRoleArn"))
    for container in task_definition.get("containerDefinitions") or []:
        name = container.get("name", "")
        if isinstance(container.get("image"), str):
            needs.images.append(image_ref(name, container["image"]))
        log = container.get("logConfiguration") or {}
        references = [(s.get("name", ""), s.get("valueFrom", "")) for s in container.get("secrets") or []]
        references += [(s.get("name", ""), s.get("valueFrom", "")) for s in log.get("secretOptions") or []]
        needs.secrets += [secret_ref(name, n, v) for n, v in references if v]
        options = log.get("options") or {}
        if log.get("logDriver") == "awslogs" and options.get("awslogs-group"):
            needs.log_groups.append(
                LogGroupRef(
                    name,
                    options["awslogs-group"],
                    options.get("awslogs-region"),
                    str(options.get("awslogs-create-group", "")).lower() == "true",
                )
            )
    return needs


# --------------------------------------------------------------------------- network paths


@dataclass(frozen=True)
class Egress:
    """How a subnet reaches AWS's public endpoints and the internet."""

    nat: bool  # a 0.0.0.0/0 route to a NAT gateway
    internet_gateway: bool  # a 0.0.0.0/0 route to an internet gateway (useful only with a public IP)
    endpoints: frozenset[str]  # VPC endpoint service names of the subnet's VPC

    def internet(self, public_ip: bool) -> bool:
        return self.nat or (self.internet_gateway and public_ip)


def default_route_target(routes: Iterable[Mapping[str, Any]]) -> tuple[bool, bool]:
    """(NAT, internet gateway) for a route table's routes (EC2 DescribeRouteTables' shape)."""
    nat = igw = False
    for route in routes:
        if route.get("DestinationCidrBlock") != "0.0.0.0/0" or route.get("State", "active") != "active":
            continue
        nat |= str(route.get("NatGatewayId") or "").startswith("nat-")
        igw |= str(route.get("GatewayId") or "").startswith("igw-")
    return nat, igw


def usable_endpoints(endpoints: Iterable[Mapping[str, Any]], route_table_id: str | None) -> frozenset[str]:
    """Service names of the VPC endpoints (DescribeVpcEndpoints' shape) a subnet can use: available
    ones; a gateway endpoint (S3) only when it is on the subnet's route table."""
    usable = set()
    for endpoint in endpoints:
        if str(endpoint.get("State", "available")).lower() != "available":
            continue
        if endpoint.get("VpcEndpointType") == "Gateway" and route_table_id not in (endpoint.get("RouteTableIds") or []):
            continue
        usable.add(endpoint["ServiceName"])
    return frozenset(usable)


def unreachable(needs: TaskNeeds, egress: Egress, region: str, public_ip: bool) -> list[tuple[str, str]]:
    """(what, why) the task cannot reach from its subnet: empty when everything is reachable."""
    if egress.internet(public_ip):
        return []
    have = egress.endpoints
    missing: list[tuple[str, str]] = []

    def endpoint(service: str) -> str:
        return f"com.amazonaws.{region}.{service}"

    for image in needs.images:
        if not image.is_private_ecr or image.ecr_region != region:
            missing.append(
                (
                    "image",
                    (
                        f"container {image.container}: image {image.image} is outside the VPC "
                        "(needs a NAT gateway, or an internet gateway route with a public IP)"
                    ),
                )
            )
            continue
        lacking = [endpoint(s) for s in ("ecr.api", "ecr.dkr", "s3") if endpoint(s) not in have]
        if lacking:
            missing.append(
                (
                    "ecr",
                    (
                        f"container {image.container}: ECR needs VPC endpoints {', '.join(lacking)} "
                        "(or a NAT gateway / internet gateway with a public IP)"
                    ),
                )
            )
    if needs.log_groups and endpoint("logs") not in have:
        missing.append(("logs", f"awslogs needs the VPC endpoint {endpoint('logs')} (or a route to the internet)"))
    for service in sorted({s.service for s in needs.secrets}):
        if endpoint(service) not in have:
            missing.append((service, f"secrets need the VPC endpoint {endpoint(service)} (or a route to the internet)"))
    return missing
