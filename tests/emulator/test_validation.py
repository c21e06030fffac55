"""ECS's own validation where moto skips it: ECS-worded errors, never an HTTP 500."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.emulator.helpers import FAST, cleanup, client, network, register


@pytest.fixture
def ecs(emulator):
    """No retries, so an HTTP 500 would show as one; two task definitions registered."""
    ecs = client(emulator, retries=1)
    ecs.create_cluster(clusterName="c")
    register(ecs)
    register(ecs, family="big", cpu="256", memory="512")
    yield ecs
    cleanup(ecs)


def base(emulator, **changes):
    kwargs = {
        "cluster": "c",
        "taskDefinition": "job",
        "launchType": "FARGATE",
        "networkConfiguration": network(emulator),
    }
    kwargs.update(changes)
    return {k: v for k, v in kwargs.items() if v is not None}


CASES = [
    (
        "unknown subnet",
        lambda e: base(
            e,
            networkConfiguration={
                "awsvpcConfiguration": {
                    "subnets": ["subnet-0000000000000000"],
                    "securityGroups": [e.network["security_group"]],
                }
            },
        ),
        "InvalidParameterException",
        "Error retrieving subnet information for [subnet-0000000000000000]",
    ),
    (
        "unknown security group",
        lambda e: base(
            e,
            networkConfiguration={
                "awsvpcConfiguration": {
                    "subnets": e.network["private_subnets"],
                    "securityGroups": ["sg-0000000000000000"],
                }
            },
        ),
        "InvalidParameterException",
        "Error retrieving security group information",
    ),
    (
        "no subnets",
        lambda e: base(e, networkConfiguration={"awsvpcConfiguration": {"subnets": []}}),
        "InvalidParameterException",
        "subnets can not be empty.",
    ),
    (
        "no network configuration",
        lambda e: base(e, networkConfiguration=None),
        "InvalidParameterException",
        "Network Configuration must be provided when networkMode 'awsvpc' is specified.",
    ),
    (
        "bad launch type",
        lambda e: base(e, launchType="LAMBDA"),
        "InvalidParameterException",
        "launchType should be one of [EC2,FARGATE,EXTERNAL].",
    ),
    (
        "launch type and strategy",
        lambda e: base(e, capacityProviderStrategy=[{"capacityProvider": "FARGATE", "weight": 1}]),
        "InvalidParameterException",
        "Specifying both a launch type and capacity provider strategy is not supported.",
    ),
    (
        "bad assignPublicIp",
        lambda e: base(e, networkConfiguration=network(e, assignPublicIp="YES")),
        "InvalidParameterException",
        "assignPublicIp should be one of [ENABLED,DISABLED].",
    ),
    ("count", lambda e: base(e, count=11), "InvalidParameterException", "count must be between 1 and 10."),
    ("unknown cluster", lambda e: base(e, cluster="nope"), "ClusterNotFoundException", "Cluster not found."),
    (
        "unknown task definition",
        lambda e: base(e, taskDefinition="nope:1"),
        "ClientException",
        "Unable to describe task definition.",
    ),
    (
        "size override not a Fargate size",
        lambda e: base(e, overrides={"cpu": "256", "memory": "4096"}),
        "ClientException",
        "No Fargate configuration exists for given values: 256 CPU, 4096 memory.",
    ),
]


@pytest.mark.parametrize("name, request_for, code, message", CASES, ids=[c[0] for c in CASES])
def test_run_task_validation(emulator, ecs, name, request_for, code, message):
    with pytest.raises(ClientError) as err:
        ecs.run_task(**request_for(emulator))
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert err.value.response["Error"]["Code"] == code
    assert message in err.value.response["Error"]["Message"]


def test_inactive_and_non_fargate_task_definitions(emulator, ecs):
    ecs.register_task_definition(family="ec2only", containerDefinitions=[{"name": "a", "image": "x", "memory": 128}])
    with pytest.raises(ClientError, match="Task definition does not support launch_type FARGATE"):
        ecs.run_task(**base(emulator, taskDefinition="ec2only"))
    ecs.deregister_task_definition(taskDefinition="big:1")
    with pytest.raises(ClientError, match="TaskDefinition is inactive"):
        ecs.run_task(**base(emulator, taskDefinition="big:1"))


def test_create_service_validation(emulator, ecs):
    bad = {"awsvpcConfiguration": {"subnets": ["subnet-0000000000000000"]}}
    with pytest.raises(ClientError) as err:
        ecs.create_service(
            cluster="c",
            serviceName="s",
            taskDefinition="job",
            desiredCount=1,
            launchType="FARGATE",
            networkConfiguration=bad,
        )
    assert err.value.response["Error"]["Code"] == "InvalidParameterException"
    with pytest.raises(ClientError, match="Network Configuration must be provided"):
        ecs.create_service(cluster="c", serviceName="s", taskDefinition="job", desiredCount=1, launchType="FARGATE")


def test_missing_security_groups_use_the_vpcs_default_group_as_ecs_does(emulator, ecs):
    # moto answers HTTP 500 (KeyError) here; ECS uses the VPC's default security group.
    awsvpc = {"awsvpcConfiguration": {"subnets": emulator.network["public_subnets"], "assignPublicIp": "ENABLED"}}
    task = ecs.run_task(**base(emulator, networkConfiguration=awsvpc))["tasks"][0]
    ecs.get_waiter("tasks_stopped").wait(cluster="c", tasks=[task["taskArn"]], WaiterConfig=FAST)
    # DescribeTasks does not show a task's groups (nor does ECS's): ask the placement itself.
    from fargate_local import moto_bridge
    from tests.emulator.helpers import client

    vpc = client(emulator, "ec2").describe_subnets(SubnetIds=emulator.network["public_subnets"][:1])["Subnets"][0][
        "VpcId"
    ]
    default = client(emulator, "ec2").describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc]}, {"Name": "group-name", "Values": ["default"]}]
    )["SecurityGroups"]
    assert len(default) == 1 and default[0]["GroupId"] != emulator.network["security_group"]
    account = moto_bridge.account_for_access_key(None)
    placement = moto_bridge.place_in_network(account, "us-east-1", awsvpc["awsvpcConfiguration"])
    assert placement.security_groups == [default[0]["GroupId"]]


def test_fargate_run_task_with_task_level_memory_only_is_accepted(emulator, ecs):
    # moto alone answers HTTP 500 without container-level memory and on awsvpc (see test_moto_contract).
    task = ecs.run_task(**base(emulator))["tasks"][0]
    assert task["lastStatus"] == "PROVISIONING" and task["memory"] == "512"
    ecs.get_waiter("tasks_stopped").wait(cluster="c", tasks=[task["taskArn"]], WaiterConfig=FAST)
