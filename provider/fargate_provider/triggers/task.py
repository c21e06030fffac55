"""FargateTaskTrigger: wait in the triggerer until one-off tasks are RUNNING or STOPPED,
streaming their container logs into the task log meanwhile."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent
from botocore.exceptions import ClientError

from fargate_provider.hooks.fargate import FargateHook
from fargate_provider.task_state import LogFollower, progress


class FargateTaskTrigger(BaseTrigger):
    """Polls DescribeTasks (a hundred tasks a call) and GetLogEvents through the amazon
    provider's async hooks; judges with the same code as the in-worker wait.

    Events carry the task ARNs (``tasks``): ``{"status": "done", "logs": <follower state>}``, ``{"status": "failed",
    "message": ...}`` or ``{"status": "timeout", "logs": ...}`` when ``deadline`` (epoch s) passes.
    """

    def __init__(
        self,
        cluster: str,
        tasks: list[str],
        target_state: str,
        poll_interval: float,
        deadline: float | None = None,
        logs: dict[str, Any] | None = None,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
    ):
        super().__init__()
        self.cluster, self.tasks, self.target_state = cluster, tasks, target_state
        self.poll_interval, self.deadline, self.logs = poll_interval, deadline, logs
        self.aws_conn_id, self.region_name = aws_conn_id, region_name

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "cluster": self.cluster,
                "tasks": self.tasks,
                "target_state": self.target_state,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
                "logs": self.logs,
                "aws_conn_id": self.aws_conn_id,
                "region_name": self.region_name,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        follower = LogFollower(**self.logs) if self.logs else None
        hook = FargateHook(aws_conn_id=self.aws_conn_id, region_name=self.region_name)
        try:
            async with await hook.get_async_conn() as ecs:
                logs_client = await self._logs_client() if follower else None
                async with logs_client or _Nothing() as logs:
                    while True:
                        described = []
                        for start in range(0, len(self.tasks), 100):
                            described += (await ecs.describe_tasks(cluster=self.cluster, tasks=self.tasks[start : start + 100]))["tasks"]
                        if follower:
                            await self._read_logs(logs, follower)
                        done, error = progress(described, self.tasks, self.target_state)
                        if error:
                            yield TriggerEvent({"status": "failed", "tasks": self.tasks, "message": error})
                            return
                        if done:
                            yield TriggerEvent({"status": "done", "tasks": self.tasks, "logs": follower.to_kwargs() if follower else None})
                            return
                        if self.deadline is not None and time.time() >= self.deadline:
                            yield TriggerEvent({"status": "timeout", "tasks": self.tasks, "logs": follower.to_kwargs() if follower else None})
                            return
                        await asyncio.sleep(self.poll_interval)
        except Exception as error:  # the task, not the triggerer, should fail, with the reason
            yield TriggerEvent({"status": "failed", "tasks": self.tasks, "message": f"{type(error).__name__}: {error}"})

    async def _logs_client(self):
        from airflow.providers.amazon.aws.hooks.logs import AwsLogsHook

        return await AwsLogsHook(aws_conn_id=self.aws_conn_id, region_name=self.region_name).get_async_conn()

    async def _read_logs(self, client: Any, follower: LogFollower) -> None:
        for stream in follower.log_streams:
            while True:
                try:
                    page = await client.get_log_events(**follower.request(stream))
                except ClientError as err:
                    if err.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                        break
                    raise
                lines, more = follower.take(stream, page)
                for line in lines:
                    self.log.info("%s", line)
                if not more:
                    break


class _Nothing:
    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: Any) -> None:
        return None
