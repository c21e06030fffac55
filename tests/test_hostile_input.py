"""Hostile input, table-driven: every case across the operators, sensors and both DAG forms fails
with an error naming the field (and what is allowed), before any mutating call — counted at the
emulator, where each test's requests land.

Bounds are ECS's: image up to 255 characters and task definitions up to 64 KiB (ContainerDefinition
reference, service quota "Task definition size"); RunTask overrides up to 8,192 characters and
count 1-10 (RunTask reference); desiredCount within the "Tasks per service" quota (5,000); names of
1-255 letters, numbers, hyphens and underscores (CreateCluster / CreateService references).
"""

from __future__ import annotations

from collections import Counter

import pytest

from tests.helpers.aws import mutating_calls

NET = "subnets=SUBNETS, security_groups=GROUPS"
TD = (
    '{"family": "web", "cpu": "256", "memory": "512", '
    '"containerDefinitions": [{"name": "app", "image": "nginx:1.27"%s}]}'
)
REGISTER = "fargate_provider.operators.task_definition.FargateRegisterTaskDefinitionOperator"
DEREGISTER = "fargate_provider.operators.task_definition.FargateDeregisterTaskDefinitionOperator"
PREFLIGHT = "fargate_provider.operators.preflight.FargatePreflightOperator"
RUN = "fargate_provider.operators.run_task.FargateRunTaskOperator"
CREATE_SERVICE = "fargate_provider.operators.service.FargateCreateServiceOperator"
UPDATE_SERVICE = "fargate_provider.operators.service.FargateUpdateServiceOperator"
DELETE_SERVICE = "fargate_provider.operators.service.FargateDeleteServiceOperator"
CREATE_CLUSTER = "fargate_provider.operators.cluster.FargateCreateClusterOperator"
DELETE_CLUSTER = "fargate_provider.operators.cluster.FargateDeleteClusterOperator"
SERVICE_SENSOR = "fargate_provider.sensors.service.FargateServiceStableSensor"
TASK_SENSOR = "fargate_provider.sensors.task.FargateTaskStateSensor"
RUN_JOB = f"cluster='c', task_definition='job', {NET}, deferrable=False"

# (id, operator, arguments (Python source; SUBNETS / GROUPS filled in), words the error must hold)
OPERATOR_CASES = [
    (
        "image of 1 MB",
        REGISTER,
        (
            'task_definition={"family": "web", "cpu": "256", "memory": "512", '
            '"containerDefinitions": [{"name": "app", "image": "x" * 1_000_000}]}'
        ),
        "containerDefinitions[0].image: is 1,000,000 characters; ECS allows at most 255",
    ),
    (
        "environment value of 10 MB",
        REGISTER,
        "task_definition=" + TD % ', "environment": [{"name": "BLOB", "value": "x" * 10_000_000}]',
        "task_definition: is 10,000,",
    ),
    (
        "file outside the DAG folder",
        REGISTER,
        "task_definition='../outside.json'",
        "task_definition: file '../outside.json' is outside the DAG's folder",
    ),
    (
        "absolute file elsewhere",
        REGISTER,
        "task_definition='/etc/fargate/spec.json'",
        "is outside the DAG's folder and template_searchpath",
    ),
    (
        "directory as file",
        REGISTER,
        "task_definition='a-directory.json5'",
        "a-directory.json5' is a directory, not a .json/.json5 file",
    ),
    ("binary file", REGISTER, "task_definition='binary.json'", "binary.json' is not UTF-8 text"),
    (
        "10 MB file",
        REGISTER,
        "task_definition='huge.json5'",
        "huge.json5' is 10,485,760 bytes; spec files are at most 262,144 bytes",
    ),
    ("missing file", REGISTER, "task_definition='missing.json5'", "task_definition: cannot read file"),
    (
        "template that raises in a file",
        REGISTER,
        "task_definition='raises.json5'",
        "raises.json5' failed to render: ZeroDivisionError",
    ),
    (
        "undefined name in a template",
        REGISTER,
        "task_definition={'family': '{{ nope.attribute }}', 'containerDefinitions': []}",
        "task_definition: its template failed to render (UndefinedError",
    ),
    (
        "execution role that is no role",
        REGISTER,
        "task_definition=" + TD % "" + ", execution_role_arn='not a role!'",
        "execution_role_arn: give an IAM role ARN",
    ),
    (
        "aws: tag key",
        REGISTER,
        "task_definition=" + TD % "" + ", tags={'aws:owner': 'me'}",
        "tags.aws:owner: the 'aws:' prefix is reserved",
    ),
    (
        "run-task cluster with a space",
        RUN,
        f"cluster='bad cluster', task_definition='job', {NET}",
        "cluster: must be 1-255 letters",
    ),
    (
        "override of a container that does not exist",
        RUN,
        RUN_JOB + ", overrides={'containerOverrides': [{'name': 'ghost', 'command': ['x']}]}",
        "overrides.containerOverrides[0].name: 'ghost' is not a container of job; containers: app",
    ),
    (
        "overrides over 8192 characters",
        RUN,
        RUN_JOB + ", overrides={'containerOverrides': [{'name': 'app', 'command': ['x' * 9000]}]}",
        "overrides: is 9,",
    ),
    ("count 11", RUN, RUN_JOB + ", count=11", "count: must be a whole number from 1 to 10"),
    (
        "subnets as a string",
        RUN,
        "cluster='c', task_definition='job', subnets='subnet-1', security_groups=GROUPS",
        "subnets: must be a non-empty list",
    ),
    (
        "no security groups",
        RUN,
        "cluster='c', task_definition='job', subnets=SUBNETS, security_groups=[]",
        "security_groups: must be a non-empty list",
    ),
    (
        "propagate_tags SERVICE on a task",
        RUN,
        RUN_JOB + ", propagate_tags='SERVICE'",
        "propagate_tags: 'SERVICE' is not allowed",
    ),
    (
        "template that divides by zero",
        RUN,
        f"cluster='{{{{ 1 / 0 }}}}', task_definition='job', {NET}",
        "cluster: its template failed to render (ZeroDivisionError",
    ),
    ("override cpu that is no Fargate size", RUN, RUN_JOB + ", overrides={'cpu': '3'}", "overrides.cpu"),
    (
        "a billion tasks",
        CREATE_SERVICE,
        f"cluster='c', service_name='web', task_definition='job', desired_count=10**9, {NET}",
        "desired_count: must be a whole number from 0 to 5000",
    ),
    (
        "service name with a space",
        CREATE_SERVICE,
        f"cluster='c', service_name='bad name', task_definition='job', {NET}",
        "service_name: must be 1-255",
    ),
    (
        "create-service cluster with a space",
        CREATE_SERVICE,
        f"cluster='env foo', service_name='web', task_definition='job', {NET}",
        "cluster: must be 1-255",
    ),
    (
        "require_tags not a mapping",
        CREATE_SERVICE,
        f"cluster='c', service_name='web', task_definition='job', require_tags='x', {NET}",
        "require_tags: must be a mapping of tag key to value",
    ),
    (
        "poll interval 0",
        CREATE_SERVICE,
        f"cluster='c', service_name='web', task_definition='job', poll_interval=0, {NET}",
        "poll_interval: must be a number of seconds above 0",
    ),
    (
        "unknown capacity provider",
        CREATE_SERVICE,
        (
            "cluster='c', service_name='web', task_definition='job', "
            f"capacity_provider_strategy=[{{'capacityProvider': 'EC2', 'weight': 1}}], {NET}"
        ),
        "capacity_provider_strategy[0]",
    ),
    (
        "negative count on update",
        UPDATE_SERVICE,
        "cluster='c', service='web', desired_count=-1",
        "desired_count: must be a whole number from 0 to 5000",
    ),
    ("update with nothing to change", UPDATE_SERVICE, "cluster='c', service='web'", "give at least one change"),
    ("delete-service name with a space", DELETE_SERVICE, "cluster='c', service='bad name'", "service: must be 1-255"),
    (
        "delete-cluster name with a space",
        DELETE_CLUSTER,
        "cluster_name='env foo'",
        "cluster_name: must be 1-255 letters",
    ),
    (
        "delete-cluster require_tags as a list",
        DELETE_CLUSTER,
        "cluster_name='c', require_tags=['managed-by']",
        "require_tags: must be a mapping",
    ),
    ("cluster name of 300 characters", CREATE_CLUSTER, "cluster_name='x' * 300", "cluster_name: must be 1-255 letters"),
    (
        "EC2 capacity provider",
        CREATE_CLUSTER,
        "cluster_name='c2', capacity_providers=['EC2']",
        "capacity_providers: ['EC2'] not allowed",
    ),
    (
        "sensor services=5",
        SERVICE_SENSOR,
        "cluster='c', services=5, deferrable=False",
        "services: give a service name or ARN, or a list of them",
    ),
    (
        "sensor cluster with a space",
        SERVICE_SENSOR,
        "cluster='bad cluster', services='web', deferrable=False",
        "cluster: must be 1-255",
    ),
    (
        "task sensor tasks=5",
        TASK_SENSOR,
        "cluster='c', tasks=5, deferrable=False",
        "tasks: give a task ARN or a list of them",
    ),
    (
        "deregister keep_latest -1",
        DEREGISTER,
        "task_definition='job', keep_latest=-1",
        "keep_latest: must be a whole number, 0 or more",
    ),
    (
        "preflight subnets that are no IDs",
        PREFLIGHT,
        "task_definition=" + TD % "" + ", subnets=['nope'], security_groups=GROUPS",
        "subnets: must be a non-empty list of subnet-… IDs",
    ),
    (
        "preflight file outside the DAG folder",
        PREFLIGHT,
        "task_definition='../outside.json'",
        "is outside the DAG's folder",
    ),
]

# (id, DAG, conf, the param Airflow names)
FORM_CASES = [
    ("environment: a billion tasks", "fargate_ephemeral_environment", {"desired_count": 10**9}, "desired_count"),
    ("environment: image of 1 MB", "fargate_ephemeral_environment", {"image": "x" * 1_000_000}, "image"),
    (
        "environment: variable of 10 MB",
        "fargate_ephemeral_environment",
        {"environment_variables": {"BLOB": "x" * 10_000_000}},
        "environment_variables",
    ),
    (
        "environment: task role that is no role",
        "fargate_ephemeral_environment",
        {"task_role": "not a role!"},
        "task_role",
    ),
    ("environment: port 0", "fargate_ephemeral_environment", {"container_port": 0}, "container_port"),
    ("batch: image of 1 MB", "fargate_batch_job", {"image": "x" * 1_000_000}, "image"),
    ("batch: command argument of 1 MB", "fargate_batch_job", {"command": ["x" * 1_000_000]}, "command"),
    ("batch: cluster with a space", "fargate_batch_job", {"cluster": "bad cluster"}, "cluster"),
    ("batch: task role that is no role", "fargate_batch_job", {"task_role": "not a role!"}, "task_role"),
]


def test_the_table_is_large_enough():
    assert len(OPERATOR_CASES) + len(FORM_CASES) >= 40


@pytest.fixture
def files(airflow):
    """Spec files a DAG might point at: a directory, a binary file, a 10 MB file, a template that raises."""
    folder = airflow.dags_folder
    (folder / "a-directory.json5").mkdir(exist_ok=True)
    (folder / "binary.json").write_bytes(b"\xff\xfe\x00\x01" * 64)
    (folder / "huge.json5").write_text("// " + "x" * (10 * 1024 * 1024 - 4) + "\n")
    (folder / "raises.json5").write_text('{"family": "{{ 1 / 0 }}"}')
    (folder.parent / "outside.json").write_text('{"family": "secret-stuff"}')
    yield
    for name in ("binary.json", "huge.json5", "raises.json5"):
        (folder / name).unlink()
    (folder / "a-directory.json5").rmdir()
    (folder.parent / "outside.json").unlink()


@pytest.mark.parametrize("case", OPERATOR_CASES, ids=[c[0] for c in OPERATOR_CASES])
def test_hostile_operator_input_names_the_field_before_any_mutating_call(airflow, ecs, emulator, files, capfd, case):
    _, operator, arguments, words = case
    ecs.register_task_definition(
        family="job",
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="256",
        memory="512",
        containerDefinitions=[{"name": "app", "image": "busybox"}],
    )
    arguments = arguments.replace("SUBNETS", repr(emulator.network["private_subnets"])).replace(
        "GROUPS", repr([emulator.network["security_group"]])
    )
    dag_id = airflow.write_operator_dag(operator, arguments)
    before = Counter(emulator.actions)
    result = airflow.run(dag_id, capfd)
    assert result.task_states == {"task": "failed"}, result.log[-2000:]
    assert words in result.log, result.log[-3000:]
    assert mutating_calls(emulator, before) == []


@pytest.mark.parametrize("case", FORM_CASES, ids=[c[0] for c in FORM_CASES])
def test_hostile_form_input_is_refused_by_the_form(user_dags, emulator, capfd, case):
    from airflow.sdk.exceptions import ParamValidationError

    _, dag_id, conf, field = case
    before = Counter(emulator.actions)
    with pytest.raises(ParamValidationError, match=f"param {field}:"):
        user_dags.run(dag_id, capfd, run_conf={"environment": "ok-name", **conf} if "environment" in dag_id else conf)
    assert mutating_calls(emulator, before) == [] and not (emulator.actions - before)
