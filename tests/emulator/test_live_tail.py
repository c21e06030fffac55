"""The emulator's CloudWatch Logs Live Tail, held against botocore's own StartLiveTail client
(event-stream decoding, the initial-response, modeled errors in the stream): what it sends, when,
and what it refuses, as the StartLiveTail API reference describes it."""

from __future__ import annotations

import threading
import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EventStreamError

from fargate_rules.live_tail import MAX_EVENTS_PER_UPDATE, log_group_arn

ACCOUNT = "123456789012"


@pytest.fixture
def logs(emulator):
    # botocore sends StartLiveTail to "stream-" + the endpoint's host: AWS's resolves, 127.0.0.1 does not.
    client = boto3.client(
        "logs", endpoint_url=emulator.endpoint, region_name="us-east-1", config=Config(inject_host_prefix=False)
    )
    made = []

    def group(name: str) -> str:
        client.create_log_group(logGroupName=name)
        made.append(name)
        return log_group_arn("aws", "us-east-1", ACCOUNT, name)

    client.group = group
    yield client
    for name in made:
        client.delete_log_group(logGroupName=name)


def _put(logs, group: str, stream: str, messages: list[str]) -> None:
    now = int(time.time() * 1000)
    logs.put_log_events(
        logGroupName=group, logStreamName=stream, logEvents=[{"timestamp": now, "message": m} for m in messages]
    )


def test_a_session_starts_then_sends_each_second_what_was_ingested_since(logs, emulator):
    arn = logs.group("/lt")
    logs.create_log_stream(logGroupName="/lt", logStreamName="a")
    logs.create_log_stream(logGroupName="/lt", logStreamName="b")
    _put(logs, "/lt", "a", ["before the session"])
    session = logs.start_live_tail(logGroupIdentifiers=[arn])
    stream = session["responseStream"]
    events = iter(stream)
    start = next(events)["sessionStart"]
    assert start["logGroupIdentifiers"] == [arn] and start["sessionId"]
    _put(logs, "/lt", "a", ["one", "two"])
    _put(logs, "/lt", "b", ["three"])
    began = time.monotonic()
    updates = [next(events)["sessionUpdate"] for _ in range(3)]
    stream.close()
    seen = [(r["logStreamName"], r["message"]) for u in updates for r in u["sessionResults"]]
    assert seen == [("a", "one"), ("a", "two"), ("b", "three")]  # not the line from before the session
    assert all(r["logGroupIdentifier"] == arn for u in updates for r in u["sessionResults"])
    assert not any(u["sessionMetadata"]["sampled"] for u in updates)
    assert updates[-1]["sessionResults"] == []  # an update every second, empty when nothing came
    assert 2.0 <= time.monotonic() - began < 4.5  # three updates: a second apart


def test_more_than_500_events_in_a_second_are_sampled_down_to_500(logs):
    arn = logs.group("/busy")
    logs.create_log_stream(logGroupName="/busy", logStreamName="s")
    session = logs.start_live_tail(logGroupIdentifiers=[arn])
    events = iter(session["responseStream"])
    next(events)
    _put(logs, "/busy", "s", [f"m{i}" for i in range(800)])
    update = next(events)["sessionUpdate"]
    while not update["sessionResults"]:  # (put just after a tick: the next one has them)
        update = next(events)["sessionUpdate"]
    session["responseStream"].close()
    assert update["sessionMetadata"]["sampled"] is True
    assert len(update["sessionResults"]) == MAX_EVENTS_PER_UPDATE


@pytest.mark.parametrize(
    "request_, code, words",
    [
        ({"logGroupIdentifiers": ["/by-name"]}, "InvalidParameterException", "by its ARN"),
        ({"logGroupIdentifiers": [log_group_arn("aws", "us-east-1", ACCOUNT, "g") + ":*"]}, None, "asterisk"),
        ({"logGroupIdentifiers": [log_group_arn("aws", "us-east-1", ACCOUNT, f"g{i}") for i in range(11)]}, None, "10"),
        (
            {
                "logGroupIdentifiers": [log_group_arn("aws", "us-east-1", ACCOUNT, f"g{i}") for i in range(2)],
                "logStreamNames": ["s"],
            },
            None,
            "only one log group",
        ),
        (
            {"logGroupIdentifiers": [log_group_arn("aws", "us-east-1", ACCOUNT, "absent")]},
            "ResourceNotFoundException",
            "does not exist",
        ),
    ],
)
def test_requests_start_live_tail_refuses(logs, request_, code, words):
    with pytest.raises(ClientError) as refused:
        logs.start_live_tail(**request_)
    assert refused.value.response["Error"]["Code"] == (code or "InvalidParameterException")
    assert words in refused.value.response["Error"]["Message"]


def test_a_session_ends_with_a_timeout_and_frees_its_slot(logs, emulator):
    arn = logs.group("/short")
    emulator.set_live_tail(session_seconds=1.5, max_sessions=1)
    session = logs.start_live_tail(logGroupIdentifiers=[arn])
    with pytest.raises(ClientError) as over:  # the account's sessions are all open
        logs.start_live_tail(logGroupIdentifiers=[arn])
    assert over.value.response["Error"]["Code"] == "LimitExceededException"
    with pytest.raises(EventStreamError) as ended:
        for _ in session["responseStream"]:
            pass
    assert ended.value.response["Error"]["Code"] == "SessionTimeoutException"
    deadline = time.monotonic() + 5
    while emulator.live_tails.describe()["open"] and time.monotonic() < deadline:
        time.sleep(0.05)
    again = logs.start_live_tail(logGroupIdentifiers=[arn])  # the slot is free again
    again["responseStream"].close()


def test_other_calls_go_on_while_sessions_stream(logs, emulator):
    """A session holds its connection, not the emulator: GetLogEvents answers meanwhile."""
    arn = logs.group("/side")
    logs.create_log_stream(logGroupName="/side", logStreamName="s")
    sessions = [logs.start_live_tail(logGroupIdentifiers=[arn]) for _ in range(3)]
    readers = [
        threading.Thread(target=lambda s=s: [None for _ in zip(range(2), s["responseStream"], strict=False)])
        for s in sessions
    ]
    for reader in readers:
        reader.start()
    began = time.monotonic()
    logs.get_log_events(logGroupName="/side", logStreamName="s")
    assert time.monotonic() - began < 0.5
    for reader, session in zip(readers, sessions, strict=True):
        reader.join(10)
        session["responseStream"].close()
