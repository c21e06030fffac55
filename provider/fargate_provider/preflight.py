"""Preflight: everything ECS will need when the task starts, checked before anything is created.

Read-only calls only (IAM Get/List, ECR DescribeImages, SSM DescribeParameters, Secrets Manager
DescribeSecret — never a secret's value —, Logs DescribeLogGroups, EC2 Describe*, ECS
DescribeClusters). Every problem is reported at once, each with what to do. The rules are those
the local emulator applies when it starts a task (``fargate_rules.task_requirements``), so a
preflight that passes locally and on AWS means the same thing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, cast

from botocore.exceptions import ClientError

from fargate_rules.capacity import architecture_of, spot_architecture_problem, uses_spot
from fargate_rules.iam_documents import EXECUTION_ROLE_FILE
from fargate_rules.registration_rules import execution_role_rules
from fargate_rules.task_requirements import (
    ECS_TASKS_PRINCIPAL,
    Egress,
    TaskNeeds,
    allows,
    default_route_target,
    task_needs,
    trusts_ecs_tasks,
    unreachable,
    usable_endpoints,
)


@dataclass(frozen=True)
class Finding:
    check: str
    subject: str
    problem: str
    fix: str


@dataclass
class PreflightReport:
    problems: list[Finding] = field(default_factory=list)
    passed: list[str] = field(default_factory=list)
    not_checked: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def problem(self, check: str, subject: str, problem: str, fix: str) -> None:
        self.problems.append(Finding(check, subject, problem, fix))

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "problems": [asdict(p) for p in self.problems],
            "passed": self.passed,
            "not_checked": self.not_checked,
        }

    def text(self) -> str:
        if self.ok:
            return f"Preflight passed: {len(self.passed)} check(s) ({'; '.join(self.passed)})."
        lines = [f"Preflight found {len(self.problems)} problem(s); nothing was created:"]
        lines += [f"  - [{p.check}] {p.subject}: {p.problem}\n      fix: {p.fix}" for p in self.problems]
        return "\n".join(lines)


def _code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


def run_preflight(
    hook: Any,
    *,
    task_definition: dict[str, Any],
    subnets: Sequence[str] | None = None,
    security_groups: Sequence[str] | None = None,
    assign_public_ip: bool = False,
    cluster: str | None = None,
    capacity_provider_strategy: list[dict[str, Any]] | None = None,
) -> PreflightReport:
    """Check what ``task_definition`` (RegisterTaskDefinition's or DescribeTaskDefinition's shape)
    needs in the account of ``hook`` (a FargateHook); network checks only when ``subnets`` are given."""
    report = PreflightReport()
    region = hook.region_name or hook.conn_region_name
    needs = task_needs(task_definition)
    # Which awslogs groups exist (DescribeLogGroups once each): the log-group check and the
    # execution role's logs:CreateLogGroup check both need it.
    existing_groups = {
        (g.group, g.region or region) for g in needs.log_groups if _log_group_exists(hook, g.group, g.region or region)
    }
    _check_roles(hook, needs, task_definition, report, region, existing_groups)
    _check_images(hook, needs, report)
    _check_secrets(hook, needs, report, region)
    _check_log_groups(needs, report, region, existing_groups)
    if subnets:
        _check_network(hook, needs, report, region, list(subnets), list(security_groups or []), assign_public_ip)
    if capacity_provider_strategy and cluster:
        _check_capacity_providers(hook, cluster, capacity_provider_strategy, report)
    if uses_spot(capacity_provider_strategy):
        _check_spot_architecture(task_definition, report)
    return report


# --------------------------------------------------------------------------- roles


def _role(hook: Any, reference: str, kind: str, report: PreflightReport) -> dict[str, Any] | None:
    arn = hook.role_arn(reference)
    name = arn.rsplit("/", 1)[-1]
    try:
        role = hook.client("iam").get_role(RoleName=name)["Role"]
    except ClientError as err:
        if _code(err) != "NoSuchEntity":
            raise
        report.problem(
            kind,
            arn,
            "the role does not exist",
            f"create it (for the execution role: from {EXECUTION_ROLE_FILE}) or name an existing role",
        )
        return None
    if role["Arn"] != arn:
        report.problem(kind, arn, f"no such role; a role of that name is {role['Arn']}", "give the role's exact ARN")
        return None
    if not trusts_ecs_tasks(role.get("AssumeRolePolicyDocument")):
        report.problem(
            kind,
            arn,
            f'its trust policy does not let {ECS_TASKS_PRINCIPAL} assume it (ECS: "ECS was unable to assume the role")',
            f"add a statement allowing sts:AssumeRole to the service principal {ECS_TASKS_PRINCIPAL} "
            f"(AssumeRolePolicyDocument in {EXECUTION_ROLE_FILE})",
        )
        return None
    report.passed.append(f"{kind} {name} exists and trusts {ECS_TASKS_PRINCIPAL}")
    return cast(dict[str, Any], role)


def _policy_documents(hook: Any, role_name: str) -> list[dict[str, Any]]:
    iam = hook.client("iam")
    documents = []
    for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=role_name):
        for attached in page["AttachedPolicies"]:
            policy = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]
            version = iam.get_policy_version(PolicyArn=attached["PolicyArn"], VersionId=policy["DefaultVersionId"])
            documents.append(version["PolicyVersion"]["Document"])
    for page in iam.get_paginator("list_role_policies").paginate(RoleName=role_name):
        for name in page["PolicyNames"]:
            documents.append(iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"])
    return documents


def _check_roles(
    hook: Any,
    needs: TaskNeeds,
    task_definition: dict[str, Any],
    report: PreflightReport,
    region: str,
    existing_groups: set[tuple[str, str]],
) -> None:
    for rule in execution_role_rules(task_definition):
        report.problem("execution role", rule.path, f"ECS refuses this: {rule.ecs_message}", rule.fix)
    if needs.task_role:
        _role(hook, needs.task_role, "task role", report)
    if not needs.execution_role:
        return
    role = _role(hook, needs.execution_role, "execution role", report)
    if role is None:
        return
    documents = _policy_documents(hook, role["RoleName"])
    needed = needs.execution_actions(hook.conn_partition, region, role["Arn"].split(":")[4])
    for action, resource, why in needed:
        if action == "logs:CreateLogGroup" and any(
            resource.endswith(f":log-group:{g}") and f":logs:{r}:" in resource for g, r in existing_groups
        ):
            continue  # the group exists: nothing to create
        if not allows(documents, action, resource):
            report.problem(
                "execution role",
                role["RoleName"],
                f"its policies do not allow {action} on {resource} ({why})",
                f"attach a policy allowing it "
                f"(the inline policies in {EXECUTION_ROLE_FILE} cover the provider's defaults)",
            )
    if needed:
        report.passed.append(f"execution role permissions checked ({len(needed)} action(s))")


# --------------------------------------------------------------------------- images, secrets, log groups


def _check_images(hook: Any, needs: TaskNeeds, report: PreflightReport) -> None:
    for image in needs.images:
        if not image.is_private_ecr:
            report.not_checked.append(f"image {image.image}: not in ECR; its registry is not checked")
            continue
        image_id = {"imageDigest": image.digest} if image.digest else {"imageTag": image.tag}
        try:
            hook.client("ecr", image.ecr_region).describe_images(
                registryId=image.ecr_registry, repositoryName=image.repository, imageIds=[image_id]
            )
            report.passed.append(f"image {image.image} exists in ECR")
        except ClientError as err:
            if _code(err) not in ("ImageNotFoundException", "RepositoryNotFoundException"):
                raise
            what = "repository" if _code(err) == "RepositoryNotFoundException" else "image"
            report.problem(
                "image",
                f"container {image.container}",
                f"{image.image}: the {what} does not exist in ECR ({_code(err)})",
                "push the image (docker push) or fix the tag/digest in the task definition",
            )


def _check_secrets(hook: Any, needs: TaskNeeds, report: PreflightReport, region: str) -> None:
    for secret in needs.secrets:
        subject = f"container {secret.container}, secret {secret.name}"
        if secret.service == "ssm":
            found = hook.client("ssm", secret.region or region).describe_parameters(
                ParameterFilters=[{"Key": "Name", "Option": "Equals", "Values": [secret.id]}]
            )["Parameters"]
            exists = bool(found)
        else:
            try:
                hook.client("secretsmanager", secret.region or region).describe_secret(SecretId=secret.id)
                exists = True
            except ClientError as err:
                if _code(err) != "ResourceNotFoundException":
                    raise
                exists = False
        if exists:
            report.passed.append(f"secret {secret.name} ({secret.service}) exists")
        else:
            where = "SSM parameter" if secret.service == "ssm" else "Secrets Manager secret"
            report.problem(
                "secret",
                subject,
                f"the {where} {secret.id} does not exist in {secret.region or region}",
                f"create it (aws {'ssm put-parameter' if secret.service == 'ssm' else 'secretsmanager create-secret'}) "
                "or fix valueFrom",
            )


def _log_group_exists(hook: Any, group: str, region: str) -> bool:
    found = hook.client("logs", region).describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    return any(g["logGroupName"] == group for g in found)


def _check_log_groups(
    needs: TaskNeeds, report: PreflightReport, region: str, existing_groups: set[tuple[str, str]]
) -> None:
    for group in needs.log_groups:
        group_region = group.region or region
        if (group.group, group_region) in existing_groups:
            report.passed.append(f"log group {group.group} exists in {group_region}")
        elif group.create:
            report.passed.append(f"log group {group.group} will be created by ECS (awslogs-create-group)")
        else:
            report.problem(
                "log group",
                f"container {group.container}",
                f"{group.group} does not exist in {group_region}",
                f"create it (aws logs create-log-group --log-group-name {group.group} --region {group_region}) "
                'or set the option awslogs-create-group to "true"',
            )


# --------------------------------------------------------------------------- network, capacity


def _check_network(
    hook: Any,
    needs: TaskNeeds,
    report: PreflightReport,
    region: str,
    subnets: list[str],
    groups: list[str],
    public_ip: bool,
) -> None:
    ec2 = hook.client("ec2")
    try:
        described = ec2.describe_subnets(SubnetIds=subnets)["Subnets"]
    except ClientError as err:
        if _code(err) != "InvalidSubnetID.NotFound":
            raise
        report.problem(
            "subnets", ", ".join(subnets), err.response["Error"]["Message"], "use subnets that exist in this region"
        )
        return
    vpcs = sorted({s["VpcId"] for s in described})
    if len(vpcs) > 1:
        report.problem(
            "subnets",
            ", ".join(subnets),
            f"they belong to {len(vpcs)} VPCs ({', '.join(vpcs)})",
            "use subnets of one VPC",
        )
        return
    vpc = vpcs[0]
    endpoints = ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["VpcEndpoints"]
    for subnet in subnets:
        tables = ec2.describe_route_tables(Filters=[{"Name": "association.subnet-id", "Values": [subnet]}])[
            "RouteTables"
        ]
        if not tables:  # no explicit association: the VPC's main route table applies
            tables = ec2.describe_route_tables(
                Filters=[{"Name": "vpc-id", "Values": [vpc]}, {"Name": "association.main", "Values": ["true"]}]
            )["RouteTables"]
        nat, igw = default_route_target(tables[0]["Routes"] if tables else [])
        table_id = tables[0]["RouteTableId"] if tables else None
        egress = Egress(nat=nat, internet_gateway=igw, endpoints=usable_endpoints(endpoints, table_id))
        if public_ip and not igw:
            report.problem(
                "public IP",
                subnet,
                "assignPublicIp is ENABLED but the subnet has no 0.0.0.0/0 route to an internet gateway",
                "use public subnets (subnet_kind public), or DISABLED with a NAT gateway route",
            )
        blocked = unreachable(needs, egress, region, public_ip)
        for _, why in blocked:
            report.problem(
                "network",
                subnet,
                f"cannot be reached from this subnet: {why}",
                (
                    "route 0.0.0.0/0 to a NAT gateway, or use a public subnet with assignPublicIp ENABLED, "
                    "or add the VPC endpoints"
                ),
            )
        if not blocked:
            how = (
                "a NAT gateway"
                if nat
                else "an internet gateway and a public IP"
                if egress.internet(public_ip)
                else "VPC endpoints"
            )
            report.passed.append(f"subnet {subnet} reaches what the task needs through {how}")
    if not groups:
        report.not_checked.append("security groups: none given (ECS uses the VPC's default group)")
        return
    try:
        described_groups = ec2.describe_security_groups(GroupIds=groups)["SecurityGroups"]
    except ClientError as err:
        if _code(err) != "InvalidGroup.NotFound":
            raise
        report.problem(
            "security groups", ", ".join(groups), err.response["Error"]["Message"], "use security groups that exist"
        )
        return
    for group in described_groups:
        if group["VpcId"] != vpc:
            report.problem(
                "security groups",
                group["GroupId"],
                f"is in {group['VpcId']}, the subnets in {vpc}",
                "use a group of the subnets' VPC",
            )
        elif not any(_allows_https(rule) for rule in group.get("IpPermissionsEgress", [])):
            report.problem(
                "security groups",
                group["GroupId"],
                "no outbound rule allows HTTPS (tcp 443): images, logs and secrets cannot be fetched",
                (
                    f"aws ec2 authorize-security-group-egress --group-id {group['GroupId']} "
                    "--protocol tcp --port 443 --cidr 0.0.0.0/0"
                ),
            )
        else:
            report.passed.append(f"security group {group['GroupId']} allows outbound HTTPS")


def _allows_https(rule: dict[str, Any]) -> bool:
    if rule.get("IpProtocol") == "-1":
        return True
    return rule.get("IpProtocol") == "tcp" and rule.get("FromPort", 0) <= 443 <= rule.get("ToPort", 65535)


def _check_spot_architecture(task_definition: dict[str, Any], report: PreflightReport) -> None:
    """Fargate Spot runs Linux X86_64 tasks only (fargate_rules.capacity, as the emulator refuses it)."""
    problem = spot_architecture_problem(task_definition)
    family = str(task_definition.get("family", "?"))
    if problem:
        report.problem(
            "capacity provider",
            family,
            f"the strategy uses FARGATE_SPOT, and the task definition is {architecture_of(task_definition)}: {problem}",
            "run it on FARGATE (capacity='on_demand'), or build and register an X86_64 image and task definition",
        )
    else:
        report.passed.append(f"task definition {family} can run on Fargate Spot (Linux X86_64)")


def _check_capacity_providers(hook: Any, cluster: str, strategy: list[dict[str, Any]], report: PreflightReport) -> None:
    described = hook.describe_cluster(cluster)
    if not described or described.get("status") != "ACTIVE":
        report.not_checked.append(f"capacity providers: cluster {cluster} does not exist yet")
        return
    have = described.get("capacityProviders") or []
    before = len(report.problems)
    for item in strategy:
        name = cast(str, item.get("capacityProvider"))  # (a strategy item names its capacity provider)
        if name not in have:
            report.problem(
                "capacity provider",
                cluster,
                f"the strategy names {name}, which the cluster does not have (it has: {', '.join(have) or 'none'})",
                (
                    f"aws ecs put-cluster-capacity-providers --cluster {cluster} "
                    f"--capacity-providers {' '.join(sorted({*have, name}))} "
                    "--default-capacity-provider-strategy …, or change the strategy"
                ),
            )
    if len(report.problems) == before:
        report.passed.append(f"cluster {cluster} has the capacity providers the strategy names")
