"""GetLogEvents in the triggerer: one budget per connection settings and logs region, shared by
every trigger of this provider that follows container logs.

CloudWatch Logs answers GetLogEvents at most 25 times a second per account and Region, a quota
that cannot be raised (CloudWatch Logs quotas; it was 10 when ASFHyP3/hyp3#519 quoted it), and
answers more with ThrottlingException "Rate exceeded". A thousand followed streams, each read
every poll, ask for far more; every trigger retrying on its own makes it worse. So reads take
turns, in the order asked for, at ``[fargate] log_reads_per_second`` (10 by default: the rest
of the quota is left to the workers' last reads, the console and other tools). When CloudWatch
throttles anyway, every reader pauses (1 s, doubling while throttles go on, up to 60 s) and the
log says so once. Lines are never lost: a read that did not happen leaves the stream's forward
token where it was.

The budget is per triggerer process and connection settings: several triggerers, or several
connections to one account, each keep to their own rate (the quota is the account's).
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from typing import Any

from fargate_provider.hooks.client_pool import settings_key
from fargate_provider.settings import LOG_READS_PER_SECOND
from fargate_provider.triggers.backoff import MAX_BACKOFF_SECONDS, next_backoff

log = logging.getLogger(__name__)


_BUDGETS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[Any, ...], LogReadBudget]] = (
    weakref.WeakKeyDictionary()
)


class LogReadBudget:
    """Turns for GetLogEvents calls of one connection's settings in one logs region."""

    def __init__(self, name: str, region: str | None, rate: float):
        self.name, self.region = name, region
        self.spacing = 1.0 / rate
        self.next_turn = 0.0  # monotonic: when the next turn is free
        self.paused_until = 0.0
        self.pause = 0.0  # the current throttling episode's pause; 0: none
        self.turns = 0
        self.throttles = 0

    async def turn(self) -> float:
        """Wait for this call's turn (turns are handed out in the order asked for) and say when
        it came; cancelling the wait is safe: nothing has been read."""
        while True:
            now = time.monotonic()
            at = max(now, self.next_turn, self.paused_until)
            self.next_turn = at + self.spacing
            if at > now:
                await asyncio.sleep(at - now)
            granted = time.monotonic()
            if granted >= self.paused_until:  # (a throttle may have paused everyone meanwhile)
                self.turns += 1
                return granted

    def throttled(self, operation: str) -> None:
        now = time.monotonic()
        self.throttles += 1
        if now < self.paused_until:  # a read that began before this pause: the pause stands
            return
        first = self.pause == 0
        self.pause = next_backoff(self.pause)
        self.paused_until = now + self.pause
        if first:  # once per episode, not once per stream or per retry
            log.warning(
                "CloudWatch Logs throttles %s for connection %s in %s: log reads pause together "
                "(%g s, doubling up to %g s) and resume where they stopped; no line is lost",
                operation,
                self.name,
                self.region,
                self.pause,
                MAX_BACKOFF_SECONDS,
            )

    def answered(self, granted: float) -> None:
        """A read given its turn at ``granted`` was answered: if it began after the last pause,
        the throttling episode is over."""
        if self.pause and granted >= self.paused_until:
            log.info("CloudWatch Logs answers again for connection %s in %s; log reads resume", self.name, self.region)
            self.pause = 0.0


def log_read_budget(hook: Any, region: str | None) -> LogReadBudget:
    """The running event loop's budget for ``hook``'s connection settings in ``region``."""
    budgets = _BUDGETS.setdefault(asyncio.get_running_loop(), {})
    key = (*settings_key(hook), region or hook.region_name)
    budget = budgets.get(key)
    if budget is None:
        budget = budgets[key] = LogReadBudget(key[0], key[-1], LOG_READS_PER_SECOND.get())
    return budget


def budgets() -> list[LogReadBudget]:
    """The running event loop's budgets (for tests and benchmarks)."""
    return list(_BUDGETS.get(asyncio.get_running_loop(), {}).values())
