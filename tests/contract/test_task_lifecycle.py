"""A task's way through ECS's lifecycle states, and its containers: dependsOn and non-essential
containers. Sources:
- Task lifecycle (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-lifecycle-explanation.html):
  PROVISIONING → PENDING → ACTIVATING → RUNNING → DEACTIVATING → STOPPING → DEPROVISIONING → STOPPED.
- ContainerDependency (API_ContainerDependency.html): START, COMPLETE, SUCCESS, HEALTHY; "SUCCESS - This
  condition is the same as COMPLETE, but it also requires that the container exits with a zero status";
  a container that depends on another with SUCCESS/COMPLETE must wait for it to exit.
- When the condition can never be met, the ECS agent stops the waiting container with exit code 143 and
  "CannotStartContainerError: dependency graph: failed to resolve container ordering dependency ..."
  (aws/amazon-ecs-agent#3218), and the task stops when that container is essential.
- RegisterTaskDefinition: "A dependency container with SUCCESS or COMPLETE condition cannot be an
  essential container" (ClientException, quoted in boto/boto3#2436).
- ContainerDefinition.essential (API_ContainerDefinition.html): "If the essential parameter of a container
  is marked as false, its failure doesn't affect the rest of the containers in a task."

Emulator runs slow these tests down (the control endpoint's timing) so that short states can be
seen by polling; in AWS mode the containers' commands do what the emulator's behaviours do.
"""

from __future__ import annotations

import json
import time
import urllib.request

import pytest
from botocore.exceptions import ClientError

from tests.contract.conftest import AGAINST_AWS, CONTRACT_TAG
from tests.helpers.polling import wait_for

IMAGE = "public.ecr.aws/docker/library/busybox:1.36"
ORDER = ["PROVISIONING", "PENDING", "ACTIVATING", "RUNNING", "DEACTIVATING", "STOPPING", "DEPROVISIONING", "STOPPED"]


@pytest.fixture
def control(request):
    """In emulator mode: ``control(route, payload)`` posts to the control endpoint (timing,
    behaviours); the emulator fixture's reset undoes it. In AWS mode: does nothing."""
    if AGAINST_AWS:
        return lambda route, payload: None
    emulator = request.getfixturevalue("emulator")

    def post(route: str, payload: dict) -> None:
        request_ = urllib.request.Request(
            f"{emulator.endpoint}/_fargate_local/{route}",
            data=json.dumps(payload).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(request_, timeout=10).read()

    return post


def _register(ecs, family: str, containers: list[dict]) -> str:
    return ecs.register_task_definition(
        family=family,
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="256",
        memory="512",
        containerDefinitions=containers,
        tags=[CONTRACT_TAG],
    )["taskDefinition"]["taskDefinitionArn"]


def _app_after_init(init_script: str) -> list[dict]:
    """An init container (not essential) running ``init_script``, and the app waiting for its SUCCESS."""
    return [
        {"name": "init", "image": IMAGE, "essential": False, "command": ["sh", "-c", init_script]},
        {
            "name": "app",
            "image": IMAGE,
            "essential": True,
            "command": ["sleep", "600"],
            "dependsOn": [{"containerName": "init", "condition": "SUCCESS"}],
        },
    ]


def _run(ecs, cluster: str, task_definition: str, task_network: dict) -> str:
    return ecs.run_task(
        cluster=cluster, taskDefinition=task_definition, launchType="FARGATE", networkConfiguration=task_network
    )["tasks"][0]["taskArn"]


def _describe(ecs, cluster: str, arn: str) -> dict:
    return ecs.describe_tasks(cluster=cluster, tasks=[arn])["tasks"][0]


def _containers(task: dict) -> dict[str, dict]:
    return {c["name"]: c for c in task["containers"]}


def _finish(ecs, cluster: str, arn: str | None, task_definition: str) -> None:
    if arn:
        try:
            ecs.stop_task(cluster=cluster, task=arn)
        except ClientError:
            pass
        ecs.get_waiter("tasks_stopped").wait(
            cluster=cluster, tasks=[arn], WaiterConfig={"Delay": 0.1, "MaxAttempts": 600}
        )
    ecs.deregister_task_definition(taskDefinition=task_definition)


def test_a_task_goes_through_ecs_lifecycle_states_in_order(aws, cluster, task_network, control):
    control("timing", {"speed": 5})
    ecs = aws("ecs")
    arn, definition = (
        None,
        _register(
            ecs, f"{cluster}-life", [{"name": "app", "image": IMAGE, "essential": True, "command": ["sleep", "600"]}]
        ),
    )
    seen: list[str] = []

    def watch(until: str):
        def step():
            status = _describe(ecs, cluster, arn)["lastStatus"]
            if not seen or seen[-1] != status:
                seen.append(status)
            return status == until

        wait_for(
            f"the task to reach {until} (seen {seen})", step, timeout=600, interval=0.005 if not AGAINST_AWS else 1
        )

    try:
        arn = _run(ecs, cluster, definition, task_network)
        watch("RUNNING")
        ecs.stop_task(cluster=cluster, task=arn, reason="contract test")
        watch("STOPPED")
        assert seen == sorted(seen, key=ORDER.index), seen  # never backwards
        for state in ("PENDING", "ACTIVATING", "RUNNING", "STOPPING", "DEPROVISIONING", "STOPPED"):
            assert state in seen, seen
        stopped = _describe(ecs, cluster, arn)
        assert (stopped["stopCode"], stopped["stoppedReason"]) == ("UserInitiated", "contract test")
    finally:
        _finish(ecs, cluster, arn, definition)


def test_a_container_waits_for_its_init_container_to_succeed(aws, cluster, task_network, control):
    control("timing", {"speed": 5})
    ecs = aws("ecs")
    definition = _register(ecs, f"{cluster}-init", _app_after_init("sleep 5"))
    arn = None
    try:
        arn = _run(ecs, cluster, definition, task_network)
        first = wait_for(
            "the init container to run",
            lambda: (lambda c: c if c["init"]["lastStatus"] == "RUNNING" else None)(
                _containers(_describe(ecs, cluster, arn))
            ),
            timeout=600,
            interval=0.01,
        )
        assert first["app"]["lastStatus"] == "PENDING"  # not alongside its init container
        after = wait_for(
            "the app to start",
            lambda: (lambda c: c if c["app"]["lastStatus"] == "RUNNING" else None)(
                _containers(_describe(ecs, cluster, arn))
            ),
            timeout=600,
            interval=0.01,
        )
        assert (after["init"]["lastStatus"], after["init"]["exitCode"]) == ("STOPPED", 0)
        assert _describe(ecs, cluster, arn)["lastStatus"] == "RUNNING"  # a non-essential exit stops nothing
    finally:
        _finish(ecs, cluster, arn, definition)


def test_when_the_init_container_fails_the_app_never_starts(aws, cluster, task_network, control):
    family = f"{cluster}-initfails"
    control("behaviours", {"family": family, "container": "init", "exit_code": 1, "run_seconds": 2})
    ecs = aws("ecs")
    definition = _register(ecs, family, _app_after_init("sleep 2; exit 1"))
    arn = None
    try:
        arn = _run(ecs, cluster, definition, task_network)
        ecs.get_waiter("tasks_stopped").wait(
            cluster=cluster, tasks=[arn], WaiterConfig={"Delay": 0.1, "MaxAttempts": 600}
        )
        task = _describe(ecs, cluster, arn)
        containers = _containers(task)
        assert containers["init"]["exitCode"] == 1
        assert containers["app"].get("exitCode") == 143
        assert containers["app"]["reason"].startswith(
            "CannotStartContainerError: dependency graph: failed to resolve container ordering dependency"
        )
        assert (task["stopCode"], task["stoppedReason"]) == (
            "EssentialContainerExited",
            "Essential container in task exited",
        )
    finally:
        _finish(ecs, cluster, arn, definition)


def test_a_non_essential_container_that_exits_leaves_the_task_running(aws, cluster, task_network, control):
    family = f"{cluster}-sidecar"
    control("timing", {"speed": 5})
    control("behaviours", {"family": family, "container": "sidecar", "exit_code": 1, "run_seconds": 1})
    ecs = aws("ecs")
    definition = _register(
        ecs,
        family,
        [
            {"name": "app", "image": IMAGE, "essential": True, "command": ["sleep", "600"]},
            {"name": "sidecar", "image": IMAGE, "essential": False, "command": ["sh", "-c", "sleep 1; exit 1"]},
        ],
    )
    arn = None
    try:
        arn = _run(ecs, cluster, definition, task_network)
        task = wait_for(
            "the sidecar to exit",
            lambda: (lambda t: t if _containers(t)["sidecar"]["lastStatus"] == "STOPPED" else None)(
                _describe(ecs, cluster, arn)
            ),
            timeout=600,
            interval=0.01,
        )
        assert _containers(task)["sidecar"]["exitCode"] == 1
        assert task["lastStatus"] == "RUNNING" and task["desiredStatus"] == "RUNNING"
        assert _containers(task)["app"]["lastStatus"] == "RUNNING"
    finally:
        _finish(ecs, cluster, arn, definition)


def test_an_essential_container_cannot_be_awaited_to_complete(aws):
    ecs = aws("ecs")
    with pytest.raises(ClientError) as refused:
        _register(
            ecs,
            f"contract-dep-{int(time.time())}",
            [
                {"name": "init", "image": IMAGE, "essential": True},
                {
                    "name": "app",
                    "image": IMAGE,
                    "essential": True,
                    "dependsOn": [{"containerName": "init", "condition": "COMPLETE"}],
                },
            ],
        )
    error = refused.value.response["Error"]
    assert (error["Code"], error["Message"]) == (
        "ClientException",
        "A dependency container with SUCCESS or COMPLETE condition cannot be an essential container",
    )
