"""The judgement both waits use, on DescribeServices answers (the emulator tests show the real ones)."""

from __future__ import annotations

import pytest

from fargate_provider.state.service import (
    FAILED,
    STABLE,
    WAITING,
    EventLog,
    ServiceWatch,
    judge,
)

TD1 = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:1"
TD2 = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:2"


def service(**changes):
    base = {
        "serviceName": "web",
        "status": "ACTIVE",
        "desiredCount": 2,
        "runningCount": 2,
        "pendingCount": 0,
        "deploymentConfiguration": {"deploymentCircuitBreaker": {"enable": True, "rollback": True}},
        "deployments": [
            {
                "id": "ecs-svc/2",
                "status": "PRIMARY",
                "taskDefinition": TD2,
                "rolloutState": "COMPLETED",
                "desiredCount": 2,
                "runningCount": 2,
                "pendingCount": 0,
                "failedTasks": 0,
            }
        ],
        "events": [],
    }
    base.update(changes)
    return base


def test_stable_when_every_condition_holds():
    assert judge(service(), task_definition=TD2).state == STABLE


@pytest.mark.parametrize(
    "changes",
    [
        {"runningCount": 1},
        {"pendingCount": 1},
        {
            "deployments": [
                {
                    "id": "ecs-svc/2",
                    "status": "PRIMARY",
                    "taskDefinition": TD2,
                    "rolloutState": "IN_PROGRESS",
                    "failedTasks": 0,
                }
            ]
        },
        {
            "deployments": [
                {
                    "id": "ecs-svc/2",
                    "status": "PRIMARY",
                    "taskDefinition": TD2,
                    "rolloutState": "COMPLETED",
                    "failedTasks": 0,
                },
                {
                    "id": "ecs-svc/1",
                    "status": "ACTIVE",
                    "taskDefinition": TD1,
                    "rolloutState": "COMPLETED",
                    "failedTasks": 0,
                },
            ]
        },
    ],
    ids=["running short", "pending", "rollout in progress", "old deployment still draining"],
)
def test_waiting(changes):
    assert judge(service(**changes), task_definition=TD2).state == WAITING


def test_botocores_stable_after_a_rollback_is_a_failure_here():
    # one deployment, running == desired: botocore's services_stable would succeed
    rolled_back = service(
        deployments=[
            {
                "id": "ecs-svc/3",
                "status": "PRIMARY",
                "taskDefinition": TD1,
                "rolloutState": "COMPLETED",
                "failedTasks": 0,
            }
        ],
        events=[
            {"id": "e1", "message": "(service web) (deployment ecs-svc/2) deployment failed: tasks failed to start."}
        ],
    )
    verdict = judge(rolled_back, task_definition=TD2, stopped_tasks=[])
    assert verdict.state == FAILED
    assert f"rollout of {TD2} FAILED: tasks failed to start.; rolled back to {TD1}" in verdict.reason


@pytest.mark.parametrize("status", ["INACTIVE", "DRAINING"])
def test_inactive_or_draining_fails(status):
    verdict = judge(service(status=status), task_definition=TD2)
    assert (verdict.state, verdict.reason) == (FAILED, f"service web is {status}")


def test_missing_fails_and_missing_is_the_goal_when_deleting():
    assert judge(None).state == FAILED
    assert judge(None, target="INACTIVE").state == STABLE
    assert judge(service(), target="INACTIVE").state == WAITING


def test_stopping_tasks_ask_for_details_then_fail_with_them():
    failing = service(
        deployments=[
            {
                "id": "ecs-svc/2",
                "status": "PRIMARY",
                "taskDefinition": TD2,
                "rolloutState": "IN_PROGRESS",
                "failedTasks": 3,
            }
        ]
    )
    first = judge(failing, task_definition=TD2)
    assert (first.state, first.needs_stopped_tasks, first.deployment_id) == (WAITING, True, "ecs-svc/2")
    stopped = [
        {
            "taskArn": "arn:aws:ecs:us-east-1:1:task/c/abc",
            "stopCode": "TaskFailedToStart",
            "stoppedReason": "CannotPullContainerError: not found",
            "containers": [{"name": "app", "reason": "CannotPullContainerError"}],
        }
    ]
    verdict = judge(failing, task_definition=TD2, stopped_tasks=stopped)
    assert verdict.state == FAILED
    assert (
        "task abc: TaskFailedToStart: CannotPullContainerError: not found (app CannotPullContainerError)"
        in verdict.reason
    )


def test_events_are_reported_once_and_known_ones_never():
    log = EventLog(known=["old"])
    svc = service(
        events=[{"id": "new2", "message": "two"}, {"id": "new1", "message": "one"}, {"id": "old", "message": "before"}]
    )
    assert log.new_events([svc]) == [("web", "one"), ("web", "two")]
    assert log.new_events([svc]) == []
    learning = EventLog(known=None)
    assert learning.new_events([svc]) == []  # first look only learns


def test_watch_round_trips_through_its_kwargs():
    watch = ServiceWatch(["web"], task_definitions={"web": TD2}, known_events=["a"])
    watch.poll([service(events=[{"id": "b", "message": "m"}])])
    again = ServiceWatch(**watch.to_kwargs())
    assert again.events.seen == {"a", "b"} and again.task_definitions == {"web": TD2}


TG = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/e-shop/0123456789abcdef"


def target(ip, state, reason=None, description=None):
    health = {
        "State": state,
        **({"Reason": reason} if reason else {}),
        **({"Description": description} if description else {}),
    }
    return {"Target": {"Id": ip, "Port": 80}, "TargetHealth": health}


def behind_a_load_balancer(**changes):
    return service(loadBalancers=[{"targetGroupArn": TG, "containerName": "app", "containerPort": 80}], **changes)


def test_behind_a_load_balancer_stable_needs_the_targets_and_then_all_of_them_healthy():
    first = judge(behind_a_load_balancer(), task_definition=TD2)
    assert (first.state, first.needs_target_health) == (WAITING, True)
    starting = judge(
        behind_a_load_balancer(),
        task_definition=TD2,
        target_health={TG: [target("10.0.1.4", "healthy"), target("10.0.1.5", "initial", "Elb.InitialHealthChecking")]},
    )
    assert starting.state == WAITING
    assert (
        starting.reason
        == "target group e-shop: 1/2 healthy: 10.0.1.4:80 healthy, 10.0.1.5:80 initial (Elb.InitialHealthChecking)"
    )
    # an old task's target draining away is not the new deployment's concern; both new ones are healthy
    ready = {
        TG: [
            target("10.0.1.4", "healthy"),
            target("10.0.1.5", "healthy"),
            target("10.0.1.9", "draining", "Target.DeregistrationInProgress"),
        ]
    }
    assert judge(behind_a_load_balancer(), task_definition=TD2, target_health=ready).state == STABLE
    # ECS counts two running, the load balancer knows only one of them yet
    assert (
        judge(behind_a_load_balancer(), task_definition=TD2, target_health={TG: [target("10.0.1.4", "healthy")]}).state
        == WAITING
    )


@pytest.mark.parametrize(
    "event",
    [
        # as service-unhealthy-event-messages.html words it for Fargate, and as users quote it on EC2
        "(service web) (task 1a2b) (port 80) is unhealthy in (target-group "
        + TG
        + ") due to (reason Health checks failed with these codes: [502]).",
        (
            "service web (port 80) is unhealthy in target-group e-shop "
            "due to (reason Health checks failed with these codes: [502])."
        ),
    ],
)
def test_a_task_stopped_for_failed_health_checks_fails_at_once_with_the_reason(event):
    deployment = {
        "id": "ecs-svc/2",
        "status": "PRIMARY",
        "taskDefinition": TD2,
        "rolloutState": "IN_PROGRESS",
        "failedTasks": 1,
        "desiredCount": 2,
        "runningCount": 1,
        "pendingCount": 0,
    }
    failing = behind_a_load_balancer(deployments=[deployment], events=[{"id": "e1", "message": event}])
    first = judge(failing, task_definition=TD2)
    assert (first.state, first.needs_stopped_tasks, first.deployment_id) == (WAITING, True, "ecs-svc/2")
    stopped = [
        {
            "taskArn": "arn:aws:ecs:us-east-1:123456789012:task/c/1a2b",
            "startedBy": "ecs-svc/2",
            "stopCode": "ServiceSchedulerInitiated",
            "stoppedReason": f"Task failed ELB health checks in (target-group {TG})",
            "containers": [{"name": "app", "exitCode": 143}],
        }
    ]
    verdict = judge(failing, task_definition=TD2, stopped_tasks=stopped)
    assert verdict.state == FAILED
    assert verdict.reason.startswith(
        f"service web: 1 task(s) of deployment ecs-svc/2 ({TD2}) failed the load balancer's health checks "
        "(reason Health checks failed with these codes: [502]). "
        "Stopped tasks: task 1a2b: ServiceSchedulerInitiated: Task failed ELB"
    )
    # a task that stopped for another reason is left to the usual count (max_failed_tasks)
    crashed = [
        {**stopped[0], "stopCode": "EssentialContainerExited", "stoppedReason": "Essential container in task exited"}
    ]
    assert judge(failing, task_definition=TD2, stopped_tasks=crashed).state == WAITING
    # and, once looked at, not fetched again every poll
    assert judge(failing, task_definition=TD2, failures_examined=1).needs_stopped_tasks is False


def test_the_page_counts_serving_targets_not_draining_ones():
    """A target draining after its task was told to stop is leaving: an environment put to sleep shows
    0 of 0, not 0 of the targets still draining."""
    from fargate_provider.state.service import target_counts

    def target(state):
        return {"Target": {"Id": "10.0.0.1", "Port": 80}, "TargetHealth": {"State": state}}

    health = {"tg-a": [target("healthy"), target("draining"), target("initial")], "tg-b": [target("draining")]}
    assert target_counts(health, ["tg-a", "tg-b"]) == {"healthy": 1, "total": 2}
    assert target_counts({"tg-b": [target("draining")]}, ["tg-b"]) == {"healthy": 0, "total": 0}
