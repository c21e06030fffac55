"""Shared polling in the triggerer: one poller per connection settings and event loop answers
every trigger of this provider that waits for ECS services or tasks.

Each trigger subscribes what it waits for (a cluster and its services or tasks) with its poll
interval and asks for the next answer when it is ready for one. A round describes, per
cluster, the union of what the waiting subscriptions ask for: one DescribeServices per 10
services and one DescribeTasks per 100 tasks (the API's limits), whoever asked, and hands each
subscription its part. Subscriptions whose turn comes within half an interval join the same
round, so triggers started at different times fall into step and share calls. A trigger still
busy with its last answer when a round is due (reading its logs, an extra look) is described in
that round too and finds the answer kept for it: a busy trigger stays in step instead of making
rounds of its own a moment later.

Triggers keep their own state and judgement (``ServiceWatch``, ``progress``): a trigger that
is cancelled, moved to another triggerer or rebuilt after a restart simply subscribes again
there. On throttling the poller backs off for every subscription at once and says so once.

With ``[fargate] events_queue_url`` set, ECS's events wake the waits they concern
(``triggers/ecs_events``): such a wait is described at once, and otherwise only every
``[fargate] events_reconcile_seconds`` (at least its own interval), the safety net for an event lost
or late. A wait whose state has no event (a service waiting for its load balancer's targets to turn
healthy) says so (``events_cover``) and keeps its own interval; while the queue cannot be read, all do.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from fargate_provider.hooks.client_pool import settings_key
from fargate_provider.settings import EVENTS_QUEUE_URL, EVENTS_RECONCILE_SECONDS
from fargate_provider.state.ecs_events import SERVICES, TASKS, cluster_name
from fargate_provider.triggers.backoff import MAX_BACKOFF_SECONDS, next_backoff
from fargate_provider.triggers.ecs_events import EventsConsumer
from fargate_provider.utils.aws_errors import THROTTLING_CODES, has_code
from fargate_provider.utils.batching import DESCRIBE_SERVICES_BATCH, DESCRIBE_TASKS_BATCH, batched

log = logging.getLogger(__name__)

# A subscription whose turn comes within this share of its interval joins the round now.
JOIN_EARLY = 0.5
# How long after an ECS event its waits are described: the events that come with it join that round.
EVENTS_GATHER_SECONDS = 0.25
# Describe calls of one round in flight at once (aiohttp's default pool holds 10 connections).
CONCURRENT_CALLS = 10

_POLLERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[Any, ...], SharedPoller]] = (
    weakref.WeakKeyDictionary()
)


@dataclass(eq=False)
class Subscription:
    """What one trigger waits for; ``await next()`` gives the next round's answer for it:
    DescribeServices' ``services`` or DescribeTasks' ``tasks`` (missing ones left out)."""

    poller: SharedPoller
    kind: str
    cluster: str
    items: list[str]
    interval: float
    due_at: float = 0.0  # monotonic: the first round takes it at once
    # False while what it waits for changes without an ECS event (target health): polled at its interval
    events_cover: bool = True
    woken_at: float = -math.inf  # monotonic: when an ECS event last concerned it
    waiting: asyncio.Future[list[dict[str, Any]]] | None = field(default=None, repr=False)
    # a round's answer that came while busy
    kept: asyncio.Future[list[dict[str, Any]]] | None = field(default=None, repr=False)

    @property
    def is_waiting(self) -> bool:
        return self.waiting is not None and not self.waiting.done()

    def answer(self, result: list[dict[str, Any]] | None, error: BaseException | None = None) -> None:
        future = self.waiting if self.is_waiting else None
        if future is None:  # busy: kept until it asks (a fresher answer replaces an older one)
            self._drop_kept()
            future = self.kept = asyncio.get_running_loop().create_future()
        if error is not None:
            future.set_exception(error)
        else:
            assert result is not None  # (only an answer with an error has no result)
            future.set_result(result)

    def _drop_kept(self) -> None:
        if self.kept is not None and not self.kept.cancelled():
            self.kept.exception()  # marks it retrieved: asyncio would log an error nobody took
        self.kept = None

    async def next(self) -> list[dict[str, Any]]:
        if self.kept is not None:
            kept, self.kept = self.kept, None
            return kept.result()
        self.waiting = asyncio.get_running_loop().create_future()
        if self.due_at < self.poller.sleeping_until:  # (else its turn is already on the poller's clock)
            self.poller.wake()
        try:
            return await self.waiting
        finally:
            self.waiting = None


class SharedPoller:
    """The rounds for one connection's settings in one event loop (see the module's docstring)."""

    def __init__(self, hook: Any, key: tuple[Any, ...]):
        self.hook, self.key = hook, key
        self.subscriptions: set[Subscription] = set()
        self.rounds = 0
        self.calls: dict[str, int] = {"DescribeServices": 0, "DescribeTasks": 0}
        self.last_round: dict[str, dict[str, list[str]]] = {}  # kind -> cluster -> items asked, for the log and tests
        self.backoff = 0.0
        # when the poller's sleep ends by itself (inf: until woken; -inf: awake, it looks again anyway)
        self.sleeping_until = -math.inf
        self._wake = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        # (kind, cluster name, item) -> the subscriptions holding it: which waits an ECS event concerns
        self._holding: dict[tuple[str, str, str], set[Subscription]] = {}
        self.events: EventsConsumer | None = None
        queue_url = EVENTS_QUEUE_URL.get()
        if queue_url:
            self.events = EventsConsumer(self, queue_url, EVENTS_RECONCILE_SECONDS.get())

    # ------------------------------------------------------------------ subscriptions

    @asynccontextmanager
    async def subscribe(
        self, kind: str, cluster: str, items: list[str], interval: float
    ) -> AsyncIterator[Subscription]:
        subscription = Subscription(self, kind, cluster, list(items), max(float(interval), 0.0))
        self.subscriptions.add(subscription)
        keys = _keys(subscription)
        for key in keys:
            self._holding.setdefault(key, set()).add(subscription)
        if self._runner is None or self._runner.done():
            self._runner = asyncio.get_running_loop().create_task(
                self._run(), name=f"fargate shared poller {self.key[0]}"
            )
        try:
            yield subscription
        finally:
            self.subscriptions.discard(subscription)
            for key in keys:
                holding = self._holding.get(key)
                if holding is not None:
                    holding.discard(subscription)
                    if not holding:
                        del self._holding[key]
            waiting = subscription.waiting
            if waiting is not None and not waiting.done():  # (is_waiting)
                waiting.cancel()
            subscription._drop_kept()
            self.wake()

    def wake(self) -> None:
        self._wake.set()

    # ------------------------------------------------------------------ ECS events

    def holds(self, concerns: frozenset[tuple[str, str, str]]) -> bool:
        """Whether a wait here holds any of what an ECS event concerns."""
        return any(key in self._holding for key in concerns)

    def wake_for(self, concerns: frozenset[tuple[str, str, str]]) -> None:
        """An ECS event for these: the waits holding them are described in a round EVENTS_GATHER_SECONDS
        from now (the other events of a burst, e.g. a cluster's tasks starting together, join it)."""
        now = time.monotonic()
        for key in concerns:
            for subscription in self._holding.get(key, ()):
                subscription.woken_at = now
                subscription.due_at = min(subscription.due_at, now + EVENTS_GATHER_SECONDS)
        self.wake()

    def events_lapsed(self) -> None:
        """The events cannot be read: every wait is described now, then at its own interval."""
        now = time.monotonic()
        for subscription in self.subscriptions:
            subscription.due_at = min(subscription.due_at, now)
        self.wake()

    def interval_of(self, subscription: Subscription) -> float:
        """Seconds to a wait's next look: its interval, or with ECS's events read, the reconcile interval."""
        if self.events is not None and self.events.healthy and subscription.events_cover:
            return max(subscription.interval, self.events.reconcile_seconds)
        return subscription.interval

    # ------------------------------------------------------------------ rounds

    def _due(self, now: float) -> list[Subscription]:
        """When a waiting subscription's turn has come: it and every other whose turn comes within
        ``JOIN_EARLY`` of its interval, waiting or busy."""
        if not any(s.is_waiting and s.due_at <= now for s in self.subscriptions):
            return []
        return [s for s in self.subscriptions if s.due_at - JOIN_EARLY * s.interval <= now]

    def _next_due(self) -> float | None:
        dues = [s.due_at for s in self.subscriptions if s.is_waiting]
        return min(dues) if dues else None

    async def _run(self) -> None:
        try:
            await self._serve()
        except Exception as error:  # no client, no connection...: every wait fails with it, none hangs
            log.warning("The shared poller for connection %s stopped: %s: %s", self.key[0], type(error).__name__, error)
            for subscription in list(self.subscriptions):
                subscription.answer(None, error)

    async def _serve(self) -> None:
        from fargate_provider.hooks.fargate import AsyncClients

        async with AsyncClients(self.hook) as clients:
            consumer = None
            if self.events is not None:
                consumer = asyncio.get_running_loop().create_task(
                    self.events.run(clients), name=f"fargate ECS events {self.key[0]}"
                )
            try:
                await self._rounds(clients)
            finally:
                if consumer is not None:
                    consumer.cancel()
                    await asyncio.gather(consumer, return_exceptions=True)
                    if self.events is not None:
                        self.events.healthy = False
        if self.subscriptions:  # subscribed while the clients were being given back
            self._runner = asyncio.get_running_loop().create_task(
                self._run(), name=f"fargate shared poller {self.key[0]}"
            )

    async def _rounds(self, clients: Any) -> None:
        while self.subscriptions:
            if self.backoff:
                await asyncio.sleep(self.backoff)  # everyone waits it out together
            now = time.monotonic()
            due = self._due(now)
            if due:
                await self._round(clients, due)
                continue
            next_due = self._next_due()
            self._wake.clear()
            self.sleeping_until = math.inf if next_due is None else next_due
            try:  # (asyncio.timeout: Python 3.11's wait_for can swallow a cancellation, gh-86296)
                async with asyncio.timeout(None if next_due is None else max(next_due - now, 0.0)):
                    await self._wake.wait()
            except TimeoutError:
                pass
            finally:
                self.sleeping_until = -math.inf

    async def _round(self, clients: Any, due: list[Subscription]) -> None:
        started = time.monotonic()
        asked: dict[str, dict[str, list[str]]] = {SERVICES: {}, TASKS: {}}
        for subscription in due:
            items = asked[subscription.kind].setdefault(subscription.cluster, [])
            items.extend(i for i in subscription.items if i not in items)
        answers: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
        errors: dict[tuple[str, str], BaseException] = {}
        throttled: list[ClientError] = []
        ecs = await clients.get("ecs")
        # Clusters are described side by side (a round over 100 clusters one after another takes seconds).
        limit = asyncio.Semaphore(CONCURRENT_CALLS)

        async def describe(kind: str, cluster: str, items: list[str]) -> None:
            async with limit:
                if throttled:
                    return
                try:
                    answers[(kind, cluster)] = await self._describe(ecs, kind, cluster, items)
                except ClientError as error:
                    if has_code(error, *THROTTLING_CODES):
                        throttled.append(error)
                    else:
                        errors[(kind, cluster)] = error
                except Exception as error:  # the waits of this cluster fail with it; the poller goes on
                    errors[(kind, cluster)] = error

        await asyncio.gather(
            *(
                describe(kind, cluster, items)
                for kind, by_cluster in asked.items()
                for cluster, items in by_cluster.items()
            )
        )
        if throttled:
            self._throttled(throttled[0], len(due))
            return  # nobody is answered: everyone waits out the backoff and asks again
        if self.backoff:
            log.info("ECS answers again for connection %s; polling resumes at each wait's interval", self.key[0])
            self.backoff = 0.0
        self.rounds += 1
        self.last_round = asked
        for subscription in due:
            if subscription not in self.subscriptions:  # left during the round
                continue
            subscription.due_at = started + self.interval_of(subscription)
            if subscription.woken_at >= started:  # an event during the round: its answer may predate it
                subscription.due_at = min(subscription.due_at, subscription.woken_at + EVENTS_GATHER_SECONDS)
            error = errors.get((subscription.kind, subscription.cluster))
            if error is not None:
                subscription.answer(None, error)
                continue
            found = answers[(subscription.kind, subscription.cluster)]
            subscription.answer([found[i] for i in subscription.items if i in found])

    async def _describe(self, ecs: Any, kind: str, cluster: str, items: list[str]) -> dict[str, dict[str, Any]]:
        """Every item's description, keyed by what was asked (a service's name, a task's ARN)."""
        found: dict[str, dict[str, Any]] = {}
        if kind == SERVICES:
            for batch in batched(items, DESCRIBE_SERVICES_BATCH):
                self.calls["DescribeServices"] += 1
                for service in (await ecs.describe_services(cluster=cluster, services=batch))["services"]:
                    found[service["serviceName"]] = service
                    found[service["serviceArn"]] = service
        else:
            for batch in batched(items, DESCRIBE_TASKS_BATCH):
                self.calls["DescribeTasks"] += 1
                for task in (await ecs.describe_tasks(cluster=cluster, tasks=batch))["tasks"]:
                    found[task["taskArn"]] = task
                    found[task["taskArn"].rsplit("/", 1)[-1]] = task
        return found

    def _throttled(self, error: ClientError, waiting: int) -> None:
        first = self.backoff == 0
        self.backoff = next_backoff(self.backoff)
        if first:  # said once per episode, not once per trigger or per retry
            log.warning(
                "ECS throttles %s for connection %s: the %d wait(s) polling through it back off together "
                "(%g s, doubling up to %g s) until it answers again",
                error.operation_name,
                self.key[0],
                waiting,
                self.backoff,
                MAX_BACKOFF_SECONDS,
            )


def _keys(subscription: Subscription) -> list[tuple[str, str, str]]:
    cluster = cluster_name(subscription.cluster)
    return [(subscription.kind, cluster, item) for item in subscription.items]


def shared_poller(hook: Any) -> SharedPoller:
    """The running event loop's poller for ``hook``'s connection settings."""
    loop = asyncio.get_running_loop()
    pollers = _POLLERS.setdefault(loop, {})
    key = settings_key(hook)
    poller = pollers.get(key)
    if poller is None:
        poller = pollers[key] = SharedPoller(hook, key)
    return poller


def pollers() -> list[SharedPoller]:
    """The running event loop's pollers (for tests and benchmarks)."""
    return list(_POLLERS.get(asyncio.get_running_loop(), {}).values())
