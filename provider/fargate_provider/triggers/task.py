"""FargateTaskTrigger: wait in the triggerer until one-off tasks are RUNNING or STOPPED,
streaming their container logs into the task log meanwhile."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import TriggerEvent

from fargate_provider.hooks.steps import read_stream_steps, run_steps_async
from fargate_provider.settings import LIVE_LOGS
from fargate_provider.state.ecs_events import TASKS
from fargate_provider.state.task import LogFollower, LogPacer, LogStream, progress
from fargate_provider.triggers.base import FargateBaseTrigger
from fargate_provider.triggers.live_tail import LiveTailHub, live_tail_hub
from fargate_provider.triggers.log_reads import log_read_budget
from fargate_provider.triggers.polling import shared_poller
from fargate_rules.live_tail import log_group_arn


class FargateTaskTrigger(FargateBaseTrigger):
    """Waits on DescribeTasks answers from the triggerer's shared poller (``polling``: one call
    per hundred tasks per cluster for every wait of the connection) and reads GetLogEvents (each
    stream in its own ``awslogs-region``, paced by ``LogPacer``) with the same steps as the
    worker (``hooks/steps.py``) run async, beside the wait (``LogReader``) and within the
    triggerer's CloudWatch Logs budget (``log_reads``); judges with the same code as the
    in-worker wait.

    Events carry the task ARNs (``tasks``) and the follower's state (``logs``, None without
    logs), from which the worker reads the last lines: ``{"status": "done"}``, ``{"status":
    "failed", "message": ...}`` or ``{"status": "timeout"}`` when ``deadline`` passes.

    :param cluster: the tasks' cluster (name or ARN).
    :param tasks: task ARNs to wait for.
    :param target_state: ``RUNNING`` or ``STOPPED``.
    :param poll_interval: seconds between polls.
    :param log_interval: seconds between reads of a running task's stream (``LogPacer``);
        None: ``poll_interval``.
    :param deadline: epoch seconds after which the wait ends with a ``timeout`` event; None: no limit.
    :param logs: ``LogFollower.to_kwargs()`` of the streams to follow, or None to read no logs.
    :param carry: the operator's JSON-able state across the wait (the attempts of its try so
        far), returned unchanged in every event as ``carry``: the resumed try reads it from the
        event, whichever way the event reaches it. None: no ``carry`` key.
    :param aws_conn_id, region_name, verify, botocore_config: see ``FargateBaseTrigger``.

    .. seealso:: :doc:`/guides/batch-runs`
    """

    def __init__(
        self,
        cluster: str,
        tasks: list[str],
        target_state: str,
        poll_interval: float,
        deadline: float | None = None,
        logs: dict[str, Any] | None = None,
        log_interval: float | None = None,
        carry: dict[str, Any] | None = None,
        **connection: Any,
    ):
        super().__init__(**connection)
        self.carry = carry
        self.cluster, self.tasks, self.target_state = cluster, tasks, target_state
        self.poll_interval, self.deadline, self.logs = poll_interval, deadline, logs
        self.log_interval = log_interval

    def trigger_kwargs(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster,
            "tasks": self.tasks,
            "target_state": self.target_state,
            "poll_interval": self.poll_interval,
            "deadline": self.deadline,
            "logs": self.logs,
            "log_interval": self.log_interval,
            "carry": self.carry,
        }

    async def event(self, payload: dict[str, Any]) -> TriggerEvent:
        if self.carry is not None:
            payload = {**payload, "carry": self.carry}
        return await super().event(payload)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        follower = LogFollower(**self.logs) if self.logs else None
        hook = await self.connect()
        try:
            async with (
                hook.async_clients() as clients,
                shared_poller(hook).subscribe(TASKS, self.cluster, self.tasks, self.poll_interval) as subscription,
            ):
                # Logs are read beside the wait, not in it: a read waiting for its turn in the
                # CloudWatch budget never holds back seeing the task stop.
                reader = LogReader(self, clients, follower) if follower else None
                try:
                    while True:
                        timeout = (
                            None
                            if self.deadline is None
                            else max(self.deadline - time.time(), 0.0) + self.poll_interval
                        )
                        try:  # asyncio.timeout, not wait_for: see FargateServiceTrigger.run
                            async with asyncio.timeout(timeout):
                                described = await subscription.next()
                        except TimeoutError:
                            described = None
                        if described is not None:
                            done, error = progress(described, self.tasks, self.target_state)
                            if reader:
                                reader.raise_failure()
                                reader.described(described)
                            if error or done:
                                if reader:
                                    await reader.stop()  # the worker reads what is left (the operator's _finish)
                                logs = follower.to_kwargs() if follower else None
                                if error:
                                    yield await self.event(
                                        {"status": "failed", "tasks": self.tasks, "message": error, "logs": logs}
                                    )
                                else:
                                    yield await self.event({"status": "done", "tasks": self.tasks, "logs": logs})
                                return
                        if self.deadline is not None and time.time() >= self.deadline:
                            if reader:
                                await reader.stop()
                            yield await self.event(
                                {
                                    "status": "timeout",
                                    "tasks": self.tasks,
                                    "logs": follower.to_kwargs() if follower else None,
                                }
                            )
                            return
                finally:
                    if reader:
                        await reader.stop()
        except Exception as error:  # the task, not the triggerer, should fail, with the reason
            yield await self.event(
                {
                    "status": "failed",
                    "tasks": self.tasks,
                    "message": f"{type(error).__name__}: {error}",
                    "logs": follower.to_kwargs() if follower else None,
                }
            )


class LogReader:
    """Reads a trigger's followed streams beside its wait: after each answer, the streams
    ``LogPacer`` says are due, each when the budget of its connection and region gives it a turn
    (``log_reads``), one GetLogEvents page a turn, logging its lines at once (a page's lines and
    its token go together: a failure never leaves lines behind a moved token). Throttled reads
    (``read_stream_steps`` says so and keeps the token) pause the budget and wait for a later
    turn; any other error fails the wait (``raise_failure``). ``stop()`` lets a
    read under way finish and then ends the reader, so the follower's tokens and the lines
    logged agree: nothing is lost or repeated when the worker reads on from them."""

    def __init__(self, trigger: FargateTaskTrigger, clients: Any, follower: LogFollower):
        self.trigger, self.clients, self.follower = trigger, clients, follower
        self.pacer = LogPacer(trigger.log_interval or trigger.poll_interval)
        self.latest: list[dict[str, Any]] | None = None
        self.fresh = asyncio.Event()
        self.reading = False
        self.stopping = False
        self.failure: Exception | None = None
        self.task = asyncio.get_running_loop().create_task(self._run(), name="fargate log reader")
        # With [fargate] live_logs: Live Tail's lines, taken by the hub, logged here (this trigger's context).
        self.hubs: dict[str | None, LiveTailHub] = {}
        self.live_lines: list[str] = []
        self.live_ready = asyncio.Event()
        self.live_task: asyncio.Task[None] | None = None
        if LIVE_LOGS.get():
            self._follow_live()

    def _follow_live(self) -> None:
        hook = self.trigger.hook
        partition, account = _partition_and_account(self.trigger.tasks)
        if account is None:
            return
        self.follower.expect_live()
        by_region: dict[str, list[LogStream]] = {}
        for stream in self.follower.log_streams:
            region = self._logs_region(stream)
            if region is not None:  # (no Region known: that stream's lines come from GetLogEvents)
                by_region.setdefault(region, []).append(stream)
        for region, streams in by_region.items():

            def arn_of(group: str, region: str = region) -> str:
                return log_group_arn(partition, region, account, group)

            hub = self.hubs[region] = live_tail_hub(hook, region)
            hub.follow(self, streams, arn_of)
        self.live_task = asyncio.get_running_loop().create_task(self._log_live(), name="fargate live log lines")

    def live(self, group: str, stream: str, timestamp: int, message: str) -> None:
        """A line Live Tail brought (called by the hub): logged soon by ``_log_live``, unless the forward
        read logged it already."""
        followed = self.follower.stream_named(group, stream)
        if followed is None or self.stopping:
            return
        line = self.follower.live_line(followed, timestamp, message)
        if line is not None:
            self.live_lines.append(line)
            self.live_ready.set()

    async def _log_live(self) -> None:
        while True:
            await self.live_ready.wait()
            self._flush_live()

    def _flush_live(self) -> None:
        self.live_ready.clear()
        lines, self.live_lines = self.live_lines, []
        for line in lines:
            self.trigger.log.info("%s", line)

    def _logs_region(self, stream: LogStream) -> str | None:
        return stream.region or self.trigger.hook.region_name

    def _live_for(self, stream: LogStream) -> bool:
        hub = self.hubs.get(self._logs_region(stream))
        return hub is not None and hub.live_for(stream.group)

    def described(self, described: list[dict[str, Any]]) -> None:
        self.latest = described
        self.fresh.set()

    def raise_failure(self) -> None:
        if self.failure is not None:
            raise self.failure

    async def stop(self) -> None:
        self.stopping = True
        for hub in self.hubs.values():
            hub.unfollow(self)
        self.hubs = {}
        if self.live_task is not None:
            self.live_task.cancel()
            await asyncio.gather(self.live_task, return_exceptions=True)
            self.live_task = None
        self._flush_live()  # taken lines are in the follower's ``live``: they must be in the log too
        if not self.reading:  # waiting for an answer or a turn: nothing read yet, safe to cancel
            self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)

    async def _run(self) -> None:
        hook, log = self.trigger.hook, self.trigger.log
        while not self.stopping:
            await self.fresh.wait()
            self.fresh.clear()
            described = self.latest or []
            for stream in self.pacer.due(self.follower, described, time.monotonic()):
                budget = log_read_budget(hook, stream.region)
                granted = await budget.turn()
                if self.stopping:
                    return
                self.reading = True
                try:
                    read = await run_steps_async(read_stream_steps(self.follower, stream, pages=1), self.clients.call)
                except Exception as error:  # e.g. AccessDenied, the endpoint unreachable: the wait fails with it,
                    self.failure = error  # as in the worker, not a silent end
                    return
                finally:
                    self.reading = False
                if read.throttled is not None:
                    budget.throttled(read.throttled.operation_name)  # the token stays: a later turn reads on
                else:
                    budget.answered(granted)
                    self.pacer.read(stream, described, bool(read.lines), time.monotonic(), self._live_for(stream))
                    for line in read.lines:
                        log.info("%s", line)
                if self.stopping:
                    return


def _partition_and_account(task_arns: list[str]) -> tuple[str, str | None]:
    """The partition and account of the tasks (``arn:PARTITION:ecs:REGION:ACCOUNT:task/...``): their
    log groups' ARNs are made of them."""
    for arn in task_arns:
        parts = arn.split(":")
        if len(parts) > 5 and parts[0] == "arn" and parts[4].isdigit():
            return parts[1], parts[4]
    return "aws", None
