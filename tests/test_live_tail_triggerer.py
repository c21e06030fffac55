"""Container lines through CloudWatch Logs Live Tail in the triggerer (issue 28, item 1;
``[fargate] live_logs``): task waits run together in one asyncio loop, as Airflow's triggerer runs
them, against the emulator's StartLiveTail. Lines reach the waits' logs about a second after they
are written although GetLogEvents is nearly out of budget, every line is in the task log exactly
once (the triggers' lines, then the worker's last read), also when Live Tail loses lines, and the
sessions close when the waits end. Figures at 1,000 waits: benchmarks/triggerer_scale.py --logs."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest

from fargate_provider.hooks.fargate import FargateHook
from fargate_provider.state.task import LogFollower, log_streams
from fargate_provider.triggers.live_tail import hubs
from fargate_provider.triggers.task import FargateTaskTrigger
from tests.emulator.helpers import client, network, register
from tests.helpers.polling import async_wait_for, wait_for

TASKS = 6
LINES = 10


_LINE = re.compile(r"^(\S+Z) \[info\s*\] \[app\] (task \d+ line \d+)", re.MULTILINE)


def _logged(capfd) -> list[tuple[float, str]]:
    """The container lines the triggers logged (Airflow's structlog lines on stdout), with when."""
    out = capfd.readouterr().out
    return [(datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp(), line) for at, line in _LINE.findall(out)]


@pytest.fixture
def chatty(emulator, ecs):
    """TASKS tasks in cluster "c", each printing LINES distinct lines, one a second of real time,
    to its own stream of log group /live; the group is removed afterwards."""
    logs = client(emulator, "logs")
    logs.create_log_group(logGroupName="/live")
    run_seconds = 100 * LINES  # the tests' emulator runs 100 times faster than real time
    arns, definitions = [], {}
    for i in range(TASKS):
        family = f"chatty{i}"
        emulator.add_behaviour(
            family=family, run_seconds=run_seconds, output=[f"task {i} line {k}" for k in range(LINES)]
        )
        register(ecs, family=family, logs_group="/live")
        definitions[family] = ecs.describe_task_definition(taskDefinition=family)["taskDefinition"]
        [task] = ecs.run_task(
            cluster="c", taskDefinition=family, launchType="FARGATE", networkConfiguration=network(emulator)
        )["tasks"]
        arns.append((task["taskArn"], definitions[family]))
    yield arns
    logs.delete_log_group(logGroupName="/live")


def _triggers(arns, **connection):
    return [
        FargateTaskTrigger(
            cluster="c",
            tasks=[arn],
            target_state="STOPPED",
            poll_interval=0.5,
            logs=LogFollower([vars(s) for s in log_streams(definition, [arn])]).to_kwargs(),
            **connection,
        )
        for arn, definition in arns
    ]


def _run(triggers):
    async def first(trigger):
        async for event in trigger.run():
            return event

    async def main():
        events = await asyncio.wait_for(asyncio.gather(*(first(t) for t in triggers)), timeout=120)
        hub = hubs()[0]
        # the last wait gone, its session closes (sessions are billed per minute)
        await async_wait_for("the Live Tail sessions to close", lambda: not hub.sessions, timeout=10)
        return events, dict(hub.counts)

    return asyncio.run(main())


def _written(emulator) -> dict[str, float]:
    """Every line written to /live, with its timestamp (seconds)."""
    logs = client(emulator, "logs")
    written = {}
    for stream in logs.describe_log_streams(logGroupName="/live")["logStreams"]:
        page = logs.get_log_events(logGroupName="/live", logStreamName=stream["logStreamName"], startFromHead=True)
        written.update({e["message"]: e["timestamp"] / 1000 for e in page["events"]})
    return written


def test_live_lines_reach_the_wait_logs_within_seconds_with_getlogevents_nearly_out_of_budget(
    emulator, chatty, monkeypatch, capfd
):
    """One GetLogEvents read every 5 s for the six streams together: without Live Tail a stream is
    read every 30 s, so a line would wait that long. With it, lines show within seconds."""
    monkeypatch.setenv("AIRFLOW__FARGATE__LIVE_LOGS", "True")
    monkeypatch.setenv("AIRFLOW__FARGATE__LOG_READS_PER_SECOND", "0.2")
    actions_before = Counter(emulator.actions)
    events, counts = _run(_triggers(chatty))
    seen = _logged(capfd)
    called = {a for a in Counter(emulator.actions) - actions_before if a.startswith("logs:")} - {"logs:GetLogEvents"}
    assert [e.payload["status"] for e in events] == ["done"] * TASKS
    hook = FargateHook(aws_conn_id="aws_default", region_name="us-east-1")
    rest = [line for e in events for line in hook.read_logs(LogFollower(**e.payload["logs"]))]  # as the operator
    everything = [line for _, line in seen] + [line[len("[app] ") :] for line in rest]
    assert Counter(everything) == {f"task {i} line {k}": 1 for i in range(TASKS) for k in range(LINES)}
    written = _written(emulator)
    delays = sorted(at - written[line] for at, line in seen)
    assert len(delays) >= 0.9 * TASKS * LINES, f"only {len(delays)} lines came while the tasks ran"
    assert delays[int(0.95 * len(delays)) - 1] <= 3.0, f"p95 {delays[int(0.95 * len(delays)) - 1]:.1f} s"
    assert counts["sessions"] >= 1 and counts["lines"] >= 0.8 * TASKS * LINES  # most came live
    wait_for("the emulator's sessions to end", lambda: emulator.live_tails.describe()["open"] == 0, timeout=10)
    # iam/live-logs-policy.json is what Live Tail adds to the calls (GetLogEvents is airflow-policy.json's)
    policy = json.loads((Path(__file__).resolve().parent.parent / "iam" / "live-logs-policy.json").read_text())
    [statement] = policy["Statement"]
    assert called == set(statement["Action"]), called


def test_every_line_is_in_the_task_log_once_when_live_tail_loses_half_of_them(emulator, chatty, monkeypatch, capfd):
    """Live Tail samples above 500 events a second and drops what a slow reader leaves: the forward
    reads and the worker's last read bring what it lost, and nothing twice."""
    monkeypatch.setenv("AIRFLOW__FARGATE__LIVE_LOGS", "True")
    emulator.set_live_tail(drop=0.5)
    events, _ = _run(_triggers(chatty))
    seen = _logged(capfd)
    hook = FargateHook(aws_conn_id="aws_default", region_name="us-east-1")
    rest = [line for e in events for line in hook.read_logs(LogFollower(**e.payload["logs"]))]
    everything = [line for _, line in seen] + [line[len("[app] ") :] for line in rest]
    assert Counter(everything) == {f"task {i} line {k}": 1 for i in range(TASKS) for k in range(LINES)}
    assert emulator.live_tails.describe()["dropped"] > 0


def test_when_no_session_can_start_lines_come_from_getlogevents_and_it_is_said_once(
    emulator, chatty, monkeypatch, caplog, capfd
):
    monkeypatch.setenv("AIRFLOW__FARGATE__LIVE_LOGS", "True")
    emulator.set_live_tail(max_sessions=0)  # every StartLiveTail refused (LimitExceededException)
    # (botocore's standard mode retries LimitExceededException as throttling, 10 times by default; the
    # trigger's botocore settings replace the connection's, so the emulator's inject_host_prefix too)
    no_retries = {
        "botocore_config": {"retries": {"mode": "standard", "total_max_attempts": 1}, "inject_host_prefix": False}
    }
    with caplog.at_level(logging.WARNING, logger="fargate_provider.triggers.live_tail"):
        events, counts = _run(_triggers(chatty, **no_retries))
    seen = _logged(capfd)
    hook = FargateHook(aws_conn_id="aws_default", region_name="us-east-1")
    rest = [line for e in events for line in hook.read_logs(LogFollower(**e.payload["logs"]))]
    everything = [line for _, line in seen] + [line[len("[app] ") :] for line in rest]
    assert Counter(everything) == {f"task {i} line {k}": 1 for i in range(TASKS) for k in range(LINES)}
    assert seen, "the forward reads logged lines while the tasks ran"
    said = [r.getMessage() for r in caplog.records if r.name == "fargate_provider.triggers.live_tail"]
    assert len(said) == 1 and "LimitExceededException" in said[0], (said, counts)
    assert counts["failures"] >= 2  # tried again, said once
