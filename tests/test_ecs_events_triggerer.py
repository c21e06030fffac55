"""Waits woken by ECS's events (issue 28 item 2): with ``[fargate] events_queue_url`` set, the triggerer's
shared poller reads the SQS queue an EventBridge rule fills with ECS's events, and a wait looks at ECS
when an event concerns it; polling stays as the safety net every ``events_reconcile_seconds``.

Against the emulator, whose ECS sends its events into EventBridge with real rule matching and SQS
targets (tests/emulator/test_ecs_events.py), delivered late, twice, out of order or not at all as
behaviours. The triggers run together in one asyncio loop, as Airflow's triggerer runs them."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest

from fargate_provider.ecs_events_queue import create_events_queue, delete_events_queue
from fargate_provider.hooks.fargate import FargateHook
from fargate_provider.triggers.polling import pollers
from fargate_provider.triggers.task import FargateTaskTrigger
from tests.emulator.helpers import cleanup, client, network, register
from tests.helpers.polling import async_wait_for

TASKS = 10
RUN_SECONDS = 800  # emulated: 8 s at the emulator's pace, long beside the waits' 0.25-s interval


@pytest.fixture
def events_queue(emulator, monkeypatch):
    """The queue and rule the provider makes for ECS's events (``ecs_events_queue``), set as
    ``[fargate] events_queue_url``; removed afterwards."""
    hook = FargateHook(aws_conn_id="aws_default", region_name="us-east-1")
    name = f"fargate-ecs-events-{uuid.uuid4().hex[:8]}"
    made = create_events_queue(hook, name)
    monkeypatch.setenv("AIRFLOW__FARGATE__EVENTS_QUEUE_URL", made.queue_url)
    yield made.queue_url
    delete_events_queue(hook, name)


@pytest.fixture
def cluster(emulator):
    ecs = client(emulator)
    ecs.create_cluster(clusterName="events")
    emulator.add_behaviour(family="job", run_seconds=RUN_SECONDS)
    register(ecs, family="job")
    yield ecs
    cleanup(ecs, "events")


def _run_tasks(ecs, emulator) -> list[str]:
    started = ecs.run_task(
        cluster="events",
        taskDefinition="job",
        launchType="FARGATE",
        count=TASKS,
        networkConfiguration=network(emulator),
    )
    return [t["taskArn"] for t in started["tasks"]]


def _wait_for_all(arns: list[str]) -> tuple[list[dict], float, dict]:
    """Every task's wait as a trigger; (their events, seconds until the last, the consumer's counts)."""

    async def main():
        started = time.monotonic()
        triggers = [
            FargateTaskTrigger(cluster="events", tasks=[arn], target_state="STOPPED", poll_interval=0.25)
            for arn in arns
        ]
        results = await asyncio.wait_for(asyncio.gather(*(_first_event(t) for t in triggers)), timeout=120)
        events = pollers()[0].events
        return results, time.monotonic() - started, dict(events.counts) if events else {}

    return asyncio.run(main())


async def _first_event(trigger):
    async for event in trigger.run():
        return event.payload


def _stopped_after(emulator, ecs, arns: list[str]) -> float:
    """Seconds from the tasks' start to the last one's stop, as ECS recorded them."""
    tasks = ecs.describe_tasks(cluster="events", tasks=arns)["tasks"]
    return max(t["stoppedAt"] for t in tasks).timestamp() - min(t["createdAt"] for t in tasks).timestamp()


def test_task_waits_end_on_ecss_events_with_a_fraction_of_pollings_calls(emulator, cluster, events_queue, monkeypatch):
    # Ten tasks' waits polling every 0.25 s, then ten more woken by events (reconcile at 600 s). (The
    # first ten's events reach the queue too and concern no wait of the second run: they are returned.)
    monkeypatch.setenv("AIRFLOW__FARGATE__EVENTS_QUEUE_URL", "")
    arns = _run_tasks(cluster, emulator)
    before = emulator.calls["DescribeTasks"]
    polled, _, _ = _wait_for_all(arns)
    polling_calls = emulator.calls["DescribeTasks"] - before

    monkeypatch.setenv("AIRFLOW__FARGATE__EVENTS_QUEUE_URL", events_queue)
    monkeypatch.setenv("AIRFLOW__FARGATE__EVENTS_RECONCILE_SECONDS", "600")
    arns = _run_tasks(cluster, emulator)
    before, actions_before = emulator.calls["DescribeTasks"], Counter(emulator.actions)
    woken, seconds, counts = _wait_for_all(arns)
    event_calls = emulator.calls["DescribeTasks"] - before
    sqs_actions = {a for a in Counter(emulator.actions) - actions_before if a.startswith("sqs:")}

    assert [e["status"] for e in polled] == [e["status"] for e in woken] == ["done"] * TASKS, woken
    # every wait ended soon after its task stopped, though nothing polled for 600 s
    assert seconds < _stopped_after(emulator, cluster, arns) + 5, seconds
    assert counts["woke"] > 0, counts
    # one round at the start, then rounds only when events came (a burst's events share one)
    assert polling_calls >= 20 and event_calls * 4 <= polling_calls, (event_calls, polling_calls, counts)
    # iam/ecs-events-policy.json is what the consumer calls: "setting permissions for … DeleteMessage …
    # sets permissions for the corresponding batch versions" (SQS Developer Guide, sqs-batch-api.html)
    policy = json.loads((Path(__file__).resolve().parent.parent / "iam" / "ecs-events-policy.json").read_text())
    [statement] = policy["Statement"]
    assert {a.replace("Batch", "") for a in sqs_actions} == set(statement["Action"]), sqs_actions


@pytest.mark.parametrize(
    "delivery",
    [{"loss": 1.0}, {"duplicate": 0.5, "reorder": 0.5, "delay": 50}],
    ids=["every-event-lost", "duplicated-reordered-late"],
)
def test_lost_duplicated_or_reordered_events_lose_no_end(emulator, cluster, events_queue, monkeypatch, delivery):
    """Lost: the reconciler (every 2 s here) still sees every task stop. Duplicated, reordered and late
    (0.5 s): a repeated or older version is not news and wakes nobody twice."""
    monkeypatch.setenv("AIRFLOW__FARGATE__EVENTS_RECONCILE_SECONDS", "2")
    emulator.set_event_delivery(**delivery)
    arns = _run_tasks(cluster, emulator)
    results, seconds, counts = _wait_for_all(arns)
    assert [e["status"] for e in results] == ["done"] * TASKS, results
    assert seconds < _stopped_after(emulator, cluster, arns) + 5, seconds
    if delivery.get("loss"):
        assert counts["received"] == 0, counts
    else:
        assert counts["repeated"] > 0 and counts["woke"] > 0, counts


def test_an_event_for_a_wait_held_elsewhere_is_left_in_the_queue_for_it(emulator, cluster, events_queue):
    """A message about a task no wait here holds goes back to the queue (another triggerer may hold it),
    until it is older than the reconcile interval."""
    sqs = client(emulator, "sqs")
    other = "arn:aws:ecs:us-east-1:123456789012:task/events/0123456789abcdef0123456789abcdef"
    body = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "ECS Task State Change",
        "source": "aws.ecs",
        "account": "123456789012",
        "region": "us-east-1",
        "resources": [other],
        "detail": {"clusterArn": "arn:aws:ecs:us-east-1:123456789012:cluster/events", "taskArn": other, "version": 1},
    }
    sqs.send_message(QueueUrl=events_queue, MessageBody=json.dumps(body))
    results, _, counts = _wait_for_all(_run_tasks(cluster, emulator))
    assert [e["status"] for e in results] == ["done"] * TASKS
    assert counts["returned"] >= 1, counts
    left = []
    deadline = time.monotonic() + 30
    while not left and time.monotonic() < deadline:  # (invisible for RETURN_SECONDS after each receive)
        left = sqs.receive_message(QueueUrl=events_queue, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        left = [m for m in left if json.loads(m["Body"])["resources"] == [other]]
    assert left, "the message for the other triggerer's wait was taken"


def test_a_queue_that_cannot_be_read_is_said_once_and_the_waits_poll(emulator, cluster, monkeypatch, caplog):
    missing = f"{emulator.endpoint}/123456789012/no-such-queue"
    monkeypatch.setenv("AIRFLOW__FARGATE__EVENTS_QUEUE_URL", missing)
    with caplog.at_level(logging.WARNING, logger="fargate_provider.triggers.ecs_events"):
        results, _, counts = _wait_for_all(_run_tasks(cluster, emulator))
    assert [e["status"] for e in results] == ["done"] * TASKS
    said = [r.getMessage() for r in caplog.records if "cannot be read" in r.getMessage()]
    assert len(said) == 1 and "NonExistentQueue" in said[0] and missing in said[0], said
    assert counts["received"] == 0


def test_a_service_wait_ends_on_its_tasks_events(emulator, cluster, events_queue, monkeypatch):
    """A service becoming stable: its tasks' events (group service:NAME) wake the wait; nothing polls
    for 600 s, and it ends when its tasks run."""
    from fargate_provider.state.service import STABLE_TARGET, ServiceWatch
    from fargate_provider.triggers.service import FargateServiceTrigger

    monkeypatch.setenv("AIRFLOW__FARGATE__EVENTS_RECONCILE_SECONDS", "600")
    emulator.set_timing(speed=5)  # a rollout of about 5 s: long beside the 0.25-s interval
    cluster.create_service(
        cluster="events",
        serviceName="web",
        taskDefinition="job",
        desiredCount=2,
        launchType="FARGATE",
        networkConfiguration=network(emulator),
    )

    async def main():
        started = time.monotonic()
        trigger = FargateServiceTrigger(
            cluster="events",
            watch=ServiceWatch(["web"], STABLE_TARGET).to_kwargs(),
            poll_interval=0.25,
            timeout=120,
        )
        event = await asyncio.wait_for(_first_event(trigger), timeout=120)
        poller = pollers()[0]
        return event, time.monotonic() - started, poller.rounds, dict(poller.events.counts)

    before = emulator.calls["DescribeServices"]
    event, seconds, rounds, counts = asyncio.run(main())
    calls = emulator.calls["DescribeServices"] - before
    assert event["status"] == "success", event
    assert counts["woke"] > 0, (counts, seconds, rounds, calls)
    # polling every 0.25 s would have made a call a quarter second throughout
    assert calls == rounds and calls < seconds / 0.25 / 2, (calls, seconds, counts)
    [service] = cluster.describe_services(cluster="events", services=["web"])["services"]
    assert service["runningCount"] == 2
    cluster.delete_service(cluster="events", service="web", force=True)


def test_with_the_queue_readable_and_no_event_the_waits_do_not_poll(emulator, cluster, events_queue, monkeypatch):
    """Once the queue has answered (at once: the consumer's first receive does not long-poll), a wait
    with nothing happening looks only at the reconcile interval, not every 0.25 s."""
    monkeypatch.setenv("AIRFLOW__FARGATE__EVENTS_RECONCILE_SECONDS", "600")
    emulator.add_behaviour(family="job", run_seconds=100000)
    arns = _run_tasks(cluster, emulator)

    async def main():
        trigger = FargateTaskTrigger(cluster="events", tasks=arns, target_state="STOPPED", poll_interval=0.25)
        waiting = asyncio.create_task(_first_event(trigger))
        await async_wait_for("the queue to answer", lambda: pollers() and pollers()[0].events.healthy, timeout=30)
        await async_wait_for("the tasks' start events to be read", lambda: pollers()[0].rounds >= 1, timeout=30)
        await asyncio.sleep(1.0)  # the tasks run; no event comes
        before = emulator.calls["DescribeTasks"]
        await asyncio.sleep(3.0)
        calls = emulator.calls["DescribeTasks"] - before
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)
        return calls

    assert asyncio.run(main()) == 0  # polling every 0.25 s would have made 12
    for arn in arns:
        cluster.stop_task(cluster="events", task=arn)


def test_a_deleted_service_is_waited_for_at_the_waits_interval(emulator, cluster, events_queue, monkeypatch):
    """DRAINING to INACTIVE comes with no ECS event (and a service of 0 tasks sends no task events):
    a wait for INACTIVE keeps polling at its interval, not at the reconcile interval."""
    from fargate_provider.state.service import INACTIVE_TARGET, ServiceWatch
    from fargate_provider.triggers.service import FargateServiceTrigger

    monkeypatch.setenv("AIRFLOW__FARGATE__EVENTS_RECONCILE_SECONDS", "600")
    cluster.create_service(
        cluster="events",
        serviceName="gone",
        taskDefinition="job",
        desiredCount=0,
        launchType="FARGATE",
        networkConfiguration=network(emulator),
    )

    async def main():
        trigger = FargateServiceTrigger(
            cluster="events", watch=ServiceWatch(["gone"], INACTIVE_TARGET).to_kwargs(), poll_interval=0.25, timeout=60
        )
        waiting = asyncio.create_task(_first_event(trigger))
        await async_wait_for("the wait to subscribe", lambda: pollers() and pollers()[0].subscriptions, timeout=30)
        assert not any(s.events_cover for s in pollers()[0].subscriptions)  # from the start, not after a look
        await async_wait_for("the wait's first look", lambda: pollers()[0].rounds >= 1, timeout=30)
        await async_wait_for("the queue to answer", lambda: pollers()[0].events.healthy, timeout=30)
        await asyncio.to_thread(cluster.delete_service, cluster="events", service="gone")
        deleted = time.monotonic()
        event = await asyncio.wait_for(waiting, timeout=60)
        return event, time.monotonic() - deleted

    event, seconds = asyncio.run(main())
    assert event["status"] == "success" and seconds < 10, (event, seconds)
