"""Service operators, sensor and trigger through Airflow (dag.test, real metadata DB) against the emulator."""

from __future__ import annotations

import asyncio
import math
import time

import pytest

from fargate_provider.operators.service import (
    FargateCreateServiceOperator,
    FargateUpdateServiceOperator,
)
from tests.emulator.helpers import FAST, register
from tests.helpers.aws import record_aws_calls
from tests.helpers.polling import wait_for

LIFECYCLE_DAG = """
from airflow.sdk import DAG
from fargate_provider.operators.service import (
    FargateCreateServiceOperator, FargateDeleteServiceOperator, FargateUpdateServiceOperator,
)
from fargate_provider.sensors.service import FargateServiceStableSensor

with DAG(DAG_ID, schedule=None, render_template_as_native_obj=True, params={"subnets": [], "groups": []}):
    create = FargateCreateServiceOperator(
        task_id="create", cluster="c", service_name="web", task_definition="web:1", desired_count=2,
        subnets="{{ params.subnets }}", security_groups="{{ params.groups }}", tags={"team": "data"},
        deferrable=DEFERRABLE, poll_interval=0.2, timeout=120,
    )
    stable = FargateServiceStableSensor(
        task_id="stable", cluster="c", services=create.output, deferrable=DEFERRABLE, poll_interval=0.2, timeout=120,
    )
    update = FargateUpdateServiceOperator(
        task_id="update", cluster="c", service="web", task_definition="web", deferrable=DEFERRABLE,
        poll_interval=0.2, timeout=120,
    )
    delete = FargateDeleteServiceOperator(
        task_id="delete", cluster="c", service="web", deferrable=DEFERRABLE, poll_interval=0.2, timeout=120,
    )
    create >> stable >> update >> delete
"""


def conf(emulator):
    return {"subnets": emulator.network["private_subnets"], "groups": [emulator.network["security_group"]]}


@pytest.mark.parametrize("deferrable", [False, True], ids=["in-worker", "deferred"])
def test_create_stable_update_stable_delete(airflow, emulator, ecs, capfd, deferrable):
    first = register(ecs, family="web", image="nginx:1.27")
    second = register(ecs, family="web", image="nginx:1.28")
    dag_id = airflow.write_dag(LIFECYCLE_DAG.replace("DEFERRABLE", str(deferrable)))
    result = airflow.run(dag_id, capfd, run_conf=conf(emulator))
    assert result.task_states == {"create": "success", "stable": "success", "update": "success", "delete": "success"}, (
        result.log[-3000:]
    )
    service_arn = result.xcom["create"]
    assert service_arn.endswith(":service/c/web")
    assert result.xcom["update"].startswith("ecs-svc/")
    assert result.xcom["delete"] == service_arn
    assert "Created service web" in result.log
    # service events went into the task log, once each
    assert result.log.count("web: (service web) has reached a steady state.") >= 2
    started = [line for line in result.log.splitlines() if "(service web) has started 2 tasks" in line]
    assert len(started) == 2  # one per deployment, each logged once
    # deferred: each wait paused the task and the trigger (in the triggerer) did the polling
    assert result.log.count("Pausing task as DEFERRED.") == (4 if deferrable else 0)
    assert ("[fargate_provider.triggers.service.FargateServiceTrigger]" in result.log) is deferrable
    described = ecs.describe_services(cluster="c", services=["web"], include=["TAGS"])["services"][0]
    assert described["status"] == "INACTIVE"
    assert described["taskDefinition"] == second != first  # the update rolled the service to the new revision
    assert {t["key"]: t["value"] for t in described["tags"]}["managed-by"] == "airflow-provider-fargate"


def test_rerun_after_a_failure_between_create_and_the_end_leaves_one_service(airflow, emulator, ecs, capfd):
    register(ecs, family="web")
    # the first try times out while the tasks are still starting; the retry finds the service
    emulator.add_behaviour(family="web", start_delay=300)  # tasks RUNNING about 3 s after the create
    dag_id = airflow.write_dag(
        """
        from datetime import timedelta
        from airflow.sdk import DAG
        from fargate_provider.operators.service import FargateCreateServiceOperator
        with DAG(DAG_ID, schedule=None, render_template_as_native_obj=True, params={"subnets": [], "groups": []}):
            FargateCreateServiceOperator(
                task_id="create", cluster="c", service_name="web", task_definition="web", desired_count=1,
                subnets="{{ params.subnets }}", security_groups="{{ params.groups }}", deferrable=False,
                poll_interval=0.2, timeout=2, retries=2, retry_delay=timedelta(seconds=0),
            )
        """
    )
    result = airflow.run(dag_id, capfd, run_conf=conf(emulator))
    assert result.task_states == {"create": "success"}, result.log[-2000:]
    assert "Timed out after 2 s waiting for service(s) to be stable" in result.log
    assert "Service web already exists with the same task definition and count; reusing it" in result.log
    assert len(ecs.list_services(cluster="c")["serviceArns"]) == 1
    assert emulator.calls["CreateService"] == 1


WORKER_FIRST_DAG = """
from airflow.sdk import DAG
from fargate_provider.operators.service import FargateCreateServiceOperator

with DAG(DAG_ID, schedule=None, render_template_as_native_obj=True, params={"subnets": [], "groups": []}):
    FargateCreateServiceOperator(
        task_id="create", cluster="c", service_name="web", task_definition="web", desired_count=1,
        subnets="{{ params.subnets }}", security_groups="{{ params.groups }}", deferrable=True,
        wait_in_worker_seconds=IN_WORKER, poll_interval=4, timeout=120,
    )
"""


def test_a_deferrable_wait_over_in_moments_is_waited_in_the_worker(airflow, emulator, ecs, capfd):
    """A deferred wait resumes no sooner than [fargate] resume_not_before_seconds (15 s): one over
    sooner is waited in the worker, looking again after 1 s, then 2, ... up to poll_interval."""
    register(ecs, family="web")
    dag_id = airflow.write_dag(WORKER_FIRST_DAG.replace("IN_WORKER", "15"))
    result = airflow.run(dag_id, capfd, run_conf=conf(emulator))
    assert result.task_states == {"create": "success"}, result.log[-3000:]
    assert "web: (service web) has reached a steady state." in result.log
    assert "Pausing task as DEFERRED." not in result.log
    assert "[fargate_provider.triggers.service.FargateServiceTrigger]" not in result.log
    # stable within moments at the emulator's pace: seen at the first looks, not after poll_interval (4 s)
    assert emulator.calls["DescribeServices"] <= 3


def test_a_wait_that_goes_on_is_handed_to_the_triggerer_with_what_it_saw(airflow, emulator, ecs, capfd):
    register(ecs, family="web")
    emulator.add_behaviour(family="web", start_delay=300)  # tasks RUNNING about 3 s after the create
    dag_id = airflow.write_dag(WORKER_FIRST_DAG.replace("IN_WORKER", "0.5"))
    result = airflow.run(dag_id, capfd, run_conf=conf(emulator))
    assert result.task_states == {"create": "success"}, result.log[-3000:]
    assert "Not there after 0.5 s in the worker: the triggerer waits on (up to 1" in result.log
    assert result.log.count("Pausing task as DEFERRED.") == 1
    assert "[fargate_provider.triggers.service.FargateServiceTrigger]" in result.log
    # the events the worker logged are not logged again by the trigger
    assert result.log.count("(service web) has started 1 tasks") == 1
    assert "web: (service web) has reached a steady state." in result.log


# A failed rollout ends the wait within a few 1-s polls (3 on an idle machine: the first look and two
# polls; under CI's load the emulator trips the circuit breaker a poll or two later), not at its 600-s
# timeout (some 600 calls).
FAIL_FAST_CALLS = 5


def _update_dag(airflow, deferrable=False, **extra):
    arguments = ", ".join(f"{k}={v!r}" for k, v in extra.items())
    return airflow.write_dag(
        f"""
        from airflow.sdk import DAG
        from fargate_provider.operators.service import FargateUpdateServiceOperator
        with DAG(DAG_ID, schedule=None):
            FargateUpdateServiceOperator(task_id="update", cluster="c", service="web", task_definition="web",
                                         deferrable={deferrable}, poll_interval=1, timeout=600, {arguments})
        """
    )


def _stable_service(ecs, emulator, breaker=True):
    ecs.create_service(
        cluster="c",
        serviceName="web",
        taskDefinition="web:1",
        desiredCount=1,
        launchType="FARGATE",
        networkConfiguration={
            "awsvpcConfiguration": {
                "subnets": emulator.network["private_subnets"],
                "securityGroups": [emulator.network["security_group"]],
            }
        },
        deploymentConfiguration={"deploymentCircuitBreaker": {"enable": breaker, "rollback": breaker}},
    )
    ecs.get_waiter("services_stable").wait(cluster="c", services=["web"], WaiterConfig=FAST)
    wait_for(
        "the service's first rollout to complete",
        lambda: (
            ecs.describe_services(cluster="c", services=["web"])["services"][0]["deployments"][0]["rolloutState"]
            == "COMPLETED"
        ),
        timeout=30,
    )


@pytest.mark.parametrize("deferrable", [False, True], ids=["in-worker", "deferred"])
def test_circuit_breaker_rollback_fails_fast_naming_the_rollback(airflow, emulator, ecs, capfd, deferrable):
    good = register(ecs, family="web", image="web:good")
    _stable_service(ecs, emulator)
    emulator.add_behaviour(image="web:bad", crash_loop=True)
    bad = register(ecs, family="web", image="web:bad")
    emulator.calls.clear()
    result = airflow.run(_update_dag(airflow, deferrable), capfd)
    assert result.task_states == {"update": "failed"}
    # whether the poll still sees the failed deployment or only the rollback's events
    assert f"fargate_provider.exceptions.RolloutFailedError: service web: rollout of {bad} FAILED:" in result.log
    assert f"tasks failed to start.; rolled back to {good}." in result.log
    assert "EssentialContainerExited: Essential container in task exited (app exit 1)" in result.log
    assert emulator.calls["DescribeServices"] <= FAIL_FAST_CALLS


def _update_to_a_failing_image(airflow, emulator, ecs, capfd, image, **behaviour):
    """A stable service without circuit breaker, updated to an image that fails as ``behaviour`` says."""
    register(ecs, family="web")
    _stable_service(ecs, emulator, breaker=False)
    emulator.add_behaviour(image=image, **behaviour)
    register(ecs, family="web", image=image)
    emulator.calls.clear()
    result = airflow.run(_update_dag(airflow), capfd)
    assert result.task_states == {"update": "failed"}
    assert emulator.calls["DescribeServices"] <= FAIL_FAST_CALLS
    return result


def test_image_pull_failure_fails_fast_with_the_reason(airflow, emulator, ecs, capfd):
    result = _update_to_a_failing_image(airflow, emulator, ecs, capfd, "missing/web:1", pull_failure=True)
    assert "task(s) of deployment ecs-svc/" in result.log
    assert "TaskFailedToStart: CannotPullContainerError" in result.log


def test_crash_loop_without_circuit_breaker_fails_fast_with_exit_codes(airflow, emulator, ecs, capfd):
    result = _update_to_a_failing_image(airflow, emulator, ecs, capfd, "web:crash", crash_loop=True)
    assert "EssentialContainerExited: Essential container in task exited (app exit 1)" in result.log


def test_timeout_error_lists_the_events_and_counts(airflow, emulator, ecs, capfd):
    register(ecs, family="web")
    _stable_service(ecs, emulator)
    emulator.add_behaviour(image="web:slow", start_delay=100000)
    register(ecs, family="web", image="web:slow")
    dag_id = airflow.write_dag(
        """
        from airflow.sdk import DAG
        from fargate_provider.operators.service import FargateUpdateServiceOperator
        with DAG(DAG_ID, schedule=None):
            FargateUpdateServiceOperator(task_id="update", cluster="c", service="web", task_definition="web",
                                         deferrable=False, poll_interval=0.2, timeout=1)
        """
    )
    result = airflow.run(dag_id, capfd)
    assert result.task_states == {"update": "failed"}
    assert (
        "WaitTimeoutError: Timed out after 1 s waiting for service(s) to be stable: web: ACTIVE, running 1/1, pending 1"
        in result.log
    )
    assert "last events: (service web) has started 1 tasks" in result.log


def test_trigger_serialises_rebuilds_and_runs(emulator, ecs):
    from airflow.sdk._shared.module_loading import import_string

    from fargate_provider.state.service import ServiceWatch
    from fargate_provider.triggers.service import FargateServiceTrigger

    arn = register(ecs, family="web")
    _stable_service(ecs, emulator)
    watch = ServiceWatch(["web"], "STABLE", {"web": arn}, known_events=[])
    trigger = FargateServiceTrigger(
        cluster="c",
        watch=watch.to_kwargs(),
        poll_interval=0.1,
        timeout=60,
        value="done",
        verify=False,
        botocore_config={"read_timeout": 7, "retries": {"mode": "adaptive"}},
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == "fargate_provider.triggers.service.FargateServiceTrigger"
    rebuilt = import_string(classpath)(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)  # the deadline survives the round trip
    assert kwargs["deadline"] == trigger.deadline
    # The whole connection reaches the triggerer: SSL verification and botocore settings too.
    assert rebuilt.hook.verify is False
    assert rebuilt.hook.conn_config.botocore_config.read_timeout == 7
    assert rebuilt.hook.conn_config.botocore_config.retries == {"mode": "adaptive"}

    async def first_event():
        async for event in rebuilt.run():
            return event

    event = asyncio.run(first_event())
    assert event.payload == {"status": "success", "value": "done"}
    assert kwargs["resume_not_before"] == trigger.resume_not_before  # survives the round trip


def test_no_event_leaves_a_trigger_before_it_is_safe_to_resume(emulator, ecs, monkeypatch):
    """Airflow 3.3 fails a task whose trigger fires within moments of the deferral
    (apache/airflow#72716): a wait that is done at once still fires no earlier than
    ``[fargate] resume_not_before_seconds`` after the trigger was made, however often it is rebuilt."""
    from airflow.sdk._shared.module_loading import import_string

    from fargate_provider.state.service import ServiceWatch
    from fargate_provider.triggers.service import FargateServiceTrigger

    monkeypatch.setenv("AIRFLOW__FARGATE__RESUME_NOT_BEFORE_SECONDS", "3")  # the tests' harness turns it off
    arn = register(ecs, family="web")
    _stable_service(ecs, emulator)
    made = time.time()
    watch = ServiceWatch(["web"], "STABLE", {"web": arn}, known_events=[])
    classpath, kwargs = FargateServiceTrigger(
        cluster="c", watch=watch.to_kwargs(), poll_interval=0.1, timeout=60
    ).serialize()
    assert kwargs["resume_not_before"] >= made + 3
    rebuilt = import_string(classpath)(**kwargs)  # as a restarted triggerer would

    async def first_event():
        async for event in rebuilt.run():
            return event, time.time()

    event, fired_at = asyncio.run(first_event())
    assert event.payload["status"] == "success"
    assert fired_at >= kwargs["resume_not_before"]


def test_sensor_over_25_services_makes_3_describe_calls_per_poll(airflow, emulator, ecs, capfd):
    register(ecs, family="web")
    network = {
        "awsvpcConfiguration": {
            "subnets": emulator.network["private_subnets"],
            "securityGroups": [emulator.network["security_group"]],
        }
    }
    names = [f"svc{i:02d}" for i in range(25)]
    for name in names:
        ecs.create_service(
            cluster="c",
            serviceName=name,
            taskDefinition="web",
            desiredCount=1,
            launchType="FARGATE",
            networkConfiguration=network,
        )
    for start in range(0, 25, 10):
        ecs.get_waiter("services_stable").wait(cluster="c", services=names[start : start + 10], WaiterConfig=FAST)
    for deferrable in (False, True):
        dag_id = airflow.write_dag(
            f"""
            from airflow.sdk import DAG
            from fargate_provider.sensors.service import FargateServiceStableSensor
            with DAG(DAG_ID, schedule=None):
                FargateServiceStableSensor(task_id="stable", cluster="c", services={names!r},
                                           deferrable={deferrable}, poll_interval=0.1, timeout=60)
            """
        )
        emulator.calls.clear()
        result = airflow.run(dag_id, capfd)
        assert result.task_states == {"stable": "success"}
        assert emulator.calls["DescribeServices"] == math.ceil(25 / 10)  # one poll: all stable already


@pytest.mark.parametrize(
    "operator, kwargs, message",
    [
        (FargateCreateServiceOperator, {"subnets": "subnet-1"}, "subnets: must be a non-empty list of subnet-… IDs"),
        (
            FargateCreateServiceOperator,
            {"security_groups": ["default"]},
            "security_groups: must be a non-empty list of sg-… IDs",
        ),
        (FargateCreateServiceOperator, {"desired_count": -1}, "desired_count: must be a whole number from 0 to 5000"),
        (FargateCreateServiceOperator, {"service_name": "web app"}, "service_name: must be 1-255 letters"),
        (
            FargateCreateServiceOperator,
            {"propagate_tags": "ALL"},
            "propagate_tags: 'ALL' is not allowed; allowed: SERVICE, TASK_DEFINITION, NONE",
        ),
        (FargateCreateServiceOperator, {"poll_interval": 0}, "poll_interval: must be a number of seconds above 0"),
        (
            FargateCreateServiceOperator,
            {"wait_in_worker_seconds": -1},
            "wait_in_worker_seconds: must be a number of seconds, 0 or more, got -1",
        ),
        (
            FargateUpdateServiceOperator,
            {"desired_count": 1, "wait_in_worker_seconds": "soon"},
            "wait_in_worker_seconds: must be a number of seconds, 0 or more, got 'soon'",
        ),
        (
            FargateCreateServiceOperator,
            {"capacity_provider_strategy": [{"capacityProvider": "EC2", "weight": 1}]},
            "capacity_provider_strategy[0].capacityProvider: 'EC2'",
        ),
        (FargateCreateServiceOperator, {"tags": {"managed-by": "x"}}, "tags.managed-by: is set by the provider itself"),
        (FargateUpdateServiceOperator, {}, "give at least one change"),
    ],
)
def test_bad_service_input_is_refused_before_any_aws_call(no_aws, operator, kwargs, message):
    if operator is FargateCreateServiceOperator:
        arguments = {
            "cluster": "c",
            "service_name": "web",
            "task_definition": "web",
            "subnets": ["subnet-1"],
            "security_groups": ["sg-1"],
        }
    else:
        arguments = {"cluster": "c", "service": "web"}
    arguments.update(kwargs)
    with record_aws_calls() as recorder, pytest.raises(ValueError) as err:
        operator(task_id="t", **arguments).execute(context={})
    assert message in str(err.value)
    assert recorder.calls == []


def test_create_again_with_another_count_updates_the_service(airflow, emulator, ecs, capfd):
    register(ecs, family="web")
    dag_id = airflow.write_dag(
        """
        from airflow.sdk import DAG
        from fargate_provider.operators.service import FargateCreateServiceOperator
        with DAG(
            DAG_ID, schedule=None, render_template_as_native_obj=True,
            params={"subnets": [], "groups": [], "count": 1},
        ):
            FargateCreateServiceOperator(
                task_id="create", cluster="c", service_name="web", task_definition="web",
                desired_count="{{ params.count }}", subnets="{{ params.subnets }}",
                security_groups="{{ params.groups }}", deferrable=False, poll_interval=0.2, timeout=60,
            )
        """
    )
    first = airflow.run(dag_id, capfd, run_conf=conf(emulator))
    second = airflow.run(dag_id, capfd, run_conf={**conf(emulator), "count": 2})
    assert first.xcom["create"] == second.xcom["create"]
    assert "Service web existed with web:1 x1; updated it to web:1 x2 (a new deployment)." in second.log
    service = ecs.describe_services(cluster="c", services=["web"])["services"][0]
    assert (service["desiredCount"], service["runningCount"]) == (2, 2)
    assert len(ecs.list_services(cluster="c")["serviceArns"]) == 1


def test_delete_of_a_missing_service_is_success(airflow, emulator, ecs, capfd):
    dag_id = airflow.write_operator_dag(
        "fargate_provider.operators.service.FargateDeleteServiceOperator",
        "cluster='c', service='ghost', deferrable=False",
    )
    result = airflow.run(dag_id, capfd)
    assert result.task_states == {"task": "success"}
    assert "Service ghost does not exist (or is already INACTIVE); nothing to delete." in result.log


def test_client_token_is_per_task_instance_not_per_try():
    from unittest import mock

    from fargate_provider.utils.tokens import service_client_token as client_token

    def ti(**changes):
        fields = {"dag_id": "d", "run_id": "r", "task_id": "t", "map_index": -1, "try_number": 1}
        fields.update(changes)
        return {"ti": mock.Mock(**fields)}

    assert client_token(ti()) == client_token(ti(try_number=2))
    assert client_token(ti()) != client_token(ti(map_index=0))
    assert client_token(ti()) != client_token(ti(run_id="r2"))
    assert len(client_token(ti())) <= 36  # CreateService's limit


@pytest.mark.parametrize("setting, expected", [(None, True), ("False", False), ("True", True)])
def test_deferrable_follows_airflows_default_deferrable_only_when_set(monkeypatch, setting, expected):
    from fargate_provider.operators.base import default_deferrable

    if setting is None:
        monkeypatch.delenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", raising=False)
    else:
        monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", setting)
    assert default_deferrable() is expected
    operator = FargateUpdateServiceOperator(task_id="u", cluster="c", service="s", desired_count=1)
    assert operator.deferrable is expected


@pytest.mark.parametrize("kind", ["service sensor", "task sensor"])
def test_sensors_hand_the_whole_connection_to_their_trigger(kind):
    """verify and botocore_config travel with aws_conn_id and region_name (a connection's SSL
    and botocore settings would otherwise be dropped in the triggerer)."""
    from unittest import mock

    from airflow.providers.common.compat.sdk import TaskDeferred

    from fargate_provider.sensors.service import FargateServiceStableSensor
    from fargate_provider.sensors.task import FargateTaskStateSensor

    connection = {
        "aws_conn_id": "aws_other",
        "region_name": "eu-west-1",
        "verify": "/etc/ssl/ca.pem",
        "botocore_config": {"connect_timeout": 3},
    }
    if kind == "service sensor":
        sensor = FargateServiceStableSensor(task_id="s", cluster="c", services=["web"], deferrable=True, **connection)
    else:
        sensor = FargateTaskStateSensor(
            task_id="s",
            cluster="c",
            tasks=["arn:aws:ecs:eu-west-1:123456789012:task/c/abc"],
            deferrable=True,
            **connection,
        )
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({"ti": mock.MagicMock()})
    _, kwargs = deferred.value.trigger.serialize()
    assert {key: kwargs[key] for key in connection} == connection
