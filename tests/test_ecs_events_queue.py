"""The provider makes and removes the queue and rule that bring ECS's events to the triggerer
(``fargate_provider.ecs_events_queue``), ours by tag, against the emulator's EventBridge and SQS."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fargate_provider.ecs_events_queue import (
    EVENT_PATTERN,
    EventsQueueNameError,
    create_events_queue,
    delete_events_queue,
    main,
)
from fargate_provider.exceptions import NotOursError
from fargate_provider.hooks.fargate import FargateHook
from tests.emulator.helpers import client, network, register, wait

NAME = "fargate-ecs-events-test"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def hook(emulator):
    return FargateHook(aws_conn_id="aws_default", region_name="us-east-1")


def _nothing_left(emulator) -> None:
    assert client(emulator, "sqs").list_queues().get("QueueUrls", []) == []
    assert client(emulator, "events").list_rules()["Rules"] == []


def test_create_makes_a_queue_ecs_events_reach_and_again_changes_nothing_and_delete_removes_it(emulator, ecs, hook):
    made = create_events_queue(hook, NAME)
    sqs, events = client(emulator, "sqs"), client(emulator, "events")
    assert sqs.list_queue_tags(QueueUrl=made.queue_url)["Tags"] == {"managed-by": "airflow-provider-fargate"}
    rule = events.describe_rule(Name=NAME)
    assert json.loads(rule["EventPattern"]) == EVENT_PATTERN and rule["State"] == "ENABLED"
    again = create_events_queue(hook, NAME)
    assert again == made
    assert [t["Arn"] for t in events.list_targets_by_rule(Rule=NAME)["Targets"]] == [made.queue_arn]
    # ECS's events arrive: a task's state changes
    register(ecs)
    [task] = ecs.run_task(
        cluster="c", taskDefinition="job", launchType="FARGATE", networkConfiguration=network(emulator)
    )["tasks"]
    bodies: list[dict] = []

    def received() -> bool:
        answer = sqs.receive_message(QueueUrl=made.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        bodies.extend(json.loads(m["Body"]) for m in answer.get("Messages", []))
        return any(
            b["detail-type"] == "ECS Task State Change" and b["detail"]["taskArn"] == task["taskArn"] for b in bodies
        )

    wait("the task's events in the queue", received, timeout=30)
    wait(
        "the task to stop",
        lambda: ecs.describe_tasks(cluster="c", tasks=[task["taskArn"]])["tasks"][0]["lastStatus"] == "STOPPED",
        timeout=30,
    )
    assert delete_events_queue(hook, NAME) == [made.rule_arn, made.queue_url]
    _nothing_left(emulator)
    assert delete_events_queue(hook, NAME) == []  # nothing of that name: nothing to do


def test_a_queue_or_rule_of_that_name_that_is_not_ours_is_neither_adopted_nor_deleted(emulator, hook):
    sqs, events = client(emulator, "sqs"), client(emulator, "events")
    url = sqs.create_queue(QueueName=NAME)["QueueUrl"]
    with pytest.raises(NotOursError, match="SQS queue fargate-ecs-events-test exists without the tag"):
        create_events_queue(hook, NAME)
    assert events.list_rules()["Rules"] == []  # nothing made
    with pytest.raises(NotOursError):
        delete_events_queue(hook, NAME)
    sqs.delete_queue(QueueUrl=url)
    events.put_rule(Name=NAME, EventPattern=json.dumps({"source": ["aws.ecs"]}))
    with pytest.raises(NotOursError, match="EventBridge rule fargate-ecs-events-test exists without the tag"):
        create_events_queue(hook, NAME)
    assert sqs.list_queues().get("QueueUrls", []) == []
    with pytest.raises(NotOursError):
        delete_events_queue(hook, NAME)
    events.delete_rule(Name=NAME)
    _nothing_left(emulator)


def test_a_name_the_triggerers_policy_would_not_read_is_refused_before_any_aws_call(no_aws, capsys):
    hook = FargateHook(aws_conn_id="aws_default", region_name="us-east-1")
    with pytest.raises(EventsQueueNameError, match=r"name: 'my-queue' is not allowed; give fargate-ecs-events"):
        create_events_queue(hook, "my-queue")
    assert main(["create", "--name", "fargate-ecs-events.fifo"]) == 2
    assert "name: 'fargate-ecs-events.fifo' is not allowed" in capsys.readouterr().err


def test_the_command_prints_the_setting_and_the_set_up_policy_is_what_it_calls(emulator, capsys):
    before = set(emulator.actions)
    assert main(["create", "--name", NAME]) == 0
    out = capsys.readouterr().out
    url = client(emulator, "sqs").get_queue_url(QueueName=NAME)["QueueUrl"]
    assert f"set: AIRFLOW__FARGATE__EVENTS_QUEUE_URL={url}" in out
    assert main(["create", "--name", NAME]) == 0  # the path that finds them ours
    assert main(["delete", "--name", NAME]) == 0
    assert f"deleted {url}" in capsys.readouterr().out
    _nothing_left(emulator)
    test_own = {"sqs:ListQueues", "events:ListRules"}  # (_nothing_left's)
    called = {a for a in set(emulator.actions) - before if a.split(":")[0] in ("sqs", "events")} - test_own
    policy = json.loads((ROOT / "iam" / "ecs-events-setup-policy.json").read_text())
    granted = {action for statement in policy["Statement"] for action in statement["Action"]}
    # Tagging on create needs TagQueue and TagResource as well ("To be able to tag a queue on creation,
    # you must have the sqs:CreateQueue and sqs:TagQueue permissions"; EventBridge: PutRule with Tags
    # needs events:TagResource): no call of its own.
    assert called == granted - {"sqs:TagQueue", "events:TagResource"}, sorted(called)
