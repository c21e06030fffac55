"""Rate quotas the emulator enforces as AWS does (``local/quotas.py``).

GetLogEvents: 25 calls a second per account and Region, a hard quota (CloudWatch Logs quotas;
ASFHyP3/hyp3#519 quoted it at 10 in 2021); over it, CloudWatch answers 400 ThrottlingException
"Rate exceeded" (as quoted in e-travel/cloudwatchlogsbeat#1 and maxbanton/cwh#120)."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError

from tests.emulator.helpers import client


@pytest.fixture
def stream(emulator):
    logs = client(emulator, "logs", retries=1)  # no retries: every answer is seen
    logs.create_log_group(logGroupName="/quota")
    logs.create_log_stream(logGroupName="/quota", logStreamName="s")
    yield logs
    logs.delete_log_group(logGroupName="/quota")


def _burst(logs, calls: int) -> list[str]:
    answers = []
    for _ in range(calls):
        try:
            logs.get_log_events(logGroupName="/quota", logStreamName="s", startFromHead=True)
            answers.append("ok")
        except ClientError as error:
            answers.append(f"{error.response['Error']['Code']}: {error.response['Error']['Message']}")
    return answers


def test_get_log_events_over_25_a_second_is_throttled_as_cloudwatch_does(emulator, stream):
    from concurrent.futures import ThreadPoolExecutor

    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:  # far faster than 25 a second
        answers = [a for chunk in pool.map(lambda _: _burst(stream, 10), range(8)) for a in chunk]
    elapsed = time.monotonic() - started
    allowed = answers.count("ok")
    refused = [a for a in answers if a != "ok"]
    assert refused and set(refused) == {"ThrottlingException: Rate exceeded"}
    assert 25 <= allowed <= 25 + 25 * elapsed + 1  # a second's worth as a burst, then 25 a second
    assert emulator.describe()["throttled"]["logs:GetLogEvents"] == len(refused)


def test_each_region_has_its_own_quota_and_other_calls_are_not_counted(emulator, stream):
    _burst(stream, 30)
    other = client(emulator, "logs", retries=1, region="eu-west-1")
    other.create_log_group(logGroupName="/quota")
    try:
        other.create_log_stream(logGroupName="/quota", logStreamName="s")
        assert _burst(other, 10) == ["ok"] * 10
    finally:
        other.delete_log_group(logGroupName="/quota")
    stream.describe_log_groups()  # another action: not GetLogEvents' quota


def test_a_test_can_make_the_quota_stricter_never_looser(emulator, stream):
    emulator.set_rate_quota("logs:GetLogEvents", 2)
    assert _burst(stream, 5)[:3] == ["ok", "ok", "ThrottlingException: Rate exceeded"]
    with pytest.raises(ValueError, match="at most AWS's 25"):
        emulator.set_rate_quota("logs:GetLogEvents", 100)


def test_reset_gives_back_aws_quota(emulator):
    emulator.set_rate_quota("logs:GetLogEvents", 2)
    emulator.reset()
    assert emulator.quotas.rates["logs:GetLogEvents"] == 25


def test_a_quota_below_one_a_second_still_answers_one_call(emulator, stream):
    emulator.set_rate_quota("logs:GetLogEvents", 0.5)
    assert _burst(stream, 2) == ["ok", "ThrottlingException: Rate exceeded"]
