"""Many waits in one triggerer (issue 17): the provider's triggers, run together in one asyncio
loop as Airflow's triggerer runs them, against the emulator. They share one poller per
connection (one DescribeServices per cluster per 10 services and one DescribeTasks per cluster
per 100 tasks a round, whoever asked: the API's limits, API_DescribeServices.html and
API_DescribeTasks.html), one client per connection, and one backoff when ECS throttles.
Speed and memory at scale: benchmarks/triggerer_scale.py."""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time

import pytest

from fargate_provider.hooks.client_pool import client_pool
from fargate_provider.state.service import INACTIVE_TARGET, ServiceWatch
from fargate_provider.triggers.polling import pollers
from fargate_provider.triggers.service import FargateServiceTrigger
from fargate_provider.triggers.task import FargateTaskTrigger
from tests.emulator.helpers import cleanup, client, network, register
from tests.helpers.polling import async_wait_for

CLUSTERS = {"a": 10, "b": 10, "c3": 5}  # 25 waits on 3 clusters


@pytest.fixture
def clusters(emulator):
    """Three clusters; whatever the test leaves in them is removed (the emulator fixture checks)."""
    ecs = client(emulator)
    for name in CLUSTERS:
        ecs.create_cluster(clusterName=name)
    yield ecs
    for name in CLUSTERS:
        cleanup(ecs, name)


def _service_triggers(ecs, emulator, poll_interval: float, **connection) -> list[FargateServiceTrigger]:
    register(ecs, family="web")
    triggers = []
    for cluster, count in CLUSTERS.items():
        for i in range(count):
            ecs.create_service(
                cluster=cluster,
                serviceName=f"s{i}",
                taskDefinition="web",
                desiredCount=0,
                launchType="FARGATE",
                networkConfiguration=network(emulator),
            )
            watch = ServiceWatch([f"s{i}"], INACTIVE_TARGET)
            triggers.append(
                FargateServiceTrigger(
                    cluster=cluster, watch=watch.to_kwargs(), poll_interval=poll_interval, timeout=300, **connection
                )
            )
    return triggers


async def _first_event(trigger):
    async for event in trigger.run():
        return event


async def _all_in_a_round(kind: str, count: int) -> None:
    """Wait for a round that asked for all ``count`` waits: triggers read their connection in a
    worker thread, so they join the poller in any order and not all by its first round."""

    def asked() -> int:
        return sum(len(items) for items in pollers()[0].last_round.get(kind, {}).values()) if pollers() else 0

    await async_wait_for(f"a round with the {count} waits", lambda: asked() == count, timeout=60)


async def _calls_over_rounds(emulator, poller, operation: str, rounds: int) -> int:
    """``operation`` calls the emulator saw over ``rounds`` whole rounds of ``poller``."""
    start = poller.rounds + 1
    await async_wait_for(f"round {start}", lambda: poller.rounds >= start, timeout=60)
    before = emulator.calls[operation]
    await async_wait_for(f"round {start + rounds}", lambda: poller.rounds >= start + rounds, timeout=60)
    return emulator.calls[operation] - before


def test_25_service_waits_on_3_clusters_make_one_call_per_cluster_per_10_services_a_round(emulator, clusters):
    triggers = _service_triggers(clusters, emulator, poll_interval=0.5)

    async def main():
        running = [asyncio.create_task(_first_event(t)) for t in triggers]
        await _all_in_a_round("services", len(triggers))
        [poller] = pollers()
        calls = await _calls_over_rounds(emulator, poller, "DescribeServices", rounds=3)
        asked = {cluster: sorted(names) for cluster, names in poller.last_round["services"].items()}
        clients = len(client_pool())
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        await async_wait_for("the poller to stop and give its client back", lambda: len(client_pool()) == 0, timeout=60)
        return calls, asked, clients

    calls, asked, clients = asyncio.run(main())
    per_round = sum(math.ceil(count / 10) for count in CLUSTERS.values())
    assert per_round == 3 and calls == 3 * per_round, calls  # not 25 a round, one per wait
    assert asked == {cluster: sorted(f"s{i}" for i in range(count)) for cluster, count in CLUSTERS.items()}
    assert clients == 1  # one ECS client for the 25 waits of one connection


def test_25_task_waits_on_3_clusters_make_one_describe_tasks_per_cluster_a_round(emulator, clusters):
    emulator.add_behaviour(family="job", run_seconds=100000)
    register(clusters, family="job")
    triggers = []
    for cluster, count in CLUSTERS.items():
        arns = [
            t["taskArn"]
            for t in clusters.run_task(
                cluster=cluster,
                taskDefinition="job",
                launchType="FARGATE",
                count=count,
                networkConfiguration=network(emulator),
            )["tasks"]
        ]
        triggers += [
            FargateTaskTrigger(cluster=cluster, tasks=[arn], target_state="STOPPED", poll_interval=0.5) for arn in arns
        ]

    async def main():
        running = [asyncio.create_task(_first_event(t)) for t in triggers]
        await _all_in_a_round("tasks", len(triggers))
        calls = await _calls_over_rounds(emulator, pollers()[0], "DescribeTasks", rounds=3)
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        return calls

    assert asyncio.run(main()) == 3 * len(CLUSTERS)


def test_a_wait_busy_longer_than_an_interval_stays_in_step(emulator, clusters):
    """A trigger still busy with its last answer when the next round is due (reading many log
    lines, an extra look) is described in that round and finds the answer kept for it, instead of
    asking a moment later in a round of its own: calls stay at one per cluster a round."""
    from fargate_provider.state.ecs_events import TASKS
    from fargate_provider.triggers.polling import shared_poller

    emulator.add_behaviour(family="job", run_seconds=100000)
    register(clusters, family="job")
    quick, busy = [
        t["taskArn"]
        for t in clusters.run_task(
            cluster="a", taskDefinition="job", launchType="FARGATE", count=2, networkConfiguration=network(emulator)
        )["tasks"]
    ]
    hook = FargateTaskTrigger(cluster="a", tasks=[quick], target_state="STOPPED", poll_interval=0.2).hook
    asked: list[int] = []

    async def main():
        poller = shared_poller(hook)
        describe = poller._describe

        async def counted(ecs, kind, cluster, items):
            asked.append(len(items))
            return await describe(ecs, kind, cluster, items)

        poller._describe = counted
        statuses: dict[str, list[str]] = {quick: [], busy: []}
        quick_done = asyncio.Event()

        async def wait(arn: str, busy_for: float):
            async with poller.subscribe(TASKS, "a", [arn], 0.2) as subscription:
                while not quick_done.is_set():
                    [task] = await subscription.next()
                    statuses[arn].append(task["lastStatus"])
                    if arn == quick and len(statuses[quick]) == 12:
                        quick_done.set()
                    # The pacing under test, not a wait: the busy one takes 1.5 intervals with each answer.
                    await asyncio.sleep(busy_for)

        await asyncio.gather(wait(quick, 0.0), wait(busy, 0.3))
        return statuses

    statuses = asyncio.run(main())
    clusters.stop_task(cluster="a", task=quick)
    clusters.stop_task(cluster="a", task=busy)
    assert len(statuses[quick]) == 12 and len(statuses[busy]) >= 5
    assert set(statuses[quick] + statuses[busy]) <= {"PROVISIONING", "PENDING", "ACTIVATING", "RUNNING"}
    # Every round described both tasks in one call; at most the last, after the quick one left, the
    # busy one alone. (Without kept answers the busy one asks late and gets rounds of its own.)
    assert asked[:-1] == [2] * (len(asked) - 1) and len(asked) >= 12, asked


def test_a_cancelled_wait_is_polled_no_more_and_the_others_go_on(emulator, clusters):
    triggers = _service_triggers(clusters, emulator, poll_interval=0.2)[:3]  # s0, s1, s2 of cluster a

    async def main():
        running = [asyncio.create_task(_first_event(t)) for t in triggers]
        # Triggers read their connection in a worker thread, so they join the poller in any order:
        # wait for a round that asked for all three.
        await async_wait_for(
            "a round with the three waits",
            lambda: pollers() and len(pollers()[0].last_round.get("services", {}).get("a", [])) == 3,
            timeout=60,
        )
        [poller] = pollers()
        first = sorted(poller.last_round["services"]["a"])
        running[1].cancel()  # as the triggerer cancels a trigger (task cleared, moved, timed out)
        await asyncio.gather(running[1], return_exceptions=True)
        after = poller.rounds + 1
        await async_wait_for("a round after the cancel", lambda: poller.rounds > after, timeout=60)
        later = sorted(poller.last_round["services"]["a"])
        subscriptions = len(poller.subscriptions)
        # the others still get answers: deleting s0 ends its wait
        clusters.delete_service(cluster="a", service="s0", force=True)
        event = await asyncio.wait_for(running[0], timeout=60)
        for task in running[2:]:
            task.cancel()
        await asyncio.gather(*running[2:], return_exceptions=True)
        return first, later, subscriptions, event

    first, later, subscriptions, event = asyncio.run(main())
    assert first == ["s0", "s1", "s2"] and later == ["s0", "s2"] and subscriptions == 2
    assert event.payload["status"] == "success"


def test_two_connections_get_two_clients_and_two_pollers(emulator, clusters, monkeypatch):
    import json
    import os

    # a second connection to the same emulator, with other botocore settings
    monkeypatch.setenv("AIRFLOW_CONN_AWS_SECOND", os.environ["AIRFLOW_CONN_AWS_DEFAULT"])
    conn = json.loads(os.environ["AIRFLOW_CONN_AWS_DEFAULT"])
    monkeypatch.setenv("AIRFLOW_CONN_AWS_SECOND", json.dumps(conn))
    triggers = _service_triggers(clusters, emulator, poll_interval=0.2)[:4]
    second = [FargateServiceTrigger(**{**t.serialize()[1], "aws_conn_id": "aws_second"}) for t in triggers[2:]]
    tuned = [
        FargateServiceTrigger(**{**t.serialize()[1], "botocore_config": {"read_timeout": 7}}) for t in triggers[3:]
    ]
    waits = triggers[:2] + second + tuned

    async def main():
        running = [asyncio.create_task(_first_event(t)) for t in waits]
        await async_wait_for(
            "three pollers to poll", lambda: len(pollers()) == 3 and all(p.rounds >= 1 for p in pollers()), timeout=60
        )
        keys = sorted((key[0], key[3]) for key in client_pool().keys())
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        await async_wait_for("every client given back", lambda: len(client_pool()) == 0, timeout=60)
        return keys

    keys = asyncio.run(main())
    # aws_default twice: one client; aws_second: its own; aws_default with other botocore settings: its own
    assert [conn for conn, _ in keys] == ["aws_default", "aws_default", "aws_second"]
    tuned_keys = [settings for _, settings in keys if '"read_timeout": 7' in settings]
    others = [(conn, settings) for conn, settings in keys if '"read_timeout": 7' not in settings]
    assert len(tuned_keys) == 1 and len(others) == 2
    assert others[0][1] == others[1][1]  # the connection's own settings on both others


def test_throttling_backs_off_every_wait_at_once_and_says_so_once(emulator, clusters, caplog):
    register(clusters, family="web")
    triggers = []
    for i in range(5):
        clusters.create_service(
            cluster="a",
            serviceName=f"s{i}",
            taskDefinition="web",
            desiredCount=0,
            launchType="FARGATE",
            networkConfiguration=network(emulator),
        )
        clusters.delete_service(cluster="a", service=f"s{i}")  # so that the wait for INACTIVE ends
        triggers.append(
            FargateServiceTrigger(
                cluster="a",
                watch=ServiceWatch([f"s{i}"], INACTIVE_TARGET).to_kwargs(),
                poll_interval=0.1,
                timeout=120,
                botocore_config={"retries": {"total_max_attempts": 1}},
            )
        )
    emulator.add_api_fault("DescribeServices", "throttle", count=2)
    emulator.calls.clear()

    async def main():
        return await asyncio.gather(*(_first_event(t) for t in triggers))

    with caplog.at_level(logging.INFO, logger="fargate_provider.triggers.polling"):
        events = asyncio.run(main())
    assert [e.payload["status"] for e in events] == ["success"] * 5
    said = [r for r in caplog.records if r.name == "fargate_provider.triggers.polling"]
    warnings = [r.getMessage() for r in said if r.levelno == logging.WARNING]
    # how many waits had joined by the first throttled round depends on how fast each read its connection
    assert len(warnings) == 1 and re.match(
        r"ECS throttles DescribeServices for connection aws_default: the [1-5] wait\(s\) polling through it back off",
        warnings[0],
    )
    assert [r.getMessage() for r in said if r.levelno == logging.INFO] == [
        "ECS answers again for connection aws_default; polling resumes at each wait's interval"
    ]
    # two throttled rounds and one that answered everyone: 3 calls, not 5 waits retrying each on its own
    assert emulator.calls["DescribeServices"] == 3


def test_log_streams_are_read_only_as_often_as_needed():
    from fargate_provider.state.task import LogFollower, LogPacer

    arn = "arn:aws:ecs:us-east-1:123456789012:task/c/0123456789abcdef"
    follower = LogFollower(
        streams=[{"container": "app", "group": "/jobs", "region": "us-east-1", "stream": "ecs/app/0123456789abcdef"}]
    )
    [stream] = follower.log_streams
    pacer = LogPacer(interval=5)

    def due(status, now):
        return pacer.due(follower, [{"taskArn": arn, "lastStatus": status}], now)

    assert due("PENDING", 0) == []  # no container output before the task starts
    assert due("RUNNING", 0) == [stream]
    pacer.read(stream, [{"taskArn": arn, "lastStatus": "RUNNING"}], had_lines=True, now=0)
    assert due("RUNNING", 4) == [] and due("RUNNING", 5) == [stream]  # writing: every interval
    quiet_reads = []
    now = 5.0
    for _ in range(4):  # quiet: every 2, then 4 intervals
        pacer.read(stream, [{"taskArn": arn, "lastStatus": "RUNNING"}], had_lines=False, now=now)
        later = now + next(k * 5 for k in (1, 2, 4, 8) if due("RUNNING", now + k * 5))
        quiet_reads.append(later - now)
        now = later
    assert quiet_reads == [10, 20, 20, 20]
    assert due("STOPPED", now + 0.1) == [stream]  # stopped: read until nothing more, whatever the pace
    pacer.read(stream, [{"taskArn": arn, "lastStatus": "STOPPED"}], had_lines=True, now=now)
    assert due("STOPPED", now + 0.2) == [stream]
    pacer.read(stream, [{"taskArn": arn, "lastStatus": "STOPPED"}], had_lines=False, now=now)
    assert due("STOPPED", now + 100) == []


def test_a_running_tasks_stream_is_read_a_page_a_time_and_nothing_is_lost(emulator):
    """While a task runs, a read takes one GetLogEvents page (not a second call to learn the page
    was the last); the forward token keeps the place, and the last read goes to the end."""
    from fargate_provider.hooks.fargate import FargateHook
    from fargate_provider.state.task import LogFollower

    logs = client(emulator, "logs")
    logs.create_log_group(logGroupName="/paged")
    logs.create_log_stream(logGroupName="/paged", logStreamName="ecs/app/t1")

    def put(*messages):
        now = int(time.time() * 1000)
        logs.put_log_events(
            logGroupName="/paged",
            logStreamName="ecs/app/t1",
            logEvents=[{"timestamp": now, "message": m} for m in messages],
        )

    follower = LogFollower(
        streams=[{"container": "app", "group": "/paged", "region": "us-east-1", "stream": "ecs/app/t1"}]
    )
    [stream] = follower.log_streams
    hook = FargateHook(aws_conn_id="aws_default", region_name="us-east-1")

    def calls():
        return emulator.actions["logs:GetLogEvents"]

    async def main():
        reads = []
        async with hook.async_clients() as clients:
            for messages, pages in ((("a", "b", "c"), 1), (("d",), 1), ((), 1), (("e", "f"), None)):
                if messages:
                    put(*messages)
                before = calls()
                lines = await hook.read_stream_async(clients, follower, stream, pages)
                reads.append((lines, calls() - before))
        return reads

    try:
        reads = asyncio.run(main())
    finally:
        logs.delete_log_group(logGroupName="/paged")
    assert reads == [
        (["[app] a", "[app] b", "[app] c"], 1),
        (["[app] d"], 1),
        ([], 1),
        (["[app] e", "[app] f"], 2),  # to the end: the page, then an empty one
    ]


def test_log_reads_take_turns_in_order_and_pause_together_when_throttled(caplog):
    from fargate_provider.triggers.backoff import FIRST_BACKOFF_SECONDS as FIRST_PAUSE_SECONDS
    from fargate_provider.triggers.log_reads import LogReadBudget

    budget = LogReadBudget("aws_default", "us-east-1", rate=50)

    async def main():
        turns: list[tuple[int, float]] = []

        async def read(i: int):
            turns.append((i, await budget.turn()))

        started = time.monotonic()
        await asyncio.gather(*(read(i) for i in range(10)))
        budget.throttled("GetLogEvents")
        paused_at = time.monotonic()
        budget.throttled("GetLogEvents")  # a read begun before the pause: the pause stands, nothing said
        pause = budget.pause
        await read(10)
        budget.answered(turns[9][1])  # an answer to a read begun before the pause does not end the episode
        still = budget.pause
        budget.answered(turns[10][1])
        return turns, started, paused_at, pause, still

    with caplog.at_level(logging.INFO, logger="fargate_provider.triggers.log_reads"):
        turns, started, paused_at, pause, still = asyncio.run(main())
    assert [i for i, _ in turns] == list(range(11))  # first come, first served
    assert all(at - started >= k * 0.02 * 0.95 for k, (_, at) in enumerate(turns[:10]))  # never faster than 50 a second
    assert pause == still == FIRST_PAUSE_SECONDS
    assert turns[10][1] - paused_at >= FIRST_PAUSE_SECONDS * 0.95  # everyone waits the pause
    said = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "fargate_provider.triggers.log_reads"]
    assert [level for level, _ in said] == ["WARNING", "INFO"]
    assert said[0][1].startswith("CloudWatch Logs throttles GetLogEvents for connection aws_default in us-east-1")


def test_followed_logs_stay_within_the_quota_and_lose_or_repeat_nothing_when_throttled(
    emulator, clusters, capfd, caplog, monkeypatch
):
    """Six task waits follow their streams through one budget set above what CloudWatch allows
    here (the emulator's quota made 4 a second): throttled reads pause everyone, are said once
    per episode, fail no wait, and every line reaches the task log exactly once (the trigger's
    reads, then the worker's from the follower's tokens)."""
    import re

    from fargate_provider.hooks.fargate import FargateHook
    from fargate_provider.state.task import LogFollower, log_streams

    monkeypatch.setenv("AIRFLOW__FARGATE__LOG_READS_PER_SECOND", "20")
    emulator.set_rate_quota("logs:GetLogEvents", 4)
    logs = client(emulator, "logs")
    logs.create_log_group(logGroupName="/budget")
    emulator.add_behaviour(family="chatty", run_seconds=300, output_lines=6)  # 3 s at the tests' pace
    register(clusters, family="chatty", logs_group="/budget")
    definition = clusters.describe_task_definition(taskDefinition="chatty")["taskDefinition"]
    arns = [
        t["taskArn"]
        for t in clusters.run_task(
            cluster="a", taskDefinition="chatty", launchType="FARGATE", count=6, networkConfiguration=network(emulator)
        )["tasks"]
    ]
    triggers = [
        FargateTaskTrigger(
            cluster="a",
            tasks=[arn],
            target_state="STOPPED",
            poll_interval=0.2,
            logs=LogFollower([vars(s) for s in log_streams(definition, [arn])]).to_kwargs(),
            botocore_config={"retries": {"total_max_attempts": 1}},
        )  # so throttles reach the budget
        for arn in arns
    ]

    async def main():
        return await asyncio.wait_for(asyncio.gather(*(_first_event(t) for t in triggers)), timeout=120)

    try:
        with caplog.at_level(logging.INFO, logger="fargate_provider.triggers.log_reads"):
            events = asyncio.run(main())
        in_trigger = re.findall(r"\[app\] line \d of 6 from app", capfd.readouterr().out)
        hook = FargateHook(aws_conn_id="aws_default", region_name="us-east-1")
        rest = [
            line for e in events for line in hook.read_logs(LogFollower(**e.payload["logs"]))
        ]  # as the operator's _finish
    finally:
        logs.delete_log_group(logGroupName="/budget")
    assert [e.payload["status"] for e in events] == ["done"] * 6
    assert in_trigger, "the triggers read some lines while the tasks ran"
    from collections import Counter

    assert Counter(in_trigger + rest) == {f"[app] line {k} of 6 from app": 6 for k in range(1, 7)}
    assert emulator.describe()["throttled"].get("logs:GetLogEvents", 0) > 0
    said = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "fargate_provider.triggers.log_reads"]
    warnings = [m for level, m in said if level == "WARNING"]
    assert (
        warnings and len(warnings) <= len(said) - len(warnings) + 1
    )  # once per episode, each ended by "answers again"


def test_waits_fail_instead_of_hanging_when_the_poller_cannot_open_its_client(emulator, monkeypatch):
    """The shared poller cannot open its ECS client (e.g. no credentials): every wait on it fails
    with the reason (it once hung for ever, the poller's task dead)."""
    from fargate_provider.hooks.fargate import AsyncClients

    async def no_client(self, service, region=None):
        raise RuntimeError("Unable to locate credentials")

    monkeypatch.setattr(AsyncClients, "get", no_client)
    waits = [
        FargateTaskTrigger(
            cluster="a",
            tasks=[f"arn:aws:ecs:us-east-1:123456789012:task/a/{i:032x}"],
            target_state="STOPPED",
            poll_interval=0.1,
        )
        for i in range(3)
    ]

    async def main():
        return await asyncio.wait_for(asyncio.gather(*(_first_event(t) for t in waits)), timeout=60)

    events = asyncio.run(main())
    assert [e.payload["status"] for e in events] == ["failed"] * 3
    assert {e.payload["message"] for e in events} == {"RuntimeError: Unable to locate credentials"}
