"""Fargate and Fargate Spot capacity: ECS's rules and answers, one place for the provider's checks
and launch policy and for the local emulator that plays them.

Sources (each constant cites its own):
- "AWS Fargate capacity providers" (ECS developer guide, fargate-capacity-providers.html).
- "How do I handle Spot termination notices in AWS Fargate Spot tasks?" (AWS re:Post knowledge center,
  fargate-spot-termination-notice): the two-minute warning, SIGTERM, stopTimeout at most 120 s, the
  task state change event with stopCode ``SpotInterruption``.
- "How do I troubleshoot ... RunTask ... 'Capacity is unavailable' error" (re:Post, ecs-fargate-runtask-capacity).
- "Amazon ECS endpoints and quotas" / "AWS Fargate service quotas": the On-Demand and Spot vCPU
  resource counts, two separate quotas per account and Region.
- "AWS Fargate throttling quotas" (developerguide/throttling.html): RunTask's request bucket and the
  separate task-launch buckets (On-Demand and Spot).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from fargate_rules.input_errors import InputError
from fargate_rules.sizes import parse_cpu

FARGATE, FARGATE_SPOT = "FARGATE", "FARGATE_SPOT"
FARGATE_CAPACITY_PROVIDERS = (FARGATE, FARGATE_SPOT)

# The provider's capacity modes (FargateRunTaskOperator ``capacity``).
ON_DEMAND, SPOT, SPOT_THEN_ON_DEMAND = "on_demand", "spot", "spot_then_on_demand"
CAPACITY_MODES = (ON_DEMAND, SPOT, SPOT_THEN_ON_DEMAND)

# fargate-capacity-providers.html: "Linux tasks with the ARM64 architecture don't support the Fargate
# Spot capacity provider. Fargate Spot only supports Linux tasks with the X86_64 architecture."
# (ECS answers RunTask/CreateService with a ClientException; its exact words are not documented: the
# guide's sentence is used.)
SPOT_ARCHITECTURE_MESSAGE = "Fargate Spot only supports Linux tasks with the X86_64 architecture."

# fargate-spot-termination-notice: the task state change event of an interrupted Fargate Spot task.
SPOT_INTERRUPTION_STOP_CODE = "SpotInterruption"
SPOT_INTERRUPTION_REASON = "Your Spot Task was interrupted."
# The API's TaskStopCode also has "TerminationNotice" (the task was told to stop because its capacity
# goes away); on a Fargate Spot task it is judged as an interruption too.
TERMINATION_NOTICE_STOP_CODE = "TerminationNotice"
SPOT_WARNING_SECONDS = 120  # "a two-minute warning", sent as SIGTERM
MAX_STOP_TIMEOUT_SECONDS = 120  # "You can specify a maximum value of 120 seconds for stopTimeout"
DEFAULT_STOP_TIMEOUT_SECONDS = 30  # "If you don't specify any value ... the default value of 30 seconds is used"

# ecs-fargate-runtask-capacity: RunTask's failure reason when Fargate (or Fargate Spot) has no capacity.
CAPACITY_UNAVAILABLE_REASON = (
    "Capacity is unavailable at this time. Please try again later or in a different availability zone"
)

# The answer when a launch would pass the account's vCPU quota (users quote it, e.g.
# flightcontrol.dev's troubleshooting page: "Reason: You've reached the limit on the number of vCPUs
# you can run concurrently"). RunTask reports it as a failure of the request (failures[].reason).
VCPU_LIMIT_REASON = "You've reached the limit on the number of vCPUs you can run concurrently"

# Service Quotas, service "fargate": two separate quotas per account and Region.
VCPU_QUOTA_CODES = {FARGATE: "L-3032A538", FARGATE_SPOT: "L-36FBB829"}
VCPU_QUOTA_NAMES = {FARGATE: "Fargate On-Demand vCPU resource count", FARGATE_SPOT: "Fargate Spot vCPU resource count"}

# throttling.html, "Throttling the RunTask API in Fargate": "The rate quota for calls to the Amazon ECS
# RunTask API is 20 calls per second (burst and sustained)", per account and Region.
RUN_TASK_BURST = 20
RUN_TASK_PER_SECOND = 20.0
# throttling.html: "the tasks and pods token bucket size for a Fargate customer account is 100 tokens,
# and the refill rate is 20 tokens per second"; one bucket for On-Demand tasks, one for Spot tasks.
TASK_LAUNCH_BURST = 100
TASK_LAUNCH_PER_SECOND = 20.0
THROTTLING_MESSAGE = "Rate exceeded"


def is_spot_interruption(task: Mapping[str, Any]) -> bool:
    """Whether a STOPPED task was taken back by Fargate Spot (not ended by its containers)."""
    code = task.get("stopCode")
    return code == SPOT_INTERRUPTION_STOP_CODE or (
        code == TERMINATION_NOTICE_STOP_CODE and provider_of(task) == FARGATE_SPOT
    )


def task_vcpus(cpu: int | str) -> float:
    """The vCPUs a task of ``cpu`` units counts against its quota (1024 units a vCPU)."""
    return parse_cpu(cpu) / 1024


def provider_of(task: Mapping[str, Any]) -> str:
    """The capacity a task runs on, as DescribeTasks reports it: ``capacityProviderName``, else the
    launch type (FARGATE launch type: Fargate on-demand)."""
    return str(task.get("capacityProviderName") or FARGATE)


def strategy_for(provider: str) -> list[dict[str, Any]]:
    """RunTask's capacityProviderStrategy that puts a task on exactly ``provider``."""
    return [{"capacityProvider": provider, "weight": 1, "base": 0}]


def uses_spot(strategy: Sequence[Mapping[str, Any]] | None) -> bool:
    """Whether a capacity provider strategy can place a task on Fargate Spot."""
    return any(item.get("capacityProvider") == FARGATE_SPOT and item.get("weight", 0) > 0 for item in strategy or [])


def architecture_of(task_definition: Mapping[str, Any]) -> str:
    return str((task_definition.get("runtimePlatform") or {}).get("cpuArchitecture") or "X86_64")


def spot_architecture_problem(task_definition: Mapping[str, Any]) -> str | None:
    """ECS's refusal of a task definition on Fargate Spot: only Linux X86_64 runs there."""
    platform = task_definition.get("runtimePlatform") or {}
    family = str(platform.get("operatingSystemFamily") or "LINUX")
    if architecture_of(task_definition) != "X86_64" or family != "LINUX":
        return SPOT_ARCHITECTURE_MESSAGE
    return None


def check_capacity_mode(mode: Any, field: str = "capacity") -> str:
    if mode not in CAPACITY_MODES:
        raise InputError(f"{field}: {mode!r} is not a capacity mode; allowed: {', '.join(CAPACITY_MODES)}")
    return str(mode)


def check_spot_task_definition(task_definition: Mapping[str, Any], field: str = "capacity") -> None:
    """Before any call: a task definition Fargate Spot cannot run, asked to run on Spot."""
    problem = spot_architecture_problem(task_definition)
    if problem:
        raise InputError(
            f"{field}: task definition {task_definition.get('family', '?')} is "
            f"{architecture_of(task_definition)}; {problem}"
        )


def is_capacity_shortfall(reason: str) -> bool:
    """A RunTask failure reason that says capacity was short (retry later), not that the request is wrong."""
    return "capacity is unavailable" in reason.lower() or reason.startswith("RESOURCE:")


def is_vcpu_limit(reason: str) -> bool:
    return "limit on the number of vcpus" in reason.lower()


def vcpus_in_use(tasks: Sequence[Mapping[str, Any]], provider: str) -> float:
    """vCPUs of the not yet STOPPED tasks on ``provider`` (what the quota counts)."""
    return sum(
        task_vcpus(t.get("cpu") or 0)
        for t in tasks
        if t.get("lastStatus") != "STOPPED" and provider_of(t) == provider and t.get("cpu")
    )


def waves_lower_bound(shards: int, vcpus_per_task: float, quota_vcpus: float, task_seconds: float) -> float:
    """The shortest wall time ``shards`` tasks of ``task_seconds`` each can take under a vCPU quota."""
    at_once = max(math.floor(quota_vcpus / vcpus_per_task), 1)
    return math.ceil(shards / at_once) * task_seconds
