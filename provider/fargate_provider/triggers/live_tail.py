"""CloudWatch Logs Live Tail in the triggerer (``[fargate] live_logs``): container lines reach the
waiting tasks' logs about a second after they are written, however many streams are followed.

GetLogEvents is capped at 25 calls a second per account and Region; a thousand followed streams are
each read every minute or two. A Live Tail session (StartLiveTail) instead pushes, every second, what
was ingested in up to 10 log groups. So each triggerer keeps sessions per connection settings and
logs Region (``LiveTailHub``), at most ``SESSIONS`` of them with up to 10 log groups each, shared by
every wait: a group joins a session when a wait first follows one of its streams (the session
restarts with it, within a second) and leaves when none does; a session with no group left is
closed (sessions are billed per minute). A session is restarted ``RESTART_BEFORE_SECONDS`` before
its three-hour limit, and at once when it times out anyway. A line is routed to the waits that
follow its stream, and each logs it under its own task (``LogReader``); lines of streams nobody
follows are dropped.

Live Tail is for latency, not completeness: above 500 events a second a session samples, and a
restart or a slow reader loses lines. The forward GetLogEvents reads go on, less often (``state.task.
LIVE_READ_SECONDS``), and ``LogFollower`` logs each line once, from whichever brings it first; the
worker's last read does the same. A group that does not exist yet (``awslogs-create-group``: made when
the container starts) joins once it does. A session that cannot start (no ``logs:StartLiveTail``,
the account's 15 sessions in use) is reported once and retried with backoff; lines then come from
the forward reads at their usual pace.

Sessions are the triggerer's own work, not a task's: they run without any trigger's log binding, so
their warnings go to the triggerer's log, and each line is logged by the wait it belongs to.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from botocore.exceptions import ClientError, EventStreamError

from fargate_provider.hooks.client_pool import settings_key
from fargate_provider.state.task import LogStream
from fargate_provider.triggers.backoff import MAX_BACKOFF_SECONDS, next_backoff
from fargate_provider.utils.aws_errors import error_code, has_code
from fargate_rules.live_tail import MAX_LOG_GROUPS, SESSION_SECONDS, log_group_name

log = logging.getLogger(__name__)

SESSIONS = 5  # per triggerer, connection settings and Region (the account has 15; others need some)
RESTART_BEFORE_SECONDS = 300.0
MISSING_GROUP_RECHECK_SECONDS = 5.0

_HUBS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[Any, ...], LiveTailHub]] = (
    weakref.WeakKeyDictionary()
)


class LiveListener(Protocol):
    def live(self, group: str, stream: str, timestamp: int, message: str) -> None: ...


@dataclass(eq=False)
class _Session:
    groups: set[str] = field(default_factory=set)  # wanted in this session
    live: frozenset[str] = frozenset()  # the groups of the session open now
    task: asyncio.Task[None] | None = None


class LiveTailHub:
    """The Live Tail sessions of one connection's settings in one logs Region (see the module)."""

    def __init__(self, hook: Any, region: str | None):
        self.hook, self.region = hook, region
        self.followers: dict[tuple[str, str], set[LiveListener]] = {}
        self.arns: dict[str, str] = {}  # group -> its ARN (StartLiveTail names groups by ARN)
        self.sessions: list[_Session] = []
        self.unplaced: set[str] = set()
        self.missing: set[str] = set()  # groups that did not exist at their last look
        self._seen: set[str] = set()  # groups seen to exist
        self.counts = {"sessions": 0, "updates": 0, "sampled": 0, "lines": 0, "unfollowed": 0, "failures": 0}
        self._said_full = False
        self._rest_until = 0.0  # after a session failed outright: no new session before this (monotonic)

    # ------------------------------------------------------------------ following

    def follow(self, listener: LiveListener, streams: list[LogStream], arn_of: Callable[[str], str]) -> None:
        for stream in streams:
            self.followers.setdefault((stream.group, stream.stream), set()).add(listener)
            self.arns.setdefault(stream.group, arn_of(stream.group))
        self._place()

    def unfollow(self, listener: LiveListener) -> None:
        for key in [key for key, listeners in self.followers.items() if listener in listeners]:
            self.followers[key].discard(listener)
            if not self.followers[key]:
                del self.followers[key]
        followed = self._followed_groups()
        self.unplaced &= followed
        for session in list(self.sessions):
            session.groups &= followed
            if not session.groups and session.task is not None:
                session.task.cancel()  # (its end removes it; billed per minute)
        self._place()

    def live_for(self, group: str) -> bool:
        """Whether a session brings ``group``'s lines now."""
        return any(group in session.live for session in self.sessions)

    def _followed_groups(self) -> set[str]:
        return {group for group, _ in self.followers}

    def _place(self) -> None:
        if time.monotonic() < self._rest_until:
            return  # (_place_later comes back)
        placed = set().union(*(session.groups for session in self.sessions))
        for group in sorted(self._followed_groups() - placed):
            session = next((s for s in self.sessions if s.groups and len(s.groups) < MAX_LOG_GROUPS), None)
            if session is None and len(self.sessions) < SESSIONS:
                session = _Session()
                self.sessions.append(session)
                session.task = asyncio.get_running_loop().create_task(
                    self._keep(session), name=f"fargate Live Tail {self.region}", context=_outside_any_trigger()
                )
            if session is None:
                self.unplaced.add(group)
                if not self._said_full:
                    self._said_full = True
                    log.warning(
                        "Live Tail: %d sessions of %d log groups are in use in %s; lines of %s come from "
                        "GetLogEvents reads until one is free",
                        SESSIONS,
                        MAX_LOG_GROUPS,
                        self.region,
                        group,
                    )
                continue
            self.unplaced.discard(group)
            session.groups.add(group)

    # ------------------------------------------------------------------ sessions

    async def _keep(self, session: _Session) -> None:
        try:
            hook = self.hook._other_service_hook("logs", self.region)
            async with await hook.get_async_conn() as client:
                await self._sessions(session, client)
        except asyncio.CancelledError:
            pass
        except Exception as error:  # e.g. no credentials, no endpoint: lines come from GetLogEvents
            log.warning(
                "Live Tail in %s stopped (%s: %s): lines come from GetLogEvents reads; trying again in %g s",
                self.region,
                type(error).__name__,
                error,
                MAX_BACKOFF_SECONDS,
            )
            self._rest_until = time.monotonic() + MAX_BACKOFF_SECONDS
        finally:
            session.live = frozenset()
            if session in self.sessions:
                self.sessions.remove(session)
            if session.groups:  # (cancelled with groups: none; failed: let another session try later)
                self.unplaced |= session.groups
            self._place_later()

    def _place_later(self) -> None:
        if self.unplaced and self.followers:
            asyncio.get_running_loop().call_later(MAX_BACKOFF_SECONDS + 0.1, self._place)

    async def _sessions(self, session: _Session, client: Any) -> None:
        backoff = 0.0
        while session.groups:
            groups = await self._existing(client, sorted(session.groups))
            if not groups:
                await asyncio.sleep(MISSING_GROUP_RECHECK_SECONDS)
                continue
            try:
                await self._one_session(session, client, groups)
            except EventStreamError as error:
                if has_code(error, "SessionTimeoutException"):
                    continue  # three hours: a new one at once
                backoff = self._failed(error, backoff)
                await asyncio.sleep(backoff)
            except ClientError as error:
                if has_code(error, "ResourceNotFoundException"):
                    self._seen -= set(groups)  # a group deleted since it was seen: looked for again
                backoff = self._failed(error, backoff)
                await asyncio.sleep(backoff)
            else:
                if backoff:
                    log.info("Live Tail in %s works again", self.region)
                backoff = 0.0

    async def _one_session(self, session: _Session, client: Any, groups: list[str]) -> None:
        response = await client.start_live_tail(logGroupIdentifiers=[self.arns[group] for group in groups])
        stream = response["responseStream"]
        self.counts["sessions"] += 1
        checked = time.monotonic()
        try:
            async with asyncio.timeout(SESSION_SECONDS - RESTART_BEFORE_SECONDS):
                async for event in stream:
                    if "sessionStart" in event:
                        session.live = frozenset(groups)
                    update = event.get("sessionUpdate")
                    if update is not None:
                        self._route(update)
                    if session.groups != set(groups) and not (session.groups - set(groups)) <= self.missing:
                        return  # a group came or went: restart with the groups wanted now
                    if self.missing & session.groups and time.monotonic() - checked > MISSING_GROUP_RECHECK_SECONDS:
                        checked = time.monotonic()
                        if await self._existing(client, sorted(self.missing & session.groups)):
                            return
        except TimeoutError:
            return  # before the three-hour limit: a new session
        finally:
            session.live = frozenset()
            stream.close()

    async def _existing(self, client: Any, groups: list[str]) -> list[str]:
        """Those of ``groups`` that exist (StartLiveTail refuses a session with one that does not)."""
        found = []
        for group in groups:
            if group not in self.missing and group in self._seen:
                found.append(group)
                continue
            answer = await client.describe_log_groups(logGroupNamePrefix=group, limit=1)
            if any(g.get("logGroupName") == group for g in answer.get("logGroups", [])):
                self.missing.discard(group)
                self._seen.add(group)
                found.append(group)
            else:
                self.missing.add(group)
        return found

    def _route(self, update: dict[str, Any]) -> None:
        self.counts["updates"] += 1
        if (update.get("sessionMetadata") or {}).get("sampled"):
            self.counts["sampled"] += 1
        for result in update.get("sessionResults") or []:
            group = log_group_name(result.get("logGroupIdentifier") or "")
            listeners = self.followers.get((group or "", result.get("logStreamName") or ""))
            if not listeners:
                self.counts["unfollowed"] += 1
                continue
            self.counts["lines"] += 1
            for listener in list(listeners):
                listener.live(group or "", result["logStreamName"], result.get("timestamp") or 0, result["message"])

    def _failed(self, error: Exception, backoff: float) -> float:
        self.counts["failures"] += 1
        if not backoff:  # once per episode
            code = error_code(error) if isinstance(error, ClientError) else None
            log.warning(
                "Live Tail in %s cannot start (%s: %s): lines come from GetLogEvents reads; trying again with backoff",
                self.region,
                code or type(error).__name__,
                error,
            )
        return next_backoff(backoff)


def _outside_any_trigger() -> contextvars.Context:
    """The current context without the trigger's log binding (Airflow's triggerer binds each trigger's
    ids with structlog's contextvars and routes log lines by them): a session's own warnings go to the
    triggerer's log, not to the log of the trigger that happened to start it. The rest of the context
    (e.g. asgiref's, which reading a connection in a thread relies on) stays."""
    context = contextvars.copy_context()
    try:
        from structlog.contextvars import clear_contextvars
    except ImportError:  # (no structlog: nothing binds the trigger)
        return context
    context.run(clear_contextvars)
    return context


def live_tail_hub(hook: Any, region: str | None) -> LiveTailHub:
    """The running event loop's hub for ``hook``'s connection settings in logs Region ``region``."""
    hubs = _HUBS.setdefault(asyncio.get_running_loop(), {})
    key = (*settings_key(hook), region or hook.region_name)
    hub = hubs.get(key)
    if hub is None:
        hub = hubs[key] = LiveTailHub(hook, region or hook.region_name)
    return hub


def hubs() -> list[LiveTailHub]:
    """The running event loop's hubs (for tests and benchmarks)."""
    return list(_HUBS.get(asyncio.get_running_loop(), {}).values())
