"""ECS's events in the triggerer: with ``[fargate] events_queue_url`` set, each shared poller reads
the queue an EventBridge rule fills with ECS's events and wakes the waits they concern, which then
describe what they wait for at once; polling stays as the safety net, at ``[fargate]
events_reconcile_seconds`` instead of each wait's interval (see ``state/ecs_events`` for what an
event concerns and when it is news).

The queue may be read by several triggerers, each holding other waits. A message is deleted by the
one that holds a wait it concerns, or, concerning none, by whoever sees it once it is older than the
reconcile interval (by then every wait it could concern has looked for itself). Until then it goes
back to the queue after ``RETURN_SECONDS`` for the others: one triggerer never takes what another
needs. A queue that cannot be read (deleted, no permission, throttled) is said once; the waits then
poll at their own interval until it answers again, so nothing is lost with the events.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from fargate_provider.state.ecs_events import SeenEvents, parse_event
from fargate_provider.triggers.backoff import FIRST_BACKOFF_SECONDS, next_backoff
from fargate_provider.utils.aws_errors import error_code

if TYPE_CHECKING:
    from fargate_provider.triggers.polling import SharedPoller

log = logging.getLogger(__name__)

# ReceiveMessage's long poll (its maximum, SQS API_ReceiveMessage: 0 to 20) and batch (at most 10).
LONG_POLL_SECONDS, MESSAGES_A_CALL = 20, 10
# How long a message concerning no wait here stays invisible before the queue offers it again.
RETURN_SECONDS = 5
RECEIVERS = 4  # receive loops side by side (ReceiveMessage takes at most 10 messages a call)
_QUEUE_URL = re.compile(r"^https://sqs\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?/\d{12}/[\w-]{1,80}(\.fifo)?$")


def queue_region(queue_url: str) -> str | None:
    """The Region of an SQS queue URL (None for another endpoint, e.g. a local one: the connection's)."""
    match = _QUEUE_URL.match(queue_url)
    return match.group(1) if match else None


class EventsConsumer:
    """Reads ECS's events for ``poller`` (one task beside its rounds) and wakes the waits they concern."""

    def __init__(self, poller: SharedPoller, queue_url: str, reconcile_seconds: float):
        self.poller, self.queue_url, self.reconcile_seconds = poller, queue_url, reconcile_seconds
        self.seen = SeenEvents()
        self.healthy = False  # the queue answered its last receive
        self.counts = {"received": 0, "woke": 0, "repeated": 0, "returned": 0, "deleted": 0}
        self.backoff = 0.0

    async def run(self, clients: Any) -> None:
        """RECEIVERS receive loops side by side: one ReceiveMessage takes at most 10 messages, and a
        thousand tasks stopping together send thousands of events."""
        sqs = await clients.get("sqs", queue_region(self.queue_url))
        await asyncio.gather(*(self._receive(sqs, first) for first in [True] + [False] * (RECEIVERS - 1)))

    async def _receive(self, sqs: Any, first: bool) -> None:
        wait = 0  # the first receive answers at once: the waits rely on the queue only once it has
        while True:
            while not first and not self.healthy:  # the others read while the queue answers the first
                await asyncio.sleep(FIRST_BACKOFF_SECONDS)
            try:
                answer = await sqs.receive_message(
                    QueueUrl=self.queue_url,
                    MaxNumberOfMessages=MESSAGES_A_CALL,
                    WaitTimeSeconds=wait,
                    VisibilityTimeout=RETURN_SECONDS,
                    MessageSystemAttributeNames=["SentTimestamp"],
                )
                self._answered()
                wait = LONG_POLL_SECONDS
                await self._handle(sqs, answer.get("Messages") or [])
            except Exception as error:  # the queue gone, no permission, no connection...: polling goes on
                if first:  # (it says so, backs off and tries again; the others wait for it)
                    await self._failed(error)
                else:
                    await asyncio.sleep(FIRST_BACKOFF_SECONDS)

    async def _handle(self, sqs: Any, messages: list[dict[str, Any]]) -> None:
        done = []
        now_ms = time.time() * 1000
        for message in messages:
            self.counts["received"] += 1
            event = parse_event(message.get("Body") or "")
            if event is not None and self.poller.holds(event.concerns):
                if self.seen.is_news(event):
                    log.debug(
                        "%s for %s (version %s): its waits look now", event.detail_type, event.resource, event.version
                    )
                    self.counts["woke"] += 1
                    self.poller.wake_for(event.concerns)
                else:
                    self.counts["repeated"] += 1
                done.append(message)
                continue
            sent = float((message.get("Attributes") or {}).get("SentTimestamp", now_ms))
            if event is None or now_ms - sent >= self.reconcile_seconds * 1000:
                done.append(message)  # not ECS's, or older than any wait's own look
            else:
                self.counts["returned"] += 1  # perhaps another triggerer's: back to the queue
        for start in range(0, len(done), MESSAGES_A_CALL):
            batch = done[start : start + MESSAGES_A_CALL]
            await sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
            )
            self.counts["deleted"] += len(batch)

    def _answered(self) -> None:
        if not self.healthy:
            if self.backoff:
                log.info(
                    "ECS events from %s are read again; waits poll every %g s as a safety net",
                    self.queue_url,
                    self.reconcile_seconds,
                )
            self.healthy, self.backoff = True, 0.0

    async def _failed(self, error: Exception) -> None:
        if self.healthy or not self.backoff:  # said once per episode
            code = error_code(error) if isinstance(error, ClientError) else None
            log.warning(
                "ECS events from %s cannot be read (%s: %s): the waits poll at their own interval until it answers",
                self.queue_url,
                code or type(error).__name__,
                error,
            )
        self.healthy = False
        self.poller.events_lapsed()
        self.backoff = next_backoff(self.backoff)
        await asyncio.sleep(self.backoff)
