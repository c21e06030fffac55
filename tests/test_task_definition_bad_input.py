"""Malformed task definitions: each is refused before any AWS call, naming the field and what is allowed."""

from __future__ import annotations

import copy
import re

import pytest

from fargate_provider.operators.task_definition import (
    FargateRegisterTaskDefinitionOperator,
)
from tests.helpers.aws import record_aws_calls

BASE = {
    "family": "web",
    "cpu": "256",
    "memory": "512",
    "containerDefinitions": [
        {"name": "app", "image": "nginx:1.27", "portMappings": [{"containerPort": 80}]},
    ],
}


def spec(**top):
    result = copy.deepcopy(BASE)
    result.update(top)
    return result


def container(**fields):
    result = copy.deepcopy(BASE["containerDefinitions"][0])
    result.update(fields)
    return result


def containers(*defs):
    return spec(containerDefinitions=list(defs))


HEALTH = {"command": ["CMD-SHELL", "true"]}

CASES = [
    # sizes
    ("cpu-not-fargate", spec(cpu="300"), "cpu", "allowed cpu units: 256, 512, 1024"),
    ("memory-not-for-cpu", spec(memory="4096"), "memory", "allows memory 512, 1024, 2048"),
    ("memory-step", spec(cpu="4096", memory="8500"), "memory", "8192-30720 in steps of 1024"),
    ("memory-garbage", spec(memory="lots"), "memory", "not a memory value"),
    ("cpu-garbage", spec(cpu="fast"), "cpu", "'N vCPU'"),
    ("cpu-missing", {k: v for k, v in BASE.items() if k != "cpu"}, "cpu", "is required for FARGATE"),
    ("memory-missing", {k: v for k, v in BASE.items() if k != "memory"}, "memory", "is required for FARGATE"),
    (
        "container-memory-over-task",
        containers(container(memory=600)),
        "containerDefinitions[*].memory",
        "more than the task's memory 512",
    ),
    (
        "reservation-over-memory",
        containers(container(memory=256, memoryReservation=300)),
        "containerDefinitions[0].memoryReservation",
        "must not exceed memory (256)",
    ),
    ("ephemeral-storage", spec(ephemeralStorage={"sizeInGiB": 10}), "ephemeralStorage.sizeInGiB", "between 21 and 200"),
    # network
    ("bridge-on-fargate", spec(networkMode="bridge"), "networkMode", "allowed: 'awsvpc'"),
    ("network-mode-unknown", spec(networkMode="overlay"), "networkMode", "allowed: bridge, host, awsvpc, none"),
    (
        "host-port-differs",
        containers(container(portMappings=[{"containerPort": 80, "hostPort": 8080}])),
        "containerDefinitions[0].portMappings[0].hostPort",
        "must equal containerPort (80)",
    ),
    (
        "container-port-string",
        containers(container(portMappings=[{"containerPort": "80"}])),
        "containerDefinitions[0].portMappings[0].containerPort",
        "must be of type int",
    ),
    (
        "container-port-range",
        containers(container(portMappings=[{"containerPort": 70000}])),
        "containerDefinitions[0].portMappings[0].containerPort",
        "between 1 and 65535",
    ),
    (
        "compatibility-unknown",
        spec(requiresCompatibilities=["FARGATE", "LAMBDA"]),
        "requiresCompatibilities[1]",
        "allowed: EC2, FARGATE",
    ),
    ("pid-mode", spec(pidMode="host"), "pidMode", "only 'task'"),
    # containers
    ("image-missing", containers({"name": "app"}), "containerDefinitions[0].image", "non-empty image"),
    ("image-empty", containers(container(image="  ")), "containerDefinitions[0].image", "non-empty image"),
    ("name-empty", containers(container(name="")), "containerDefinitions[0].name", "non-empty container name"),
    (
        "name-bad-chars",
        containers(container(name="my app")),
        "containerDefinitions[0].name",
        "letters, numbers, hyphens or underscores",
    ),
    (
        "names-duplicate",
        containers(container(), container()),
        "containerDefinitions[1].name",
        "already used by containerDefinitions[0]",
    ),
    (
        "no-essential",
        containers(container(essential=False)),
        "containerDefinitions",
        "at least one container must be essential",
    ),
    ("containers-empty", spec(containerDefinitions=[]), "containerDefinitions", "at least one container"),
    (
        "containers-missing",
        {k: v for k, v in BASE.items() if k != "containerDefinitions"},
        "containerDefinitions",
        "is required",
    ),
    (
        "essential-not-bool",
        containers(container(essential="yes")),
        "containerDefinitions[0].essential",
        "must be of type bool",
    ),
    # unknown keys, with a suggestion
    ("top-level-typo", spec(memmory="512"), "memmory", "did you mean 'memory'"),
    ("container-typo", containers(container(imagee="x")), "containerDefinitions[0].imagee", "did you mean 'image'"),
    (
        "port-mapping-typo",
        containers(container(portMappings=[{"containerport": 80}])),
        "containerDefinitions[0].portMappings[0].containerport",
        "did you mean 'containerPort'",
    ),
    (
        "log-driver-unknown",
        containers(container(logConfiguration={"logDriver": "journal"})),
        "containerDefinitions[0].logConfiguration.logDriver",
        "allowed: json-file",
    ),
    (
        "cpu-architecture",
        spec(runtimePlatform={"cpuArchitecture": "X86"}),
        "runtimePlatform.cpuArchitecture",
        "allowed: X86_64, ARM64",
    ),
    # dependsOn
    (
        "depends-condition",
        containers(
            container(dependsOn=[{"containerName": "init", "condition": "READY"}]),
            container(name="init", essential=False),
        ),
        "containerDefinitions[0].dependsOn[0].condition",
        "allowed: START, COMPLETE, SUCCESS, HEALTHY",
    ),
    (
        "depends-unknown-container",
        containers(container(dependsOn=[{"containerName": "db", "condition": "START"}])),
        "containerDefinitions[0].dependsOn[0].containerName",
        "'db' is not a container of this task definition",
    ),
    (
        "depends-healthy-no-check",
        containers(container(dependsOn=[{"containerName": "db", "condition": "HEALTHY"}]), container(name="db")),
        "containerDefinitions[0].dependsOn[0].condition",
        "HEALTHY needs a healthCheck on container 'db'",
    ),
    (
        "depends-success-on-essential",
        containers(container(dependsOn=[{"containerName": "init", "condition": "SUCCESS"}]), container(name="init")),
        "containerDefinitions[0].dependsOn[0].condition",
        "mark it essential: false",
    ),
    (
        "depends-self",
        containers(container(dependsOn=[{"containerName": "app", "condition": "START"}])),
        "containerDefinitions[0].dependsOn[0].containerName",
        "cannot depend on itself",
    ),
    (
        "depends-cycle",
        containers(
            container(dependsOn=[{"containerName": "b", "condition": "START"}]),
            container(name="b", dependsOn=[{"containerName": "app", "condition": "HEALTHY"}], healthCheck=HEALTH),
        ),
        "containerDefinitions",
        "dependsOn forms a cycle",
    ),
    # environment and secrets
    (
        "env-duplicate",
        containers(container(environment=[{"name": "A", "value": "1"}, {"name": "A", "value": "2"}])),
        "containerDefinitions[0].environment[1].name",
        "'A' is already defined at containerDefinitions[0].environment[0]",
    ),
    (
        "env-and-secret-same-name",
        containers(
            container(
                environment=[{"name": "TOKEN", "value": "x"}], secrets=[{"name": "TOKEN", "valueFrom": "/prod/token"}]
            )
        ),
        "containerDefinitions[0].secrets[0].name",
        "already defined",
    ),
    (
        "secrets-duplicate",
        containers(container(secrets=[{"name": "S", "valueFrom": "/a"}, {"name": "S", "valueFrom": "/b"}])),
        "containerDefinitions[0].secrets[1].name",
        "already defined",
    ),
    (
        "secret-value-from",
        containers(container(secrets=[{"name": "S", "valueFrom": "not a reference!"}])),
        "containerDefinitions[0].secrets[0].valueFrom",
        "Secrets Manager secret ARN",
    ),
    (
        "secret-value-from-wrong-service",
        containers(container(secrets=[{"name": "S", "valueFrom": "arn:aws:s3:::bucket/key"}])),
        "containerDefinitions[0].secrets[0].valueFrom",
        "SSM parameter ARN",
    ),
    (
        "secret-missing-value-from",
        containers(container(secrets=[{"name": "S"}])),
        "containerDefinitions[0].secrets[0].valueFrom",
        "is required",
    ),
    # family and document
    ("family-bad-chars", spec(family="my family"), "family", "letters, numbers, hyphens or underscores"),
    ("family-missing", {k: v for k, v in BASE.items() if k != "family"}, "family", "is required"),
    ("not-an-object", "[1, 2]", "task_definition", "expected a dict, JSON/JSON5 text"),
    ("json-syntax", "{ family: 'x', ", "task_definition", "not valid JSON/JSON5"),
    ("file-outside-dag-folder", "/nonexistent/task-definition.json5", "task_definition", "is outside the DAG's folder"),
]


@pytest.mark.parametrize("name, task_definition, field, allowed", CASES, ids=[c[0] for c in CASES])
def test_bad_task_definition_is_refused_before_any_aws_call(no_aws, name, task_definition, field, allowed):
    operator = FargateRegisterTaskDefinitionOperator(
        task_id=f"bad_{name.replace('-', '_')}", task_definition=task_definition
    )
    with record_aws_calls() as recorder, pytest.raises(ValueError) as err:
        operator.execute(context={})
    message = str(err.value)
    assert f"{field}:" in message, message
    assert allowed in message, message
    assert recorder.calls == []


def test_suite_is_large_enough():
    assert len(CASES) >= 25


def test_values_never_appear_in_errors(no_aws):
    secretish = 918273645
    bad = containers(container(environment=[{"name": "PASSWORD", "value": secretish}]))
    operator = FargateRegisterTaskDefinitionOperator(task_id="leak", task_definition=bad)
    with record_aws_calls() as recorder, pytest.raises(ValueError) as err:
        operator.execute(context={})
    assert "containerDefinitions[0].environment[0].value: must be of type str, got int" in str(err.value)
    assert str(secretish) not in str(err.value)
    assert recorder.calls == []


@pytest.mark.parametrize(
    "tags, message",
    [
        ({"managed-by": "me"}, "tags.managed-by: is set by the provider itself"),
        ({"aws:owner": "me"}, "tags.aws:owner: the 'aws:' prefix is reserved"),
        ({"team": "x" * 300}, "tags.team: tag values are at most 256 characters"),
        ({"team": "a|b"}, "tags.team: tags may use letters"),
    ],
)
def test_bad_tags_are_refused_before_any_aws_call(no_aws, tags, message):
    operator = FargateRegisterTaskDefinitionOperator(task_id="tags", task_definition=spec(), tags=tags)
    with record_aws_calls() as recorder, pytest.raises(ValueError, match=re.escape(message)):
        operator.execute(context={})
    assert recorder.calls == []


def test_bad_input_fails_the_airflow_task_with_the_field_named(airflow, no_aws, capfd):
    dag_id = airflow.write_operator_dag(
        "fargate_provider.operators.task_definition.FargateRegisterTaskDefinitionOperator",
        'task_definition={"family": "web", "cpu": "256", "memory": "4096", '
        '"containerDefinitions": [{"name": "app", "image": "nginx"}]}',
    )
    with record_aws_calls() as recorder:
        result = airflow.run(dag_id, capfd)
    assert result.task_states == {"task": "failed"}
    assert "memory: memory 4096 MiB does not fit cpu 256" in result.log
    assert recorder.calls == []


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"task_definition": ""}, "task_definition: give a family, family:revision or a task definition ARN"),
        ({"task_definition": "web", "keep_latest": -1}, "keep_latest: must be a whole number, 0 or more, got -1"),
        ({"task_definition": "web", "keep_latest": "two"}, "keep_latest: must be a whole number, 0 or more, got 'two'"),
    ],
)
def test_bad_deregister_input_is_refused_before_any_aws_call(no_aws, kwargs, message):
    from fargate_provider.operators.task_definition import (
        FargateDeregisterTaskDefinitionOperator,
    )

    operator = FargateDeregisterTaskDefinitionOperator(task_id="deregister", **kwargs)
    with record_aws_calls() as recorder, pytest.raises(ValueError) as err:
        operator.execute(context={})
    assert message in str(err.value)
    assert recorder.calls == []
