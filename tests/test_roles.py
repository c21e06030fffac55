"""Roles are first-class: the register operator's execution_role_arn / task_role_arn, names expanded
to ARNs as ECS does, ECS's registration rules refused before any call, the DAGs' role lookup
(Variables, else ecsTaskExecutionRole, else a failure before anything is created) and
``preflight=True`` on the operators that create.

ECS's wording of the refusals is quoted in fargate_provider/registration_rules.py with its sources
(e.g. "When you are specifying container secrets, you must also specify a value for
'executionRoleArn'." — fabfuel/ecs-deploy#87).
"""

from __future__ import annotations

import json
from collections import Counter

import pytest

from tests.emulator.helpers import EXECUTION_ROLE, client
from tests.helpers.aws import mutating_calls, record_aws_calls

# A task definition as people fill it in: a secret from SSM, awslogs, no executionRoleArn.
SEED_TASK_DEFINITION = {
    "family": "orders-api",
    "cpu": "512",
    "memory": "1024",
    "containerDefinitions": [
        {
            "name": "api",
            "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/orders-api:2.3",
            "secrets": [
                {"name": "DB_PASSWORD", "valueFrom": "arn:aws:ssm:us-east-1:123456789012:parameter/orders/db-password"}
            ],
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {
                    "awslogs-group": "/ecs/orders-api",
                    "awslogs-region": "us-east-1",
                    "awslogs-stream-prefix": "api",
                },
            },
        }
    ],
}


def test_the_seed_task_definition_is_refused_before_any_call_naming_execution_role_arn(no_aws):
    from fargate_rules.task_definition_spec import TaskDefinitionError, validate_task_definition

    with record_aws_calls() as calls, pytest.raises(TaskDefinitionError) as error:
        validate_task_definition(SEED_TASK_DEFINITION)
    problems = dict(error.value.problems)
    assert (
        "When you are specifying container secrets, you must also specify a value for 'executionRoleArn'."
        in problems["containerDefinitions[0].secrets"]
    )
    assert (
        "execution role ARN to support log driver awslogs"
        in problems["containerDefinitions[0].logConfiguration.logDriver"]
    )
    assert "execution role ARN to support ECR images" in problems["containerDefinitions[0].image"]
    assert all("set executionRoleArn" in message for message in problems.values())
    assert calls.calls == []
    validate_task_definition(
        {**SEED_TASK_DEFINITION, "executionRoleArn": "ecsTaskExecutionRole"}
    )  # accepted with a role


@pytest.mark.parametrize(
    "container, path, words",
    [
        (
            {
                "logConfiguration": {
                    "logDriver": "splunk",
                    "options": {},
                    "secretOptions": [{"name": "splunk-token", "valueFrom": "/t"}],
                }
            },
            "containerDefinitions[0].logConfiguration.secretOptions",
            "'executionRoleArn'",
        ),
        (
            {
                "repositoryCredentials": {
                    "credentialsParameter": "arn:aws:secretsmanager:us-east-1:123456789012:secret:hub-AbCdEf"
                }
            },
            "containerDefinitions[0].repositoryCredentials",
            "Private repository authentication requires",
        ),
        (
            {"hostname": "app"},
            "containerDefinitions[0].hostname",
            "hostname is not supported on container when networkMode=awsvpc.",
        ),
        ({"links": ["db"]}, "containerDefinitions[0].links", "links are not supported"),
        ({"privileged": True}, "containerDefinitions[0].privileged", "not supported on Fargate"),
    ],
)
def test_ecs_rules_are_refused_with_ecs_words_and_accepted_when_met(container, path, words):
    from fargate_rules.task_definition_spec import TaskDefinitionError, validate_task_definition

    spec = {
        "family": "f",
        "cpu": "256",
        "memory": "512",
        "containerDefinitions": [{"name": "app", "image": "nginx", **container}],
    }
    with pytest.raises(TaskDefinitionError) as error:
        validate_task_definition(spec)
    assert words in dict(error.value.problems)[path]
    if "executionRoleArn" in words or "repository" in words:
        validate_task_definition({**spec, "executionRoleArn": "ecsTaskExecutionRole"})


@pytest.mark.parametrize(
    "given, exists, expected",
    [
        (
            {"execution_role": "arn:aws:iam::123456789012:role/batch-exec", "task_role": None},
            False,
            ("arn:aws:iam::123456789012:role/batch-exec", None),
        ),
        ({"execution_role": None, "task_role": "etl-reader"}, True, ("ecsTaskExecutionRole", "etl-reader")),
        ({"execution_role": "", "task_role": ""}, True, ("ecsTaskExecutionRole", None)),
    ],
)
def test_resolve_roles(given, exists, expected):
    from fargate_provider.roles import resolve_roles

    roles = resolve_roles(**given, role_exists=lambda name: exists)
    assert (roles["execution_role_arn"], roles["task_role_arn"]) == expected


def test_resolve_roles_says_how_to_create_the_missing_role_and_names_bad_references():
    from fargate_provider.roles import ExecutionRoleNotFound, RoleError, resolve_roles

    with pytest.raises(ExecutionRoleNotFound) as error:
        resolve_roles(execution_role=None, task_role=None, role_exists=lambda name: False)
    assert "fargate_execution_role_arn" in str(error.value) and "iam/ecs-task-execution-role.json" in str(error.value)
    assert "aws iam create-role --role-name ecsTaskExecutionRole" in str(error.value)
    with pytest.raises(RoleError, match="^task_role: give an IAM role ARN"):
        resolve_roles(execution_role=None, task_role="not a role!", role_exists=lambda name: True)


REGISTER_DAG = """
from airflow.sdk import DAG
from fargate_provider.operators.task_definition import FargateRegisterTaskDefinitionOperator
with DAG(DAG_ID, schedule=None):
    FargateRegisterTaskDefinitionOperator(
        task_id="task", task_definition={spec!r}, execution_role_arn={execution!r}, task_role_arn={task!r},
        preflight={preflight!r},
    )
"""


def test_role_names_are_expanded_and_an_unchanged_spec_is_not_registered_again(airflow, emulator, capfd):
    spec = {**SEED_TASK_DEFINITION, "containerDefinitions": [{"name": "api", "image": "nginx:1.27"}]}
    client(emulator, "iam").create_role(
        RoleName="orders-task",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            }
        ),
    )
    dag_id = airflow.write_dag(
        REGISTER_DAG.format(spec=spec, execution="ecsTaskExecutionRole", task="orders-task", preflight=True)
    )
    first = airflow.run(dag_id, capfd)
    assert first.state == "success", first.log[-3000:]
    registered = client(emulator).describe_task_definition(taskDefinition=first.xcom["task"])["taskDefinition"]
    assert registered["executionRoleArn"] == EXECUTION_ROLE
    assert registered["taskRoleArn"] == "arn:aws:iam::123456789012:role/orders-task"
    assert "Preflight passed" in first.log
    second = airflow.run(dag_id, capfd)
    assert second.xcom["task"] == first.xcom["task"] and "is unchanged; not registering" in second.log
    client(emulator).deregister_task_definition(taskDefinition=first.xcom["task"])


def test_register_with_preflight_fails_before_registering(airflow, emulator, capfd):
    dag_id = airflow.write_dag(
        REGISTER_DAG.format(spec=SEED_TASK_DEFINITION, execution="ecsTaskExecutionRole", task=None, preflight=True)
    )
    before = Counter(emulator.actions)
    result = airflow.run(dag_id, capfd)
    assert result.state == "failed"
    for words in (
        "the repository does not exist in ECR",
        "the SSM parameter /orders/db-password does not exist",
        "/ecs/orders-api does not exist",
        "its policies do not allow ssm:GetParameters",
    ):
        assert words in result.log, words
    assert mutating_calls(emulator, before) == []


def test_bad_role_reference_is_refused_before_any_call(airflow, no_aws, capfd):
    dag_id = airflow.write_dag(
        REGISTER_DAG.format(spec=SEED_TASK_DEFINITION, execution="not a role!", task=None, preflight=False)
    )
    with record_aws_calls() as calls:
        result = airflow.run(dag_id, capfd)
    assert result.state == "failed"
    assert "execution_role_arn: give an IAM role ARN" in result.log
    assert calls.calls == []


SERVICE_DAG = """
from airflow.sdk import DAG
from fargate_provider.operators.service import FargateCreateServiceOperator
from fargate_provider.operators.run_task import FargateRunTaskOperator
with DAG(DAG_ID, schedule=None):
    {operator}(task_id="task", cluster="c", task_definition={arn!r}, subnets={subnets!r},
               security_groups={groups!r}, preflight=True, {extra})
"""


@pytest.mark.parametrize(
    "operator, extra",
    [
        ("FargateCreateServiceOperator", "service_name='web', deferrable=False"),
        ("FargateRunTaskOperator", "deferrable=False"),
    ],
)
def test_create_service_and_run_task_with_preflight_fail_before_creating(
    airflow, ecs, emulator, capfd, operator, extra
):
    """Isolated subnet (no NAT, no endpoints): the task could never pull its image."""
    from tests.test_preflight import isolated_subnet

    arn = ecs.register_task_definition(
        family="web",
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="256",
        memory="512",
        containerDefinitions=[{"name": "app", "image": "nginx:1.27"}],
    )["taskDefinition"]["taskDefinitionArn"]
    subnet = isolated_subnet(emulator)
    dag_id = airflow.write_dag(
        SERVICE_DAG.format(
            operator=operator, arn=arn, subnets=[subnet], groups=[emulator.network["security_group"]], extra=extra
        )
    )
    before = Counter(emulator.actions)
    result = airflow.run(dag_id, capfd)
    assert result.state == "failed"
    assert (
        f"[network] {subnet}: cannot be reached from this subnet: container app: image nginx:1.27 is outside the VPC"
        in result.log
    )
    assert mutating_calls(emulator, before) == []
    assert ecs.list_services(cluster="c")["serviceArns"] == [] and ecs.list_tasks(cluster="c")["taskArns"] == []
