"""RegisterTaskDefinition in the emulator refuses what ECS refuses for Fargate, in ECS's words.

Each rule has a refused case (ClientException with ECS's exact message, nothing registered) and
the same task definition with the fix, which ECS registers. The sources of ECS's wordings are the
ones cited in fargate_provider/registration_rules.py (users quoting the ClientException).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.emulator.helpers import EXECUTION_ROLE

ECR_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:1"
AWSLOGS = {
    "logDriver": "awslogs",
    "options": {
        "awslogs-group": "/airflow/fargate/rules",
        "awslogs-region": "us-east-1",
        "awslogs-stream-prefix": "ecs",
    },
}
SSM_SECRET = [{"name": "DB_PASSWORD", "valueFrom": "arn:aws:ssm:us-east-1:123456789012:parameter/fargate/db-password"}]
REGISTRY_CREDENTIALS = {
    "credentialsParameter": "arn:aws:secretsmanager:us-east-1:123456789012:secret:fargate/registry-AbCdEf"
}
DROP = object()  # a key to leave out of the task definition


def spec(
    family: str = "rules",
    container: dict[str, Any] | None = None,
    containers: list[dict[str, Any]] | None = None,
    **task: Any,
) -> dict[str, Any]:
    """A Fargate task definition ECS registers, with ``task`` and ``container`` changes (DROP removes a key)."""
    body: dict[str, Any] = {
        "family": family,
        "requiresCompatibilities": ["FARGATE"],
        "networkMode": "awsvpc",
        "cpu": "256",
        "memory": "512",
    }
    if containers is None:
        one = {"name": "app", "image": "busybox:1.36", "essential": True}
        one.update(container or {})
        containers = [one]
    body["containerDefinitions"] = containers
    body.update(task)
    return {k: v for k, v in body.items() if v is not DROP}


def refused(ecs, body: dict[str, Any]) -> str:
    with pytest.raises(ClientError) as err:
        ecs.register_task_definition(**body)
    assert err.value.response["Error"]["Code"] == "ClientException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return err.value.response["Error"]["Message"]


# (id, refused task definition, ECS's message, the same task definition fixed)
RULES = [
    # virtual-kubelet/virtual-kubelet#193
    pytest.param(
        spec(container={"logConfiguration": AWSLOGS}),
        "Fargate requires task definition to have execution role ARN to support log driver awslogs.",
        spec(container={"logConfiguration": AWSLOGS}, executionRoleArn=EXECUTION_ROLE),
        id="awslogs-needs-execution-role",
    ),
    # fabfuel/ecs-deploy#87, hashicorp/terraform-provider-aws#6503
    pytest.param(
        spec(container={"secrets": SSM_SECRET}),
        "When you are specifying container secrets, you must also specify a value for 'executionRoleArn'.",
        spec(container={"secrets": SSM_SECRET}, executionRoleArn=EXECUTION_ROLE),
        id="secrets-need-execution-role",
    ),
    # log-driver secrets are pulled with the execution role too; registration_rules.py notes that ECS's
    # wording for this case is not quoted anywhere, so the container-secrets message stands in.
    pytest.param(
        spec(
            container={
                "logConfiguration": {
                    "logDriver": "splunk",
                    "options": {"splunk-url": "https://splunk.example.com"},
                    "secretOptions": [{"name": "splunk-token", "valueFrom": "/fargate/splunk-token"}],
                }
            }
        ),
        "When you are specifying container secrets, you must also specify a value for 'executionRoleArn'.",
        spec(
            container={
                "logConfiguration": {
                    "logDriver": "splunk",
                    "options": {"splunk-url": "https://splunk.example.com"},
                    "secretOptions": [{"name": "splunk-token", "valueFrom": "/fargate/splunk-token"}],
                }
            },
            executionRoleArn=EXECUTION_ROLE,
        ),
        id="log-secret-options-need-execution-role",
    ),
    # hashicorp/terraform-provider-aws#3051, jenkinsci/amazon-ecs-plugin#53
    pytest.param(
        spec(container={"image": ECR_IMAGE}),
        "Fargate requires task definition to have execution role ARN to support ECR images.",
        spec(container={"image": ECR_IMAGE}, executionRoleArn=EXECUTION_ROLE),
        id="private-ecr-image-needs-execution-role",
    ),
    # sil-org/ecs-deploy#188
    pytest.param(
        spec(container={"image": "example/private:1", "repositoryCredentials": REGISTRY_CREDENTIALS}),
        "Private repository authentication requires that the task definition specify a value for executionRoleArn.",
        spec(
            container={"image": "example/private:1", "repositoryCredentials": REGISTRY_CREDENTIALS},
            executionRoleArn=EXECUTION_ROLE,
        ),
        id="repository-credentials-need-execution-role",
    ),
    # mongodb/terraform-aws-ecs-task-definition#38
    pytest.param(
        spec(cpu=DROP),
        "Fargate requires that 'cpu' be defined at the task level.",
        spec(cpu="256"),
        id="task-cpu-missing",
    ),
    # aws-games/cloud-game-development-toolkit#737
    pytest.param(
        spec(cpu="256", memory="4096"),
        (
            "No Fargate configuration exists for given values: 256 CPU, 4096 memory. "
            "See the Amazon ECS documentation for the valid values."
        ),
        spec(cpu="1024", memory="4096"),
        id="invalid-cpu-memory-pair",
    ),
    # aws/amazon-ecs-cli#1145 (ECS's curly quotes)
    pytest.param(
        spec(networkMode="bridge"),
        "Fargate only supports network mode \u2018awsvpc\u2019.",
        spec(networkMode="awsvpc"),
        id="bridge-network-mode-on-fargate",
    ),
    # eagletmt/hako#68
    pytest.param(
        spec(container={"essential": False}),
        "Task definition doesn't have any essential container.",
        spec(container={"essential": True}),
        id="no-essential-container",
    ),
    # Shippable/support#2946
    pytest.param(
        spec(
            containers=[
                {"name": "app", "image": "busybox:1.36"},
                {"name": "app", "image": "busybox:1.36", "essential": False},
            ]
        ),
        "Container names must be unique within a Task Definition.",
        spec(
            containers=[
                {"name": "app", "image": "busybox:1.36"},
                {"name": "sidecar", "image": "busybox:1.36", "essential": False},
            ]
        ),
        id="duplicate-container-names",
    ),
    # pulumi/pulumi-awsx#935
    pytest.param(
        spec(container={"portMappings": [{"containerPort": 8080, "hostPort": 80, "protocol": "tcp"}]}),
        "When networkMode=awsvpc, the host ports and container ports in port mappings must match.",
        spec(container={"portMappings": [{"containerPort": 8080, "hostPort": 8080, "protocol": "tcp"}]}),
        id="host-port-differs-from-container-port",
    ),
    # hostPort 0 under awsvpc: the task definition parameters reference (left blank or equal to containerPort)
    pytest.param(
        spec(container={"portMappings": [{"containerPort": 8080, "hostPort": 0, "protocol": "tcp"}]}),
        "When networkMode=awsvpc, the host ports and container ports in port mappings must match.",
        spec(container={"portMappings": [{"containerPort": 8080, "protocol": "tcp"}]}),
        id="host-port-zero-under-awsvpc",
    ),
    # cn-terraform/terraform-aws-ecs-fargate#2
    pytest.param(
        spec(ipcMode="task"),
        "Tasks using the Fargate launch type do not support ipcMode.",
        spec(),
        id="ipc-mode-on-fargate",
    ),
    # task definition parameters reference, ephemeralStorage: 21-200 GiB (the wording is ours: none quoted)
    pytest.param(
        spec(ephemeralStorage={"sizeInGiB": 20}),
        "The ephemeral storage size must be between 21 and 200 GiB for tasks using the Fargate launch type.",
        spec(ephemeralStorage={"sizeInGiB": 21}),
        id="ephemeral-storage-below-21",
    ),
    pytest.param(
        spec(ephemeralStorage={"sizeInGiB": 201}),
        "The ephemeral storage size must be between 21 and 200 GiB for tasks using the Fargate launch type.",
        spec(ephemeralStorage={"sizeInGiB": 200}),
        id="ephemeral-storage-above-200",
    ),
    # users quoting ECS's ClientException (registration_rules.fargate_container_rules)
    pytest.param(
        spec(container={"hostname": "worker"}),
        "hostname is not supported on container when networkMode=awsvpc.",
        spec(),
        id="hostname-under-awsvpc",
    ),
    # boto/boto3#2436 (registration_rules.dependency_rules)
    pytest.param(
        spec(
            containers=[
                {"name": "init", "image": "busybox:1.36", "essential": True},
                {
                    "name": "app",
                    "image": "busybox:1.36",
                    "essential": True,
                    "dependsOn": [{"containerName": "init", "condition": "SUCCESS"}],
                },
            ]
        ),
        "A dependency container with SUCCESS or COMPLETE condition cannot be an essential container",
        spec(
            containers=[
                {"name": "init", "image": "busybox:1.36", "essential": False},
                {
                    "name": "app",
                    "image": "busybox:1.36",
                    "essential": True,
                    "dependsOn": [{"containerName": "init", "condition": "SUCCESS"}],
                },
            ]
        ),
        id="awaited-container-is-essential",
    ),
]


@pytest.mark.parametrize(("broken", "message", "fixed"), RULES)
def test_ecs_refuses_the_broken_task_definition_and_registers_the_fixed_one(emulator, ecs, broken, message, fixed):
    assert refused(ecs, copy.deepcopy(broken)) == message
    assert ecs.list_task_definitions()["taskDefinitionArns"] == []  # nothing was registered

    registered = ecs.register_task_definition(**copy.deepcopy(fixed))["taskDefinition"]
    assert registered["taskDefinitionArn"] == "arn:aws:ecs:us-east-1:123456789012:task-definition/rules:1"
    assert registered["status"] == "ACTIVE"
    assert [c["name"] for c in registered["containerDefinitions"]] == [c["name"] for c in fixed["containerDefinitions"]]
    assert registered.get("executionRoleArn") == fixed.get("executionRoleArn")


def test_the_first_rule_ecs_answers_is_the_task_level_one(emulator, ecs):
    # Several rules broken at once: ECS answers one message; the emulator answers task-level rules
    # first (registration_rules.registration_rules). Sources as above (amazon-ecs-cli#1145, virtual-kubelet#193).
    body = spec(networkMode="bridge", container={"logConfiguration": AWSLOGS, "hostname": "worker"})
    assert refused(ecs, body) == "Fargate only supports network mode \u2018awsvpc\u2019."
    body = spec(container={"logConfiguration": AWSLOGS, "hostname": "worker"})
    assert (
        refused(ecs, body)
        == "Fargate requires task definition to have execution role ARN to support log driver awslogs."
    )


def test_fargate_only_rules_do_not_apply_to_ec2_task_definitions(emulator, ecs):
    # The awslogs and ECR-image rules are Fargate's (virtual-kubelet#193, terraform-provider-aws#3051):
    # an EC2 task definition without an execution role registers (the container agent's instance role pulls).
    ec2 = spec(
        family="on-ec2",
        requiresCompatibilities=["EC2"],
        networkMode="bridge",
        cpu=DROP,
        memory=DROP,
        container={"image": ECR_IMAGE, "memory": 128, "logConfiguration": AWSLOGS},
    )
    registered = ecs.register_task_definition(**ec2)["taskDefinition"]
    assert "executionRoleArn" not in registered
    # Container secrets need the execution role on any launch type (hashicorp/terraform-provider-aws#6503).
    ec2_secrets = spec(
        family="on-ec2",
        requiresCompatibilities=["EC2"],
        networkMode="bridge",
        cpu=DROP,
        memory=DROP,
        container={"memory": 128, "secrets": SSM_SECRET},
    )
    assert (
        refused(ecs, ec2_secrets)
        == "When you are specifying container secrets, you must also specify a value for 'executionRoleArn'."
    )


def test_a_role_name_is_stored_as_the_role_arn(emulator, ecs):
    # ECS accepts a role name for executionRoleArn / taskRoleArn and stores the role's ARN
    # (control_plane._RegisterTaskDefinition: "ECS takes a role name and stores the role's ARN").
    body = spec(
        container={"logConfiguration": AWSLOGS},
        executionRoleArn="ecsTaskExecutionRole",
        taskRoleArn="ecsTaskExecutionRole",
    )
    registered = ecs.register_task_definition(**body)["taskDefinition"]
    assert registered["executionRoleArn"] == "arn:aws:iam::123456789012:role/ecsTaskExecutionRole"
    assert registered["taskRoleArn"] == "arn:aws:iam::123456789012:role/ecsTaskExecutionRole"
    described = ecs.describe_task_definition(taskDefinition="rules")["taskDefinition"]
    assert described["executionRoleArn"] == "arn:aws:iam::123456789012:role/ecsTaskExecutionRole"
    assert described["taskRoleArn"] == "arn:aws:iam::123456789012:role/ecsTaskExecutionRole"


def test_hostname_is_refused_for_any_awsvpc_task_definition(ecs):
    # The hostname rule is awsvpc's, not only Fargate's (ECS ClientException as users quote it).
    with pytest.raises(ClientError, match="hostname is not supported on container when networkMode=awsvpc."):
        ecs.register_task_definition(
            family="ec2-awsvpc",
            requiresCompatibilities=["EC2"],
            networkMode="awsvpc",
            memory="512",
            containerDefinitions=[{"name": "app", "image": "nginx", "hostname": "app"}],
        )
