"""The DAGs users run (dags/): they parse without AWS, their forms are complete, and they do
their jobs end to end through Airflow (dag.test(), real metadata DB) against the emulator."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import pytest

from fargate_rules.sizes import check_fargate_size, fargate_sizes, parse_size_choice
from tests.helpers.aws import record_aws_calls

DAGS = Path(__file__).resolve().parent.parent / "dags"
DAG_IDS = {"fargate_batch_job", "fargate_batch_fanout", "fargate_ephemeral_environment", "fargate_environment_janitor"}
CREATE_STEPS = (
    "prepare",
    "choose_action",
    "create_cluster",
    "register_task_definition",
    "route",
    "create_service",
    "report",
)
CLEANUP_STEPS = ("cleanup_service", "cleanup_route", "cleanup_task_definition", "cleanup_cluster")


def test_dags_parse_without_errors_or_aws_calls(airflow_db, no_aws):
    from airflow.dag_processing.dagbag import DagBag

    with record_aws_calls() as calls:
        started = time.perf_counter()
        bag = DagBag(str(DAGS))
        seconds = time.perf_counter() - started
    print(f"\nparsed dags/ ({len(bag.dag_ids)} DAGs) in {seconds * 1000:.0f} ms")
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == DAG_IDS
    assert calls.calls == []
    assert bag.get_dag("fargate_environment_janitor").timetable.expression == "0 * * * *"
    assert bag.get_dag("fargate_batch_job").timetable.expression == "0 0 * * *"


@pytest.mark.parametrize("dag_id", ["fargate_ephemeral_environment", "fargate_batch_job", "fargate_batch_fanout"])
def test_every_form_field_has_a_title_and_a_description(airflow_db, dag_id):
    from airflow.dag_processing.dagbag import DagBag

    params = DagBag(str(DAGS / f"{dag_id}.py")).get_dag(dag_id).params
    for name in params:
        param = params.get_param(name)
        schema = param.schema
        assert schema.get("title") and param.description, f"{dag_id}.{name}: {param.dump()}"
        assert "type" in schema, f"{dag_id}.{name} has no type"


def test_environment_form_offers_only_valid_fargate_sizes_and_bounds(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    params = DagBag(str(DAGS / "fargate_ephemeral_environment.py")).get_dag("fargate_ephemeral_environment").params
    size = params.get_param("size").schema
    pairs = [parse_size_choice(choice) for choice in size["enum"]]
    for cpu, memory in pairs:
        check_fargate_size(cpu, memory)
    assert sorted(pairs) == sorted(fargate_sizes())  # every valid pair, nothing else
    assert set(size["values_display"]) == set(size["enum"]) and size["values_display"]["256/512"] == "0.25 vCPU, 0.5 GB"
    assert params.get_param("action").schema["enum"] == ["create", "destroy", "sleep", "wake"]
    assert params["action"] == "create"
    # optional fields are optional: empty is allowed (the UI sends null for a cleared field)
    for optional in ("environment_variables", "task_role", "owner", "source", "allowed_cidrs"):
        assert params.get_param(optional).resolve(None) is None, optional
    assert params.get_param("subnet_kind").schema["enum"] == ["private", "public"]
    assert (
        params.get_param("desired_count").schema["minimum"],
        params.get_param("desired_count").schema["maximum"],
    ) == (0, 10)
    assert (params.get_param("ttl_hours").schema["minimum"], params.get_param("ttl_hours").schema["maximum"]) == (
        1,
        168,
    )
    port = params.get_param("container_port").schema
    assert (port["minimum"], port["maximum"]) == (1, 65535)
    # The form's own validation refuses what ECS would (Airflow checks params against the schema).
    from airflow.sdk.exceptions import ParamValidationError

    for field, bad in (
        ("environment", "Bad_Name"),
        ("size", "256/4096"),
        ("desired_count", 11),
        ("ttl_hours", 0),
        ("environment_variables", {"1BAD": "x"}),
        ("image", "has space"),
        ("action", "delete"),
    ):
        with pytest.raises(ParamValidationError):
            params.get_param(field).resolve(bad)


def _environment_conf(name: str, **extra) -> dict:
    return {"environment": name, "desired_count": 2, "environment_variables": {"GREETING": "hello"}, **extra}


def _cluster_tags(ecs, cluster: str) -> dict:
    found = ecs.describe_clusters(clusters=[cluster], include=["TAGS"])["clusters"]
    return {t["key"]: t["value"] for t in found[0].get("tags", [])} if found and found[0]["status"] == "ACTIVE" else {}


def test_environment_create_update_and_destroy(user_dags, emulator, capfd):
    from tests.emulator.helpers import client

    ecs = client(emulator)
    created = user_dags.run("fargate_ephemeral_environment", capfd, run_conf=_environment_conf("review-1"))
    assert created.state == "success", created.task_states
    assert {t: created.task_states[t] for t in CREATE_STEPS} == dict.fromkeys(CREATE_STEPS, "success")
    assert {t: created.task_states[t] for t in CLEANUP_STEPS} == dict.fromkeys(CLEANUP_STEPS, "skipped")
    assert "Pausing task as DEFERRED." in created.log  # the stable wait ran in the triggerer
    assert "[error" not in created.log  # a green run has no error-level line (the skipped cleanups' links included)
    report = created.xcom["report"]
    assert report["cluster"] == "env-review-1" and report["service"] == "review-1" and report["running"] == "2/2"
    assert report["task_definition"] == "env-review-1:1" and report["subnets"] == "private"
    tags = _cluster_tags(ecs, "env-review-1")
    assert tags["managed-by"] == "airflow-provider-fargate" and tags["fargate-environment"] == "review-1"
    expires = dt.datetime.strptime(tags["fargate-expires-at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    assert dt.timedelta(hours=7, minutes=58) < expires - dt.datetime.now(dt.UTC) <= dt.timedelta(hours=8)
    service = ecs.describe_services(cluster="env-review-1", services=["review-1"])["services"][0]
    assert service["networkConfiguration"]["awsvpcConfiguration"]["subnets"] == sorted(
        emulator.network["private_subnets"]
    )
    assert service["networkConfiguration"]["awsvpcConfiguration"]["assignPublicIp"] == "DISABLED"
    task_def = ecs.describe_task_definition(taskDefinition="env-review-1:1")["taskDefinition"]
    assert task_def["containerDefinitions"][0]["environment"] == [{"name": "GREETING", "value": "hello"}]

    # Same name again, another image, public subnets, a longer TTL: the same environment, updated.
    updated = user_dags.run(
        "fargate_ephemeral_environment",
        capfd,
        run_conf=_environment_conf(
            "review-1", image="public.ecr.aws/nginx/nginx:1.28", subnet_kind="public", desired_count=1, ttl_hours=24
        ),
    )
    assert updated.state == "success", updated.task_states
    assert updated.xcom["report"]["task_definition"] == "env-review-1:2" and updated.xcom["report"]["running"] == "1/1"
    assert [
        c["clusterName"]
        for c in ecs.describe_clusters(clusters=ecs.list_clusters()["clusterArns"])["clusters"]
        if c["status"] == "ACTIVE"
    ] == ["env-review-1"]
    assert len(ecs.list_services(cluster="env-review-1")["serviceArns"]) == 1
    later = dt.datetime.strptime(_cluster_tags(ecs, "env-review-1")["fargate-expires-at"], "%Y-%m-%dT%H:%M:%SZ")
    assert later.replace(tzinfo=dt.UTC) - expires > dt.timedelta(hours=15)  # the TTL was reset

    destroyed = user_dags.run(
        "fargate_ephemeral_environment", capfd, run_conf={"environment": "review-1", "action": "destroy"}
    )
    assert destroyed.state == "success", destroyed.task_states
    assert [destroyed.task_states[t] for t in ("destroy_service", "destroy_task_definition", "destroy_cluster")] == [
        "success"
    ] * 3
    assert destroyed.task_states["create_cluster"] == "skipped"
    assert _cluster_tags(ecs, "env-review-1") == {}
    # the emulator fixture fails the test if anything is left


def test_a_failing_step_ends_with_the_teardown_and_nothing_left(user_dags, emulator, capfd):
    emulator.add_behaviour(image="registry.example/missing:1", pull_failure=True)
    result = user_dags.run(
        "fargate_ephemeral_environment", capfd, run_conf=_environment_conf("broken", image="registry.example/missing:1")
    )
    assert result.state == "failed"
    assert result.task_states["create_service"] == "failed"
    assert result.task_states["report"] == "upstream_failed"
    assert {t: result.task_states[t] for t in CLEANUP_STEPS} == dict.fromkeys(CLEANUP_STEPS, "success")
    assert "CannotPullContainerError" in result.log
    assert "Cleaning up after failed task(s): create_service" in result.log
    # the emulator fixture fails the test if the service, task definition or cluster is left


def test_a_failed_update_leaves_the_existing_environment_alone(user_dags, emulator, capfd):
    first = user_dags.run("fargate_ephemeral_environment", capfd, run_conf=_environment_conf("stays"))
    assert first.state == "success", first.task_states
    emulator.add_behaviour(image="registry.example/missing:2", pull_failure=True)
    failed = user_dags.run(
        "fargate_ephemeral_environment", capfd, run_conf=_environment_conf("stays", image="registry.example/missing:2")
    )
    assert failed.state == "failed" and failed.task_states["create_service"] == "failed"
    assert {t: failed.task_states[t] for t in CLEANUP_STEPS} == dict.fromkeys(CLEANUP_STEPS, "skipped")
    assert "existed before this run" in failed.log
    from tests.emulator.helpers import client

    assert _cluster_tags(client(emulator), "env-stays")["fargate-environment"] == "stays"
    destroyed = user_dags.run(
        "fargate_ephemeral_environment", capfd, run_conf={"environment": "stays", "action": "destroy"}
    )
    assert destroyed.state == "success", destroyed.task_states


def test_bad_form_input_is_refused_before_any_aws_call(user_dags, no_aws, capfd):
    from airflow.sdk.exceptions import ParamValidationError

    with record_aws_calls() as calls:
        for field, bad, message in (
            ("container_port", 0, "0 is less than the minimum of 1"),
            ("size", "256/4096", "'256/4096' is not one of"),
            ("environment", "Has_Caps", "'Has_Caps' does not match"),
        ):
            with pytest.raises(ParamValidationError, match=f"param {field}: {message}"):
                user_dags.run("fargate_ephemeral_environment", capfd, run_conf={"environment": "ok-name", field: bad})
    assert calls.calls == []


def test_janitor_destroys_only_expired_managed_environments(user_dags, emulator, capfd, caplog):
    from tests.emulator.helpers import client

    ecs = client(emulator)
    for name in ("old", "fresh", "shared"):
        assert (
            user_dags.run(
                "fargate_ephemeral_environment", capfd, run_conf=_environment_conf(name, desired_count=1)
            ).state
            == "success"
        )
    past = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for name in ("old", "shared"):
        ecs.tag_resource(
            resourceArn=ecs.describe_clusters(clusters=[f"env-{name}"])["clusters"][0]["clusterArn"],
            tags=[{"key": "fargate-expires-at", "value": past}],
        )
    # Someone else's service inside an expired environment, and someone else's look-alike cluster.
    network = {
        "awsvpcConfiguration": {
            "subnets": emulator.network["private_subnets"],
            "securityGroups": [emulator.network["security_group"]],
        }
    }
    ecs.create_service(
        cluster="env-shared",
        serviceName="theirs",
        taskDefinition="env-shared:1",
        desiredCount=0,
        launchType="FARGATE",
        networkConfiguration=network,
    )
    ecs.create_cluster(
        clusterName="env-lookalike",
        tags=[{"key": "fargate-environment", "value": "lookalike"}, {"key": "fargate-expires-at", "value": past}],
    )

    result = user_dags.run("fargate_environment_janitor", capfd)
    assert result.state == "success", result.task_states
    assert "Expired environments: ['old']" in result.log
    assert "env-shared: holds services not managed by the provider ['theirs']" in caplog.text  # a warning, once
    assert _cluster_tags(ecs, "env-old") == {}
    assert ecs.list_task_definitions(familyPrefix="env-old", status="ACTIVE")["taskDefinitionArns"] == []
    assert _cluster_tags(ecs, "env-fresh")["fargate-environment"] == "fresh"
    assert _cluster_tags(ecs, "env-shared")["fargate-environment"] == "shared"
    assert ecs.describe_clusters(clusters=["env-lookalike"])["clusters"][0]["status"] == "ACTIVE"

    ecs.delete_service(cluster="env-shared", service="theirs", force=True)
    ecs.delete_cluster(cluster="env-lookalike")
    for name in ("fresh", "shared"):
        assert (
            user_dags.run(
                "fargate_ephemeral_environment", capfd, run_conf={"environment": name, "action": "destroy"}
            ).state
            == "success"
        )


def test_batch_job_runs_with_settings_from_its_variable(user_dags, emulator, capfd, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    # A Variable given as AIRFLOW_VAR_…: the one source a bare DagBag (no dag-processor) reads at parse time.
    monkeypatch.setenv(
        "AIRFLOW_VAR_FARGATE_BATCH_JOB",
        json.dumps(
            {
                "schedule": "0 3 * * *",
                "image": "example/etl:2",
                "command": ["python", "etl.py"],
                "size": "512/1024",
                "cluster": "nightly",
                "family": "etl",
                "subnet_kind": "public",
            }
        ),
    )
    emulator.add_behaviour(image="example/etl:2", output=["etl: 42 rows"])
    dag = DagBag(str(user_dags.dags_folder / "fargate_batch_job.py")).get_dag("fargate_batch_job")
    assert dag.timetable.expression == "0 3 * * *"
    result = user_dags.run("fargate_batch_job", capfd)
    from tests.emulator.helpers import client

    ecs = client(emulator)
    try:
        assert result.state == "success", result.task_states
        assert "[job] etl: 42 rows" in result.log
        assert "Cost: 1 task(s), 30.0 vCPU-seconds, 60.0 GB-seconds" in result.log  # 0.5 vCPU, 1 GB, 60 s billed
        task_def = ecs.describe_task_definition(taskDefinition="etl:1")["taskDefinition"]
        assert (task_def["cpu"], task_def["memory"]) == ("512", "1024")
        assert task_def["containerDefinitions"][0]["command"] == ["python", "etl.py"]
        stopped = ecs.list_tasks(cluster="nightly", desiredStatus="STOPPED")["taskArns"]
        described = ecs.describe_tasks(cluster="nightly", tasks=stopped)["tasks"]
        assert len(described) == 1 and described[0]["containers"][0]["exitCode"] == 0
    finally:
        ecs.deregister_task_definition(taskDefinition="etl:1")
        ecs.delete_cluster(cluster="nightly")


def test_batch_job_without_an_execution_role_fails_before_creating_anything(user_dags, emulator, capfd):
    """No Variable and no ecsTaskExecutionRole in the account: the run fails at its first step,
    saying how to create the role; no AWS call but reads was made."""
    from collections import Counter

    from tests.emulator.helpers import client
    from tests.helpers.aws import mutating_calls

    iam = client(emulator, "iam")
    iam.detach_role_policy(
        RoleName="ecsTaskExecutionRole",
        PolicyArn="arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy",
    )
    for name in iam.list_role_policies(RoleName="ecsTaskExecutionRole")["PolicyNames"]:
        iam.delete_role_policy(RoleName="ecsTaskExecutionRole", PolicyName=name)
    iam.delete_role(RoleName="ecsTaskExecutionRole")
    before = Counter(emulator.actions)
    result = user_dags.run("fargate_batch_job", capfd)
    assert result.state == "failed"
    assert result.task_states["find_network_and_roles"] == "failed"
    assert {result.task_states[t] for t in ("preflight", "create_cluster", "register_task_definition", "run_task")} == {
        "upstream_failed"
    }
    assert (
        "No execution role: the Variable fargate_execution_role_arn is not set "
        "and no role named ecsTaskExecutionRole exists" in result.log
    )
    assert "iam/ecs-task-execution-role.json" in result.log
    assert mutating_calls(emulator, before) == []


def test_batch_job_takes_its_roles_from_variables_and_the_form(user_dags, emulator, capfd, monkeypatch):
    from tests.emulator.helpers import client

    iam = client(emulator, "iam")
    trust = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}
            ],
        }
    )
    execution = iam.create_role(RoleName="batch-exec", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    iam.attach_role_policy(
        RoleName="batch-exec", PolicyArn="arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
    )
    iam.put_role_policy(
        RoleName="batch-exec",
        PolicyName="logs",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "logs:CreateLogGroup", "Resource": "*"}],
            }
        ),
    )
    iam.create_role(RoleName="etl-reader", AssumeRolePolicyDocument=trust)
    monkeypatch.setenv("AIRFLOW_VAR_FARGATE_EXECUTION_ROLE_ARN", execution)
    result = user_dags.run(
        "fargate_batch_job", capfd, run_conf={"task_role": "etl-reader", "cluster": "roles", "family": "roles"}
    )
    ecs = client(emulator)
    try:
        assert result.state == "success", result.log[-3000:]
        assert "execution role from Variable fargate_execution_role_arn" in result.log
        assert result.xcom["preflight"]["ok"] is True
        task_def = ecs.describe_task_definition(taskDefinition="roles:1")["taskDefinition"]
        assert task_def["executionRoleArn"] == execution
        assert task_def["taskRoleArn"] == "arn:aws:iam::123456789012:role/etl-reader"
    finally:
        ecs.deregister_task_definition(taskDefinition="roles:1")
        ecs.delete_cluster(cluster="roles")


def test_environment_preflight_failure_creates_nothing(user_dags, emulator, capfd):
    """A private ECR image that was never pushed: preflight fails, no cluster, task definition or
    service is created, the cleanup tasks have nothing to do."""
    from collections import Counter

    from tests.helpers.aws import mutating_calls

    before = Counter(emulator.actions)
    result = user_dags.run(
        "fargate_ephemeral_environment",
        capfd,
        run_conf=_environment_conf(
            "unpushed", image="123456789012.dkr.ecr.us-east-1.amazonaws.com/app:9.9", task_role="missing-role"
        ),
    )
    assert result.state == "failed"
    assert result.task_states["preflight"] == "failed" and result.task_states["create_cluster"] == "upstream_failed"
    assert (
        "[image] container app: 123456789012.dkr.ecr.us-east-1.amazonaws.com/app:9.9: "
        "the repository does not exist in ECR" in result.log
    )
    assert "[task role] arn:aws:iam::123456789012:role/missing-role: the role does not exist" in result.log
    assert mutating_calls(emulator, before) == []


def test_batch_job_without_a_logical_date(user_dags, emulator, capfd):
    """A manual run as the REST API and the Trigger form make it (logical_date null)."""
    from tests.emulator.helpers import client

    result = user_dags.run(
        "fargate_batch_job", capfd, logical_date=None, run_conf={"cluster": "manual", "family": "manual"}
    )
    ecs = client(emulator)
    try:
        assert result.state == "success", result.log[-3000:]
        environment = ecs.describe_task_definition(taskDefinition="manual:1")["taskDefinition"]["containerDefinitions"][
            0
        ]["environment"]
        day = next(v["value"] for v in environment if v["name"] == "AIRFLOW_DS")
        assert day == dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    finally:
        ecs.deregister_task_definition(taskDefinition="manual:1")
        ecs.delete_cluster(cluster="manual")


@pytest.mark.parametrize("failure", ["container exits 3", "registration refused"])
def test_a_failed_batch_job_is_a_failed_run(user_dags, emulator, capfd, monkeypatch, failure):
    """The tidy step (a teardown) runs, but does not make the run look successful."""
    from tests.emulator.helpers import client

    settings = {"retries": 0, "cluster": "failing", "family": "failing", "image": "example/job:3"}
    if failure == "registration refused":
        settings["command"] = ["x" * 4000] * 20  # the form allows it; ECS's 64 KiB per task definition does not
    monkeypatch.setenv("AIRFLOW_VAR_FARGATE_BATCH_JOB", json.dumps(settings))
    emulator.add_behaviour(image="example/job:3", exit_code=3)
    result = user_dags.run("fargate_batch_job", capfd)
    ecs = client(emulator)
    try:
        assert result.state == "failed", result.task_states
        if failure == "container exits 3":
            assert (
                result.task_states["run_task"] == "failed"
                and result.task_states["deregister_old_revisions"] == "success"
            )
            assert "ended with exit code 3" in result.log
        else:  # refused before registering (preflight checks the same spec first): nothing ran, nothing registered
            assert result.task_states["preflight"] == "failed" and result.task_states["run_task"] == "upstream_failed"
            assert "ECS takes at most 65,536" in result.log
            assert ecs.list_task_definitions(familyPrefix="failing")["taskDefinitionArns"] == []
    finally:
        for arn in ecs.list_task_definitions(familyPrefix="failing", status="ACTIVE")["taskDefinitionArns"]:
            ecs.deregister_task_definition(taskDefinition=arn)
        if ecs.describe_clusters(clusters=["failing"])["clusters"]:
            ecs.delete_cluster(cluster="failing")


def test_the_dags_use_the_connection_the_variable_names(user_dags, emulator, capfd, monkeypatch):
    """fargate_aws_conn_id picks the connection for every task (operators and @task code alike);
    aws_default here points at a closed port, so any call through it would fail the run."""
    from tests.emulator.helpers import client

    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_DEFAULT",
        json.dumps({"conn_type": "aws", "extra": {"endpoint_url": "http://127.0.0.1:9", "region_name": "us-east-1"}}),
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_FARGATE_ACCOUNT",
        json.dumps({"conn_type": "aws", "extra": {"endpoint_url": emulator.endpoint, "region_name": "us-east-1"}}),
    )
    monkeypatch.setenv("AIRFLOW_VAR_FARGATE_AWS_CONN_ID", "fargate_account")
    result = user_dags.run(
        "fargate_batch_job", capfd, logical_date=None, run_conf={"cluster": "other-conn", "family": "other-conn"}
    )
    ecs = client(emulator)
    try:
        assert result.state == "success", result.log[-3000:]
        assert set(result.task_states.values()) == {"success"}, result.task_states
    finally:
        ecs.deregister_task_definition(taskDefinition="other-conn:1")
        ecs.delete_cluster(cluster="other-conn")
