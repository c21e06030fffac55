"""The AWS reads the hook makes, written once, without I/O; run by a sync or an async runner.

A read is a generator of steps: it yields each AWS call it needs (``Call``: a service's
operation with its arguments, in a region), is sent the answer (or has the call's error thrown
into it, to handle or let through) and returns what it found. ``run_steps`` answers with boto3
clients (the worker's waits), ``run_steps_async`` with aiobotocore clients (the triggerer's);
both only make the calls, so both make the same calls in the same order for the same answers,
and what a read does with an answer (batching, judging, paging, errors) exists once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from botocore.exceptions import ClientError

from fargate_provider.state.service import Poll, ServiceWatch, newest_stopped
from fargate_provider.state.task import LogFollower, LogStream
from fargate_provider.utils.aws_errors import THROTTLING_CODES, has_code
from fargate_provider.utils.batching import DESCRIBE_TASKS_BATCH, batched
from fargate_rules.arns import name_from_arn

T = TypeVar("T")


@dataclass
class Call:
    """One AWS API call a read needs answered: ``service``'s ``operation`` (boto3's name) with
    ``kwargs``, in ``region`` (None: the hook's)."""

    service: str
    operation: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    region: str | None = None


Steps = Generator[Call, Any, T]


def run_steps(steps: Steps[T], call: Callable[[Call], Any]) -> T:
    """Drive ``steps``, answering each call with ``call`` (boto3); what the steps return."""
    answer: Any = None
    error: Exception | None = None
    while True:
        try:
            request = steps.send(answer) if error is None else steps.throw(error)
        except StopIteration as done:
            result: T = done.value
            return result
        try:
            answer, error = call(request), None
        except Exception as failed:  # the steps decide: handled there or raised from there
            answer, error = None, failed


async def run_steps_async(steps: Steps[T], call: Callable[[Call], Awaitable[Any]]) -> T:
    """As ``run_steps``, answering with ``await call(...)`` (aiobotocore)."""
    answer: Any = None
    error: Exception | None = None
    while True:
        try:
            request = steps.send(answer) if error is None else steps.throw(error)
        except StopIteration as done:
            result: T = done.value
            return result
        try:
            answer, error = await call(request), None
        except Exception as failed:
            answer, error = None, failed


# ---------------------------------------------------------------------- ECS tasks and targets


def describe_tasks_steps(cluster: str, tasks: list[str], include_tags: bool = False) -> Steps[list[dict[str, Any]]]:
    """DescribeTasks for any number of tasks, a hundred per call (the API's limit)."""
    found: list[dict[str, Any]] = []
    extra = {"include": ["TAGS"]} if include_tags else {}
    for batch in batched(tasks, DESCRIBE_TASKS_BATCH):
        found += (yield Call("ecs", "describe_tasks", {"cluster": cluster, "tasks": batch, **extra}))["tasks"]
    return found


def stopped_tasks_steps(cluster: str, service: str, deployment_id: str, limit: int = 3) -> Steps[list[dict[str, Any]]]:
    """The newest stopped tasks a deployment started (ECS sets startedBy to the deployment id)."""
    listed = yield Call(
        "ecs", "list_tasks", {"cluster": cluster, "serviceName": name_from_arn(service), "desiredStatus": "STOPPED"}
    )
    tasks = yield from describe_tasks_steps(cluster, listed["taskArns"])
    return newest_stopped(tasks, deployment_id, limit)


def target_health_steps(target_group_arns: list[str]) -> Steps[dict[str, list[dict[str, Any]]]]:
    """ELBv2 DescribeTargetHealth of each target group: its targets and their health."""
    health: dict[str, list[dict[str, Any]]] = {}
    for arn in target_group_arns:
        health[arn] = (yield Call("elbv2", "describe_target_health", {"TargetGroupArn": arn}))[
            "TargetHealthDescriptions"
        ]
    return health


# ---------------------------------------------------------------------- service polls

# A poll looks again at most twice: with the stopped tasks it asked for, then with the target
# health a now-stable service behind a load balancer asks for.
LOOKS_PER_POLL = 2


def poll_services_steps(cluster: str, watch: ServiceWatch, described: list[dict[str, Any]]) -> Steps[Poll]:
    """One poll of ``watch`` from DescribeServices' answer ``described``: judge it; while the
    judgement asks for them (``LOOKS_PER_POLL`` times at most), the deployment's stopped tasks,
    then the load balancer's target health, and judge again. The Poll's lines are not logged."""
    result = watch.poll(described)
    stopped: dict[str, list[dict[str, Any]]] = {}
    health: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for _ in range(LOOKS_PER_POLL):
        wanted_stopped, wanted_targets = _still_wanted(result, stopped, health)
        if not wanted_stopped and not wanted_targets:
            break
        for name, deployment in wanted_stopped.items():
            stopped[name] = yield from stopped_tasks_steps(cluster, name, deployment)
        for name, arns in wanted_targets.items():
            health[name] = yield from target_health_steps(arns)
        result = _another_look(watch, described, result, stopped, health)
    return result


def _still_wanted(
    result: Poll, stopped: dict[str, Any], health: dict[str, Any]
) -> tuple[dict[str, str], dict[str, list[str]]]:
    """What the last look asked for that no earlier look fetched: stopped tasks, target health."""
    return (
        {name: deployment for name, deployment in result.fetch_stopped.items() if name not in stopped},
        {name: arns for name, arns in result.fetch_targets.items() if name not in health},
    )


def _another_look(
    watch: ServiceWatch,
    described: list[dict[str, Any]],
    before: Poll,
    stopped: dict[str, list[dict[str, Any]]],
    health: dict[str, dict[str, list[dict[str, Any]]]],
) -> Poll:
    """Judge the same answer again with what the previous look asked for; keep its lines."""
    result = watch.poll(described, stopped, health)
    result.log_lines = before.log_lines + result.log_lines
    return result


# ---------------------------------------------------------------------- log streams


@dataclass
class StreamRead:
    """What one read of a followed stream found: its new lines, in order, and the throttle
    that ended the read early, if CloudWatch Logs still throttled after botocore's retries."""

    lines: list[str]
    throttled: ClientError | None = None


def read_stream_steps(follower: LogFollower, stream: LogStream, pages: int | None = None) -> Steps[StreamRead]:
    """What is new in one followed stream (none before the stream exists): everything, or what
    ``pages`` GetLogEvents pages hold. A page with events is followed by more calls until one
    comes back empty (the stream's end for now); the follower's forward token keeps the place.

    Throttling, the same for every caller: the read stops there and says so (``throttled``)
    with the lines it has; nothing is raised (a job's outcome never hangs on or fails because
    of its logs) and no line is lost (the token stays after the last page read: the next read
    continues from it). Any other error is raised."""
    lines: list[str] = []
    while pages is None or pages > 0:
        if pages is not None:
            pages -= 1
        try:
            page = yield Call("logs", "get_log_events", follower.request(stream), stream.region)
        except ClientError as err:
            if has_code(err, "ResourceNotFoundException"):
                break  # the stream appears once the container starts
            if has_code(err, *THROTTLING_CODES):
                return StreamRead(lines, err)
            raise
        new, more = follower.take(stream, page)
        lines += new
        if not more:
            break
    return StreamRead(lines)
