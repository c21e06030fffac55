"""ECS's events into EventBridge (issue 28, item 3): what a real EventBridge rule with an SQS target gets
from the emulator, read with boto3's events and sqs clients as a consumer would.

ECS's documentation: ecs_task_events.html (task state change: the task as DescribeTasks shows it, its
``version`` incremented per change, duplicates share a version), ecs_service_deployment_events.html,
ecs_service_events.html; EventBridge's "Amazon SQS permissions" (the queue policy a target needs).
"""

from __future__ import annotations

import json
import re

import pytest

from tests.emulator.helpers import cleanup, client, create_service, network, register, wait

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture
def rule_to_queues(emulator):
    """``make(pattern)`` -> (queue with EventBridge's permission, queue without it): both targets of one
    rule on the default bus. Rules and queues are removed afterwards."""
    events, sqs = client(emulator, "events"), client(emulator, "sqs")
    made: list[tuple[str, list[str]]] = []

    def make(pattern: dict, name: str = "ecs-events") -> tuple[str, str]:
        rule_arn = events.put_rule(Name=name, EventPattern=json.dumps(pattern))["RuleArn"]
        urls = []
        for queue, allowed in ((f"{name}-allowed", True), (f"{name}-no-policy", False)):
            url = sqs.create_queue(QueueName=queue)["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            if allowed:
                policy = {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "events.amazonaws.com"},
                            "Action": "sqs:SendMessage",
                            "Resource": arn,
                            "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
                        }
                    ],
                }
                sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
            events.put_targets(Rule=name, Targets=[{"Id": queue, "Arn": arn}])
            urls.append(url)
        made.append((name, urls))
        return urls[0], urls[1]

    yield make
    for name, urls in made:
        events.remove_targets(Rule=name, Ids=[url.rsplit("/", 1)[1] for url in urls])
        events.delete_rule(Name=name)
        for url in urls:
            sqs.delete_queue(QueueUrl=url)


def _receive(sqs, url: str) -> list[dict]:
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    for message in messages:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return [json.loads(m["Body"]) for m in messages]


def _events_until(sqs, url: str, done, description: str) -> list[dict]:
    received: list[dict] = []

    def arrived() -> bool:
        received.extend(_receive(sqs, url))
        return any(done(event) for event in received)

    wait(description, arrived, timeout=30)
    return received


def _run_one(emulator, ecs) -> str:
    register(ecs, family="job")
    [task] = ecs.run_task(
        cluster="c", taskDefinition="job", launchType="FARGATE", networkConfiguration=network(emulator)
    )["tasks"]
    return task["taskArn"]


def test_a_tasks_state_changes_reach_a_permitted_queue_as_ecs_sends_them(emulator, rule_to_queues):
    ecs, sqs = client(emulator), client(emulator, "sqs")
    ecs.create_cluster(clusterName="c")
    cluster_arn = ecs.describe_clusters(clusters=["c"])["clusters"][0]["clusterArn"]
    allowed, no_policy = rule_to_queues(
        {"source": ["aws.ecs"], "detail-type": ["ECS Task State Change"], "detail": {"clusterArn": [cluster_arn]}}
    )
    emulator.add_behaviour(family="job", run_seconds=20)
    try:
        arn = _run_one(emulator, ecs)
        events = _events_until(sqs, allowed, lambda e: e["detail"]["lastStatus"] == "STOPPED", "the STOPPED event")
        [described] = ecs.describe_tasks(cluster="c", tasks=[arn])["tasks"]
    finally:
        cleanup(ecs)
    statuses = [e["detail"]["lastStatus"] for e in events]
    assert statuses[0] == "PROVISIONING" and "RUNNING" in statuses and statuses[-1] == "STOPPED", statuses
    versions = [e["detail"]["version"] for e in events]
    assert versions == list(range(1, len(events) + 1))  # one more per change; in order here (no delivery behaviours)
    last = events[-1]
    assert last["detail"]["version"] == described["version"]  # DescribeTasks reports the version the event carried
    assert (last["source"], last["detail-type"], last["resources"]) == ("aws.ecs", "ECS Task State Change", [arn])
    assert last["account"] == arn.split(":")[4] and last["region"] == "us-east-1" and last["version"] == "0"
    detail = last["detail"]
    assert (detail["taskArn"], detail["desiredStatus"], detail["stopCode"]) == (
        arn,
        "STOPPED",
        "EssentialContainerExited",
    )
    assert detail["containers"][0]["exitCode"] == 0 and detail["group"] == described["group"]
    assert all(ISO_MS.match(detail[k]) for k in ("createdAt", "startedAt", "stoppedAt", "updatedAt")), detail
    assert "tags" not in detail
    # The same rule's other target lets no one send to it: EventBridge's invocation fails, the queue stays empty.
    assert _receive(sqs, no_policy) == []


def test_a_services_deployment_and_steady_state_are_sent(emulator, rule_to_queues):
    ecs, sqs = client(emulator), client(emulator, "sqs")
    ecs.create_cluster(clusterName="c")
    allowed, _ = rule_to_queues(
        {"source": ["aws.ecs"], "detail-type": ["ECS Deployment State Change", "ECS Service Action"]}
    )
    register(ecs, family="web")
    try:
        service = create_service(ecs, emulator, "web", "web")
        events: list[dict] = []
        wanted = {"SERVICE_STEADY_STATE", "SERVICE_DEPLOYMENT_COMPLETED"}
        wait(
            "the steady-state and completed events",
            lambda: events.extend(_receive(sqs, allowed)) or wanted <= {e["detail"]["eventName"] for e in events},
            timeout=30,
        )
    finally:
        cleanup(ecs)
    names = [e["detail"]["eventName"] for e in events]
    assert names.index("SERVICE_DEPLOYMENT_IN_PROGRESS") < names.index("SERVICE_DEPLOYMENT_COMPLETED"), names
    deployment = service["deployments"][0]["id"]
    completed = next(e for e in events if e["detail"]["eventName"] == "SERVICE_DEPLOYMENT_COMPLETED")
    assert completed["detail"]["deploymentId"] == deployment and completed["detail"]["eventType"] == "INFO"
    assert completed["detail"]["reason"] == f"ECS deployment {deployment} completed."
    assert all(e["resources"] == [service["serviceArn"]] for e in events)
    steady = next(e for e in events if e["detail"]["eventName"] == "SERVICE_STEADY_STATE")
    assert steady["detail-type"] == "ECS Service Action" and steady["detail"]["clusterArn"] == service["clusterArn"]


def test_a_service_that_cannot_start_tasks_sends_task_start_impaired(emulator, rule_to_queues):
    """ecs_service_events.html: SERVICE_TASK_START_IMPAIRED (WARN), "The service is unable to consistently
    start tasks successfully", when the scheduler throttles the service's launches."""
    ecs, sqs = client(emulator), client(emulator, "sqs")
    ecs.create_cluster(clusterName="c")
    allowed, _ = rule_to_queues({"source": ["aws.ecs"], "detail-type": ["ECS Service Action"]})
    register(ecs, family="broken")
    emulator.add_behaviour(family="broken", pull_failure=True)
    try:
        service = create_service(ecs, emulator, "broken", "broken")
        events = _events_until(
            sqs,
            allowed,
            lambda e: e["detail"]["eventName"] == "SERVICE_TASK_START_IMPAIRED",
            "the task start impaired event",
        )
    finally:
        cleanup(ecs)
    impaired = next(e for e in events if e["detail"]["eventName"] == "SERVICE_TASK_START_IMPAIRED")
    assert impaired["detail"]["eventType"] == "WARN" and impaired["resources"] == [service["serviceArn"]]
    assert impaired["detail"]["clusterArn"] == service["clusterArn"] and ISO_MS.match(impaired["detail"]["createdAt"])
    assert "SERVICE_STEADY_STATE" not in {e["detail"]["eventName"] for e in events}


@pytest.mark.parametrize(
    ("delivery", "judge"),
    [
        ({"duplicate": 1.0}, lambda versions, last: versions == sorted(v for v in range(1, last + 1) for _ in "ab")),
        (
            {"reorder": 0.5},
            lambda versions, last: sorted(versions) == list(range(1, last + 1)) and versions != sorted(versions),
        ),
        ({"loss": 0.5}, lambda versions, last: 0 < len(versions) < last and versions == sorted(versions)),
    ],
    ids=["duplicated", "reordered", "lost"],
)
def test_delivery_behaviours_duplicate_reorder_and_lose_events(emulator, rule_to_queues, delivery, judge):
    ecs, sqs = client(emulator), client(emulator, "sqs")
    ecs.create_cluster(clusterName="c")
    allowed, _ = rule_to_queues({"source": ["aws.ecs"], "detail-type": ["ECS Task State Change"]})
    emulator.add_behaviour(family="job", run_seconds=20)
    emulator.set_event_delivery(**delivery)
    try:
        arn = _run_one(emulator, ecs)
        wait(
            "the task to stop",
            lambda: ecs.describe_tasks(cluster="c", tasks=[arn])["tasks"][0]["lastStatus"] == "STOPPED",
        )
        last = ecs.describe_tasks(cluster="c", tasks=[arn])["tasks"][0]["version"]
        received: list[int] = []
        # Whatever is still on its way (held back for reordering) arrives within a second.
        wait(
            "the events still on their way",
            lambda: received.extend(e["detail"]["version"] for e in _receive(sqs, allowed)) or judge(received, last),
            timeout=10,
        )
    finally:
        cleanup(ecs)
    assert judge(received, last), (received, last)


def test_event_delivery_refuses_what_it_cannot_play(emulator):
    with pytest.raises(ValueError, match=r"event_delivery.loss: 2 is not allowed; give 0 to 1"):
        emulator.set_event_delivery(loss=2)
    with pytest.raises(ValueError, match=r"event_delivery.late: unknown; allowed: delay, duplicate, loss, reorder"):
        emulator.set_event_delivery(late=1)


def test_a_long_poll_waits_without_holding_up_the_emulator_and_ends_when_a_message_comes(emulator):
    """A consumer's ReceiveMessage long poll (WaitTimeSeconds, up to 20 s: SQS API_ReceiveMessage) waits
    for a message; meanwhile the emulator answers other calls and its tasks go on."""
    import threading
    import time

    sqs, ecs = client(emulator, "sqs"), client(emulator)
    url = sqs.create_queue(QueueName="long-poll")["QueueUrl"]
    try:
        received: list = []
        started = time.monotonic()
        poll = threading.Thread(
            target=lambda: received.extend(sqs.receive_message(QueueUrl=url, WaitTimeSeconds=10).get("Messages", []))
        )
        poll.start()
        wait("the long poll to be waiting", lambda: emulator.actions["sqs:ReceiveMessage"] >= 1)
        before = time.monotonic()
        ecs.list_clusters()
        other_call = time.monotonic() - before
        sqs.send_message(QueueUrl=url, MessageBody="hello")
        poll.join(timeout=15)
        assert not poll.is_alive() and [m["Body"] for m in received] == ["hello"]
        assert other_call < 2 and time.monotonic() - started < 8, (other_call, time.monotonic() - started)
    finally:
        sqs.delete_queue(QueueUrl=url)
