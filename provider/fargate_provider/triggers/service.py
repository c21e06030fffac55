"""FargateServiceTrigger: wait in the triggerer until ECS services are stable (or INACTIVE)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from fargate_provider.hooks.fargate import FargateHook
from fargate_provider.service_state import ServiceWatch, newest_stopped


class FargateServiceTrigger(BaseTrigger):
    """Polls DescribeServices (ten services a call) through the amazon provider's async hook,
    judging each answer with the same code as the operators' non-deferrable wait.

    :param cluster: the services' cluster.
    :param watch: ``ServiceWatch.to_kwargs()``: services, target, task definitions, since.
    :param poll_interval: seconds between polls.
    :param timeout: seconds the wait may take.
    :param deadline: epoch seconds when it times out; set from ``timeout`` when the trigger is
        first made, and carried through serialisation so a triggerer restart does not extend it.
    :param value: what the deferred task returns on success.
    """

    def __init__(
        self,
        cluster: str,
        watch: dict[str, Any],
        poll_interval: float,
        timeout: float,
        deadline: float | None = None,
        value: Any = None,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
    ):
        super().__init__()
        self.cluster = cluster
        self.watch = watch
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.deadline = time.time() + timeout if deadline is None else deadline
        self.value = value
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "cluster": self.cluster,
                "watch": self.watch,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
                "timeout": self.timeout,
                "value": self.value,
                "aws_conn_id": self.aws_conn_id,
                "region_name": self.region_name,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        watch = ServiceWatch(**self.watch)
        hook = FargateHook(aws_conn_id=self.aws_conn_id, region_name=self.region_name)
        try:
            async with await hook.get_async_conn() as client:
                while True:
                    described: list[dict[str, Any]] = []
                    for batch in watch.batches():
                        described += (await client.describe_services(cluster=self.cluster, services=batch))["services"]
                    result = watch.poll(described)
                    if result.fetch_stopped:
                        stopped = {
                            name: await self._stopped_tasks(client, name, deployment)
                            for name, deployment in result.fetch_stopped.items()
                        }
                        first_lines = result.log_lines
                        result = watch.poll(described, stopped)
                        result.log_lines = first_lines + result.log_lines
                    for line in result.log_lines:
                        self.log.info("%s", line)
                    if result.error:
                        yield TriggerEvent({"status": "failed", "message": result.error})
                        return
                    if result.done:
                        yield TriggerEvent({"status": "success", "value": self.value})
                        return
                    if time.time() >= self.deadline:
                        yield TriggerEvent({"status": "failed", "message": watch.timeout_message(self.timeout)})
                        return
                    await asyncio.sleep(self.poll_interval)
        except Exception as error:  # the task, not the triggerer, should fail, with the reason
            yield TriggerEvent({"status": "failed", "message": f"{type(error).__name__}: {error}"})

    async def _stopped_tasks(self, client: Any, service: str, deployment_id: str, limit: int = 3) -> list[dict[str, Any]]:
        arns = (await client.list_tasks(cluster=self.cluster, serviceName=service, desiredStatus="STOPPED"))["taskArns"]
        tasks: list[dict[str, Any]] = []
        for start in range(0, len(arns), 100):
            tasks += (await client.describe_tasks(cluster=self.cluster, tasks=arns[start : start + 100]))["tasks"]
        return newest_stopped(tasks, deployment_id, limit)
