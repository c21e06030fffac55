"""Requests the emulator used to answer with an HTTP 500 or accept where ECS refuses, and members
ECS returns. Sources (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/ unless noted):
- API_AwsVpcConfiguration: securityGroups — "If you don't specify a security group, the default
  security group for the VPC is used."
- API_RunTask launchType/capacityProviderStrategy: with neither, "the defaultCapacityProviderStrategy
  for the cluster is used" else the EC2 launch type; an empty cluster answers InvalidParameterException
  "No Container Instances were found in your cluster." (quoted in aws/amazon-ecs-cli#1122).
- API_RunTask propagateTags: "An error will be received if you specify the SERVICE option when running
  a task." (the wording is not documented: the test holds the code).
- Overrides for a container the task definition lacks: InvalidParameterException "Override for
  container named X is not a container in the TaskDefinition." (quoted by users running tasks).
- PlatformUnknownException: "The specified platform version does not exist." (API_RunTask Errors).
- ecs-using-tags.html: "Do not use aws:, AWS:, or any upper or lowercase combination of such as a prefix
  for either keys or values as it is reserved for AWS use." (the wording of the refusal is not documented).
- ECS Exec (API_ExecuteCommand): InvalidParameterException "The execute command failed because execute
  command was not enabled when the task was run or the execute command agent isn’t running. ..." (quoted in
  fabfuel/ecs-deploy#193, keidarcy/e1s#206); when enabled, a session (sessionId, streamUrl, tokenValue).
- API_TaskDefinition: registeredAt, registeredBy, requiresAttributes; API_Task: attributes
  (ecs.cpu-architecture, as a Fargate task reports it).
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.contract.conftest import CONTRACT_TAG

IMAGE = "public.ecr.aws/docker/library/busybox:1.36"
FAST = {"Delay": 0.1, "MaxAttempts": 600}


@pytest.fixture
def job(aws, cluster):
    ecs = aws("ecs")
    arn = ecs.register_task_definition(
        family=f"{cluster}-job",
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="256",
        memory="512",
        containerDefinitions=[{"name": "app", "image": IMAGE, "essential": True, "command": ["sleep", "600"]}],
        tags=[CONTRACT_TAG],
    )["taskDefinition"]["taskDefinitionArn"]
    yield arn
    ecs.deregister_task_definition(taskDefinition=arn)


def _error(call) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as refused:
        call()
    response = refused.value.response
    return (
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Code"],
        response["Error"].get("Message", ""),
    )


def _stop(ecs, cluster, arns):
    for arn in arns:
        ecs.stop_task(cluster=cluster, task=arn)
    if arns:
        ecs.get_waiter("tasks_stopped").wait(cluster=cluster, tasks=arns, WaiterConfig=FAST)


def test_a_service_without_security_groups_uses_the_vpcs_default_group(aws, cluster, job, task_network):
    ecs = aws("ecs")
    awsvpc = {"subnets": task_network["awsvpcConfiguration"]["subnets"]}
    try:
        ecs.create_service(
            cluster=cluster,
            serviceName="no-groups",
            taskDefinition=job,
            desiredCount=1,
            launchType="FARGATE",
            networkConfiguration={"awsvpcConfiguration": awsvpc},
        )
        ecs.get_waiter("services_stable").wait(cluster=cluster, services=["no-groups"], WaiterConfig=FAST)
        [arn] = ecs.list_tasks(cluster=cluster, serviceName="no-groups")["taskArns"]
        eni = next(
            d["value"]
            for a in ecs.describe_tasks(cluster=cluster, tasks=[arn])["tasks"][0]["attachments"]
            for d in a["details"]
            if d["name"] == "networkInterfaceId"
        )
        groups = aws("ec2").describe_network_interfaces(NetworkInterfaceIds=[eni])["NetworkInterfaces"][0]["Groups"]
        assert [g["GroupName"] for g in groups] == ["default"]
    finally:
        ecs.delete_service(cluster=cluster, service="no-groups", force=True)
        ecs.get_waiter("services_inactive").wait(cluster=cluster, services=["no-groups"], WaiterConfig=FAST)


def test_run_task_without_launch_type_on_an_empty_cluster_finds_no_instances(aws, cluster, job, task_network):
    status, code, message = _error(
        lambda: aws("ecs").run_task(cluster=cluster, taskDefinition=job, networkConfiguration=task_network)
    )
    assert (status, code, message) == (
        400,
        "InvalidParameterException",
        "No Container Instances were found in your cluster.",
    )


def test_run_task_refuses_what_ecs_refuses(aws, cluster, job, task_network):
    ecs = aws("ecs")
    run = {"cluster": cluster, "taskDefinition": job, "launchType": "FARGATE", "networkConfiguration": task_network}
    assert _error(lambda: ecs.run_task(**run, propagateTags="SERVICE"))[:2] == (400, "InvalidParameterException")
    assert _error(
        lambda: ecs.run_task(**run, overrides={"containerOverrides": [{"name": "nope", "command": ["true"]}]})
    ) == (
        400,
        "InvalidParameterException",
        "Override for container named nope is not a container in the TaskDefinition.",
    )
    assert _error(lambda: ecs.run_task(**run, platformVersion="9.9.9")) == (
        400,
        "PlatformUnknownException",
        "The specified platform version does not exist.",
    )
    assert ecs.list_tasks(cluster=cluster)["taskArns"] == []  # nothing was started


def test_tag_keys_starting_with_aws_are_reserved(aws, cluster):
    ecs = aws("ecs")
    arn = ecs.describe_clusters(clusters=[cluster])["clusters"][0]["clusterArn"]
    assert _error(lambda: ecs.tag_resource(resourceArn=arn, tags=[{"key": "AWS:owner", "value": "me"}]))[:2] == (
        400,
        "InvalidParameterException",
    )
    assert _error(lambda: ecs.create_cluster(clusterName=f"{cluster}-x", tags=[{"key": "aws:x", "value": "1"}]))[
        :2
    ] == (400, "InvalidParameterException")
    assert all(t["key"].lower() != "aws:owner" for t in ecs.list_tags_for_resource(resourceArn=arn)["tags"])


def test_execute_command_needs_exec_enabled_and_answers_with_a_session(aws, cluster, job, task_network):
    ecs = aws("ecs")
    run = {"cluster": cluster, "taskDefinition": job, "launchType": "FARGATE", "networkConfiguration": task_network}
    plain = ecs.run_task(**run)["tasks"][0]["taskArn"]
    with_exec = ecs.run_task(**run, enableExecuteCommand=True)["tasks"][0]["taskArn"]
    try:
        ecs.get_waiter("tasks_running").wait(cluster=cluster, tasks=[plain, with_exec], WaiterConfig=FAST)
        status, code, message = _error(
            lambda: ecs.execute_command(cluster=cluster, task=plain, command="ls", interactive=True)
        )
        assert (status, code) == (400, "InvalidParameterException")
        assert message.startswith(
            "The execute command failed because execute command was not enabled when the task was run"
        )
        answer = ecs.execute_command(cluster=cluster, task=with_exec, container="app", command="ls", interactive=True)
        assert answer["taskArn"] == with_exec and answer["containerName"] == "app" and answer["interactive"] is True
        assert answer["session"]["sessionId"] and answer["session"]["streamUrl"].startswith("wss://ssmmessages.")
        assert answer["session"]["tokenValue"]
    finally:
        _stop(ecs, cluster, [plain, with_exec])


def test_task_definitions_and_tasks_carry_the_members_ecs_returns(aws, cluster, job, task_network):
    ecs = aws("ecs")
    described = ecs.describe_task_definition(taskDefinition=job)["taskDefinition"]
    assert described["registeredAt"] and described["registeredBy"].startswith("arn:aws")
    assert {"name": "ecs.capability.task-eni"} in described["requiresAttributes"]
    arn = ecs.run_task(cluster=cluster, taskDefinition=job, launchType="FARGATE", networkConfiguration=task_network)[
        "tasks"
    ][0]["taskArn"]
    try:
        task = ecs.describe_tasks(cluster=cluster, tasks=[arn])["tasks"][0]
        assert {"name": "ecs.cpu-architecture", "value": "x86_64"} in task["attributes"]
    finally:
        _stop(ecs, cluster, [arn])
