"""FargateServiceTrigger: wait in the triggerer until ECS services are stable (or INACTIVE)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.providers.common.compat.sdk import AirflowException
from airflow.triggers.base import TriggerEvent

from fargate_provider.exceptions import RolloutFailedError, WaitTimeoutError
from fargate_provider.state.ecs_events import SERVICES
from fargate_provider.state.service import INACTIVE_TARGET, ServiceWatch
from fargate_provider.triggers.base import FargateBaseTrigger
from fargate_provider.triggers.polling import shared_poller


class FargateServiceTrigger(FargateBaseTrigger):
    """Waits on DescribeServices answers from the triggerer's shared poller (``polling``: one
    call per ten services per cluster for every wait of the connection), judging each with the
    same code as the operators' non-deferrable wait; stopped tasks and target health, when the
    judgement asks for them, through ``FargateHook``'s async reads.

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

    .. seealso:: :doc:`/guides/services`
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
        kinds: dict[str | None, type[AirflowException]] = {"rollout": RolloutFailedError, "timeout": WaitTimeoutError}
        kind = kinds.get(event.get("kind"), AirflowException)
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
        hook = await self.connect()
        try:
            async with (
                hook.async_clients() as clients,
                shared_poller(hook).subscribe(
                    SERVICES, self.cluster, watch.services, self.poll_interval
                ) as subscription,
            ):
                # A deleted service's end (DRAINING to INACTIVE) comes without an ECS event: such a wait
                # polls at its interval from its first round (see below for target health).
                subscription.events_cover = watch.target != INACTIVE_TARGET
                while True:
                    # The shared poller answers at this wait's interval (one call per 10 services per cluster
                    # for all waits). asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow the
                    # triggerer's cancellation when the answer arrives at the same moment (gh-86296).
                    try:
                        async with asyncio.timeout(max(self.deadline - time.time(), 0.0) + self.poll_interval):
                            described = await subscription.next()
                    except TimeoutError:
                        described = None
                    if described is not None:
                        result = await self.hook.poll_services_async(clients, self.cluster, watch, described)
                        # Target health comes without an ECS event too: while it is awaited, the wait polls.
                        subscription.events_cover = not result.fetch_targets and watch.target != INACTIVE_TARGET
                        for line in result.log_lines:
                            self.log.info("%s", line)
                        if result.error:
                            yield await self.event({"status": "failed", "kind": "rollout", "message": result.error})
                            return
                        if result.done:
                            yield await self.event({"status": "success", "value": self.value})
                            return
                    if time.time() >= self.deadline:
                        yield await self.event(
                            {"status": "failed", "kind": "timeout", "message": watch.timeout_message(self.timeout)}
                        )
                        return
        except Exception as error:  # the task, not the triggerer, should fail, with the reason
            yield await self.event({"status": "failed", "kind": "error", "message": f"{type(error).__name__}: {error}"})
