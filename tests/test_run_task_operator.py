"""FargateRunTaskOperator and FargateTaskStateSensor through Airflow (dag.test) against the emulator."""

from __future__ import annotations

import json
import re

import pytest

from fargate_provider.operators.run_task import FargateRunTaskOperator
from tests.emulator.helpers import client, register
from tests.helpers.aws import record_aws_calls

RUN_DAG = """
from datetime import timedelta
from airflow.sdk import DAG
from fargate_provider.operators.run_task import FargateRunTaskOperator
with DAG(DAG_ID, schedule=None, render_template_as_native_obj=True, params={"subnets": [], "groups": []}):
    FargateRunTaskOperator(
        task_id="run", cluster="c", task_definition="job",
        subnets="{{ params.subnets }}", security_groups="{{ params.groups }}",
        deferrable=DEFERRABLE, poll_interval=0.2, EXTRA
    )
"""


@pytest.fixture
def logs(emulator):
    logs = client(emulator, "logs")
    logs.create_log_group(logGroupName="/ecs/job")
    yield logs
    logs.delete_log_group(logGroupName="/ecs/job")


def conf(emulator):
    return {"subnets": emulator.network["private_subnets"], "groups": [emulator.network["security_group"]]}


def run(airflow, emulator, capfd, deferrable=False, extra="", **conf_extra):
    dag_id = airflow.write_dag(RUN_DAG.replace("DEFERRABLE", str(deferrable)).replace("EXTRA", extra))
    return airflow.run(dag_id, capfd, run_conf={**conf(emulator), **conf_extra})


def cost_of(result):
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.query(XComModel).filter_by(run_id=result.run_id, task_id="run", key="cost").one_or_none()
        return XComModel.deserialize_value(row) if row else None


@pytest.mark.parametrize("deferrable", [False, True], ids=["in-worker", "deferred"])
def test_success_streams_logs_and_reports_cost(airflow, emulator, ecs, logs, capfd, deferrable):
    emulator.add_behaviour(family="job", output=["starting", "working", "done"])
    register(ecs, logs_group="/ecs/job", cpu="512", memory="1024")
    result = run(airflow, emulator, capfd, deferrable)
    assert result.task_states == {"run": "success"}, result.log[-2000:]
    [arn] = result.xcom["run"]
    task = ecs.describe_tasks(cluster="c", tasks=[arn])["tasks"][0]
    assert task["lastStatus"] == "STOPPED" and task["containers"][0]["exitCode"] == 0
    for line in ("[app] starting", "[app] working", "[app] done"):
        assert result.log.count(line) == 1, line
    cost = cost_of(result)
    assert cost["tasks"] == 1 and cost["billed_seconds"] == 60  # the one-minute minimum
    assert cost["vcpu_seconds"] == 30.0 and cost["gb_seconds"] == 60.0 and cost["usd"] > 0
    assert "Cost: 1 task(s), 30.0 vCPU-seconds, 60.0 GB-seconds" in result.log
    assert ("Pausing task as DEFERRED." in result.log) is deferrable
    tags = {t["key"]: t["value"] for t in ecs.list_tags_for_resource(resourceArn=arn)["tags"]}
    assert tags["managed-by"] == "airflow-provider-fargate" and tags["airflow-run-id"] == result.run_id


@pytest.mark.parametrize("deferrable", [False, True], ids=["in-worker", "deferred"])
def test_logs_in_another_region_are_streamed_in_both_modes(airflow, emulator, ecs, capfd, deferrable):
    """awslogs-region may differ from the connection's region: each stream is read where it is
    (the deferred reader once used the trigger's region only and skipped such a stream silently)."""
    west = client(emulator, "logs", region="us-west-2")
    west.create_log_group(logGroupName="/ecs/west")
    try:
        # The task runs while the wait reads (the worker reads what is left after STOPPED): 3 s in the worker;
        # 15 s when deferred, because under a loaded CI machine dag.test took 5 s to start the trigger.
        emulator.add_behaviour(family="job", output=["from oregon"], run_seconds=1500 if deferrable else 300)
        register(
            ecs,
            logs_group="/ecs/west",
            container={
                "logConfiguration": {
                    "logDriver": "awslogs",
                    "options": {
                        "awslogs-group": "/ecs/west",
                        "awslogs-region": "us-west-2",
                        "awslogs-stream-prefix": "ecs",
                    },
                }
            },
        )
        result = run(airflow, emulator, capfd, deferrable)
        assert result.task_states == {"run": "success"}, result.log[-2000:]
        assert result.log.count("[app] from oregon") == 1, result.log[-3000:]
        # Read during the wait, where it waits: by the trigger when deferred.
        reader = "FargateTaskTrigger" if deferrable else "FargateHook"
        assert re.search(rf"\[app\] from oregon\s+\[[^\]]*{reader}\]", result.log), result.log[-3000:]
    finally:
        west.delete_log_group(logGroupName="/ecs/west")


@pytest.mark.parametrize("deferrable", [False, True], ids=["in-worker", "deferred"])
def test_exit_1_fails_with_exit_code_and_log_tail(airflow, emulator, ecs, logs, capfd, deferrable):
    emulator.add_behaviour(family="job", exit_code=1, output=[f"step {i}" for i in range(1, 8)] + ["Traceback: boom"])
    register(ecs, logs_group="/ecs/job")
    result = run(airflow, emulator, capfd, deferrable, extra="log_tail_on_failure=3,")
    assert result.task_states == {"run": "failed"}
    error = re.search(
        r"container app of task \w+ ended with exit code 1 "
        r"\(EssentialContainerExited: Essential container in task exited\)\nLast log lines:\n(.*)",
        result.log,
        re.S,
    )
    assert error, result.log[-3000:]
    assert error.group(1).splitlines()[:3] == ["[app] step 6", "[app] step 7", "[app] Traceback: boom"]
    assert "fargate_provider.exceptions.ContainerExitError: container app of task" in result.log  # typed, for callbacks
    assert cost_of(result)["tasks"] == 1  # a failed run is still billed and reported


def test_image_pull_failure_is_its_own_error(airflow, emulator, ecs, capfd):
    emulator.add_behaviour(image="missing/*", pull_failure=True)
    register(ecs, image="missing/job:1")
    result = run(airflow, emulator, capfd)
    assert result.task_states == {"run": "failed"}
    assert re.search(
        r"fargate_provider.exceptions.TaskFailedToStartError: "
        r"task \w+ failed to start \(TaskFailedToStart\): CannotPullContainerError",
        result.log,
    )


def test_retry_after_a_crash_follows_the_same_task(airflow, emulator, ecs, logs, capfd, monkeypatch):
    emulator.add_behaviour(family="job", run_seconds=200)
    register(ecs, logs_group="/ecs/job")
    # no botocore retries, so one injected 500 on DescribeTasks fails the first try mid-wait
    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_DEFAULT",
        json.dumps(
            {
                "conn_type": "aws",
                "extra": {
                    "endpoint_url": emulator.endpoint,
                    "region_name": "us-east-1",
                    "config_kwargs": {"retries": {"total_max_attempts": 1}},
                },
            }
        ),
    )
    emulator.add_api_fault("DescribeTasks", kind="server_error", count=1)
    result = run(airflow, emulator, capfd, extra="retries=1, retry_delay=timedelta(seconds=0),")
    assert result.task_states == {"run": "success"}, result.log[-2000:]
    assert "Following 1 task(s) an earlier try started" in result.log
    assert emulator.calls["RunTask"] == 1
    assert len(ecs.list_tasks(cluster="c", desiredStatus="STOPPED")["taskArns"]) == 1


def test_a_retry_after_a_failed_container_starts_a_new_task(airflow, emulator, ecs, capfd):
    emulator.add_behaviour(family="job", exit_code=3)
    register(ecs)
    result = run(airflow, emulator, capfd, extra="retries=1, retry_delay=timedelta(seconds=0),")
    assert result.task_states == {"run": "failed"}
    assert emulator.calls["RunTask"] == 2  # a new token for the second try: a new task
    assert len(ecs.list_tasks(cluster="c", desiredStatus="STOPPED")["taskArns"]) == 2


@pytest.mark.parametrize("deferrable", [False, True], ids=["in-worker", "deferred"])
def test_thousand_lines_with_equal_timestamps_arrive_in_order_once(airflow, emulator, ecs, logs, capfd, deferrable):
    emulator.add_behaviour(family="job", output_lines=1000, run_seconds=100)
    register(ecs, logs_group="/ecs/job")
    result = run(airflow, emulator, capfd, deferrable)
    assert result.task_states == {"run": "success"}
    lines = [m.group(1) for m in re.finditer(r"\[app\] (line \d+ of 1000 from app)", result.log)]
    assert lines == [f"line {i} of 1000 from app" for i in range(1, 1001)]
    stream = f"ecs/app/{result.xcom['run'][0].rsplit('/', 1)[1]}"
    events = logs.get_log_events(logGroupName="/ecs/job", logStreamName=stream, startFromHead=True, limit=10000)[
        "events"
    ]
    assert len({e["timestamp"] for e in events}) < len(events)  # many shared a timestamp


@pytest.mark.parametrize("deferrable", [False, True], ids=["in-worker", "deferred"])
def test_execution_timeout_stops_the_task(airflow, emulator, ecs, capfd, deferrable):
    emulator.add_behaviour(family="job", run_seconds=100000)
    register(ecs)
    # 8 s: on a loaded machine the start (DescribeTaskDefinition, RunTask, the deferral) takes seconds
    result = run(airflow, emulator, capfd, deferrable, extra="execution_timeout=timedelta(seconds=8),")
    assert result.task_states == {"run": "failed"}
    [arn] = ecs.list_tasks(cluster="c", desiredStatus="STOPPED")["taskArns"]
    task = ecs.describe_tasks(cluster="c", tasks=[arn])["tasks"][0]
    assert task["stopCode"] == "UserInitiated" and "timed out" in task["stoppedReason"]
    # Deferred, the trigger ends the wait just before the deadline: our own timeout type.
    assert ("fargate_provider.exceptions.WaitTimeoutError: execution_timeout reached" in result.log) is deferrable


def test_task_state_sensor_running_then_stopped(airflow, emulator, ecs, capfd):
    emulator.add_behaviour(family="job", run_seconds=3000)  # long enough to be seen RUNNING on a loaded machine
    register(ecs)
    network = {
        "awsvpcConfiguration": {
            "subnets": emulator.network["private_subnets"],
            "securityGroups": [emulator.network["security_group"]],
        }
    }
    arns = [
        t["taskArn"]
        for t in ecs.run_task(
            cluster="c", taskDefinition="job", launchType="FARGATE", networkConfiguration=network, count=3
        )["tasks"]
    ]
    for deferrable in (False, True):
        for target in ("RUNNING", "STOPPED"):
            if target == "STOPPED":
                for arn in arns:
                    ecs.stop_task(cluster="c", task=arn)
            dag_id = airflow.write_dag(
                f"""
                from airflow.sdk import DAG
                from fargate_provider.sensors.task import FargateTaskStateSensor
                with DAG(DAG_ID, schedule=None):
                    FargateTaskStateSensor(task_id="s", cluster="c", tasks={arns!r}, target_state={target!r},
                                           deferrable={deferrable}, poll_interval=0.1, timeout=60)
                """
            )
            emulator.calls.clear()
            result = airflow.run(dag_id, capfd)
            assert result.task_states == {"s": "success"}, result.log[-3000:]
            assert {t["lastStatus"] for t in ecs.describe_tasks(cluster="c", tasks=arns)["tasks"]} >= {target}
        arns = [
            t["taskArn"]
            for t in ecs.run_task(
                cluster="c", taskDefinition="job", launchType="FARGATE", networkConfiguration=network, count=3
            )["tasks"]
        ]
    ecs.get_waiter("tasks_stopped").wait(cluster="c", tasks=arns, WaiterConfig={"Delay": 0.1, "MaxAttempts": 300})


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"count": 11}, "count: must be a whole number from 1 to 10"),
        ({"subnets": []}, "subnets: must be a non-empty list of subnet-… IDs"),
        ({"overrides": {"cpu": "256", "memory": "4096"}}, "overrides.memory: memory 4096 MiB does not fit cpu 256"),
        (
            {"overrides": {"containerOverrides": [{"name": "app", "commnd": ["x"]}]}},
            "overrides.containerOverrides[0].commnd: unknown key; did you mean 'command'?",
        ),
        (
            {"overrides": {"containerOverrides": [{"name": "app", "command": "echo hi"}]}},
            "overrides.containerOverrides[0].command: must be of type list or tuple",
        ),
        ({"propagate_tags": "SERVICE"}, "propagate_tags: 'SERVICE' is not allowed; allowed: TASK_DEFINITION, NONE"),
        ({"log_tail_on_failure": -1}, "log_tail_on_failure: must be a whole number, 0 or more"),
    ],
)
def test_bad_run_task_input_is_refused_before_any_aws_call(no_aws, kwargs, message):
    arguments = {
        "cluster": "c",
        "task_definition": "job",
        "subnets": ["subnet-1"],
        "security_groups": ["sg-1"],
        **kwargs,
    }
    with record_aws_calls() as recorder, pytest.raises(ValueError) as err:
        FargateRunTaskOperator(task_id="t", **arguments).execute(context={})
    assert message in str(err.value)
    assert recorder.calls == []


@pytest.mark.parametrize(
    "variable, value, said",
    [
        (
            "AIRFLOW__FARGATE__LOG_READS_PER_SECOND",
            "0",
            "[fargate] log_reads_per_second: 0 is not allowed; give a number of reads a second above 0",
        ),
        ("AIRFLOW__FARGATE__LIVE_LOGS", "maybe", "[fargate] live_logs: 'maybe' is not allowed; give True or False"),
    ],
    ids=["log_reads_per_second", "live_logs"],
)
def test_a_bad_log_setting_fails_a_deferred_run_before_run_task(
    airflow, emulator, ecs, logs, capfd, monkeypatch, variable, value, said
):
    """The triggerer's log settings ([fargate] log_reads_per_second, live_logs) are checked when the
    task starts, naming the setting and what is allowed, not first in the triggerer mid-wait."""
    monkeypatch.setenv(variable, value)
    register(ecs, logs_group="/ecs/job")
    emulator.calls.clear()
    result = run(airflow, emulator, capfd, deferrable=True)
    assert result.task_states == {"run": "failed"}
    assert said in result.log
    assert emulator.calls["RunTask"] == 0


def test_capacity_shortfall_is_retried_with_backoff(airflow, emulator, ecs, capfd):
    emulator.add_behaviour(family="job", capacity_failures=1)
    register(ecs)
    result = run(airflow, emulator, capfd)
    assert result.task_states == {"run": "success"}
    assert emulator.calls["RunTask"] == 2  # one shortfall, then the task
    assert len(ecs.list_tasks(cluster="c", desiredStatus="STOPPED")["taskArns"]) == 1


def test_capacity_shortfall_that_lasts_fails_with_the_reason(airflow, emulator, ecs, capfd):
    emulator.add_behaviour(family="job", capacity_failures=100000)
    register(ecs)
    extra = "retries=1, retry_delay=timedelta(seconds=0), launch_timeout=1, launch_retry_max_delay=0.2,"
    result = run(airflow, emulator, capfd, extra=extra)
    assert result.task_states == {"run": "failed"}
    assert "fargate_provider.exceptions.CapacityUnavailableError: FARGATE had no capacity for" in result.log
    assert "Capacity is unavailable at this time" in result.log
    assert result.extra["tries"]["run"] == 1  # an infrastructure outcome: no Airflow retry spent on it


def test_on_kill_stops_the_task(emulator, ecs):
    emulator.add_behaviour(family="job", run_seconds=100000)
    register(ecs)
    network = {
        "awsvpcConfiguration": {
            "subnets": emulator.network["private_subnets"],
            "securityGroups": [emulator.network["security_group"]],
        }
    }
    arn = ecs.run_task(cluster="c", taskDefinition="job", launchType="FARGATE", networkConfiguration=network)["tasks"][
        0
    ]["taskArn"]
    operator = FargateRunTaskOperator(
        task_id="t", cluster="c", task_definition="job", subnets=["subnet-1"], security_groups=["sg-1"]
    )
    operator._task_arns = [arn]
    operator.on_kill()
    ecs.get_waiter("tasks_stopped").wait(cluster="c", tasks=[arn], WaiterConfig={"Delay": 0.1, "MaxAttempts": 300})
    task = ecs.describe_tasks(cluster="c", tasks=[arn])["tasks"][0]
    assert (task["stopCode"], task["stoppedReason"]) == ("UserInitiated", "Airflow task was killed")


def test_with_live_logs_a_deferred_run_logs_each_line_once(airflow, emulator, ecs, logs, capfd, monkeypatch):
    """[fargate] live_logs through Airflow: the trigger's Live Tail lines and the worker's last read
    together log each line once."""
    monkeypatch.setenv("AIRFLOW__FARGATE__LIVE_LOGS", "True")
    emulator.add_behaviour(family="job", output=[f"step {i}" for i in range(8)], run_seconds=600)
    register(ecs, logs_group="/ecs/job")
    result = run(airflow, emulator, capfd, deferrable=True)
    assert result.task_states == {"run": "success"}, result.log[-2000:]
    for i in range(8):
        assert result.log.count(f"[app] step {i}") == 1, i
    assert "Pausing task as DEFERRED." in result.log
    assert emulator.live_tails.describe()["delivered"] > 0  # lines came live
