"""ECS's documented request limits (fargate_rules.request_limits): the emulator refuses what breaks a row in
the row's words, and the provider refuses the same before any AWS call, naming its argument."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from fargate_rules.request_limits import REQUEST_LIMITS, broken_limits
from fargate_rules.task_definition_spec import (
    TaskDefinitionError,
    run_task_overrides_problems,
    validate_task_definition,
)
from tests.emulator.helpers import client, network, register
from tests.helpers.aws import record_aws_calls

SUBNETS = [f"subnet-{i:08x}" for i in range(17)]
GROUPS = [f"sg-{i:08x}" for i in range(6)]


def test_every_row_cites_its_source_and_says_ecs_words():
    assert len(REQUEST_LIMITS) >= 15
    for limit in REQUEST_LIMITS:
        assert limit.ecs_message.endswith(".") and any(
            where in limit.source for where in ("ECS API reference", "quotas", "developer guide")
        )


@pytest.mark.parametrize(
    ("operation", "request_body", "path", "message"),
    [
        ("RunTask", {"startedBy": "a" * 129}, "startedBy", "startedBy can have at most 128 characters."),
        ("RunTask", {"count": 11}, "count", "count must be between 1 and 10."),
        ("RunTask", {"group": "g" * 256}, "group", "group can have at most 255 characters."),
        (
            "RunTask",
            {"networkConfiguration": {"awsvpcConfiguration": {"subnets": SUBNETS}}},
            "networkConfiguration.awsvpcConfiguration.subnets",
            "subnets can have at most 16 items.",
        ),
        (
            "CreateService",
            {"networkConfiguration": {"awsvpcConfiguration": {"subnets": ["s"], "securityGroups": GROUPS}}},
            "networkConfiguration.awsvpcConfiguration.securityGroups",
            "securityGroups can have at most 5 items.",
        ),
        (
            "RunTask",
            {"overrides": {"containerOverrides": [{"name": "a", "memory": 8}, {"name": "b", "memory": -1}]}},
            "overrides.containerOverrides[1].memory",
            "memory must be greater than or equal to 0.",
        ),
        ("CreateService", {"desiredCount": -1}, "desiredCount", "desiredCount must be greater than or equal to 0."),
        ("CreateService", {"serviceName": "s" * 256}, "serviceName", "serviceName can have at most 255 characters."),
        (
            "RunTask",
            {"tags": [{"key": "k", "value": "v" * 257}]},
            "tags[0].value",
            "value can have at most 256 characters.",
        ),
    ],
)
def test_the_table_names_the_member_and_ecs_words(operation, request_body, path, message):
    assert [(where, limit.ecs_message) for where, limit in broken_limits(operation, request_body)] == [(path, message)]


def test_within_the_limits_nothing_is_broken():
    body = {
        "count": 10,
        "startedBy": "airflow/run_1-" + "a" * 100,
        "networkConfiguration": {"awsvpcConfiguration": {"subnets": SUBNETS[:16], "securityGroups": GROUPS[:5]}},
        "overrides": {"containerOverrides": [{"name": "a", "memory": 0, "cpu": 0}]},
    }
    assert broken_limits("RunTask", body) == []


# --------------------------------------------------------------------------- the emulator, in ECS's words


def _refused(call, **kwargs) -> tuple[str, str]:
    with pytest.raises(ClientError) as err:
        call(**kwargs)
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return err.value.response["Error"]["Code"], err.value.response["Error"]["Message"]


def test_the_emulator_refuses_what_breaks_a_limit_in_ecs_words(emulator, ecs):
    register(ecs)
    awsvpc = network(emulator)["awsvpcConfiguration"]
    run = {"cluster": "c", "taskDefinition": "job", "launchType": "FARGATE"}
    cases = [
        (
            {"startedBy": "a" * 129, "networkConfiguration": network(emulator)},
            "startedBy can have at most 128 characters.",
        ),
        # startedBy's documented characters: the provider keeps to them (below), ECS is seen not to enforce
        # them (request_limits: ecs_enforces=False; tests/emulator/test_ecs_deploy_cli.py), nor does the emulator.
        (
            {
                "networkConfiguration": network(emulator),
                "overrides": {"containerOverrides": [{"name": "app", "memory": -1}]},
            },
            "memory must be greater than or equal to 0.",
        ),
        (
            {"networkConfiguration": {"awsvpcConfiguration": {**awsvpc, "subnets": SUBNETS}}},
            "subnets can have at most 16 items.",
        ),
        (
            {"networkConfiguration": {"awsvpcConfiguration": {**awsvpc, "securityGroups": GROUPS}}},
            "securityGroups can have at most 5 items.",
        ),
    ]
    for extra, message in cases:
        assert _refused(ecs.run_task, **run, **extra) == ("InvalidParameterException", message)
    assert ecs.list_tasks(cluster="c")["taskArns"] == []
    eleven = [{"name": f"c{i}", "image": "busybox:1.36", "essential": i == 0} for i in range(11)]
    assert _refused(
        ecs.register_task_definition,
        family="many",
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="256",
        memory="512",
        containerDefinitions=eleven,
    ) == ("ClientException", "Too many containers.")
    assert client(emulator).list_task_definitions(familyPrefix="many")["taskDefinitionArns"] == []


# --------------------------------------------------------------------------- the provider, before any call


@pytest.mark.parametrize(
    ("kwargs", "field", "ecs_words"),
    [
        ({"started_by": "a" * 129}, "started_by", "startedBy can have at most 128 characters."),
        ({"started_by": "has spaces"}, "started_by", "startedBy may contain only letters"),
        ({"subnets": SUBNETS}, "subnets", "subnets can have at most 16 items."),
        ({"security_groups": GROUPS}, "security_groups", "securityGroups can have at most 5 items."),
        (
            {"overrides": {"containerOverrides": [{"name": "app", "memory": -1}]}},
            "overrides.containerOverrides[0].memory",
            "memory must be greater than or equal to 0.",
        ),
    ],
)
def test_the_run_task_operator_refuses_before_any_aws_call(no_aws, kwargs, field, ecs_words):
    from fargate_provider.operators.run_task import FargateRunTaskOperator

    arguments = {"cluster": "c", "task_definition": "job", "subnets": ["subnet-1"], "security_groups": ["sg-1"]}
    with record_aws_calls() as recorder, pytest.raises(ValueError) as err:
        FargateRunTaskOperator(task_id="t", **{**arguments, **kwargs}).execute(context={})
    assert f"{field}: " in str(err.value) and ecs_words in str(err.value)
    assert recorder.calls == []


@pytest.mark.parametrize(
    ("kwargs", "field", "ecs_words"),
    [
        ({"subnets": SUBNETS}, "subnets", "subnets can have at most 16 items."),
        ({"security_groups": GROUPS}, "security_groups", "securityGroups can have at most 5 items."),
    ],
)
def test_the_create_service_operator_refuses_before_any_aws_call(no_aws, kwargs, field, ecs_words):
    from fargate_provider.operators.service import FargateCreateServiceOperator

    arguments = {
        "cluster": "c",
        "service_name": "web",
        "task_definition": "job",
        "subnets": ["subnet-1"],
        "security_groups": ["sg-1"],
    }
    with record_aws_calls() as recorder, pytest.raises(ValueError) as err:
        FargateCreateServiceOperator(task_id="t", **{**arguments, **kwargs}).execute(context={})
    assert f"{field}: " in str(err.value) and ecs_words in str(err.value)
    assert recorder.calls == []


def test_the_validator_refuses_eleven_containers_in_ecs_words():
    containers = [{"name": f"c{i}", "image": "busybox"} for i in range(11)]
    with pytest.raises(TaskDefinitionError) as err:
        validate_task_definition({"family": "many", "cpu": "256", "memory": "512", "containerDefinitions": containers})
    assert [(path, "Too many containers." in message) for path, message in err.value.problems] == [
        ("containerDefinitions", True)
    ]
    ten = containers[:10]
    validate_task_definition({"family": "many", "cpu": "256", "memory": "512", "containerDefinitions": ten})


def test_the_overrides_check_names_a_negative_amount():
    problems = run_task_overrides_problems({"containerOverrides": [{"name": "a", "cpu": -2}]})
    assert [path for path, _ in problems] == ["overrides.containerOverrides[0].cpu"]
    assert "cpu must be greater than or equal to 0." in problems[0][1]
