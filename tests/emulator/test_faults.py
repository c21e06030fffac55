"""Fault injection: each fault gives the result real ECS gives."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from fargate_local.behaviours import Behaviours
from fargate_local.client import LocalEcsClient
from tests.emulator.helpers import FAST, client, network, register, wait
from tests.emulator.test_services import create, describe, messages, rolled_out


def run_to_stop(ecs, emulator, family="job"):
    arn = ecs.run_task(
        cluster="c", taskDefinition=family, launchType="FARGATE", networkConfiguration=network(emulator)
    )["tasks"][0]["taskArn"]
    ecs.get_waiter("tasks_stopped").wait(cluster="c", tasks=[arn], WaiterConfig=FAST)
    return ecs.describe_tasks(cluster="c", tasks=[arn])["tasks"][0]


def test_exit_code_of_a_container(emulator, ecs):
    emulator.add_behaviour(family="job", exit_code=3)
    register(ecs)
    task = run_to_stop(ecs, emulator)
    assert task["stopCode"] == "EssentialContainerExited"
    assert [(c["name"], c["exitCode"]) for c in task["containers"]] == [("app", 3)]


def test_exit_code_of_a_named_container_matched_by_image(emulator, ecs):
    LocalEcsClient(emulator.endpoint).add_behaviour(image="registry.example/batch:*", container="worker", exit_code=137)
    ecs.register_task_definition(
        family="two",
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="512",
        memory="1024",
        containerDefinitions=[
            {"name": "sidecar", "image": "envoy:1", "essential": False},
            {"name": "worker", "image": "registry.example/batch:2026", "essential": True},
        ],
    )
    task = run_to_stop(ecs, emulator, family="two")
    assert {c["name"]: c["exitCode"] for c in task["containers"]} == {"sidecar": 0, "worker": 137}


def test_image_pull_failure_is_task_failed_to_start(emulator, ecs):
    emulator.add_behaviour(image="missing/image:*", pull_failure=True)
    register(ecs, image="missing/image:1")
    task = run_to_stop(ecs, emulator)
    assert task["stopCode"] == "TaskFailedToStart"
    assert task["stoppedReason"].startswith("CannotPullContainerError:")
    assert "exitCode" not in task["containers"][0]
    assert task["containers"][0]["reason"].startswith("CannotPullContainerError:")
    assert "startedAt" not in task


def test_slow_start_stays_pending_longer(emulator, ecs):
    emulator.add_behaviour(family="slow", start_delay=60, run_seconds=3600)
    register(ecs, family="slow")
    register(ecs, family="quick", container={})
    emulator.add_behaviour(family="quick", run_seconds=3600)
    slow = ecs.run_task(
        cluster="c", taskDefinition="slow", launchType="FARGATE", networkConfiguration=network(emulator)
    )["tasks"][0]["taskArn"]
    quick = ecs.run_task(
        cluster="c", taskDefinition="quick", launchType="FARGATE", networkConfiguration=network(emulator)
    )["tasks"][0]["taskArn"]
    ecs.get_waiter("tasks_running").wait(cluster="c", tasks=[quick], WaiterConfig=FAST)
    assert ecs.describe_tasks(cluster="c", tasks=[slow])["tasks"][0]["lastStatus"] in ("PROVISIONING", "PENDING")
    ecs.get_waiter("tasks_running").wait(cluster="c", tasks=[slow], WaiterConfig=FAST)


def test_crash_loop_trips_the_circuit_breaker_and_rolls_back(emulator, ecs):
    good = register(ecs, family="web", image="web:good")
    create(
        ecs,
        emulator,
        desired=2,
        deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": True}},
    )
    rolled_out(ecs)
    emulator.add_behaviour(image="web:bad", crash_loop=True)
    bad = register(ecs, family="web", image="web:bad")
    ecs.update_service(cluster="c", service="web", taskDefinition=bad)

    def failed():
        service = describe(ecs)
        failed = [d for d in service["deployments"] if d.get("rolloutState") == "FAILED"]
        return service if failed else None

    service = wait("the rollout to fail", failed)
    failed_deployment = next(d for d in service["deployments"] if d["rolloutState"] == "FAILED")
    assert failed_deployment["taskDefinition"] == bad
    assert failed_deployment["failedTasks"] >= 3
    assert failed_deployment["rolloutStateReason"] == "ECS deployment circuit breaker: tasks failed to start."
    assert service["deployments"][0]["taskDefinition"] == good  # rolled back
    assert any("deployment failed: tasks failed to start." in m for m in messages(service))
    assert any("rolling back to deployment" in m for m in messages(service))
    # botocore's services_stable then succeeds although the deployment asked for failed: the case
    # the provider's stricter "stable" check exists for.
    ecs.get_waiter("services_stable").wait(cluster="c", services=["web"], WaiterConfig=FAST)
    final = wait("the rollback to finish", lambda: (lambda s: s if len(s["deployments"]) == 1 else None)(describe(ecs)))
    assert final["taskDefinition"] == good and final["runningCount"] == 2
    stopped = ecs.describe_tasks(
        cluster="c", tasks=ecs.list_tasks(cluster="c", serviceName="web", desiredStatus="STOPPED")["taskArns"][:10]
    )["tasks"]
    crashed = [t for t in stopped if t["stopCode"] == "EssentialContainerExited"]
    assert crashed and {t["containers"][0]["exitCode"] for t in crashed} == {1}


def test_crash_loop_without_circuit_breaker_keeps_replacing_tasks(emulator, ecs):
    emulator.add_behaviour(image="web:bad", crash_loop=True)
    register(ecs, family="web", image="web:bad")
    create(ecs, emulator, desired=1)
    service = wait(
        "several failed tasks",
        lambda: (lambda s: s if s["deployments"][0]["failedTasks"] >= 3 else None)(describe(ecs)),
    )
    assert service["deployments"][0]["rolloutState"] == "IN_PROGRESS"
    assert sum(m.startswith("(service web) has started 1 tasks") for m in messages(service)) >= 3


def test_api_throttling_and_server_errors(emulator, ecs):
    emulator.add_api_fault("ListClusters", kind="throttle", rate=1.0, count=2)
    no_retries = client(emulator, retries=1)
    with pytest.raises(ClientError) as err:
        no_retries.list_clusters()
    assert err.value.response["Error"]["Code"] == "ThrottlingException"
    # botocore's standard retry mode rides through the remaining injected fault
    assert client(emulator, retries=5).list_clusters()["clusterArns"]

    emulator.add_api_fault("DescribeClusters", kind="server_error", rate=1.0, count=1)
    with pytest.raises(ClientError) as err:
        no_retries.describe_clusters(clusters=["c"])
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert no_retries.describe_clusters(clusters=["c"])["clusters"][0]["status"] == "ACTIVE"


def test_api_fault_sampling_repeats_with_the_seed():
    def pattern(seed):
        behaviours = Behaviours(seed=seed)
        from fargate_local.behaviours import ApiFault

        behaviours.add_api_fault(ApiFault(operation="DescribeServices", rate=0.3))
        return [behaviours.api_fault_for("DescribeServices") is not None for _ in range(200)]

    first, again, other = pattern(7), pattern(7), pattern(8)
    assert first == again and first != other
    assert 30 <= sum(first) <= 90  # about 30 %


def test_behaviour_input_is_checked(emulator):
    control = LocalEcsClient(emulator.endpoint)
    with pytest.raises(ValueError, match="give a family and/or an image"):
        control.add_behaviour(exit_code=1)
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['exitcode'\]"):
        control.add_behaviour(family="x", exitcode=1)
    with pytest.raises(ValueError, match="api_fault.kind"):
        control.add_api_fault("RunTask", kind="explode")


def test_control_endpoint_counts_the_calls_of_every_service(emulator):
    """``describe`` gives the ECS operations answered (``calls``) and every service's calls as IAM
    names them (``actions``): the triggerer benchmark reads GetLogEvents per round from it."""
    control = LocalEcsClient(emulator.endpoint)
    before = control.describe()
    logs = client(emulator, "logs")
    logs.create_log_group(logGroupName="/count/me")
    try:
        logs.create_log_stream(logGroupName="/count/me", logStreamName="s")
        for _ in range(3):
            logs.get_log_events(logGroupName="/count/me", logStreamName="s", startFromHead=True)
        client(emulator).list_clusters()
    finally:
        logs.delete_log_group(logGroupName="/count/me")
    after = control.describe()

    def more(key: str, name: str) -> int:
        return after[key].get(name, 0) - before[key].get(name, 0)

    assert more("actions", "logs:GetLogEvents") == 3
    assert more("actions", "logs:CreateLogStream") == 1
    assert more("actions", "ecs:ListClusters") == 1
    assert more("calls", "ListClusters") == 1
    assert "GetLogEvents" not in after["calls"]  # calls: ECS's own operations only
