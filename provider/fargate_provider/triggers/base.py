"""FargateBaseTrigger: what every trigger of this provider carries into the triggerer."""

from __future__ import annotations

import asyncio
import time
from functools import cached_property
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent
from botocore.config import Config

from fargate_provider.hooks.fargate import FargateHook
from fargate_provider.settings import RESUME_NOT_BEFORE_SECONDS

# Airflow 3.3 fails a deferred task whose trigger fires soon after the deferral: the scheduler
# can drain the stale "success" of the worker that exited on defer() once the resumed try is
# QUEUED or RUNNING, and marks it FAILED ("state mismatch"; apache/airflow#72716, #71580, fixes
# open). That worker's exit was measured at 5.3 s after defer() on a loaded machine. No event
# leaves a trigger sooner than this after the task deferred (settings.RESUME_NOT_BEFORE_SECONDS,
# [fargate] resume_not_before_seconds).


class FargateBaseTrigger(BaseTrigger):
    """The whole AWS connection of the deferring task, as the amazon provider's
    ``AwsBaseWaiterTrigger`` carries it: ``aws_conn_id``, ``region_name``, ``verify`` and
    ``botocore_config`` are serialised with the trigger, and the hook is rebuilt from
    ``hook_class`` in the triggerer (a connection's SSL and botocore settings are not dropped).

    :param aws_conn_id: the Airflow connection to AWS.
    :param region_name: AWS region; the connection's when None.
    :param verify: SSL certificate verification (``False``, or a CA bundle path); the connection's when None.
    :param botocore_config: keyword arguments of ``botocore.config.Config`` (timeouts, retries, proxies).
    :param resume_not_before: epoch seconds before which no event is fired; set when the trigger is
        first made (``[fargate] resume_not_before_seconds`` ahead, 15 by default) and carried through serialisation.
    """

    hook_class: type[FargateHook] = FargateHook

    def __init__(
        self,
        *,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict[str, Any] | None = None,
        resume_not_before: float | None = None,
    ):
        super().__init__()
        self.aws_conn_id, self.region_name = aws_conn_id, region_name
        self.verify, self.botocore_config = verify, botocore_config
        self.resume_not_before = (
            time.time() + RESUME_NOT_BEFORE_SECONDS.get() if resume_not_before is None else resume_not_before
        )

    @staticmethod
    def connection_of(task: Any) -> dict[str, Any]:
        """The connection settings of an operator or sensor (an ``AwsBaseOperator``/``AwsBaseSensor``), or of
        a trigger."""
        return {
            "aws_conn_id": task.aws_conn_id,
            "region_name": task.region_name,
            "verify": task.verify,
            "botocore_config": task.botocore_config,
        }

    def trigger_kwargs(self) -> dict[str, Any]:
        """The subclass's own arguments, as serialised."""
        raise NotImplementedError

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return f"{type(self).__module__}.{type(self).__qualname__}", {
            **self.trigger_kwargs(),
            **self.connection_of(self),
            "resume_not_before": self.resume_not_before,
        }

    async def event(self, payload: dict[str, Any]) -> TriggerEvent:
        """The event to fire, once it is safe to resume the task (see settings.RESUME_NOT_BEFORE_SECONDS)."""
        delay = self.resume_not_before - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        return TriggerEvent(payload)

    async def connect(self) -> FargateHook:
        """The hook, its Airflow connection read in a worker thread, never on the event loop.

        Every trigger's ``run`` starts with it. Reading a connection in the triggerer asks the
        triggerer's supervisor, and the answer comes through the event loop; under Python 3.11 one
        lock guards ``conn_config`` of every hook (``functools.cached_property``, gh-87634). A worker
        thread reading one trigger's connection (aiobotocore's client, ``sync_to_async``) held that
        lock while waiting for the loop, and the loop, reading the next trigger's connection for its
        client pool key, waited for the lock: the triggerer froze ("event loop appears deadlocked")
        with three environments created at once. Once read, ``conn_config`` is the instance's own
        attribute and reading it takes no lock.
        """
        await asyncio.to_thread(lambda: self.hook.conn_config)
        return self.hook

    @cached_property
    def hook(self) -> FargateHook:
        config = Config(**self.botocore_config) if self.botocore_config else None
        return self.hook_class(
            aws_conn_id=self.aws_conn_id, region_name=self.region_name, verify=self.verify, config=config
        )
