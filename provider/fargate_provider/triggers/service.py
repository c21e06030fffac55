"""FargateServiceTrigger: wait in the triggerer until ECS services are stable (or INACTIVE)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.providers.common.compat.sdk import AirflowException
from airflow.triggers.base import TriggerEvent

from fargate_provider.exceptions import RolloutFailedError, WaitTimeoutError
from fargate_provider.state.service import ServiceWatch
from fargate_provider.triggers.base import FargateBaseTrigger


class FargateServiceTrigger(FargateBaseTrigger):
    """Polls DescribeServices (ten services a call) through ``FargateHook``'s async reads,
    judging each answer with the same code as the operators' non-deferrable wait.

    :param cluster: the services' cluster.
    :param watch: ``ServiceWatch.to_kwargs()``: services, target, task definitions, since.
    :param poll_interval: seconds between polls.
    :param timeout: seconds the wait may take.
    :param deadline: epoch seconds when it times out; set from ``timeout`` when the trigger is
        first made, and carried through serialisation so a triggerer restart does not extend it.
    :param value: what the deferred task returns on success.
    :param aws_conn_id, region_name, verify, botocore_config: see ``FargateBaseTrigger``.

    Events: ``{"status": "success", "value": value}``, ``{"status": "failed", "kind":
    "rollout" | "timeout" | "error", "message": ...}``.

    .. seealso:: README, "Services".
    """

    def __init__(
        self,
        cluster: str,
        watch: dict[str, Any],
        poll_interval: float,
        timeout: float,
        deadline: float | None = None,
        value: Any = None,
        **connection: Any,
    ):
        super().__init__(**connection)
        self.cluster = cluster
        self.watch = watch
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.deadline = time.time() + timeout if deadline is None else deadline
        self.value = value

    @staticmethod
    def error_from_event(event: dict[str, Any]) -> AirflowException:
        """The typed error a failed event stands for, raised by the task that resumes."""
        kind = {"rollout": RolloutFailedError, "timeout": WaitTimeoutError}.get(event.get("kind"), AirflowException)
        return kind(event.get("message", "the wait failed"))

    def trigger_kwargs(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster,
            "watch": self.watch,
            "poll_interval": self.poll_interval,
            "deadline": self.deadline,
            "timeout": self.timeout,
            "value": self.value,
        }

    async def run(self) -> AsyncIterator[TriggerEvent]:
        watch = ServiceWatch(**self.watch)
        try:
            async with self.hook.async_clients() as clients:
                while True:
                    result = await self.hook.poll_services_async(clients, self.cluster, watch)
                    for line in result.log_lines:
                        self.log.info("%s", line)
                    if result.error:
                        yield await self.event({"status": "failed", "kind": "rollout", "message": result.error})
                        return
                    if result.done:
                        yield await self.event({"status": "success", "value": self.value})
                        return
                    if time.time() >= self.deadline:
                        yield await self.event({"status": "failed", "kind": "timeout", "message": watch.timeout_message(self.timeout)})
                        return
                    await asyncio.sleep(self.poll_interval)
        except Exception as error:  # the task, not the triggerer, should fail, with the reason
            yield await self.event({"status": "failed", "kind": "error", "message": f"{type(error).__name__}: {error}"})
