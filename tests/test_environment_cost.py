"""An environment's cost so far from its service's deployment history (environments/cost.py), and
through the emulator the page's figure counting tasks ECS no longer lists.

The history's shapes are ECS's (API reference, https://docs.aws.amazon.com/AmazonECS/latest/APIReference/):
API_ListServiceDeployments, API_DescribeServiceDeployments (``targetServiceRevision``
{arn, requestedTaskCount, runningTaskCount, pendingTaskCount}, ``startedAt``, ``rollback``
{reason, startedAt, serviceRevisionArn}) and API_DescribeServiceRevisions (``taskDefinition``).
ECS keeps stopped tasks listed for about an hour (API_ListTasks: "Recently stopped tasks might
appear in the returned results"); the history keeps 90 days (developer guide, service-deployment.html).
"""

from __future__ import annotations

import datetime as dt

import boto3
import pytest
from botocore.stub import Stubber

from fargate_provider.environments.cost import estimate_service_cost, history_cost
from fargate_provider.utils.pricing import fargate_cost

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)
PREFIX = "arn:aws:ecs:us-east-1:123456789012"
SMALL, LARGE, BROKEN = (
    f"{PREFIX}:task-definition/web:1",
    f"{PREFIX}:task-definition/web:2",
    f"{PREFIX}:task-definition/web:3",
)
SIZES = {SMALL: ("256", "512"), LARGE: ("512", "1024"), BROKEN: ("1024", "2048")}


def _task_definition(arn: str) -> dict:
    cpu, memory = SIZES[arn]
    return {"taskDefinitionArn": arn, "cpu": cpu, "memory": memory, "runtimePlatform": {"cpuArchitecture": "X86_64"}}


def _revision(n: int, task_definition: str) -> dict:
    return {"serviceRevisionArn": f"{PREFIX}:service-revision/env-web/web/{n}", "taskDefinition": task_definition}


def _deployment(
    n: int, revision: dict, started: dt.datetime, requested: int, running: int | None = None, **extra
) -> dict:
    return {
        "serviceDeploymentArn": f"{PREFIX}:service-deployment/env-web/web/d{n}",
        "createdAt": started - dt.timedelta(seconds=2),
        "startedAt": started,
        "status": "SUCCESSFUL",
        "targetServiceRevision": {
            "arn": revision["serviceRevisionArn"],
            "requestedTaskCount": requested,
            "runningTaskCount": requested if running is None else running,
            "pendingTaskCount": 0,
        },
        **extra,
    }


def _usd(cpu: str, memory: str, seconds: float, tasks: int) -> float:
    return tasks * fargate_cost(cpu, memory, seconds).usd


def test_two_deployments_of_different_sizes_each_last_until_the_next_started():
    small, large = _revision(1, SMALL), _revision(2, LARGE)
    history = [
        _deployment(2, large, T0 + HOUR, requested=1),
        _deployment(1, small, T0, requested=3),
    ]  # listed newest first
    cost = history_cost(
        history,
        {r["serviceRevisionArn"]: r for r in (small, large)},
        _task_definition,
        region="us-east-1",
        until=T0 + 3 * HOUR,
    )
    # three small tasks for the first hour, then one large task for two hours
    assert cost.usd == pytest.approx(_usd("256", "512", 3600, 3) + _usd("512", "1024", 7200, 1))
    assert cost.tasks == 4


def test_a_rolled_back_deployment_runs_the_revision_it_rolled_back_to_once_the_rollback_started():
    small, broken = _revision(1, SMALL), _revision(3, BROKEN)
    rollback = {
        "reason": "ECS deployment circuit breaker: rolling back to deploymentId ecs-svc/1.",
        "startedAt": T0 + HOUR + 10 * dt.timedelta(minutes=1),
        "serviceRevisionArn": small["serviceRevisionArn"],
    }
    history = [
        _deployment(1, small, T0, requested=2),
        _deployment(2, broken, T0 + HOUR, requested=2, running=0, status="ROLLBACK_SUCCESSFUL", rollback=rollback),
    ]
    cost = history_cost(
        history,
        {r["serviceRevisionArn"]: r for r in (small, broken)},
        _task_definition,
        region="us-east-1",
        until=T0 + 2 * HOUR,
    )
    expected = _usd("256", "512", 3600, 2) + _usd("1024", "2048", 600, 2) + _usd("256", "512", 3000, 2)
    assert cost.usd == pytest.approx(expected)


def _hook_on(client):
    from fargate_provider.hooks.fargate import FargateHook

    hook = FargateHook(aws_conn_id=None, region_name="us-east-1")
    hook.__dict__["conn"] = client  # the hook's own methods, on a stubbed client
    return hook


SERVICE = {"serviceName": "web", "serviceArn": f"{PREFIX}:service/env-web/web", "taskDefinition": SMALL}
RUNNING_TASK = {
    "taskArn": f"{PREFIX}:task/env-web/a1",
    "cpu": "256",
    "memory": "512",
    "lastStatus": "RUNNING",
    "pullStartedAt": T0 + HOUR,
    "startedAt": T0 + HOUR,
}


def _listed_tasks(stub: Stubber) -> None:
    """ECS lists the one running task; the stopped tasks of the first deployment are gone (over an hour ago)."""
    stub.add_response("describe_task_definition", {"taskDefinition": _task_definition(SMALL), "tags": []})
    stub.add_response(
        "list_tasks",
        {"taskArns": [RUNNING_TASK["taskArn"]]},
        {"cluster": "env-web", "serviceName": "web", "desiredStatus": "RUNNING"},
    )
    stub.add_response(
        "list_tasks", {"taskArns": []}, {"cluster": "env-web", "serviceName": "web", "desiredStatus": "STOPPED"}
    )
    stub.add_response("describe_tasks", {"tasks": [RUNNING_TASK], "failures": []})


def test_tasks_ecs_no_longer_lists_are_still_counted_from_the_history():
    ecs = boto3.client("ecs", region_name="us-east-1")
    large, small = _revision(1, LARGE), _revision(2, SMALL)
    history = [_deployment(2, small, T0 + HOUR, requested=1), _deployment(1, large, T0, requested=2)]
    with Stubber(ecs) as stub:
        _listed_tasks(stub)
        stub.add_response(
            "list_service_deployments",
            {"serviceDeployments": [{"serviceDeploymentArn": d["serviceDeploymentArn"]} for d in history]},
        )
        stub.add_response("describe_service_deployments", {"serviceDeployments": history, "failures": []})
        stub.add_response("describe_service_revisions", {"serviceRevisions": [small, large], "failures": []})
        stub.add_response("describe_task_definition", {"taskDefinition": _task_definition(LARGE), "tags": []})
        estimate = estimate_service_cost(_hook_on(ecs), "env-web", SERVICE, region="us-east-1", now=T0 + 2 * HOUR)
        stub.assert_no_pending_responses()
    # the two large tasks of the first hour, which ECS no longer lists, and the small one since
    assert estimate.usd == pytest.approx(_usd("512", "1024", 3600, 2) + _usd("256", "512", 3600, 1), abs=1e-6)
    assert estimate.note == (
        "service history: 2 deployment(s), task counts x durations (more than the 1 task(s) "
        "ECS still lists), us-east-1 X86_64 on-demand rates"
    )


def test_without_permission_for_the_history_the_listed_tasks_are_the_estimate():
    ecs = boto3.client("ecs", region_name="us-east-1")
    with Stubber(ecs) as stub:
        _listed_tasks(stub)
        stub.add_client_error(
            "list_service_deployments",
            service_error_code="AccessDeniedException",
            http_status_code=400,
            service_message="User is not authorized to perform: ecs:ListServiceDeployments",
        )
        estimate = estimate_service_cost(_hook_on(ecs), "env-web", SERVICE, region="us-east-1", now=T0 + 2 * HOUR)
    assert estimate.usd == round(fargate_cost("256", "512", 3600).usd, 6)
    assert (
        estimate.note == "1 task(s) ECS still lists, us-east-1 X86_64 on-demand rates "
        "(service history not read: AccessDeniedException)"
    )


def test_the_page_counts_a_replaced_deployments_tasks_ecs_no_longer_lists(user_dags, emulator, capfd):
    """Through the emulator: an environment of two large tasks, updated to one small task; once ECS
    has forgotten the stopped large tasks, the page's figure still includes them."""
    from fargate_local import moto_bridge
    from fargate_provider.environments.discovery import describe_environments
    from fargate_provider.hooks.fargate import FargateHook

    conf = {"environment": "history", "desired_count": 2, "size": "512/1024"}
    assert user_dags.run("fargate_ephemeral_environment", capfd, run_conf=conf).state == "success"
    replaced = user_dags.run(
        "fargate_ephemeral_environment", capfd, run_conf={**conf, "desired_count": 1, "size": "256/512"}
    )
    assert replaced.state == "success", replaced.task_states
    try:
        # ECS forgets stopped tasks after about an hour; the emulator keeps them, so forget them here.
        with emulator.control_plane.lock:
            for _, _, backend in moto_bridge.iter_ecs_backends():
                tasks = backend.tasks.get("env-history", {})
                for arn in [arn for arn, task in tasks.items() if task.last_status == "STOPPED"]:
                    del tasks[arn]
        [env] = describe_environments(FargateHook(aws_conn_id="aws_default"), dt.datetime.now(dt.UTC))
    finally:
        destroy = {"environment": "history", "action": "destroy"}
        assert user_dags.run("fargate_ephemeral_environment", capfd, run_conf=destroy).state == "success"
    assert env["running_count"] == 1
    assert env["cost_note"].startswith("service history: 2 deployment(s)"), env["cost_note"]
    assert "(more than the 1 task(s) ECS still lists)" in env["cost_note"]
    # at least the Fargate minimum of the two replaced large tasks and of the small one
    assert env["estimated_cost_usd"] >= round(_usd("512", "1024", 60, 2) + _usd("256", "512", 60, 1), 6)


def test_a_service_without_deployments_has_no_history_cost():
    """A service being deleted lists no deployments: no figure from the history (the page lists on)."""
    assert history_cost([], {}, lambda arn: None, region="us-east-1", until=T0) is None
