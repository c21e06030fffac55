"""Fan-outs of one task definition into shards: each shard's RunTask overrides, and the summary of
what the shards did (states, capacity, cost). No Airflow, no AWS: the fan-out DAG calls them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fargate_provider.exceptions import FargateInputError

MAX_SHARDS = 1000  # what one DAG run maps at most (Airflow's [core] max_map_length defaults to 1024)


def shard_overrides(container: str, command: Sequence[str], shards: int) -> list[dict[str, Any]]:
    """RunTask ``overrides`` for each of ``shards`` shards of the task definition's ``container``:
    the environment says which shard it is (``SHARD_INDEX``, 0-based, and ``SHARD_COUNT``) and
    ``{shard}`` / ``{shards}`` in the command become the same numbers."""
    if isinstance(shards, bool) or not isinstance(shards, int) or not 1 <= shards <= MAX_SHARDS:
        raise FargateInputError(f"shards: must be a whole number from 1 to {MAX_SHARDS}, got {shards!r}")
    if isinstance(command, str) or not all(isinstance(part, str) for part in command):
        raise FargateInputError(f"command: must be a list of strings, got {command!r}")
    return [
        {
            "containerOverrides": [
                {
                    "name": container,
                    "command": [_numbered(part, index, shards) for part in command],
                    "environment": [
                        {"name": "SHARD_INDEX", "value": str(index)},
                        {"name": "SHARD_COUNT", "value": str(shards)},
                    ],
                }
            ]
        }
        for index in range(shards)
    ]


def _numbered(part: str, index: int, shards: int) -> str:
    return part.replace("{shard}", str(index)).replace("{shards}", str(shards))


@dataclass
class FanoutSummary:
    """What the shards of one run did."""

    states: dict[int, str]  # map index -> the task instance's state
    capacity: dict[int, list[str]] = field(default_factory=dict)  # map index -> capacity of each attempt
    usd: float = 0.0
    on_demand_usd: float = 0.0
    tasks: int = 0
    spot_tasks: int = 0

    @property
    def counts(self) -> Counter[str]:
        return Counter(self.states.values())

    @property
    def failed(self) -> list[int]:
        return sorted(i for i, state in self.states.items() if state not in ("success", "skipped"))

    def as_dict(self) -> dict[str, Any]:
        return {
            "shards": len(self.states),
            "succeeded": self.counts.get("success", 0),
            "skipped": self.counts.get("skipped", 0),
            "failed": len(self.failed),
            "failed_shards": self.failed,
            "capacity": {str(i): self.capacity.get(i, []) for i in sorted(self.states)},
            "tasks": self.tasks,
            "spot_tasks": self.spot_tasks,
            "usd": round(self.usd, 6),
            "on_demand_usd": round(self.on_demand_usd, 6),
            "saving_usd": round(self.on_demand_usd - self.usd, 6),
        }

    def lines(self) -> list[str]:
        """The summary as a person reads it in the task log."""
        summary = self.as_dict()
        share = f" ({summary['saving_usd'] / self.on_demand_usd:.0%} saved)" if self.on_demand_usd else ""
        lines = [
            (
                f"Shards: {summary['shards']}: {summary['succeeded']} succeeded, {summary['skipped']} skipped, "
                f"{summary['failed']} failed"
            ),
            f"ECS tasks: {self.tasks} ({self.spot_tasks} on Fargate Spot, {self.tasks - self.spot_tasks} on Fargate)",
            f"Cost: about ${self.usd:.6f}; on-demand it would be ${self.on_demand_usd:.6f}{share}",
        ]
        if self.failed:
            lines.append(f"Failed shards (map index): {self.failed}")
        for index in sorted(self.states):
            attempts = " → ".join(self.capacity.get(index, [])) or "no task finished"
            lines.append(f"  shard {index}: {self.states[index]}; {attempts}")
        return lines


def summarize_shards(states: Mapping[int, str], costs: Mapping[int, Mapping[str, Any] | None]) -> FanoutSummary:
    """The summary from each shard's task-instance state and its ``cost`` XCom (None: no cost,
    e.g. the shard failed before a task stopped)."""
    summary = FanoutSummary(states=dict(states))
    for index, cost in costs.items():
        if not cost:
            continue
        summary.capacity[index] = list(cost.get("capacity") or [])
        summary.usd += float(cost.get("usd") or 0.0)
        summary.on_demand_usd += float(cost.get("on_demand_usd") or cost.get("usd") or 0.0)
        summary.tasks += int(cost.get("tasks") or 0)
        summary.spot_tasks += int(cost.get("spot_tasks") or 0)
    return summary
