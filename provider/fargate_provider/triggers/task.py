"""FargateTaskTrigger: wait in the triggerer until one-off tasks are RUNNING or STOPPED,
streaming their container logs into the task log meanwhile."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import TriggerEvent

from fargate_provider.state.task import LogFollower, progress
from fargate_provider.triggers.base import FargateBaseTrigger


class FargateTaskTrigger(FargateBaseTrigger):
    """Polls DescribeTasks (a hundred tasks a call) and GetLogEvents (each stream in its own
    ``awslogs-region``) through ``FargateHook``'s async reads; judges with the same code as the
    in-worker wait.

    Events carry the task ARNs (``tasks``): ``{"status": "done", "logs": <follower state>}``,
    ``{"status": "failed", "message": ...}`` or ``{"status": "timeout", "logs": ...}`` when
    ``deadline`` passes.

    :param cluster: the tasks' cluster (name or ARN).
    :param tasks: task ARNs to wait for.
    :param target_state: ``RUNNING`` or ``STOPPED``.
    :param poll_interval: seconds between polls.
    :param deadline: epoch seconds after which the wait ends with a ``timeout`` event; None: no limit.
    :param logs: ``LogFollower.to_kwargs()`` of the streams to follow, or None to read no logs.
    :param aws_conn_id, region_name, verify, botocore_config: see ``FargateBaseTrigger``.

    .. seealso:: README, "Batch runs: one-off tasks".
    """

    def __init__(
        self,
        cluster: str,
        tasks: list[str],
        target_state: str,
        poll_interval: float,
        deadline: float | None = None,
        logs: dict[str, Any] | None = None,
        **connection: Any,
    ):
        super().__init__(**connection)
        self.cluster, self.tasks, self.target_state = cluster, tasks, target_state
        self.poll_interval, self.deadline, self.logs = poll_interval, deadline, logs

    def trigger_kwargs(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster,
            "tasks": self.tasks,
            "target_state": self.target_state,
            "poll_interval": self.poll_interval,
            "deadline": self.deadline,
            "logs": self.logs,
        }

    async def run(self) -> AsyncIterator[TriggerEvent]:
        follower = LogFollower(**self.logs) if self.logs else None
        try:
            async with self.hook.async_clients() as clients:
                while True:
                    described = await self.hook.describe_tasks_async(clients, self.cluster, self.tasks)
                    if follower:
                        for line in await self.hook.read_logs_async(clients, follower):
                            self.log.info("%s", line)
                    done, error = progress(described, self.tasks, self.target_state)
                    if error:
                        yield await self.event({"status": "failed", "tasks": self.tasks, "message": error})
                        return
                    if done:
                        yield await self.event({"status": "done", "tasks": self.tasks, "logs": follower.to_kwargs() if follower else None})
                        return
                    if self.deadline is not None and time.time() >= self.deadline:
                        yield await self.event({"status": "timeout", "tasks": self.tasks, "logs": follower.to_kwargs() if follower else None})
                        return
                    await asyncio.sleep(self.poll_interval)
        except Exception as error:  # the task, not the triggerer, should fail, with the reason
            yield await self.event({"status": "failed", "tasks": self.tasks, "message": f"{type(error).__name__}: {error}"})
