"""task_state (judging one-off tasks, following their log streams) and aws_errors (not-found by
error code): pure functions, tested on ECS-shaped answers."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from fargate_provider.state.task import LogFollower, LogPacer, judge_stopped, log_streams, progress
from fargate_provider.utils.aws_errors import is_not_found

ARN = "arn:aws:ecs:us-east-1:123456789012:task/c/{}"


def task(tid, last="RUNNING", stop_code=None, reason=None, containers=()):
    return {
        "taskArn": ARN.format(tid),
        "lastStatus": last,
        "stopCode": stop_code,
        "stoppedReason": reason,
        "containers": [dict(c) for c in containers],
    }


def test_progress_waits_for_every_task_and_names_the_missing_ones():
    wanted = [ARN.format("a"), ARN.format("b")]
    assert progress([task("a", "STOPPED"), task("b", "RUNNING")], wanted, "STOPPED") == (False, None)
    assert progress([task("a", "STOPPED"), task("b", "STOPPED")], wanted, "STOPPED") == (True, None)
    assert progress([task("a", "RUNNING")], wanted, "STOPPED") == (False, "task(s) not found: b")


def test_progress_to_running_fails_on_a_task_that_stopped_first():
    stopped = task("a", "STOPPED", "TaskFailedToStart", "CannotPullContainerError: pull access denied")
    done, error = progress([stopped], [ARN.format("a")], "RUNNING")
    assert (
        not done
        and error == "task a stopped before RUNNING: TaskFailedToStart: CannotPullContainerError: pull access denied"
    )
    assert progress([task("a", "PENDING")], [ARN.format("a")], "RUNNING") == (False, None)
    assert progress([task("a", "RUNNING")], [ARN.format("a")], "RUNNING") == (True, None)


def test_judge_stopped_checks_essential_containers_only():
    ok = task(
        "a",
        "STOPPED",
        "EssentialContainerExited",
        "done",
        [{"name": "app", "exitCode": 0}, {"name": "sidecar", "exitCode": 137}],
    )
    assert judge_stopped([ok], {"app": True, "sidecar": False}) is None
    assert judge_stopped([ok], {"app": True, "sidecar": True}) == (
        "container sidecar of task a ended with exit code 137 (EssentialContainerExited: done)"
    )
    no_code = task(
        "b", "STOPPED", "TaskFailedToStart", "ResourceInitializationError", [{"name": "app", "reason": "no route"}]
    )
    assert judge_stopped([no_code], {"app": True}) == (
        "task b failed to start (TaskFailedToStart): ResourceInitializationError [app: no route]"
    )
    missing_code = task("c", "STOPPED", "UserInitiated", "stopped", [{"name": "app"}])
    assert (
        judge_stopped([missing_code], {"app": True})
        == "container app of task c ended with no exit code (UserInitiated: stopped)"
    )


def test_log_streams_follow_awslogs_naming_and_each_streams_region():
    definition = {
        "containerDefinitions": [
            {
                "name": "app",
                "logConfiguration": {
                    "logDriver": "awslogs",
                    "options": {"awslogs-group": "/g", "awslogs-region": "us-west-2", "awslogs-stream-prefix": "p"},
                },
            },
            {"name": "quiet", "logConfiguration": {"logDriver": "splunk", "options": {}}},
            {"name": "bare", "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/h"}}},
        ]
    }
    streams = log_streams(definition, [ARN.format("t1")])
    assert [(s.container, s.group, s.region, s.stream) for s in streams] == [
        ("app", "/g", "us-west-2", "p/app/t1"),
        ("bare", "/h", None, "t1"),
    ]


def test_log_follower_moves_forward_by_token_and_keeps_a_tail():
    follower = LogFollower(streams=[{"container": "app", "group": "/g", "region": None, "stream": "s"}], tail_size=2)
    [stream] = follower.log_streams
    assert "nextToken" not in follower.request(stream)
    lines, more = follower.take(
        stream, {"events": [{"message": "one"}, {"message": "two"}, {"message": "three"}], "nextForwardToken": "f1"}
    )
    assert lines == ["[app] one", "[app] two", "[app] three"] and more
    assert follower.request(stream)["nextToken"] == "f1"
    assert follower.take(stream, {"events": [], "nextForwardToken": "f1"}) == ([], False)
    assert list(follower.tail) == ["[app] two", "[app] three"]
    again = LogFollower(**follower.to_kwargs())  # through a trigger event and back
    assert again.request(stream)["nextToken"] == "f1" and list(again.tail) == ["[app] two", "[app] three"]


def error(code, message):
    return ClientError({"Error": {"Code": code, "Message": message}}, "Operation")


@pytest.mark.parametrize(
    "code, message, expected",
    [
        ("ClientException", "Unable to describe task definition.", True),  # DescribeTaskDefinition, unknown
        (
            "ClientException",
            "The specified task definition does not exist. Specify a valid account, family, revision and try again.",
            True,
        ),
        ("ClusterNotFoundException", "Cluster not found.", True),
        ("ServiceNotFoundException", "Service not found.", True),
        ("ResourceNotFoundException", "The specified log stream does not exist.", True),
        ("ClientException", "Too many concurrent attempts to create a new revision of the specified family.", False),
        (
            "AccessDeniedException",
            "User is not authorized to perform: ecs:DescribeTaskDefinition (not found in policy)",
            False,
        ),
        ("ThrottlingException", "Rate exceeded", False),
        ("InvalidParameterException", "Could not find the cluster named x, which does not exist", False),
    ],
)
def test_not_found_is_read_from_the_error_code(code, message, expected):
    assert is_not_found(error(code, message)) is expected


def _page(events, token):
    return {"events": [{"timestamp": t, "message": m} for t, m in events], "nextForwardToken": token}


def test_a_line_logged_live_is_not_logged_again_by_the_forward_read_nor_by_the_worker():
    follower = LogFollower(streams=[{"container": "app", "group": "/g", "region": None, "stream": "s"}])
    [stream] = follower.log_streams
    assert follower.stream_named("/g", "s") == stream and follower.stream_named("/g", "other") is None
    # Live Tail brought 1 and 3 (it sampled 2 away); the forward read then reads 1, 2, 3 in order.
    assert follower.live_line(stream, 10, "one") == "[app] one"
    assert follower.live_line(stream, 30, "three") == "[app] three"
    lines, _ = follower.take(stream, _page([(10, "one"), (20, "two")], "f1"))
    assert lines == ["[app] two"]  # the one it missed
    worker = LogFollower(**follower.to_kwargs())  # the trigger's event, then the worker's last read
    lines, _ = worker.take(stream, _page([(30, "three"), (40, "four")], "f2"))
    assert lines == ["[app] four"]
    assert worker.live == {}  # nothing kept once the read has passed it


def test_a_line_the_forward_read_logged_first_is_not_logged_again_when_live_tail_brings_it():
    follower = LogFollower(streams=[{"container": "app", "group": "/g", "region": None, "stream": "s"}])
    [stream] = follower.log_streams
    follower.expect_live()  # lines come live from now on
    lines, _ = follower.take(stream, _page([(5, "zero"), (10, "one"), (20, "two")], "f1"))
    assert lines == ["[app] zero", "[app] one", "[app] two"]
    assert follower.live_line(stream, 5, "zero") is None
    assert follower.live_line(stream, 20, "two") is None  # (it missed "one": nothing left behind)
    assert follower.live_line(stream, 30, "three") == "[app] three"


def test_equal_lines_at_one_timestamp_are_each_logged_once():
    follower = LogFollower(streams=[{"container": "app", "group": "/g", "region": None, "stream": "s"}])
    [stream] = follower.log_streams
    assert follower.live_line(stream, 10, "tick") == "[app] tick"
    lines, _ = follower.take(stream, _page([(10, "tick"), (10, "tick")], "f1"))
    assert lines == ["[app] tick"]  # two lines written, one logged live: the other now


def test_a_stream_read_live_is_read_forward_less_often():
    from fargate_provider.state.task import LIVE_READ_SECONDS

    follower = LogFollower(streams=[{"container": "app", "group": "/g", "region": None, "stream": "p/app/t1"}])
    [stream] = follower.log_streams
    described = [{"taskArn": ARN.format("t1"), "lastStatus": "RUNNING"}]
    pacer = LogPacer(interval=5)
    pacer.read(stream, described, had_lines=True, now=0.0)
    assert pacer.due(follower, described, 5.0) == [stream]
    pacer.read(stream, described, had_lines=True, now=5.0, live=True)
    assert pacer.due(follower, described, 10.0) == []
    assert pacer.due(follower, described, 5.0 + LIVE_READ_SECONDS) == [stream]
