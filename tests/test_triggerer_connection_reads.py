"""A trigger reads its Airflow connection in a worker thread, never on the triggerer's event loop.

In the triggerer, reading a connection asks the supervisor and the answer comes back through the
event loop; under Python 3.11 one lock guards ``conn_config`` of every hook of a class
(``functools.cached_property``, python/cpython#87634). Three environments created at once froze
the triggerer ("TriggerRunner subprocess event loop appears deadlocked"): a worker thread held the
lock waiting for the loop while the loop waited for the lock. Here the triggerer's way of reading a
connection is played as it is (off the loop: the loop answers; on the loop: it blocks the loop),
and several waits start at the same moment."""

from __future__ import annotations

import asyncio
import threading

from airflow.providers.amazon.aws.hooks.base_aws import AwsGenericHook

from fargate_provider.state.service import INACTIVE_TARGET, ServiceWatch
from fargate_provider.triggers.service import FargateServiceTrigger
from tests.emulator.helpers import client


def test_waits_started_together_read_their_connection_off_the_event_loop(emulator, monkeypatch):
    ecs = client(emulator)
    ecs.create_cluster(clusterName="reads")
    read_on: list[str] = []
    loop_thread: list[threading.Thread] = []
    get_connection = AwsGenericHook.get_connection

    def triggerer_get_connection(conn_id):
        """As the triggerer reads a connection: through its event loop."""
        on_loop = threading.current_thread() is loop_thread[0]
        read_on.append("event loop" if on_loop else "worker thread")
        if on_loop:
            return get_connection(conn_id)  # the triggerer would block its own loop here
        loop = loop_thread[1]
        answer = asyncio.run_coroutine_threadsafe(asyncio.sleep(0.05, result=None), loop)
        answer.result(timeout=30)  # the loop answers; the cached_property lock is held meanwhile
        return get_connection(conn_id)

    monkeypatch.setattr(AwsGenericHook, "get_connection", staticmethod(triggerer_get_connection))
    triggers = [
        FargateServiceTrigger(
            cluster="reads",
            watch=ServiceWatch([f"gone-{i}"], INACTIVE_TARGET).to_kwargs(),
            poll_interval=0.2,
            timeout=60,
            aws_conn_id="aws_default",
            botocore_config={"connect_timeout": 10 + i},  # different settings: a client and a poller each
        )
        for i in range(4)
    ]

    async def first_events():
        loop_thread.extend([threading.current_thread(), asyncio.get_running_loop()])

        async def first(trigger):
            async for event in trigger.run():
                return event.payload

        return await asyncio.gather(*(first(t) for t in triggers))

    result: list = []
    runner = threading.Thread(target=lambda: result.append(asyncio.run(first_events())), daemon=True)
    runner.start()
    runner.join(timeout=120)
    ecs.delete_cluster(cluster="reads")
    assert not runner.is_alive(), "the event loop is stuck"
    assert read_on and set(read_on) == {"worker thread"}, read_on
    assert [payload["status"] for payload in result[0]] == ["success"] * 4, result
