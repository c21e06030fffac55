"""Input checks the operators and sensors share: names, counts, waits, capacity providers.
Each raises ValueError naming the field and what is allowed, before any AWS call."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from fargate_rules.arns import name_from_arn
from fargate_rules.capacity import FARGATE_CAPACITY_PROVIDERS as FARGATE_CAPACITY_PROVIDERS  # (re-exported)
from fargate_rules.input_errors import InputError

# ECS's rule for cluster, service, family and container names.
ECS_NAME_PATTERN = r"^[A-Za-z0-9_-]{1,255}$"
ECS_NAME_RE = re.compile(ECS_NAME_PATTERN)


_CLUSTER_ARN_RE = re.compile(r"^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:cluster/" + ECS_NAME_PATTERN[1:])


def validate_cluster_name(name: Any, field: str = "cluster_name", arn_allowed: bool = False) -> str:
    """ECS cluster names: 1-255 letters, numbers, hyphens, underscores (or, where taken, an ARN)."""
    if isinstance(name, str) and (ECS_NAME_RE.match(name) or (arn_allowed and _CLUSTER_ARN_RE.match(name))):
        return name
    shown = repr(name) if len(repr(name)) <= 80 else repr(name)[:80] + "…"
    raise InputError(
        f"{field}: must be 1-255 letters, numbers, hyphens or underscores"
        f"{' (or a cluster ARN)' if arn_allowed else ''}, got {shown}"
    )


def validate_capacity_strategy(
    strategy: Sequence[Mapping[str, Any]] | None, capacity_providers: Sequence[str], field: str
) -> list[dict[str, Any]] | None:
    """ECS's rules for a capacity provider strategy, checked before any call."""
    if not strategy:
        return None
    result: list[dict[str, Any]] = []
    bases = 0
    for index, item in enumerate(strategy):
        where = f"{field}[{index}]"
        if not isinstance(item, Mapping):
            raise InputError(f"{where}: must be a mapping with capacityProvider, weight and optional base")
        unknown = set(item) - {"capacityProvider", "weight", "base"}
        if unknown:
            raise InputError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: capacityProvider, weight, base")
        provider = item.get("capacityProvider")
        if provider not in capacity_providers:
            raise InputError(
                f"{where}.capacityProvider: {provider!r} is not one of the cluster's capacity providers "
                f"{list(capacity_providers)}"
            )
        weight, base = item.get("weight", 0), item.get("base", 0)
        if not isinstance(weight, int) or not 0 <= weight <= 1000:
            raise InputError(f"{where}.weight: must be an integer 0-1000")
        if not isinstance(base, int) or not 0 <= base <= 100000:
            raise InputError(f"{where}.base: must be an integer 0-100000")
        bases += base > 0
        result.append({"capacityProvider": provider, "weight": weight, "base": base})
    if bases > 1:
        raise InputError(f"{field}: only one capacity provider in a strategy can have a base")
    if not any(item["weight"] > 0 for item in result):
        raise InputError(f"{field}: at least one capacity provider needs a weight above 0")
    return result


def check_name(field: str, value: Any) -> str:
    if not isinstance(value, str) or not ECS_NAME_RE.match(name_from_arn(value)):
        raise InputError(f"{field}: must be 1-255 letters, numbers, hyphens or underscores (or an ARN), got {value!r}")
    return value


def check_wait(poll_interval: Any, timeout: Any, wait_in_worker_seconds: Any = None) -> None:
    if not isinstance(poll_interval, (int, float)) or poll_interval <= 0:
        raise InputError(f"poll_interval: must be a number of seconds above 0, got {poll_interval!r}")
    if not isinstance(timeout, (int, float)) or timeout <= 0:
        raise InputError(f"timeout: must be a number of seconds above 0, got {timeout!r}")
    if wait_in_worker_seconds is not None and (
        isinstance(wait_in_worker_seconds, bool)
        or not isinstance(wait_in_worker_seconds, (int, float))
        or wait_in_worker_seconds < 0
    ):
        raise InputError(
            f"wait_in_worker_seconds: must be a number of seconds, 0 or more, got {wait_in_worker_seconds!r}"
        )


MAX_TASKS_PER_SERVICE = 5000  # ECS service quota "Tasks per service"


def check_count(field: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_TASKS_PER_SERVICE:
        raise InputError(
            f"{field}: must be a whole number from 0 to {MAX_TASKS_PER_SERVICE} (ECS's tasks-per-service quota), "
            f"got {value!r}"
        )
    return value


def check_request_limits(operation: str, request: Mapping[str, Any], fields: Mapping[str, str] | None = None) -> None:
    """ECS's documented limits (``request_limits.REQUEST_LIMITS``, which the emulator enforces too) for the
    part of ``operation``'s request built from the operator's arguments, before any AWS call. ``fields``
    names the argument a member path comes from (the longest matching prefix); else the path is named."""
    from fargate_rules.request_limits import PROVIDER_ARGUMENTS, broken_limits

    names = PROVIDER_ARGUMENTS if fields is None else fields
    problems = []
    for where, limit in broken_limits(operation, request):
        prefix = max((p for p in names if where == p or where.startswith((p + ".", p + "["))), key=len, default=None)
        field = where if prefix is None else names[prefix] + where[len(prefix) :]
        problems.append(f"{field}: {limit.allowed} (ECS: {limit.ecs_message!r}; {limit.source.split(';')[0]})")
    if problems:
        raise InputError("; ".join(problems))
