"""One-off Fargate tasks in the emulator: lifecycle, exit codes, stop codes, logs, client tokens."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.emulator.helpers import EXECUTION_ROLE, FAST, client, network, register, wait


def run(ecs, emulator, **extra):
    kwargs = {
        "cluster": "c",
        "taskDefinition": "job",
        "launchType": "FARGATE",
        "networkConfiguration": network(emulator),
    }
    kwargs.update(extra)
    return ecs.run_task(**kwargs)["tasks"]


def test_task_goes_through_the_fargate_lifecycle_and_exits_0(emulator, ecs):
    register(ecs, cpu="1024", memory="2048")
    emulator.set_timing(speed=20)  # slow enough to see each state
    task = run(ecs, emulator)[0]
    assert task["lastStatus"] == "PROVISIONING" and task["desiredStatus"] == "RUNNING"
    assert (task["cpu"], task["memory"], task["launchType"]) == ("1024", "2048", "FARGATE")
    seen = set()

    def stopped():
        described = ecs.describe_tasks(cluster="c", tasks=[task["taskArn"]])["tasks"][0]
        seen.add(described["lastStatus"])
        return described if described["lastStatus"] == "STOPPED" else None

    final = wait("the task to stop", stopped, interval=0.02)
    assert {"PROVISIONING", "PENDING", "RUNNING"} <= seen
    assert final["stopCode"] == "EssentialContainerExited"
    assert final["stoppedReason"] == "Essential container in task exited"
    assert [(c["name"], c["exitCode"], c["lastStatus"]) for c in final["containers"]] == [("app", 0, "STOPPED")]
    assert (
        final["createdAt"] <= final["pullStartedAt"] <= final["startedAt"] <= final["stoppingAt"] <= final["stoppedAt"]
    )
    eni = {d["name"]: d["value"] for d in final["attachments"][0]["details"]}
    assert eni["subnetId"] == emulator.network["private_subnets"][0] and eni["privateIPv4Address"].startswith(
        "10.0.128."
    )


@pytest.mark.parametrize(
    "command, override",
    [(["sleep", "150"], None), (["sh", "-c", "sleep 150"], None), (["echo", "hi"], ["sleep", "150"])],
    ids=["sleep", "sh -c sleep", "override"],
)
def test_a_container_that_only_sleeps_runs_that_long(emulator, ecs, command, override):
    """``sleep 150`` runs 150 emulated seconds (1.5 s at the emulator's speed of 100), not the
    usual 20: contract tests that need a task to stay up (ExecuteCommand) ask for it this way,
    as they would of a real image."""
    register(ecs, container={"command": command})
    extra = {"overrides": {"containerOverrides": [{"name": "app", "command": override}]}} if override else {}
    task = run(ecs, emulator, **extra)[0]

    def stopped():
        described = ecs.describe_tasks(cluster="c", tasks=[task["taskArn"]])["tasks"][0]
        return described if described["lastStatus"] == "STOPPED" else None

    final = wait("the task to stop", stopped, interval=0.05)
    ran = (final["stoppingAt"] - final["startedAt"]).total_seconds()
    assert 1.4 <= ran < 10, ran  # 150 emulated seconds; the default run would be 0.2 s
    assert final["containers"][0]["exitCode"] == 0


def test_botocore_tasks_running_and_tasks_stopped_waiters_complete(emulator, ecs):
    register(ecs)
    arn = run(ecs, emulator)[0]["taskArn"]
    ecs.get_waiter("tasks_running").wait(cluster="c", tasks=[arn], WaiterConfig=FAST)
    ecs.get_waiter("tasks_stopped").wait(cluster="c", tasks=[arn], WaiterConfig=FAST)


def test_stop_task_is_user_initiated(emulator, ecs):
    emulator.add_behaviour(family="job", run_seconds=3600)
    register(ecs)
    arn = run(ecs, emulator)[0]["taskArn"]
    ecs.get_waiter("tasks_running").wait(cluster="c", tasks=[arn], WaiterConfig=FAST)
    answer = ecs.stop_task(cluster="c", task=arn, reason="Airflow task was killed")["task"]
    assert answer["desiredStatus"] == "STOPPED"
    ecs.get_waiter("tasks_stopped").wait(cluster="c", tasks=[arn], WaiterConfig=FAST)
    final = ecs.describe_tasks(cluster="c", tasks=[arn])["tasks"][0]
    assert (final["stopCode"], final["stoppedReason"]) == ("UserInitiated", "Airflow task was killed")
    assert final["containers"][0]["exitCode"] == 143


def test_logs_go_to_the_awslogs_stream_ecs_names(emulator, ecs):
    logs = client(emulator, "logs")
    logs.create_log_group(logGroupName="/ecs/job")
    emulator.add_behaviour(family="job", output=["first", "second", "third"])
    register(ecs, logs_group="/ecs/job")
    arn = run(ecs, emulator)[0]["taskArn"]
    ecs.get_waiter("tasks_stopped").wait(cluster="c", tasks=[arn], WaiterConfig=FAST)
    stream = f"ecs/app/{arn.rsplit('/', 1)[1]}"
    events = logs.get_log_events(logGroupName="/ecs/job", logStreamName=stream, startFromHead=True)["events"]
    assert [e["message"] for e in events] == ["first", "second", "third"]
    logs.delete_log_group(logGroupName="/ecs/job")


def test_a_log_group_deleted_while_the_task_runs_loses_its_lines_not_the_task(emulator, ecs):
    """The awslogs driver's puts fail once the group is gone; the task runs on and stops as
    asked (the emulator's reconciler once failed every step for all tasks instead)."""
    logs = client(emulator, "logs")
    logs.create_log_group(logGroupName="/ecs/gone")
    emulator.add_behaviour(family="job", output_lines=100000, run_seconds=100000)  # a line every emulated second
    register(ecs, logs_group="/ecs/gone")
    arn = run(ecs, emulator)[0]["taskArn"]
    wait("the task to run", lambda: ecs.describe_tasks(cluster="c", tasks=[arn])["tasks"][0]["lastStatus"] == "RUNNING")
    logs.delete_log_group(logGroupName="/ecs/gone")
    ecs.stop_task(cluster="c", task=arn, reason="done")
    ecs.get_waiter("tasks_stopped").wait(cluster="c", tasks=[arn], WaiterConfig=FAST)
    assert ecs.describe_tasks(cluster="c", tasks=[arn])["tasks"][0]["stopCode"] == "UserInitiated"


def test_default_output_and_many_lines_with_equal_timestamps(emulator, ecs):
    logs = client(emulator, "logs")
    logs.create_log_group(logGroupName="/ecs/many")
    emulator.add_behaviour(family="many", output_lines=1000, run_seconds=30)
    register(ecs, family="many", logs_group="/ecs/many")
    register(ecs, family="plain", logs_group="/ecs/many")
    many = run(ecs, emulator, taskDefinition="many")[0]["taskArn"]
    plain = run(ecs, emulator, taskDefinition="plain")[0]["taskArn"]
    ecs.get_waiter("tasks_stopped").wait(cluster="c", tasks=[many, plain], WaiterConfig=FAST)
    events, token = [], None
    while True:
        kwargs = {"nextToken": token} if token else {"startFromHead": True}
        page = logs.get_log_events(
            logGroupName="/ecs/many", logStreamName=f"ecs/app/{many.rsplit('/', 1)[1]}", **kwargs
        )
        events += page["events"]
        if not page["events"] or page["nextForwardToken"] == token:
            break
        token = page["nextForwardToken"]
    assert [e["message"] for e in events] == [f"line {i} of 1000 from app" for i in range(1, 1001)]
    assert len({e["timestamp"] for e in events}) < 1000  # lines written together share a timestamp
    default = logs.get_log_events(logGroupName="/ecs/many", logStreamName=f"ecs/app/{plain.rsplit('/', 1)[1]}")[
        "events"
    ]
    assert "Hello from plain:1 on fargate-local" in [e["message"] for e in default]
    logs.delete_log_group(logGroupName="/ecs/many")


def test_missing_log_group_fails_the_start_as_ecs_does_unless_create_group(emulator, ecs):
    register(ecs, logs_group="/ecs/absent")
    arn = run(ecs, emulator)[0]["taskArn"]
    ecs.get_waiter("tasks_stopped").wait(cluster="c", tasks=[arn], WaiterConfig=FAST)
    final = ecs.describe_tasks(cluster="c", tasks=[arn])["tasks"][0]
    assert final["stopCode"] == "TaskFailedToStart"
    assert final["stoppedReason"].startswith("ResourceInitializationError: failed to validate logger args")

    # The ready-made execution role may create groups under /airflow/fargate/ (iam/ecs-task-execution-role.json).
    register(
        ecs,
        family="creates",
        executionRoleArn=EXECUTION_ROLE,
        container={
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {
                    "awslogs-group": "/airflow/fargate/created",
                    "awslogs-region": "us-east-1",
                    "awslogs-stream-prefix": "ecs",
                    "awslogs-create-group": "true",
                },
            }
        },
    )
    arn = run(ecs, emulator, taskDefinition="creates")[0]["taskArn"]
    ecs.get_waiter("tasks_stopped").wait(cluster="c", tasks=[arn], WaiterConfig=FAST)
    assert ecs.describe_tasks(cluster="c", tasks=[arn])["tasks"][0]["stopCode"] == "EssentialContainerExited"
    logs = client(emulator, "logs")
    assert [
        g["logGroupName"] for g in logs.describe_log_groups(logGroupNamePrefix="/airflow/fargate/created")["logGroups"]
    ] == ["/airflow/fargate/created"]
    logs.delete_log_group(logGroupName="/airflow/fargate/created")


def test_run_task_client_token_starts_once(emulator, ecs):
    register(ecs)
    first = run(ecs, emulator, clientToken="dag.run.task.-1", startedBy="airflow")
    again = run(ecs, emulator, clientToken="dag.run.task.-1", startedBy="airflow")
    assert [t["taskArn"] for t in again] == [t["taskArn"] for t in first]
    assert len(ecs.list_tasks(cluster="c", startedBy="airflow")["taskArns"]) <= 1
    # https://docs.aws.amazon.com/AmazonECS/latest/APIReference/ECS_Idempotency.html: "If you retry a
    # successful request with the same client token, but one or more of the parameters are different
    # [...] the retry fails with a ConflictException"; tokens are idempotent per cluster.
    with pytest.raises(ClientError) as err:
        run(ecs, emulator, clientToken="dag.run.task.-1", startedBy="someone-else")
    assert err.value.response["Error"]["Code"] == "ConflictException"
    other = run(ecs, emulator, clientToken="another")
    assert other[0]["taskArn"] != first[0]["taskArn"]
    ecs.create_cluster(clusterName="c2")
    try:
        elsewhere = run(ecs, emulator, cluster="c2", clientToken="dag.run.task.-1", startedBy="airflow")
        assert elsewhere[0]["taskArn"] != first[0]["taskArn"]  # another cluster: another request
        ecs.get_waiter("tasks_stopped").wait(cluster="c2", tasks=[elsewhere[0]["taskArn"]], WaiterConfig=FAST)
    finally:
        ecs.delete_cluster(cluster="c2")


def test_list_tasks_filters_as_ecs_does(emulator, ecs):
    emulator.add_behaviour(family="job", run_seconds=3600)
    register(ecs)
    a = run(ecs, emulator, startedBy="a")[0]["taskArn"]
    b = run(ecs, emulator, startedBy="b")[0]["taskArn"]
    assert ecs.list_tasks(cluster="c", startedBy="a")["taskArns"] == [a]
    assert sorted(ecs.list_tasks(cluster="c", family="job")["taskArns"]) == sorted([a, b])
    ecs.stop_task(cluster="c", task=b)
    assert ecs.list_tasks(cluster="c")["taskArns"] == [a]  # the default filter is desiredStatus RUNNING
    assert ecs.list_tasks(cluster="c", desiredStatus="STOPPED")["taskArns"] == [b]


def test_tags_and_propagation(emulator, ecs):
    register(ecs, tags=[{"key": "team", "value": "data"}])
    task = run(ecs, emulator, tags=[{"key": "run", "value": "1"}], propagateTags="TASK_DEFINITION")[0]
    tags = {t["key"]: t["value"] for t in ecs.list_tags_for_resource(resourceArn=task["taskArn"])["tags"]}
    assert tags == {"team": "data", "run": "1"}
