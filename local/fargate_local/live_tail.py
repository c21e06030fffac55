"""CloudWatch Logs' StartLiveTail as AWS serves it: a response stream (``application/vnd.amazon.
eventstream``) that opens with the ``initial-response`` and one ``sessionStart``, then sends a
``sessionUpdate`` every second with the events ingested in the session's log groups since the last
one (empty when none), at most 500 of them: more are sampled down to 500 and the update says
``sampled``. After three hours the stream ends with a ``SessionTimeoutException``; an account has at
most 15 sessions open at once (``LimitExceededException``). The limits are ``fargate_rules.live_tail``'s,
which the provider's sessions read too. moto answers StartLiveTail with one update holding every
event ever written, and ends the stream; this replaces it.

Behaviours (``LiveTailBehaviour``, set through ``LocalEcs.set_live_tail``): the session's length (to
see the timeout without waiting three hours), the concurrent-session quota (stricter only), and a
fraction of events a session never delivers (``drop``: what sampling and a slow client's dropped
buffer do on AWS, so a follower's completeness can be tested at any rate).
"""

from __future__ import annotations

import binascii
import json
import random
import struct
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

from fargate_local import moto_bridge as bridge
from fargate_local.moto_bridge import EcsError
from fargate_rules.live_tail import (
    CONCURRENT_SESSIONS,
    MAX_EVENTS_PER_UPDATE,
    SESSION_SECONDS,
    UPDATE_SECONDS,
    log_group_name,
    request_problem,
)

TARGET = "Logs_20140328.StartLiveTail"


@dataclass
class LiveTailBehaviour:
    session_seconds: float = float(SESSION_SECONDS)
    max_sessions: int = CONCURRENT_SESSIONS
    drop: float = 0.0  # fraction of events never delivered


def event_message(headers: dict[str, str], payload: bytes) -> bytes:
    """One message of AWS's event-stream encoding: prelude (total and headers length, CRC32 of the
    two), string headers (type 7), payload, CRC32 of everything before it. botocore's
    ``EventStreamBuffer`` decodes it."""
    encoded = b""
    for name, value in headers.items():
        raw_name, raw_value = name.encode(), value.encode()
        encoded += struct.pack("!B", len(raw_name)) + raw_name + struct.pack("!BH", 7, len(raw_value)) + raw_value
    total = 12 + len(encoded) + len(payload) + 4
    prelude = struct.pack("!II", total, len(encoded))
    prelude += struct.pack("!I", binascii.crc32(prelude) & 0xFFFFFFFF)
    body = prelude + encoded + payload
    return body + struct.pack("!I", binascii.crc32(body) & 0xFFFFFFFF)


def _event(kind: str, payload: dict[str, Any]) -> bytes:
    headers = {":message-type": "event", ":event-type": kind, ":content-type": "application/json"}
    return event_message(headers, json.dumps(payload).encode())


def _exception(kind: str, message: str) -> bytes:
    headers = {":message-type": "exception", ":exception-type": kind, ":content-type": "application/json"}
    return event_message(headers, json.dumps({"message": message}).encode())


class LiveTails:
    """The emulator's open sessions, per account and Region."""

    def __init__(self, lock: threading.RLock):
        self.lock = lock  # the control plane's: the log backend changes under it
        self.behaviour = LiveTailBehaviour()
        self._open: dict[tuple[str, str], int] = {}
        self._count_lock = threading.Lock()
        self.started = 0
        self.delivered = 0
        self.dropped = 0
        self.sampled_updates = 0

    def reset(self) -> None:
        self.behaviour = LiveTailBehaviour()
        self.started = self.delivered = self.dropped = self.sampled_updates = 0

    def set(self, **values: float) -> None:
        known = set(LiveTailBehaviour.__dataclass_fields__)
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown Live Tail behaviour(s) {sorted(unknown)}; known: {sorted(known)}")
        if values.get("max_sessions", 0) > CONCURRENT_SESSIONS:
            raise ValueError(f"max_sessions can only be stricter than AWS's {CONCURRENT_SESSIONS}")
        for name, value in values.items():
            setattr(self.behaviour, name, type(getattr(self.behaviour, name))(value))

    def describe(self) -> dict[str, Any]:
        return {
            **asdict(self.behaviour),
            "open": sum(self._open.values()),
            "started": self.started,
            "delivered": self.delivered,
            "dropped": self.dropped,
            "sampled_updates": self.sampled_updates,
        }

    def start(
        self, account: str, region: str, body: bytes, start_response: Callable[..., Any], error: Callable[..., Any]
    ) -> Any:
        """Answer one StartLiveTail: an error, or the session's response stream."""
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            request = None
        if not isinstance(request, dict):
            return error(EcsError("SerializationException", "Start of structure or map found where not expected.", 400))
        problem = request_problem(request)
        if problem is not None:
            return error(EcsError("InvalidParameterException", problem, 400))
        groups = [log_group_name(identifier) or "" for identifier in request["logGroupIdentifiers"]]
        with self.lock:
            arns = [bridge.log_group_arn(account, region, group) for group in groups]
        missing = [group for group, arn in zip(groups, arns, strict=True) if arn is None]
        if missing:
            return error(EcsError("ResourceNotFoundException", "The specified log group does not exist.", 400))
        with self._count_lock:
            if self._open.get((account, region), 0) >= self.behaviour.max_sessions:
                return error(
                    EcsError(
                        "LimitExceededException",
                        "Resource limit exceeded: the account has "
                        f"{self.behaviour.max_sessions} Live Tail sessions open",
                        400,
                    )
                )
            self._open[(account, region)] = self._open.get((account, region), 0) + 1
            self.started += 1
        start_response(
            "200 OK", [("Content-Type", "application/vnd.amazon.eventstream"), ("x-amzn-requestid", str(uuid.uuid4()))]
        )
        return _Session(self._stream(account, region, request, groups, arns), lambda: self._release(account, region))

    def _release(self, account: str, region: str) -> None:
        with self._count_lock:
            self._open[(account, region)] -= 1

    def _stream(
        self, account: str, region: str, request: dict[str, Any], groups: list[str], arns: list[str | None]
    ) -> Iterator[bytes]:
        behaviour = self.behaviour
        names, prefixes = request.get("logStreamNames"), request.get("logStreamNamePrefixes")

        def wanted(stream: str) -> bool:
            if names is not None:
                return stream in names
            return prefixes is None or any(stream.startswith(prefix) for prefix in prefixes)

        pattern = request.get("logEventFilterPattern") or ""
        with self.lock:  # the session sees what is ingested after it starts
            cursors = {group: bridge.log_stream_lengths(account, region, group) for group in groups}
            matches = bridge.log_event_filter(pattern)
        yield _event("initial-response", {})
        yield _event(
            "sessionStart",
            {
                "requestId": str(uuid.uuid4()),
                "sessionId": str(uuid.uuid4()),
                "logGroupIdentifiers": arns,
                "logStreamNames": names or [],
                "logStreamNamePrefixes": prefixes or [],
                "logEventFilterPattern": pattern,
            },
        )
        started = time.monotonic()
        ticks = 0
        while True:
            ticks += 1
            due = started + ticks * UPDATE_SECONDS
            if due - started >= behaviour.session_seconds:
                time.sleep(max(0.0, started + behaviour.session_seconds - time.monotonic()))
                yield _exception("SessionTimeoutException", "Session timed out after three hours")
                return
            time.sleep(max(0.0, due - time.monotonic()))
            results = []
            with self.lock:
                for group, arn in zip(groups, arns, strict=True):
                    for stream, event in bridge.new_log_events(account, region, group, cursors[group]):
                        if wanted(stream) and matches(event["message"]):
                            results.append({"logStreamName": stream, "logGroupIdentifier": arn, **event})
            kept = [event for event in results if random.random() >= behaviour.drop]
            self.dropped += len(results) - len(kept)
            sampled = len(kept) > MAX_EVENTS_PER_UPDATE
            if sampled:
                self.sampled_updates += 1
                chosen = sorted(random.sample(range(len(kept)), MAX_EVENTS_PER_UPDATE))
                self.dropped += len(kept) - MAX_EVENTS_PER_UPDATE
                kept = [kept[i] for i in chosen]
            kept.sort(key=lambda event: (event["ingestionTime"], event["timestamp"]))
            self.delivered += len(kept)
            yield _event("sessionUpdate", {"sessionMetadata": {"sampled": sampled}, "sessionResults": kept})


class _Session:
    """A session's response stream; its slot is freed once, when the server closes it (the client
    closed the stream, or it ended), whether or not a message was sent."""

    def __init__(self, messages: Iterator[bytes], release: Callable[[], None]):
        self.messages, self._release = messages, release
        self._released = False

    def __iter__(self) -> Iterator[bytes]:
        return self.messages

    def close(self) -> None:
        close = getattr(self.messages, "close", None)
        if close is not None:
            close()
        if not self._released:
            self._released = True
            self._release()
