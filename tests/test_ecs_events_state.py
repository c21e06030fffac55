"""Which waits an ECS event concerns and whether it is news (state/ecs_events.py, issue 28 item 2).

The events are shaped as ECS's documentation shows them: ecs_task_events.html (the detail is the task
as DescribeTasks shows it; ``version`` increments per change, duplicates share it),
ecs_service_events.html and ecs_service_deployment_events.html (the service's ARN in ``resources``)."""

from __future__ import annotations

import json

from fargate_provider.state.ecs_events import SERVICES, TASKS, SeenEvents, parse_event

CLUSTER = "arn:aws:ecs:us-west-2:111122223333:cluster/FargateCluster"
TASK = "arn:aws:ecs:us-west-2:111122223333:task/FargateCluster/c13b4cb40f1f4fe4a2971f76ae5a47ad"
SERVICE = "arn:aws:ecs:us-west-2:111122223333:service/FargateCluster/web"


def task_event(version: int, event_id: str = "3317b2af-7005-947d-b652-f55e762e571a", group: str = "family:x") -> str:
    return json.dumps(
        {
            "version": "0",
            "id": event_id,
            "detail-type": "ECS Task State Change",
            "source": "aws.ecs",
            "account": "111122223333",
            "time": "2020-01-23T17:57:58Z",
            "region": "us-west-2",
            "resources": [TASK],
            "detail": {
                "clusterArn": CLUSTER,
                "taskArn": TASK,
                "group": group,
                "lastStatus": "RUNNING",
                "desiredStatus": "RUNNING",
                "version": version,
            },
        }
    )


def service_event(detail_type: str, event_id: str) -> str:
    detail = {"eventType": "INFO", "eventName": "SERVICE_STEADY_STATE", "clusterArn": CLUSTER}
    if detail_type == "ECS Deployment State Change":
        detail = {"eventType": "INFO", "eventName": "SERVICE_DEPLOYMENT_COMPLETED", "deploymentId": "ecs-svc/1"}
    return json.dumps(
        {
            "version": "0",
            "id": event_id,
            "detail-type": detail_type,
            "source": "aws.ecs",
            "account": "111122223333",
            "time": "2020-05-23T12:31:14Z",
            "region": "us-west-2",
            "resources": [SERVICE],
            "detail": detail,
        }
    )


def test_a_task_event_concerns_waits_on_the_task_by_arn_or_id_and_on_its_service():
    event = parse_event(task_event(3, group="service:web"))
    assert event is not None and event.version == 3 and event.resource == TASK
    assert event.concerns == {
        (TASKS, "FargateCluster", TASK),
        (TASKS, "FargateCluster", "c13b4cb40f1f4fe4a2971f76ae5a47ad"),
        (SERVICES, "FargateCluster", "web"),
    }
    # a one-off task (group family:…) concerns no service wait
    assert {kind for kind, _, _ in parse_event(task_event(3)).concerns} == {TASKS}


def test_service_and_deployment_events_concern_waits_on_the_service_by_name_or_arn():
    for detail_type in ("ECS Service Action", "ECS Deployment State Change"):
        event = parse_event(service_event(detail_type, "e1"))
        assert event is not None and event.version is None
        assert event.concerns == {(SERVICES, "FargateCluster", "web"), (SERVICES, "FargateCluster", SERVICE)}


def test_what_is_not_one_of_ecss_events_is_none():
    assert parse_event("not json") is None
    assert (
        parse_event(json.dumps({"source": "aws.ec2", "detail-type": "EC2 Instance State-change Notification"})) is None
    )
    assert parse_event(json.dumps({"source": "aws.ecs", "detail-type": "ECS Container Instance State Change"})) is None
    # the old service ARN format has no cluster in it: the waits cannot be told
    old = json.loads(service_event("ECS Service Action", "e2"))
    old["resources"] = ["arn:aws:ecs:us-west-2:111122223333:service/web"]
    assert parse_event(json.dumps(old)) is None


def test_a_duplicate_or_an_older_version_arriving_late_is_not_news():
    seen = SeenEvents()
    news = [seen.is_news(parse_event(task_event(v))) for v in (2, 2, 1, 3, 3)]
    assert news == [True, False, False, True, False]
    service_news = [seen.is_news(parse_event(service_event("ECS Service Action", i))) for i in ("a", "a", "b")]
    assert service_news == [True, False, True]


def test_what_is_remembered_is_bounded():
    seen = SeenEvents(size=2)
    for i in range(3):
        assert seen.is_news(parse_event(service_event("ECS Service Action", f"id-{i}")))
    assert seen.is_news(parse_event(service_event("ECS Service Action", "id-0")))  # forgotten, oldest first
    assert not seen.is_news(parse_event(service_event("ECS Service Action", "id-2")))


def test_an_event_during_a_round_is_not_lost_to_the_rounds_next_due_time(monkeypatch):
    """A wait woken while a round that describes it is in flight (its answer may predate the event)
    is described again soon after, not at the reconcile interval the round would set."""
    import asyncio
    import time

    from fargate_provider.triggers import polling

    monkeypatch.setenv("AIRFLOW__FARGATE__EVENTS_QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/123456789012/q")
    monkeypatch.setenv("AIRFLOW__FARGATE__EVENTS_RECONCILE_SECONDS", "600")

    async def main():
        poller = polling.SharedPoller(hook=None, key=("aws_default",))
        poller.events.healthy = True
        quiet, woken = (polling.Subscription(poller, TASKS, "c", [t], 0.25) for t in ("t1", "t2"))
        for subscription in (quiet, woken):
            poller.subscriptions.add(subscription)
            for key in polling._keys(subscription):
                poller._holding.setdefault(key, set()).add(subscription)
        in_flight, release = asyncio.Event(), asyncio.Event()

        class Ecs:
            async def describe_tasks(self, cluster, tasks):
                in_flight.set()
                await release.wait()
                return {"tasks": []}

        class Clients:
            async def get(self, service):
                return Ecs()

        round_ = asyncio.create_task(poller._round(Clients(), [quiet, woken]))
        await in_flight.wait()
        poller.wake_for(frozenset({(TASKS, "c", "t2")}))
        release.set()
        await round_
        return quiet.due_at - time.monotonic(), woken.due_at - time.monotonic()

    quiet_in, woken_in = asyncio.run(main())
    assert quiet_in > 590  # the reconcile interval
    assert woken_in <= polling.EVENTS_GATHER_SECONDS
