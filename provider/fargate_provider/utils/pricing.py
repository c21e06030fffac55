"""What a Fargate task costs: billed vCPU-seconds, GB-seconds and estimated USD.

Fargate bills per second with a one-minute minimum, from the start of the image pull to
the task's stop, per vCPU-hour and GB-hour, by region and CPU architecture; Fargate Spot at
its own (lower, changing) rates, X86_64 Linux only. The rates are data
(``data/fargate_prices.json``, with their source and date), not code. Every cost also says what
the same seconds cost on-demand (``on_demand_usd``), so a Spot run shows its saving.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import asdict, dataclass
from functools import cache
from importlib import resources
from typing import Any

from fargate_rules.sizes import parse_cpu, parse_memory

MINIMUM_BILLED_SECONDS = 60
ARCHITECTURES = ("X86_64", "ARM64")


class PriceNotKnown(LookupError):
    """No rate for this region/architecture in the shipped price table."""


@cache
def price_table() -> dict[str, Any]:
    table: dict[str, Any] = json.loads(
        resources.files("fargate_provider").joinpath("data/fargate_prices.json").read_text()
    )
    return table


@dataclass
class Cost:
    billed_seconds: int
    vcpu_seconds: float
    gb_seconds: float
    usd: float
    region: str
    architecture: str
    spot: bool = False  # any of the tasks ran on Fargate Spot
    tasks: int = 1
    on_demand_usd: float | None = None  # the same seconds at on-demand rates (None: = usd)
    spot_tasks: int = 0

    def __post_init__(self) -> None:
        if self.on_demand_usd is None:
            self.on_demand_usd = self.usd
        if self.spot and not self.spot_tasks:
            self.spot_tasks = self.tasks

    @property
    def saving_usd(self) -> float:
        return float(self.on_demand_usd or 0.0) - self.usd

    def __add__(self, other: Cost) -> Cost:
        return Cost(
            self.billed_seconds + other.billed_seconds,
            self.vcpu_seconds + other.vcpu_seconds,
            self.gb_seconds + other.gb_seconds,
            self.usd + other.usd,
            self.region,
            self.architecture if self.architecture == other.architecture else "mixed",
            self.spot or other.spot,
            self.tasks + other.tasks,
            float(self.on_demand_usd or 0.0) + float(other.on_demand_usd or 0.0),
            self.spot_tasks + other.spot_tasks,
        )

    def as_dict(self) -> dict[str, Any]:
        result = asdict(self)
        result["usd"] = round(self.usd, 8)
        result["on_demand_usd"] = round(float(self.on_demand_usd or 0.0), 8)
        result["saving_usd"] = round(self.saving_usd, 8)
        return result


def rates(region: str, architecture: str = "X86_64", spot: bool = False) -> dict[str, float]:
    """The region's rates per vCPU-hour and GB-hour, on-demand or (``spot``) Fargate Spot."""
    if spot:
        spot_table = price_table()["spot"]["regions"]
        if architecture != "X86_64":
            raise PriceNotKnown(f"architecture: Fargate Spot runs only X86_64 tasks, got {architecture!r}")
        if region not in spot_table:
            raise PriceNotKnown(
                f"region: no Fargate Spot price for {region!r} in the price table; "
                f"known: {', '.join(sorted(spot_table))}"
            )
        spot_rates: dict[str, float] = spot_table[region]["X86_64"]
        return spot_rates
    table = price_table()["regions"]
    if architecture not in ARCHITECTURES:
        raise PriceNotKnown(
            f"architecture: {architecture!r} is not a Fargate architecture; allowed: {', '.join(ARCHITECTURES)}"
        )
    if region not in table:
        raise PriceNotKnown(
            f"region: no Fargate price for {region!r} in the price table; known: {', '.join(sorted(table))}"
        )
    region_rates: dict[str, float] = table[region][architecture]
    return region_rates


def fargate_cost(
    cpu: int | str,
    memory: int | str,
    seconds: float,
    *,
    region: str = "us-east-1",
    architecture: str = "X86_64",
    spot: bool = False,
) -> Cost:
    """The cost of one task of ``cpu`` units and ``memory`` MiB that ran ``seconds`` (on Fargate
    Spot with ``spot``), and what it would have cost on-demand."""
    billed = max(MINIMUM_BILLED_SECONDS, math.ceil(seconds))
    vcpu_seconds = parse_cpu(cpu) / 1024 * billed
    gb_seconds = parse_memory(memory) / 1024 * billed

    def priced(rate: dict[str, float]) -> float:
        return vcpu_seconds / 3600 * rate["vcpu_hour"] + gb_seconds / 3600 * rate["gb_hour"]

    on_demand = priced(rates(region, architecture))
    usd = priced(rates(region, architecture, spot=True)) if spot else on_demand
    return Cost(billed, vcpu_seconds, gb_seconds, usd, region, architecture, spot, 1, on_demand, int(spot))


def _time(value: Any) -> dt.datetime | None:
    if value is None or isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromtimestamp(float(value), dt.UTC)


def task_cost(
    task: dict[str, Any], *, region: str, architecture: str = "X86_64", now: dt.datetime | None = None
) -> Cost:
    """The cost of a task as DescribeTasks returns it; a running task costs what it has so far
    (the same function serves services: the sum over their tasks)."""
    start = _time(task.get("pullStartedAt") or task.get("startedAt") or task.get("createdAt"))
    end = _time(task.get("stoppedAt") or task.get("executionStoppedAt")) or now or dt.datetime.now(dt.UTC)
    seconds = max((end - start).total_seconds(), 0.0) if start else 0.0
    spot = task.get("capacityProviderName") == "FARGATE_SPOT"
    return fargate_cost(task["cpu"], task["memory"], seconds, region=region, architecture=architecture, spot=spot)


def total_cost(tasks: list[dict[str, Any]], *, region: str, architecture: str = "X86_64") -> Cost | None:
    costs = [task_cost(task, region=region, architecture=architecture) for task in tasks]
    if not costs:
        return None
    total = costs[0]
    for cost in costs[1:]:
        total = total + cost
    return total
