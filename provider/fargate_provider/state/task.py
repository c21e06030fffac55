"""One-off tasks: judging them, following their awslogs streams, shared by the run-task
operator's in-worker wait, the trigger and the sensor."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from fargate_rules.arns import name_from_arn

RUNNING, STOPPED = "RUNNING", "STOPPED"
TARGET_STATES = (RUNNING, STOPPED)


ecs_task_id = name_from_arn  # a task's id is the last part of its ARN


def progress(tasks: list[dict[str, Any]], wanted: list[str], target: str) -> tuple[bool, str | None]:
    """(done, error) for a wait until every wanted task reaches ``target``."""
    found = {t["taskArn"]: t for t in tasks}
    missing = [arn for arn in wanted if arn not in found and not any(t.endswith(ecs_task_id(arn)) for t in found)]
    if missing:
        return False, f"task(s) not found: {', '.join(ecs_task_id(a) for a in missing)}"
    states = [t.get("lastStatus") for t in tasks]
    if target == RUNNING:
        stopped = [t for t in tasks if t.get("lastStatus") == STOPPED]
        if stopped:
            return (
                False,
                (
                    f"task {ecs_task_id(stopped[0]['taskArn'])} stopped before RUNNING: "
                    f"{stopped[0].get('stopCode')}: {stopped[0].get('stoppedReason')}"
                ),
            )
        return all(s == RUNNING for s in states), None
    return all(s == STOPPED for s in states), None


def judge_stopped(tasks: list[dict[str, Any]], essential: dict[str, bool]) -> str | None:
    """None when every essential container of every task exited 0; otherwise why not."""
    problems = []
    for task in tasks:
        tid = ecs_task_id(task["taskArn"])
        if task.get("stopCode") == "TaskFailedToStart":
            reasons = "; ".join(
                f"{c.get('name')}: {c['reason']}" for c in task.get("containers", []) if c.get("reason")
            )
            problems.append(
                f"task {tid} failed to start (TaskFailedToStart): {task.get('stoppedReason')}"
                + (f" [{reasons}]" if reasons else "")
            )
            continue
        for container in task.get("containers", []):
            if not essential.get(container.get("name"), True):
                continue
            code = container.get("exitCode")
            if code != 0:
                shown = "no exit code" if code is None else f"exit code {code}"
                problems.append(
                    f"container {container.get('name')} of task {tid} ended with {shown} "
                    f"({task.get('stopCode')}: {task.get('stoppedReason')})"
                )
    return "; ".join(problems) or None


@dataclass
class LogStream:
    container: str
    group: str
    region: str | None
    stream: str

    @property
    def key(self) -> str:
        return f"{self.region}|{self.group}|{self.stream}"


def log_streams(task_definition: dict[str, Any], task_arns: list[str]) -> list[LogStream]:
    """The awslogs streams of each task: ``<awslogs-stream-prefix>/<container-name>/<task-id>``."""
    streams = []
    for container in task_definition.get("containerDefinitions", []):
        config = container.get("logConfiguration") or {}
        options = config.get("options") or {}
        if config.get("logDriver") != "awslogs" or not options.get("awslogs-group"):
            continue
        prefix = options.get("awslogs-stream-prefix")
        for arn in task_arns:
            name = f"{prefix}/{container['name']}/{ecs_task_id(arn)}" if prefix else ecs_task_id(arn)
            streams.append(LogStream(container["name"], options["awslogs-group"], options.get("awslogs-region"), name))
    return streams


@dataclass
class LogFollower:
    """Reads each stream forward with GetLogEvents' nextForwardToken, so no line is skipped or
    repeated, equal timestamps included (time filters would drop or repeat those).

    With Live Tail on, lines also arrive live (``live_line``), sooner than the forward read reaches
    them; each is logged once, by whichever source brings it first. ``live`` keeps, per stream,
    the ``[timestamp, message]`` of lines logged live that the forward read has not reached yet:
    the forward read skips them when it does (and so does the worker's last read, which gets
    ``live`` with the rest). The forward read stays complete where Live Tail sampled or dropped
    lines: those it logs when it reaches them. A line the forward read logged first is
    remembered a while (``RECENT_LINES`` a stream, not carried to the worker) so that Live Tail
    bringing it later does not log it again."""

    streams: list[dict[str, Any]]
    tokens: dict[str, str] = field(default_factory=dict)
    tail_size: int = 50
    last_lines: list[str] = field(default_factory=list)
    live: dict[str, list[list[Any]]] = field(default_factory=dict)

    RECENT_LINES = 2000

    def __post_init__(self) -> None:
        self.tail: deque[str] = deque(self.last_lines, maxlen=max(self.tail_size, 1))
        self._recent: dict[str, deque[tuple[int, str]]] | None = None  # only while lines also come live
        self._by_name = {(s["group"], s["stream"]): LogStream(**s) for s in self.streams}

    @property
    def log_streams(self) -> list[LogStream]:
        return [LogStream(**s) for s in self.streams]

    def stream_named(self, group: str, stream: str) -> LogStream | None:
        return self._by_name.get((group, stream))

    def request(self, stream: LogStream) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"logGroupName": stream.group, "logStreamName": stream.stream, "startFromHead": True}
        if stream.key in self.tokens:
            kwargs["nextToken"] = self.tokens[stream.key]
        return kwargs

    def take(self, stream: LogStream, page: dict[str, Any]) -> tuple[list[str], bool]:
        """The lines of one page not logged live already, and whether the stream has more right now."""
        previous = self.tokens.get(stream.key)
        self.tokens[stream.key] = page["nextForwardToken"]
        events = page.get("events", [])
        pending = self.live.get(stream.key)
        recent = None if self._recent is None else self._recent.setdefault(stream.key, deque(maxlen=self.RECENT_LINES))
        lines = []
        for event in events:
            seen = [event.get("timestamp"), event["message"]]
            if pending and seen in pending:
                pending.remove(seen)  # logged live already
                continue
            lines.append(f"[{stream.container}] {event['message']}")
            if recent is not None:
                recent.append((event.get("timestamp"), event["message"]))
        if pending is not None and events:
            # GetLogEvents answers in timestamp order: a line logged live with an earlier timestamp
            # than the last one read will not come any more (nothing to skip).
            last = events[-1].get("timestamp") or 0
            pending[:] = [line for line in pending if (line[0] or 0) >= last]
            if not pending:
                del self.live[stream.key]
        self.tail.extend(lines)
        return lines, bool(events) and page["nextForwardToken"] != previous

    def expect_live(self) -> None:
        """Lines may come live from now on: the forward read remembers what it logs (``live_line``)."""
        if self._recent is None:
            self._recent = {}

    def live_line(self, stream: LogStream, timestamp: int, message: str) -> str | None:
        """A line Live Tail brought: the line to log, or None when the forward read logged it already."""
        if self._recent is None:
            self._recent = {}
        recent = self._recent.get(stream.key)
        if recent and (timestamp, message) in recent:
            while recent.popleft() != (timestamp, message):
                pass  # (older ones Live Tail missed: logged by the forward read)
            return None
        self.live.setdefault(stream.key, []).append([timestamp, message])
        line = f"[{stream.container}] {message}"
        self.tail.append(line)
        return line

    def to_kwargs(self) -> dict[str, Any]:
        return {
            "streams": self.streams,
            "tokens": self.tokens,
            "tail_size": self.tail_size,
            "last_lines": list(self.tail),
            "live": self.live,
        }


# A task's containers write nothing before it starts them, and little once they have been quiet.
_NOT_STARTED = (None, "PROVISIONING", "PENDING", "ACTIVATING")
MAX_IDLE_DOUBLINGS = 2  # a quiet stream is read at least every 4 poll intervals
# With lines coming live (Live Tail), a running task's stream is read forward only this often: the
# read then keeps the task log complete (what Live Tail sampled or dropped) and no longer sets how
# soon a line shows.
LIVE_READ_SECONDS = 30.0


class LogPacer:
    """Which followed log streams to read this round: none of a task not started yet; a running
    task's stream each interval while it writes, then ever less often while it is quiet (up to
    every ``2 ** MAX_IDLE_DOUBLINGS`` intervals); a stopped task's stream each answer until a
    read finds nothing more, then never. The follower's forward tokens make late reads lose or
    repeat nothing."""

    def __init__(self, interval: float):
        self.interval = interval
        self.next_read: dict[str, float] = {}
        self.quiet: dict[str, int] = {}
        self.finished: set[str] = set()

    @staticmethod
    def _status(stream: LogStream, described: list[dict[str, Any]]) -> str | None:
        tid = stream.stream.rsplit("/", 1)[-1]
        return next((t.get("lastStatus") for t in described if ecs_task_id(t["taskArn"]) == tid), None)

    def due(self, follower: LogFollower, described: list[dict[str, Any]], now: float) -> list[LogStream]:
        due = []
        for stream in follower.log_streams:
            status = self._status(stream, described)
            if stream.key in self.finished or status in _NOT_STARTED:
                continue
            if status != "RUNNING" or now >= self.next_read.get(stream.key, 0.0):
                due.append(stream)
        return due

    def read(
        self, stream: LogStream, described: list[dict[str, Any]], had_lines: bool, now: float, live: bool = False
    ) -> None:
        """A read of ``stream`` found lines or not; ``live``: its lines also come live (Live Tail)."""
        if self._status(stream, described) == "STOPPED":
            if not had_lines:
                self.finished.add(stream.key)
            return
        quiet = 0 if had_lines else min(self.quiet.get(stream.key, -1) + 1, MAX_IDLE_DOUBLINGS)
        self.quiet[stream.key] = quiet
        wait = self.interval * (2**quiet)
        self.next_read[stream.key] = now + (max(wait, LIVE_READ_SECONDS) if live else wait) * 0.99
