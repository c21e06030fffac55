"""Preflight: every check fails on a case built in the emulator, passes on a sound one, reports
every problem at once with its fix, and makes no mutating call (counted at the emulator).

What each check encodes (AWS documentation): task execution IAM role (trust for
ecs-tasks.amazonaws.com, AmazonECSTaskExecutionRolePolicy, logs:CreateLogGroup for
awslogs-create-group, ssm:GetParameters / secretsmanager:GetSecretValue for secrets); "Fargate task
networking" (a public IP needs an internet gateway route; private subnets need a NAT gateway or VPC
endpoints); "Amazon ECR interface VPC endpoints" (ecr.api, ecr.dkr and the S3 gateway); capacity
provider strategies may name only the cluster's providers (PutClusterCapacityProviders).
"""

from __future__ import annotations

import json
from collections import Counter

import pytest

from tests.emulator.helpers import EXECUTION_ROLE, client
from tests.helpers.aws import mutating_calls

ECR_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:1.0"
MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": 1,
            "digest": "sha256:" + "a" * 64,
        },
        "layers": [],
    }
)


def spec(**container_extra) -> dict:
    container = {
        "name": "app",
        "image": "public.ecr.aws/docker/library/busybox:1.36",
        "essential": True,
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": "/airflow/fargate/preflight",
                "awslogs-region": "us-east-1",
                "awslogs-stream-prefix": "p",
                "awslogs-create-group": "true",
            },
        },
    }
    container.update(container_extra)
    return {
        "family": "preflight",
        "requiresCompatibilities": ["FARGATE"],
        "networkMode": "awsvpc",
        "cpu": "256",
        "memory": "512",
        "executionRoleArn": EXECUTION_ROLE,
        "containerDefinitions": [container],
    }


def network(emulator, kind="private") -> dict:
    return {
        "subnets": emulator.network[f"{kind}_subnets"],
        "security_groups": [emulator.network["security_group"]],
        "assign_public_ip": kind == "public",
    }


def isolated_subnet(emulator) -> str:
    ec2 = client(emulator, "ec2")
    subnet = ec2.create_subnet(VpcId=emulator.network["vpc_id"], CidrBlock="10.0.200.0/24")["Subnet"]["SubnetId"]
    table = ec2.create_route_table(VpcId=emulator.network["vpc_id"])["RouteTable"]["RouteTableId"]
    ec2.associate_route_table(RouteTableId=table, SubnetId=subnet)
    return subnet


def _untrusted_role(emulator) -> str:
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
    return client(emulator, "iam").create_role(RoleName="ec2-only", AssumeRolePolicyDocument=json.dumps(trust))["Role"][
        "Arn"
    ]


def _no_egress_group(emulator) -> str:
    ec2 = client(emulator, "ec2")
    group = ec2.create_security_group(GroupName="closed", Description="no egress", VpcId=emulator.network["vpc_id"])[
        "GroupId"
    ]
    ec2.revoke_security_group_egress(
        GroupId=group, IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    )
    return group


# Each case: (id, how to build it in the emulator -> run_preflight kwargs, the check that must fail,
# words in the problem)
CASES = [
    (
        "missing role",
        lambda e: {"task_definition": {**spec(), "executionRoleArn": "arn:aws:iam::123456789012:role/missing"}},
        "execution role",
        "does not exist",
    ),
    (
        "role without trust",
        lambda e: {"task_definition": {**spec(), "executionRoleArn": _untrusted_role(e)}},
        "execution role",
        "ecs-tasks.amazonaws.com",
    ),
    (
        "missing task role",
        lambda e: {"task_definition": {**spec(), "taskRoleArn": "arn:aws:iam::123456789012:role/app-role"}},
        "task role",
        "does not exist",
    ),
    (
        "missing secret",
        lambda e: {"task_definition": spec(secrets=[{"name": "DB", "valueFrom": "/fargate/db-password"}])},
        "secret",
        "/fargate/db-password does not exist",
    ),
    (
        "missing secrets manager secret",
        lambda e: {
            "task_definition": spec(
                secrets=[
                    {
                        "name": "API",
                        "valueFrom": "arn:aws:secretsmanager:us-east-1:123456789012:secret:fargate/api-AbCdEf",
                    }
                ]
            )
        },
        "secret",
        "Secrets Manager secret",
    ),
    (
        "role may not read the secret",
        lambda e: (
            client(e, "ssm").put_parameter(Name="/other/token", Value="x", Type="SecureString"),
            {"task_definition": spec(secrets=[{"name": "T", "valueFrom": "/other/token"}])},
        )[1],
        "execution role",
        "ssm:GetParameters",
    ),
    ("missing ECR image", lambda e: {"task_definition": spec(image=ECR_IMAGE)}, "image", "does not exist in ECR"),
    (
        "missing log group",
        lambda e: {
            "task_definition": spec(
                logConfiguration={
                    "logDriver": "awslogs",
                    "options": {
                        "awslogs-group": "/ecs/absent",
                        "awslogs-region": "us-east-1",
                        "awslogs-stream-prefix": "p",
                    },
                }
            )
        },
        "log group",
        "/ecs/absent does not exist",
    ),
    (
        "log group the role may not create",
        lambda e: {
            "task_definition": spec(
                logConfiguration={
                    "logDriver": "awslogs",
                    "options": {
                        "awslogs-group": "/ecs/other",
                        "awslogs-region": "us-east-1",
                        "awslogs-stream-prefix": "p",
                        "awslogs-create-group": "true",
                    },
                }
            )
        },
        "execution role",
        "logs:CreateLogGroup",
    ),
    (
        "isolated private subnet",
        lambda e: {
            "task_definition": spec(),
            "subnets": [isolated_subnet(e)],
            "security_groups": [e.network["security_group"]],
        },
        "network",
        "outside the VPC",
    ),
    (
        "security group without egress",
        lambda e: {"task_definition": spec(), **network(e), "security_groups": [_no_egress_group(e)]},
        "security groups",
        "HTTPS",
    ),
    (
        "public IP without internet gateway",
        lambda e: {"task_definition": spec(), **network(e), "assign_public_ip": True},
        "public IP",
        "no 0.0.0.0/0 route to an internet gateway",
    ),
    (
        "strategy names a provider the cluster lacks",
        lambda e: (
            client(e).create_cluster(clusterName="c", capacityProviders=["FARGATE"]),
            {
                "task_definition": spec(),
                "cluster": "c",
                "capacity_provider_strategy": [{"capacityProvider": "FARGATE_SPOT", "weight": 1}],
            },
        )[1],
        "capacity provider",
        "FARGATE_SPOT",
    ),
    (
        "ARM64 task definition on Fargate Spot",
        lambda e: {
            "task_definition": {**spec(), "runtimePlatform": {"cpuArchitecture": "ARM64"}},
            "capacity_provider_strategy": [{"capacityProvider": "FARGATE_SPOT", "weight": 1}],
        },
        "capacity provider",
        "Fargate Spot only supports Linux tasks with the X86_64 architecture.",
    ),
]


@pytest.fixture
def hook(emulator):
    from fargate_provider.hooks.fargate import FargateHook

    return FargateHook(aws_conn_id="aws_default")


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_each_check_fails_on_its_case_without_mutating_anything(emulator, hook, case):
    from fargate_provider.preflight import run_preflight

    _, build, check, words = case
    kwargs = build(emulator)
    before = Counter(emulator.actions)
    report = run_preflight(hook, **kwargs)
    assert not report.ok
    assert {p.check for p in report.problems} == {check}, report.text()
    assert any(words in p.problem for p in report.problems), report.text()
    assert all(p.fix for p in report.problems)  # every problem says what to do
    assert mutating_calls(emulator, before) == []
    client(emulator).delete_cluster(cluster="c") if kwargs.get("cluster") else None


def test_a_sound_task_passes_every_check(emulator, hook):
    from fargate_provider.preflight import run_preflight

    ecr = client(emulator, "ecr")
    ecr.create_repository(repositoryName="app")
    ecr.put_image(repositoryName="app", imageTag="1.0", imageManifest=MANIFEST)
    client(emulator, "ssm").put_parameter(Name="/fargate/db-password", Value="s3cret", Type="SecureString")
    client(emulator).create_cluster(clusterName="c", capacityProviders=["FARGATE", "FARGATE_SPOT"])
    before = Counter(emulator.actions)
    report = run_preflight(
        hook,
        task_definition=spec(image=ECR_IMAGE, secrets=[{"name": "DB", "valueFrom": "/fargate/db-password"}]),
        **network(emulator, "public"),
        cluster="c",
        capacity_provider_strategy=[{"capacityProvider": "FARGATE_SPOT", "weight": 1}],
    )
    assert report.ok, report.text()
    passed = " | ".join(report.passed)
    for words in (
        "execution role ecsTaskExecutionRole exists",
        "image " + ECR_IMAGE,
        "secret DB (ssm) exists",
        "will be created",
        "reaches what the task needs through an internet gateway",
        "allows outbound HTTPS",
        "capacity providers",
        "can run on Fargate Spot (Linux X86_64)",
    ):
        assert words in passed, passed
    assert mutating_calls(emulator, before) == []
    # The value is never read: only metadata calls reached SSM.
    assert not [a for a in emulator.actions - before if a.startswith("ssm:Get")]
    client(emulator).delete_cluster(cluster="c")


def test_private_subnets_pass_through_the_nat_gateway_and_public_images_are_reported_not_checked(emulator, hook):
    from fargate_provider.preflight import run_preflight

    report = run_preflight(hook, task_definition=spec(), **network(emulator, "private"))
    assert report.ok, report.text()
    assert any("through a NAT gateway" in line for line in report.passed)
    assert report.not_checked == [
        "image public.ecr.aws/docker/library/busybox:1.36: not in ECR; its registry is not checked"
    ]


def test_every_problem_is_reported_at_once(emulator, hook):
    from fargate_provider.preflight import run_preflight

    task_definition = {
        **spec(image=ECR_IMAGE, secrets=[{"name": "DB", "valueFrom": "/fargate/nope"}]),
        "executionRoleArn": "arn:aws:iam::123456789012:role/missing",
    }
    report = run_preflight(hook, task_definition=task_definition, **{**network(emulator), "assign_public_ip": True})
    assert {p.check for p in report.problems} == {"execution role", "image", "secret", "public IP"}, report.text()
    assert report.text().count("fix:") == len(report.problems)


PREFLIGHT_DAG = """
from airflow.sdk import DAG
from fargate_provider.operators.preflight import FargatePreflightOperator
with DAG(DAG_ID, schedule=None):
    FargatePreflightOperator(
        task_id="task",
        task_definition={task_definition!r},
        execution_role_arn={role!r},
        subnets={subnets!r},
        security_groups={groups!r},
        assign_public_ip=True,
    )
"""


def test_operator_through_airflow_fails_with_the_report_in_xcom(airflow, emulator, capfd):
    """The operator run by Airflow: the task fails, the log lists every problem with its fix,
    the report is in XCom, and nothing was created."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    task_definition = spec(image=ECR_IMAGE)
    del task_definition["executionRoleArn"]
    dag_id = airflow.write_dag(
        PREFLIGHT_DAG.format(
            task_definition=task_definition,
            role="missing-role",
            subnets=emulator.network["private_subnets"],
            groups=[emulator.network["security_group"]],
        )
    )
    before = Counter(emulator.actions)
    result = airflow.run(dag_id, capfd)
    assert result.state == "failed" and result.task_states == {"task": "failed"}
    assert "Preflight found 4 problem(s); nothing was created" in result.log, result.log[
        -3000:
    ]  # public IP: once per subnet
    assert "[execution role] arn:aws:iam::123456789012:role/missing-role: the role does not exist" in result.log
    with create_session() as session:
        row = session.query(XComModel).filter_by(dag_id=dag_id, key="preflight_report").one()
        report = XComModel.deserialize_value(row)
    assert report["ok"] is False and {p["check"] for p in report["problems"]} == {
        "execution role",
        "image",
        "public IP",
    }
    assert mutating_calls(emulator, before) == []


def test_operator_takes_a_registered_task_definition(airflow, emulator, capfd):
    ecs = client(emulator)
    arn = ecs.register_task_definition(**spec())["taskDefinition"]["taskDefinitionArn"]
    dag_id = airflow.write_dag(
        PREFLIGHT_DAG.format(
            task_definition=arn,
            role=None,
            subnets=emulator.network["public_subnets"],
            groups=[emulator.network["security_group"]],
        )
    )
    result = airflow.run(dag_id, capfd)
    assert result.state == "success", result.log[-3000:]
    assert result.xcom["task"]["ok"] is True
    ecs.deregister_task_definition(taskDefinition=arn)
