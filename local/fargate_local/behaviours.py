"""How emulated containers behave: what they print, how they exit, and the faults to inject.

Rules match a task by task-definition family and/or image (shell-style patterns); the
first matching rule wins. API faults make a fraction of calls to one ECS operation fail
with ThrottlingException or HTTP 500, drawn from a seeded generator so runs repeat.
"""

from __future__ import annotations

import fnmatch
import random
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any

API_FAULT_KINDS = ("throttle", "server_error")


@dataclass
class Timing:
    """Durations in emulated (realistic) seconds; real time is these divided by ``speed``."""

    provisioning: float = 5.0
    pending: float = 10.0  # image pull and container start
    run: float = 20.0  # how long a one-off task's essential containers run by default
    stopping: float = 5.0  # SIGTERM to STOPPED
    crash_after: float = 3.0  # how long a crash-looping container stays up
    stabilize: float = 10.0  # tasks must stay RUNNING this long before a rollout COMPLETES
    speed: float = 100.0  # 1.0 is realistic pace

    def real(self, seconds: float) -> float:
        return max(seconds, 0.0) / self.speed

    def update(self, values: dict[str, Any]) -> None:
        known = {f.name for f in fields(self)}
        for key, value in values.items():
            if key not in known:
                raise ValueError(f"timing.{key}: unknown; allowed: {', '.join(sorted(known))}")
            value = float(value)
            if value < 0 or (key == "speed" and value <= 0):
                raise ValueError(f"timing.{key}: must be {'above' if key == 'speed' else 'at least'} 0")
            setattr(self, key, value)


@dataclass
class Behaviour:
    """What matching tasks do. Unset fields keep the defaults (print a few lines, exit 0)."""

    family: str | None = None
    image: str | None = None
    exit_code: int | None = None  # of the first essential container (or ``container``)
    container: str | None = None
    pull_failure: bool = False  # TaskFailedToStart / CannotPullContainerError
    crash_loop: bool = False  # containers exit 1 shortly after RUNNING, every time
    start_delay: float = 0.0  # extra emulated seconds in PENDING (a slow start)
    run_seconds: float | None = None  # emulated run time of one-off tasks
    output: list[str] | None = None  # lines each container prints
    output_lines: int | None = None  # or: print this many numbered lines
    capacity_failures: int = 0  # answer this many RunTask calls with a capacity shortfall
    unhealthy_targets: bool = (
        False  # load balancer health checks of the tasks' targets fail (Target.FailedHealthChecks)
    )

    def matches(self, family: str, images: list[str]) -> bool:
        if self.family and not fnmatch.fnmatchcase(family, self.family):
            return False
        if self.image and not any(fnmatch.fnmatchcase(image, self.image) for image in images):
            return False
        return True

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Behaviour:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"behaviour: unknown key(s) {sorted(unknown)}; allowed: {', '.join(sorted(known))}")
        if not data.get("family") and not data.get("image"):
            raise ValueError("behaviour: give a family and/or an image pattern to match")
        behaviour = cls(**data)
        if behaviour.exit_code is not None and not 0 <= int(behaviour.exit_code) <= 255:
            raise ValueError("behaviour.exit_code: must be 0-255")
        return behaviour

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, False, 0.0) or k == "exit_code" and v == 0}


@dataclass
class ApiFault:
    operation: str  # an ECS operation name, e.g. "DescribeServices", or "*"
    kind: str = "throttle"
    rate: float = 1.0  # fraction of calls that fail
    count: int | None = None  # stop after this many injected failures

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ApiFault:
        fault = cls(**data)
        if fault.kind not in API_FAULT_KINDS:
            raise ValueError(f"api_fault.kind: {fault.kind!r} not allowed; allowed: {', '.join(API_FAULT_KINDS)}")
        if not 0 < fault.rate <= 1:
            raise ValueError("api_fault.rate: must be above 0 and at most 1")
        return fault


@dataclass
class SpotMarket:
    """Fargate Spot as the account sees it: capacity missing for a while, tasks interrupted.

    - ``missing_until``: monotonic time until which RunTask/CreateService get no Spot capacity
      (RunTask answers a failure with ECS's "Capacity is unavailable" reason).
    - ``interruption_rate``: the share of Spot tasks interrupted (drawn with the emulator's seed);
      ``interruptions``: or this many of the next Spot tasks, whatever the rate.
    - ``interrupt_after``: emulated seconds after RUNNING when the interruption comes: SIGTERM
      (the two-minute warning), the containers exit 143, the task stops with stopCode
      ``SpotInterruption`` and ECS's stoppedReason. A task that ends before then is not interrupted.
    """

    missing_until: float = 0.0
    interruption_rate: float = 0.0
    interruptions: int = 0
    interrupt_after: float = 30.0

    def describe(self) -> dict[str, Any]:
        return {
            "capacity_missing_for_real_seconds": max(self.missing_until - time.monotonic(), 0.0),
            "interruption_rate": self.interruption_rate,
            "interruptions": self.interruptions,
            "interrupt_after": self.interrupt_after,
        }


@dataclass
class Behaviours:
    """The emulator's configuration that tests and the control endpoint change at run time."""

    seed: int = 0
    timing: Timing = field(default_factory=Timing)
    rules: list[Behaviour] = field(default_factory=list)
    api_faults: list[ApiFault] = field(default_factory=list)
    spot: SpotMarket = field(default_factory=SpotMarket)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)
        self._lock = threading.Lock()

    def for_task(self, family: str, images: list[str]) -> Behaviour:
        with self._lock:
            for rule in self.rules:
                if rule.matches(family, images):
                    return rule
        return Behaviour()

    def add(self, behaviour: Behaviour) -> None:
        with self._lock:
            self.rules.insert(0, behaviour)

    def add_api_fault(self, fault: ApiFault) -> None:
        with self._lock:
            self.api_faults.append(fault)

    def api_fault_for(self, operation: str) -> ApiFault | None:
        with self._lock:
            for fault in self.api_faults:
                if fault.operation not in (operation, "*") or fault.count == 0:
                    continue
                if self._random.random() < fault.rate:
                    if fault.count is not None:
                        fault.count -= 1
                    return fault
        return None

    def interrupts_spot_task(self) -> bool:
        """Whether the Spot task being launched now will be interrupted."""
        with self._lock:
            if self.spot.interruptions > 0:
                self.spot.interruptions -= 1
                return True
            return self.spot.interruption_rate > 0 and self._random.random() < self.spot.interruption_rate

    def clear(self, seed: int | None = None) -> None:
        with self._lock:
            self.rules.clear()
            self.api_faults.clear()
            self.spot = SpotMarket()
            if seed is not None:
                self.seed = seed
            self._random = random.Random(self.seed)

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {
                "seed": self.seed,
                "timing": asdict(self.timing),
                "behaviours": [rule.to_dict() for rule in self.rules],
                "api_faults": [asdict(fault) for fault in self.api_faults],
                "spot": self.spot.describe(),
            }
