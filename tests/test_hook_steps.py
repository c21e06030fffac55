"""The hook's reads written once (hooks/steps.py), driven with fake answers: no AWS, no emulator.

The sync runner (the worker's waits, boto3) and the async one (the triggerer's, aiobotocore)
only make the calls the steps ask for, so for the same answers they make the same calls in the
same order and come to the same result.
"""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest
from botocore.exceptions import ClientError

from fargate_provider.hooks.fargate import AsyncClients, FargateHook
from fargate_provider.hooks.steps import (
    Call,
    StreamRead,
    poll_services_steps,
    read_stream_steps,
    run_steps,
    run_steps_async,
)
from fargate_provider.state.service import ServiceWatch
from fargate_provider.state.task import LogFollower, LogStream

TD = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:2"
TG = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/e-shop/0123456789abcdef"


def a_service(name: str, failed_tasks: int, rollout: str, **changes: Any) -> dict[str, Any]:
    deployment = {
        "id": "ecs-svc/2",
        "status": "PRIMARY",
        "taskDefinition": TD,
        "rolloutState": rollout,
        "failedTasks": failed_tasks,
        "desiredCount": 2,
        "runningCount": 2,
        "pendingCount": 0,
    }
    return {
        "serviceName": name,
        "serviceArn": f"arn:aws:ecs:us-east-1:123456789012:service/c/{name}",
        "status": "ACTIVE",
        "desiredCount": 2,
        "runningCount": 2,
        "pendingCount": 0,
        "deploymentConfiguration": {"deploymentCircuitBreaker": {"enable": True, "rollback": True}},
        "deployments": [deployment],
        "events": [{"id": f"{name}-e1", "message": "has started 2 tasks"}],
        **changes,
    }


# "web" (behind a load balancer, one task crashed earlier): first its stopped tasks, then, being
# stable otherwise, its targets' health: two more looks. "api": three tasks failed: its stopped
# tasks, then it fails with their reasons.
DESCRIBED = [
    a_service(
        "web",
        1,
        "COMPLETED",
        loadBalancers=[{"targetGroupArn": TG, "containerName": "app", "containerPort": 80}],
    ),
    a_service("api", 3, "IN_PROGRESS"),
]


def aws_answer(call: Call) -> dict[str, Any]:
    """What AWS would answer each call of a poll."""
    if call.operation == "describe_services":
        return {"services": copy.deepcopy(DESCRIBED), "failures": []}
    if call.operation == "list_tasks":
        return {"taskArns": [f"arn:aws:ecs:us-east-1:123456789012:task/c/{call.kwargs['serviceName']}1"]}
    if call.operation == "describe_tasks":
        return {
            "tasks": [
                {
                    "taskArn": arn,
                    "startedBy": "ecs-svc/2",
                    "stopCode": "EssentialContainerExited",
                    "stoppedReason": "Essential container in task exited",
                    "stoppedAt": 1,
                    "containers": [{"name": "app", "exitCode": 1}],
                }
                for arn in call.kwargs["tasks"]
            ]
        }
    if call.operation == "describe_target_health":
        return {
            "TargetHealthDescriptions": [
                {"Target": {"Id": ip, "Port": 80}, "TargetHealth": {"State": "healthy"}}
                for ip in ("10.0.1.4", "10.0.1.5")
            ]
        }
    raise AssertionError(f"not a call of a poll: {call}")


EXPECTED_CALLS = [
    ("ecs", "list_tasks", {"cluster": "c", "serviceName": "web", "desiredStatus": "STOPPED"}),
    ("ecs", "describe_tasks", {"cluster": "c", "tasks": ["arn:aws:ecs:us-east-1:123456789012:task/c/web1"]}),
    ("ecs", "list_tasks", {"cluster": "c", "serviceName": "api", "desiredStatus": "STOPPED"}),
    ("ecs", "describe_tasks", {"cluster": "c", "tasks": ["arn:aws:ecs:us-east-1:123456789012:task/c/api1"]}),
    ("elbv2", "describe_target_health", {"TargetGroupArn": TG}),
]


def a_watch() -> ServiceWatch:
    return ServiceWatch(["web", "api"], task_definitions={"web": TD, "api": TD}, known_events=[])


def test_both_runners_make_the_same_calls_of_a_poll_and_come_to_the_same_poll():
    sync_calls: list[Call] = []
    async_calls: list[Call] = []

    def answer(call: Call) -> Any:
        sync_calls.append(call)
        return aws_answer(call)

    async def answer_async(call: Call) -> Any:
        await asyncio.sleep(0)
        async_calls.append(call)
        return aws_answer(call)

    polled = run_steps(poll_services_steps("c", a_watch(), copy.deepcopy(DESCRIBED)), answer)
    polled_async = asyncio.run(
        run_steps_async(poll_services_steps("c", a_watch(), copy.deepcopy(DESCRIBED)), answer_async)
    )

    assert [(c.service, c.operation, c.kwargs) for c in sync_calls] == EXPECTED_CALLS
    assert async_calls == sync_calls
    assert polled == polled_async
    assert polled.done is False
    assert polled.error is not None and polled.error.startswith("service api: 3 task(s) of deployment ecs-svc/2")
    assert "task api1: EssentialContainerExited" in polled.error
    assert polled.log_lines == ["web: has started 2 tasks", "api: has started 2 tasks"]


def test_the_steps_alone_say_what_they_need_and_take_the_answers():
    """Driven by hand: each request is a plain Call, the answer is whatever is sent back."""
    steps = poll_services_steps("c", a_watch(), copy.deepcopy(DESCRIBED))
    asked = []
    call = next(steps)
    with pytest.raises(StopIteration) as done:
        while True:
            asked.append((call.service, call.operation, call.kwargs))
            call = steps.send(aws_answer(call))
    assert asked == EXPECTED_CALLS
    assert done.value.value.error.startswith("service api:")


class FakeClient:
    """A boto3 (or, with ``is_async``, aiobotocore) client answering every operation with ``answer``."""

    def __init__(self, service: str, calls: list[tuple[str, str, dict[str, Any]]], answer: Any, is_async=False):
        self.service, self.calls, self.answer, self.is_async = service, calls, answer, is_async

    def __getattr__(self, operation: str) -> Any:
        def call(**kwargs: Any) -> Any:
            self.calls.append((self.service, operation, kwargs))
            return self.answer(Call(self.service, operation, kwargs))

        async def call_async(**kwargs: Any) -> Any:
            return call(**kwargs)

        return call_async if self.is_async else call


def a_hook(calls: list[tuple[str, str, dict[str, Any]]], answer: Any) -> FargateHook:
    """A FargateHook whose boto3 clients are fakes (``conn`` and ``client()`` are cached per hook)."""
    hook = FargateHook(aws_conn_id=None, region_name="us-east-1")
    hook.__dict__["conn"] = FakeClient("ecs", calls, answer)
    hook.__dict__["_clients"] = {
        (service, region): FakeClient(service, calls, answer)
        for service in ("elbv2", "logs")
        for region in (None, "eu-west-1")
    }
    return hook


class FakeAsyncClients(AsyncClients):
    """AsyncClients whose aiobotocore clients are fakes."""

    def __init__(self, hook: FargateHook, calls: list[tuple[str, str, dict[str, Any]]], answer: Any):
        super().__init__(hook)
        self.calls, self.answer, self.regions = calls, answer, []

    async def get(self, service: str, region: str | None = None) -> Any:
        self.regions.append((service, region))
        return FakeClient(service, self.calls, self.answer, is_async=True)


def test_the_hooks_sync_and_async_polls_make_the_same_calls(capfd):
    sync_calls: list[tuple[str, str, dict[str, Any]]] = []
    async_calls: list[tuple[str, str, dict[str, Any]]] = []
    hook = a_hook(sync_calls, aws_answer)
    polled = hook.poll_services("c", a_watch())

    async def in_the_triggerer():
        # the triggers' shared poller has made DescribeServices already
        return await hook.poll_services_async(
            FakeAsyncClients(hook, async_calls, aws_answer), "c", a_watch(), copy.deepcopy(DESCRIBED)
        )

    polled_async = asyncio.run(in_the_triggerer())
    assert sync_calls[0] == (
        "ecs",
        "describe_services",
        {"cluster": "c", "services": ["web", "api"], "include": ["TAGS"]},
    )
    assert sync_calls[1:] == async_calls == EXPECTED_CALLS
    assert polled == polled_async
    logged = capfd.readouterr().out
    assert all(line in logged for line in polled.log_lines)  # the worker's wait logs them; the trigger does


STREAM = LogStream("app", "/ecs/job", "eu-west-1", "ecs/app/abc")


def throttle() -> ClientError:
    return ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "GetLogEvents")


def log_pages(*pages: Any) -> Any:
    """GetLogEvents answers in turn: a list of messages is a page (its forward token "t<n>"), an
    exception is raised."""
    remaining = list(pages)
    answered = [0]

    def answer(call: Call) -> dict[str, Any]:
        page = remaining.pop(0)
        if isinstance(page, Exception):
            raise page
        answered[0] += 1
        return {
            "events": [{"message": m, "timestamp": 1} for m in page],
            "nextForwardToken": f"t{answered[0]}" if page else call.kwargs.get("nextToken", "t0"),
        }

    return answer


def read_one_way(runner: str, pages: tuple[Any, ...], read_pages: int | None = None) -> tuple[Any, ...]:
    """A read through one runner: its calls, its StreamRead and the follower's tokens after it."""
    follower = LogFollower([vars(STREAM)])
    calls: list[Call] = []
    answer = log_pages(*pages)

    def call(c: Call) -> Any:
        calls.append(copy.deepcopy(c))
        return answer(c)

    async def call_async(c: Call) -> Any:
        return call(c)

    steps = read_stream_steps(follower, STREAM, read_pages)
    read = run_steps(steps, call) if runner == "sync" else asyncio.run(run_steps_async(steps, call_async))
    return calls, read, follower.tokens


def read_both_ways(pages: tuple[Any, ...], read_pages: int | None = None) -> list[tuple[Any, ...]]:
    return [read_one_way(runner, pages, read_pages) for runner in ("sync", "async")]


def test_a_throttled_stream_read_keeps_its_lines_and_its_place_in_both_runners():
    (calls, read, tokens), other = read_both_ways((["a", "b"], throttle()))
    assert (calls, read.lines, str(read.throttled), tokens) == (
        other[0],
        other[1].lines,
        str(other[1].throttled),
        other[2],
    )
    assert read.lines == ["[app] a", "[app] b"]  # nothing raised, nothing lost
    assert read.throttled is not None and read.throttled.operation_name == "GetLogEvents"
    assert tokens == {STREAM.key: "t1"}  # the next read continues after "b"
    assert [c.region for c in calls] == ["eu-west-1", "eu-west-1"]  # the stream's own awslogs-region
    assert "nextToken" not in calls[0].kwargs and calls[1].kwargs["nextToken"] == "t1"


def test_a_stream_read_to_its_end_a_page_at_a_time_and_before_it_exists():
    (_, read, tokens), other = read_both_ways((["a"], ["b"], []))
    assert read == other[1] == StreamRead(["[app] a", "[app] b"])
    assert tokens == other[2] == {STREAM.key: "t2"}
    (calls, read, _), _ = read_both_ways((["a"], ["b"]), read_pages=1)
    assert (len(calls), read) == (1, StreamRead(["[app] a"]))
    missing = ClientError({"Error": {"Code": "ResourceNotFoundException", "Message": "no stream"}}, "GetLogEvents")
    (_, read, tokens), other = read_both_ways((missing,))
    assert read == other[1] == StreamRead([]) and tokens == {}


@pytest.mark.parametrize("runner", ["sync", "async"])
def test_any_other_log_error_is_raised_by_both_runners(runner):
    denied = ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "GetLogEvents")
    with pytest.raises(ClientError, match="AccessDeniedException"):
        read_one_way(runner, (["a"], denied))


def test_the_hooks_read_logs_and_read_stream_async_treat_a_throttle_alike(capfd):
    sync_calls: list[tuple[str, str, dict[str, Any]]] = []
    async_calls: list[tuple[str, str, dict[str, Any]]] = []
    hook = a_hook(sync_calls, log_pages(["a", "b"], throttle(), ["c"], []))
    follower = LogFollower([vars(STREAM)])

    async def in_the_triggerer():
        clients = FakeAsyncClients(hook, async_calls, log_pages(["a", "b"], throttle(), ["c"], []))
        async_follower = LogFollower([vars(STREAM)])
        lines = [await hook.read_stream_async(clients, async_follower, STREAM) for _ in range(2)]
        return lines, clients.regions

    first = hook.read_logs(follower)
    then = hook.read_logs(follower)  # the next read continues where the throttle stopped it
    async_lines, regions = asyncio.run(in_the_triggerer())
    assert (first, then) == (["[app] a", "[app] b"], ["[app] c"])
    assert async_lines == [first, then]
    assert sync_calls == async_calls and len(sync_calls) == 4
    assert set(regions) == {("logs", "eu-west-1")}
    # nothing raised, a warning from each
    assert capfd.readouterr().out.count("CloudWatch Logs throttled reading ecs/app/abc;") == 2
