"""What ECS checks when it launches and starts a Fargate task, in the emulator, through AWS APIs only.

Launch: the roles a task names must exist and trust ecs-tasks.amazonaws.com, else RunTask answers
ClientException and a service logs "failed to launch a task". Start: secrets and private ECR images
must exist, the execution role must be allowed to read them and to create the awslogs group, and the
task's subnet must reach them — else the task stops with TaskFailedToStart and ECS's stoppedReason.
Sources of ECS's wordings are cited beside each test (the ones in local/fargate_local/task_start.py).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.emulator.helpers import (
    ECS_TASKS_TRUST,
    EXECUTION_ROLE,
    FAST,
    MANIFEST,
    client,
    create_service,
    network,
    register,
    wait,
)

ACCOUNT = "123456789012"
ECR_IMAGE = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/app:1.0"
START_ERROR = "ResourceInitializationError: unable to pull secrets or registry auth"


def run(ecs, emulator, taskDefinition: str = "job", **extra: Any) -> list[dict[str, Any]]:
    kwargs = {
        "cluster": "c",
        "taskDefinition": taskDefinition,
        "launchType": "FARGATE",
        "networkConfiguration": network(emulator),
    }
    kwargs.update(extra)
    return ecs.run_task(**kwargs)["tasks"]


def finished(ecs, emulator, taskDefinition: str = "job", **extra: Any) -> dict[str, Any]:
    """Run one task and return it as DescribeTasks reports it once STOPPED."""
    arn = run(ecs, emulator, taskDefinition, **extra)[0]["taskArn"]
    ecs.get_waiter("tasks_stopped").wait(cluster="c", tasks=[arn], WaiterConfig=FAST)
    return ecs.describe_tasks(cluster="c", tasks=[arn])["tasks"][0]


def failed_to_start(task: dict[str, Any]) -> str:
    assert task["stopCode"] == "TaskFailedToStart", task.get("stoppedReason")
    assert task["containers"][0]["reason"] == task["stoppedReason"]
    assert "startedAt" not in task
    return task["stoppedReason"]


def ran(task: dict[str, Any]) -> None:
    assert (task["stopCode"], task["stoppedReason"]) == (
        "EssentialContainerExited",
        "Essential container in task exited",
    )
    assert [c["exitCode"] for c in task["containers"]] == [0]


def no_tasks(ecs) -> bool:
    return (
        not ecs.list_tasks(cluster="c")["taskArns"]
        and not ecs.list_tasks(cluster="c", desiredStatus="STOPPED")["taskArns"]
    )


# ---------------------------------------------------------------------------------- the ready-made account


def test_the_emulator_account_has_the_execution_role_and_a_routed_network(emulator):
    # The role as the "Amazon ECS task execution IAM role" page describes it: trusts ecs-tasks and has
    # AmazonECSTaskExecutionRolePolicy (created from data/iam/ecs-task-execution-role.json).
    iam = client(emulator, "iam")
    role = iam.get_role(RoleName="ecsTaskExecutionRole")["Role"]
    assert role["Arn"] == EXECUTION_ROLE
    trust = role["AssumeRolePolicyDocument"]
    trust = json.loads(trust) if isinstance(trust, str) else trust
    assert {
        "Effect": "Allow",
        "Principal": {"Service": "ecs-tasks.amazonaws.com"},
        "Action": "sts:AssumeRole",
    } in trust["Statement"]
    attached = [
        p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName="ecsTaskExecutionRole")["AttachedPolicies"]
    ]
    assert attached == ["arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"]
    assert sorted(iam.list_role_policies(RoleName="ecsTaskExecutionRole")["PolicyNames"]) == [
        "fargate-provider-log-groups",
        "fargate-provider-secrets",
    ]

    # "Fargate task networking": public subnets route to an internet gateway, private ones to a NAT gateway.
    ec2 = client(emulator, "ec2")
    for kind, key, prefix in (("public", "GatewayId", "igw-"), ("private", "NatGatewayId", "nat-")):
        for subnet in emulator.network[f"{kind}_subnets"]:
            tables = ec2.describe_route_tables(Filters=[{"Name": "association.subnet-id", "Values": [subnet]}])[
                "RouteTables"
            ]
            assert len(tables) == 1, (kind, subnet)
            default = [r for r in tables[0]["Routes"] if r.get("DestinationCidrBlock") == "0.0.0.0/0"]
            assert len(default) == 1 and default[0].get(key, "").startswith(prefix), (kind, default)


# ---------------------------------------------------------------------------------- launch: roles


def assume_role_error(arn: str) -> str:
    # aws-samples/aws-modern-application-workshop#149, telia-oss/terraform-aws-ecs-fargate#58
    return (
        f"ECS was unable to assume the role '{arn}' that was provided for this task. Please verify that the role being "
        "passed has the proper trust relationship and permissions and that your IAM user has permissions "
        "to pass this role."
    )


def test_run_task_refuses_a_missing_execution_role_and_creates_no_task(emulator, ecs):
    # aws-samples/aws-modern-application-workshop#149
    missing = f"arn:aws:iam::{ACCOUNT}:role/noSuchExecutionRole"
    register(ecs, executionRoleArn=missing)
    with pytest.raises(ClientError) as err:
        run(ecs, emulator)
    assert err.value.response["Error"]["Code"] == "ClientException"
    assert err.value.response["Error"]["Message"] == assume_role_error(missing)
    assert no_tasks(ecs)


def test_run_task_refuses_an_execution_role_that_trusts_another_service(emulator, ecs):
    # telia-oss/terraform-aws-ecs-fargate#58: the role exists but ecs-tasks cannot assume it.
    iam = client(emulator, "iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
    arn = iam.create_role(RoleName="ec2Role", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    try:
        register(ecs, executionRoleArn=arn)
        with pytest.raises(ClientError) as err:
            run(ecs, emulator)
        assert err.value.response["Error"]["Code"] == "ClientException"
        assert err.value.response["Error"]["Message"] == assume_role_error(arn)
        assert no_tasks(ecs)
    finally:
        iam.delete_role(RoleName="ec2Role")


def test_run_task_refuses_a_missing_task_role(emulator, ecs):
    # aws-samples/aws-modern-application-workshop#149: the task role is assumed at launch too.
    missing = f"arn:aws:iam::{ACCOUNT}:role/noSuchTaskRole"
    register(ecs, executionRoleArn=EXECUTION_ROLE, taskRoleArn=missing)
    with pytest.raises(ClientError) as err:
        run(ecs, emulator)
    assert err.value.response["Error"]["Code"] == "ClientException"
    assert err.value.response["Error"]["Message"] == assume_role_error(missing)
    assert no_tasks(ecs)


def test_a_service_with_a_missing_execution_role_starts_nothing_and_says_why(emulator, ecs):
    # ECS's service event "failed to launch a task with (error ECS was unable to assume the role ...)"
    # (telia-oss/terraform-aws-ecs-fargate#58); the scheduler keeps trying, so a created role fixes it.
    missing = f"arn:aws:iam::{ACCOUNT}:role/serviceExecutionRole"
    register(ecs, family="web", executionRoleArn=missing)
    create_service(ecs, emulator, "web", "web")

    def launch_failed():
        service = ecs.describe_services(cluster="c", services=["web"])["services"][0]
        return (
            service
            if any(
                "failed to launch a task with (error ECS was unable to assume the role" in e["message"]
                for e in service["events"]
            )
            else None
        )

    service = wait("the service's launch failure event", launch_failed)
    event = next(e["message"] for e in service["events"] if "failed to launch" in e["message"])
    assert event == f"(service web) failed to launch a task with (error {assume_role_error(missing)})."
    assert (service["runningCount"], service["pendingCount"]) == (0, 0)
    assert no_tasks(ecs)

    iam = client(emulator, "iam")
    iam.create_role(RoleName="serviceExecutionRole", AssumeRolePolicyDocument=json.dumps(ECS_TASKS_TRUST))
    try:
        ecs.get_waiter("services_stable").wait(cluster="c", services=["web"], WaiterConfig=FAST)
        assert ecs.describe_services(cluster="c", services=["web"])["services"][0]["runningCount"] == 1
        ecs.update_service(cluster="c", service="web", desiredCount=0)
        ecs.delete_service(cluster="c", service="web", force=True)
        ecs.get_waiter("services_inactive").wait(cluster="c", services=["web"], WaiterConfig=FAST)
    finally:
        iam.delete_role(RoleName="serviceExecutionRole")


# ---------------------------------------------------------------------------------- start: secrets


def test_a_missing_ssm_parameter_fails_the_start_until_it_exists(emulator, ecs):
    # The ECS agent's message for missing parameters (aws/amazon-ecs-agent agent/ssm: "invalid ssm parameters").
    ssm = client(emulator, "ssm")
    register(
        ecs,
        executionRoleArn=EXECUTION_ROLE,
        container={"secrets": [{"name": "DB_PASSWORD", "valueFrom": "/fargate/db-password"}]},
    )
    reason = failed_to_start(finished(ecs, emulator))
    assert reason.startswith(f"{START_ERROR}: execution resource retrieval failed: unable to retrieve secrets from ssm")
    assert reason.endswith("invalid ssm parameters: /fargate/db-password")

    ssm.put_parameter(Name="/fargate/db-password", Value="s3cr3t", Type="SecureString")
    try:
        ran(finished(ecs, emulator))
    finally:
        ssm.delete_parameter(Name="/fargate/db-password")


def test_a_missing_secrets_manager_secret_fails_the_start_until_it_exists(emulator, ecs):
    # The ECS agent's message (aws/amazon-ecs-agent: "failed to fetch secret ... from secrets manager").
    sm = client(emulator, "secretsmanager")
    absent = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:fargate/api-AbCdEf"
    register(ecs, executionRoleArn=EXECUTION_ROLE, container={"secrets": [{"name": "API_KEY", "valueFrom": absent}]})
    reason = failed_to_start(finished(ecs, emulator))
    assert reason.startswith(f"{START_ERROR}: execution resource retrieval failed: unable to retrieve secret from asm")
    assert f"failed to fetch secret {absent} from secrets manager" in reason
    assert reason.endswith("ResourceNotFoundException: Secrets Manager can't find the specified secret.")

    arn = sm.create_secret(Name="fargate/api", SecretString="k3y")["ARN"]
    try:
        # A JSON key suffix names the same secret (arn:…:secret:NAME-AbCdEf:json-key::).
        register(
            ecs,
            executionRoleArn=EXECUTION_ROLE,
            container={
                "secrets": [{"name": "API_KEY", "valueFrom": arn}, {"name": "API_USER", "valueFrom": f"{arn}:user::"}]
            },
        )
        ran(finished(ecs, emulator))
    finally:
        sm.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)


def test_the_execution_role_may_only_read_parameters_under_fargate(emulator, ecs):
    # aws/copilot-cli#3104: AccessDeniedException for ssm:GetParameters when the execution role's policy
    # does not cover the parameter (ecsTaskExecutionRole may read parameter/fargate/* only).
    ssm = client(emulator, "ssm")
    ssm.put_parameter(Name="/other/x", Value="v", Type="String")
    try:
        register(ecs, executionRoleArn=EXECUTION_ROLE, container={"secrets": [{"name": "X", "valueFrom": "/other/x"}]})
        reason = failed_to_start(finished(ecs, emulator))
        assert reason.startswith(
            f"{START_ERROR}: execution resource retrieval failed: unable to retrieve secrets from ssm"
        )
        assert "AccessDeniedException: User: arn:aws:sts::123456789012:assumed-role/ecsTaskExecutionRole/" in reason
        assert (
            "is not authorized to perform: ssm:GetParameters on resource: "
            f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/other/x "
            "because no identity-based policy allows the ssm:GetParameters action"
        ) in reason
    finally:
        ssm.delete_parameter(Name="/other/x")


# ---------------------------------------------------------------------------------- start: images and logs


def test_a_missing_private_ecr_image_fails_the_pull_until_it_is_pushed(emulator, ecs):
    # The ECS agent's "CannotPullContainerError: ... failed to resolve ref <image>: not found".
    ecr = client(emulator, "ecr")
    register(ecs, image=ECR_IMAGE, executionRoleArn=EXECUTION_ROLE)
    not_found = (
        "CannotPullContainerError: pull image manifest has been retried 7 time(s): "
        f"failed to resolve ref {ECR_IMAGE}: not found"
    )
    assert failed_to_start(finished(ecs, emulator)) == not_found

    ecr.create_repository(repositoryName="app")
    try:
        assert failed_to_start(finished(ecs, emulator)) == not_found  # the repository alone is not the image
        ecr.put_image(repositoryName="app", imageTag="1.0", imageManifest=MANIFEST)
        ran(finished(ecs, emulator))
    finally:
        ecr.delete_repository(repositoryName="app", force=True)


def test_awslogs_create_group_outside_the_roles_prefix_is_denied(emulator, ecs):
    # aws/copilot-cli#3104 (AccessDeniedException for the execution role); the ready-made role may
    # create log groups under /airflow/fargate/ only.
    logs = client(emulator, "logs")
    register(
        ecs,
        executionRoleArn=EXECUTION_ROLE,
        container={
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {
                    "awslogs-group": "/ecs/outside",
                    "awslogs-region": "us-east-1",
                    "awslogs-stream-prefix": "ecs",
                    "awslogs-create-group": "true",
                },
            }
        },
    )
    reason = failed_to_start(finished(ecs, emulator))
    assert reason.startswith("ResourceInitializationError: failed to validate logger args")
    assert "AccessDeniedException" in reason
    assert (
        "not authorized to perform: logs:CreateLogGroup on resource: "
        f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/ecs/outside" in reason
    )
    assert logs.describe_log_groups(logGroupNamePrefix="/ecs/outside")["logGroups"] == []


# ---------------------------------------------------------------------------------- start: network paths


@pytest.fixture
def isolated_subnet(emulator):
    """A subnet of the emulator's VPC whose route table has no default route (no NAT, no internet gateway)."""
    ec2 = client(emulator, "ec2")
    vpc = emulator.network["vpc_id"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.200.0/24", AvailabilityZone="us-east-1a")["Subnet"][
        "SubnetId"
    ]
    table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    association = ec2.associate_route_table(RouteTableId=table, SubnetId=subnet)["AssociationId"]
    created: dict[str, Any] = {"subnet": subnet, "route_table": table, "endpoints": []}
    yield created
    if created["endpoints"]:
        ec2.delete_vpc_endpoints(VpcEndpointIds=created["endpoints"])
    ec2.disassociate_route_table(AssociationId=association)
    ec2.delete_route_table(RouteTableId=table)
    ec2.delete_subnet(SubnetId=subnet)


def in_subnet(emulator, subnet: str, **extra: Any) -> dict[str, Any]:
    return {
        "awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [emulator.network["security_group"]], **extra}
    }


def test_an_isolated_subnet_cannot_pull_a_public_image(emulator, ecs, isolated_subnet):
    # ActionIQ/terraform-aws-retool-ecs-fargate#20; AWS knowledge center "ecs-unable-to-pull-secrets":
    # no route to the internet means the registry is never reached (dial tcp ...: i/o timeout).
    ec2 = client(emulator, "ec2")
    routes = ec2.describe_route_tables(RouteTableIds=[isolated_subnet["route_table"]])["RouteTables"][0]["Routes"]
    assert [r.get("DestinationCidrBlock") for r in routes] == ["10.0.0.0/16"]  # the local route only
    register(ecs)
    reason = failed_to_start(
        finished(ecs, emulator, networkConfiguration=in_subnet(emulator, isolated_subnet["subnet"]))
    )
    assert reason.startswith("CannotPullContainerError")
    assert (
        'failed to resolve ref docker.io/library/busybox:1.36: failed to do request: Head "https://registry-1.docker.io/v2/library/busybox/manifests/1.36"'
        in reason
    )
    assert reason.endswith("i/o timeout")


def test_an_isolated_subnet_reaches_private_ecr_through_vpc_endpoints(emulator, ecs, isolated_subnet):
    # AWS knowledge center "ecs-unable-to-pull-secrets" (unable to retrieve ecr registry auth ... i/o timeout);
    # "Amazon ECR interface VPC endpoints": ecr.api + ecr.dkr + the S3 gateway endpoint on platform 1.4.0.
    ecr, ec2 = client(emulator, "ecr"), client(emulator, "ec2")
    ecr.create_repository(repositoryName="app")
    try:
        ecr.put_image(repositoryName="app", imageTag="1.0", imageManifest=MANIFEST)
        register(ecs, image=ECR_IMAGE, executionRoleArn=EXECUTION_ROLE)
        where = in_subnet(emulator, isolated_subnet["subnet"])
        reason = failed_to_start(finished(ecs, emulator, networkConfiguration=where))
        assert reason.startswith(
            f"{START_ERROR}: execution resource retrieval failed: unable to retrieve ecr registry auth"
        )
        assert 'Post "https://api.ecr.us-east-1.amazonaws.com/"' in reason
        assert "i/o timeout" in reason

        vpc = emulator.network["vpc_id"]
        for service in ("ecr.api", "ecr.dkr"):
            endpoint = ec2.create_vpc_endpoint(
                VpcId=vpc,
                VpcEndpointType="Interface",
                ServiceName=f"com.amazonaws.us-east-1.{service}",
                SubnetIds=[isolated_subnet["subnet"]],
                SecurityGroupIds=[emulator.network["security_group"]],
                PrivateDnsEnabled=True,
            )["VpcEndpoint"]
            isolated_subnet["endpoints"].append(endpoint["VpcEndpointId"])
        # Two of three endpoints are not enough: image layers come from S3.
        assert "unable to retrieve ecr registry auth" in failed_to_start(
            finished(ecs, emulator, networkConfiguration=where)
        )
        endpoint = ec2.create_vpc_endpoint(
            VpcId=vpc,
            VpcEndpointType="Gateway",
            ServiceName="com.amazonaws.us-east-1.s3",
            RouteTableIds=[isolated_subnet["route_table"]],
        )["VpcEndpoint"]
        isolated_subnet["endpoints"].append(endpoint["VpcEndpointId"])
        ran(finished(ecs, emulator, networkConfiguration=where))
        # Deleted endpoints serve nobody (moto keeps them, marked "deleted").
        ec2.delete_vpc_endpoints(VpcEndpointIds=isolated_subnet["endpoints"])
        isolated_subnet["endpoints"].clear()
        assert "unable to retrieve ecr registry auth" in failed_to_start(
            finished(ecs, emulator, networkConfiguration=where)
        )
    finally:
        ecr.delete_repository(repositoryName="app", force=True)


def test_a_gateway_endpoint_serves_only_the_route_tables_it_is_on(emulator, ecs, isolated_subnet):
    # "Amazon ECR interface VPC endpoints": the S3 gateway endpoint must be associated with the
    # route table the task's subnet uses.
    ecr, ec2 = client(emulator, "ecr"), client(emulator, "ec2")
    ecr.create_repository(repositoryName="app")
    try:
        ecr.put_image(repositoryName="app", imageTag="1.0", imageManifest=MANIFEST)
        register(ecs, image=ECR_IMAGE, executionRoleArn=EXECUTION_ROLE)
        vpc = emulator.network["vpc_id"]
        for service, kind in (("ecr.api", "Interface"), ("ecr.dkr", "Interface"), ("s3", "Gateway")):
            extra = {"SubnetIds": [isolated_subnet["subnet"]]} if kind == "Interface" else {"RouteTableIds": []}
            endpoint = ec2.create_vpc_endpoint(
                VpcId=vpc, VpcEndpointType=kind, ServiceName=f"com.amazonaws.us-east-1.{service}", **extra
            )
            isolated_subnet["endpoints"].append(endpoint["VpcEndpoint"]["VpcEndpointId"])
        reason = failed_to_start(
            finished(ecs, emulator, networkConfiguration=in_subnet(emulator, isolated_subnet["subnet"]))
        )
        assert "unable to retrieve ecr registry auth" in reason
    finally:
        ecr.delete_repository(repositoryName="app", force=True)


def test_a_role_that_may_not_create_log_streams_fails_the_start(emulator, ecs):
    # Task execution IAM role: awslogs needs logs:CreateLogStream and logs:PutLogEvents
    # (AmazonECSTaskExecutionRolePolicy); aws/copilot-cli#3104 for the AccessDeniedException wording.
    iam, logs = client(emulator, "iam"), client(emulator, "logs")
    arn = iam.create_role(RoleName="bare", AssumeRolePolicyDocument=json.dumps(ECS_TASKS_TRUST))["Role"]["Arn"]
    logs.create_log_group(logGroupName="/ecs/bare")
    try:
        register(ecs, logs_group="/ecs/bare", executionRoleArn=arn)
        reason = failed_to_start(finished(ecs, emulator))
        assert reason.startswith("ResourceInitializationError: failed to validate logger args")
        assert "AccessDeniedException" in reason and "logs:CreateLogStream" in reason
    finally:
        iam.delete_role(RoleName="bare")
        logs.delete_log_group(logGroupName="/ecs/bare")


def test_a_deleted_nat_gateway_leaves_private_subnets_without_a_way_out(emulator, ecs):
    # EC2 marks a route to a deleted NAT gateway "blackhole"; the task cannot pull (i/o timeout).
    client(emulator, "ec2").delete_nat_gateway(NatGatewayId=emulator.network["nat_gateway"])
    register(ecs)
    reason = failed_to_start(finished(ecs, emulator))
    assert reason.startswith("CannotPullContainerError") and "i/o timeout" in reason


def test_a_public_subnet_needs_a_public_ip_and_a_private_subnet_its_nat(emulator, ecs):
    # "Fargate task networking": in a public subnet the internet gateway route needs a public IP
    # (assignPublicIp ENABLED); ActionIQ/terraform-aws-retool-ecs-fargate#20 for the pull timeout.
    register(ecs)
    reason = failed_to_start(finished(ecs, emulator, networkConfiguration=network(emulator, "public")))
    assert reason.startswith("CannotPullContainerError") and reason.endswith("i/o timeout")
    reason = failed_to_start(
        finished(ecs, emulator, networkConfiguration=network(emulator, "public", assignPublicIp="DISABLED"))
    )
    assert reason.endswith("i/o timeout")
    ran(finished(ecs, emulator, networkConfiguration=network(emulator, "public", assignPublicIp="ENABLED")))
    ran(finished(ecs, emulator, networkConfiguration=network(emulator, "private")))
