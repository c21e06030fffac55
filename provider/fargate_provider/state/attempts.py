"""The attempts of one Airflow try of a one-off task: which capacity the next one runs on and what
a stopped one means (done, skipped, run again, failed), from what ECS reports. No Airflow, no I/O:
the run-task operator's worker wait and its deferred resume both judge with it.

The policy table (docs/guides/spot.md shows it):

=====================================  ==========================================================
stop code / exit code                  what happens
=====================================  ==========================================================
essential containers exited 0          done
``SpotInterruption`` (or               run again on Spot, up to ``spot_interruptions`` times; then
``TerminationNotice`` on Spot)         ``spot_then_on_demand``: run again on Fargate on-demand;
                                       ``spot``: ``SpotInterruptedError`` (not retried by Airflow)
exit code in ``skip_on_exit_codes``    the Airflow task ends *skipped*
exit code in ``retry_on_exit_codes``   run again in the same try, up to ``exit_code_retries`` times;
                                       then ``ContainerExitError``
``TaskFailedToStart``                  ``TaskFailedToStartError`` (Airflow's retries apply)
any other exit code                    ``ContainerExitError`` (Airflow's retries apply)
=====================================  ==========================================================
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from fargate_provider.state.task import ecs_task_id, judge_stopped
from fargate_rules.capacity import (
    FARGATE,
    FARGATE_SPOT,
    ON_DEMAND,
    SPOT,
    SPOT_THEN_ON_DEMAND,
    is_spot_interruption,
    provider_of,
)

Verdict = Literal["done", "skip", "again", "spot_interrupted", "failed_to_start", "failed"]


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    message: str
    provider: str | None = None  # for "again": the capacity the next attempt runs on


@dataclass
class AttemptPolicy:
    """What the operator's arguments ask for, checked by the operator."""

    mode: str = ON_DEMAND
    spot_interruptions: int = 1
    retry_on_exit_codes: frozenset[int] = field(default_factory=frozenset)
    exit_code_retries: int = 1
    skip_on_exit_codes: frozenset[int] = field(default_factory=frozenset)

    def first_provider(self, history: Iterable[Mapping[str, Any]] = ()) -> str:
        """Where the next attempt starts, given the stopped attempts so far (a resumed try counts
        the interruptions its earlier attempts met)."""
        if self.mode == ON_DEMAND:
            return FARGATE
        if self.mode == SPOT_THEN_ON_DEMAND and interruptions(history) > self.spot_interruptions:
            return FARGATE
        return FARGATE_SPOT

    def judge(
        self, task: Mapping[str, Any], essential: dict[str, bool], history: Iterable[Mapping[str, Any]]
    ) -> Decision:
        """What the STOPPED ``task`` means; ``history``: the attempts of this try before it."""
        history = list(history)
        tid = ecs_task_id(str(task["taskArn"]))
        if is_spot_interruption(task):
            seen = interruptions([*history, task])
            said = f"task {tid} on Fargate Spot was interrupted ({task.get('stopCode')}: {task.get('stoppedReason')})"
            if seen <= self.spot_interruptions and self.mode != ON_DEMAND:
                return Decision("again", f"{said}; running it again on Fargate Spot", FARGATE_SPOT)
            if self.mode == SPOT_THEN_ON_DEMAND:
                return Decision("again", f"{said}; running it again on Fargate on-demand", FARGATE)
            return Decision(
                "spot_interrupted",
                f"{said}, {seen} interruption(s) in this try (spot_interruptions={self.spot_interruptions}); "
                "use capacity='spot_then_on_demand' to finish on on-demand capacity",
            )
        problem = judge_stopped([dict(task)], essential)
        if problem is None:
            return Decision("done", f"task {tid}: all essential containers exited 0")
        if task.get("stopCode") == "TaskFailedToStart":
            return Decision("failed_to_start", problem)
        code = failed_exit_code(task, essential)
        if code is not None and code in self.skip_on_exit_codes:
            return Decision("skip", f"{problem}; exit code {code} is in skip_on_exit_codes: skipped")
        if code is not None and code in self.retry_on_exit_codes:
            used = sum(1 for t in history if failed_exit_code(t, essential) in self.retry_on_exit_codes)
            if used < self.exit_code_retries:
                return Decision(
                    "again",
                    f"{problem}; exit code {code} is in retry_on_exit_codes: running it again "
                    f"({used + 1} of {self.exit_code_retries})",
                    provider_of(task) if self.mode != ON_DEMAND else FARGATE,
                )
            return Decision("failed", f"{problem}; retry_on_exit_codes: {self.exit_code_retries} re-run(s) used")
        return Decision("failed", problem)


def interruptions(tasks: Iterable[Mapping[str, Any]]) -> int:
    return sum(1 for t in tasks if is_spot_interruption(t))


def failed_exit_code(task: Mapping[str, Any], essential: dict[str, bool]) -> int | None:
    """The exit code of the first essential container that did not exit 0 (None: none did, or it
    has no exit code)."""
    for container in task.get("containers", []):
        if essential.get(container.get("name"), True) and container.get("exitCode") not in (0, None):
            return int(container["exitCode"])
    return None


def summary(task: Mapping[str, Any]) -> dict[str, Any]:
    """What a stopped attempt leaves for the next step and the cost: small, JSON-able (times as
    epoch seconds), so a deferred try carries it from one resume to the next."""

    def epoch(value: Any) -> float | None:
        if value is None:
            return None
        return float(value.timestamp()) if hasattr(value, "timestamp") else float(value)

    return {
        "taskArn": task["taskArn"],
        "cpu": task.get("cpu"),
        "memory": task.get("memory"),
        "capacityProviderName": provider_of(task),
        "lastStatus": task.get("lastStatus"),
        "stopCode": task.get("stopCode"),
        "stoppedReason": task.get("stoppedReason"),
        "pullStartedAt": epoch(task.get("pullStartedAt")),
        "startedAt": epoch(task.get("startedAt")),
        "createdAt": epoch(task.get("createdAt")),
        "stoppedAt": epoch(task.get("stoppedAt")),
        "containers": [{"name": c.get("name"), "exitCode": c.get("exitCode")} for c in task.get("containers", [])],
    }


SPOT_MODES = (SPOT, SPOT_THEN_ON_DEMAND)
