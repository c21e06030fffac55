"""Rate quotas the emulator enforces as AWS does, per account and Region, in real time (not the
emulated clock): a call over the rate is answered 400 ThrottlingException "Rate exceeded".

GetLogEvents: 25 a second per account and Region, a hard quota (CloudWatch Logs quotas; 10 when
ASFHyP3/hyp3#519 quoted the page; the answer's wording as users quote it in e-travel/
cloudwatchlogsbeat#1 and maxbanton/cwh#120). Followers of many streams meet it first.
"""

from __future__ import annotations

import threading
import time

from fargate_rules.capacity import (
    FARGATE,
    FARGATE_SPOT,
    RUN_TASK_BURST,
    RUN_TASK_PER_SECOND,
    TASK_LAUNCH_BURST,
    TASK_LAUNCH_PER_SECOND,
)

# Bucket name -> tokens a second (the bucket holds one second's worth, as a burst, unless
# DEFAULT_BURSTS says otherwise). An IAM action costs a token a call; the Fargate task-launch
# buckets (one On-Demand, one Spot) a token a task launched (fargate_rules.capacity, "AWS Fargate
# throttling quotas").
DEFAULT_RATES = {
    "logs:GetLogEvents": 25.0,
    "ecs:RunTask": RUN_TASK_PER_SECOND,
    f"fargate:launch:{FARGATE}": TASK_LAUNCH_PER_SECOND,
    f"fargate:launch:{FARGATE_SPOT}": TASK_LAUNCH_PER_SECOND,
}
DEFAULT_BURSTS = {
    "ecs:RunTask": float(RUN_TASK_BURST),
    f"fargate:launch:{FARGATE}": float(TASK_LAUNCH_BURST),
    f"fargate:launch:{FARGATE_SPOT}": float(TASK_LAUNCH_BURST),
}


class RateQuotas:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.rates: dict[str, float] = dict(DEFAULT_RATES)
        self.bursts: dict[str, float] = dict(DEFAULT_BURSTS)
        self._buckets: dict[tuple[str, str, str], tuple[float, float]] = {}  # (account, region, action) -> (tokens, at)
        self.throttled: dict[str, int] = {}

    def reset(self) -> None:
        with self._lock:
            self.rates = dict(DEFAULT_RATES)
            self.bursts = dict(DEFAULT_BURSTS)
            self._buckets.clear()
            self.throttled.clear()

    def set_rate(self, action: str, per_second: float) -> None:
        ceiling = DEFAULT_RATES.get(action)
        if per_second <= 0 or (ceiling is not None and per_second > ceiling):
            allowed = f"above 0 and at most AWS's {ceiling:g}" if ceiling is not None else "above 0"
            raise ValueError(
                f"quota for {action}: {per_second:g} calls a second is not allowed; give a number {allowed}"
            )
        with self._lock:
            self.rates[action] = float(per_second)
            self.bursts[action] = min(self.bursts.get(action, float("inf")), max(float(per_second), 1.0))
            self._buckets = {k: v for k, v in self._buckets.items() if k[2] != action}

    def allow(self, account: str, region: str, action: str, cost: int = 1) -> bool:
        """Whether this call (``cost`` tokens: tasks, for a launch bucket) fits the quota (and, if so,
        counts it)."""
        with self._lock:
            rate = self.rates.get(action)
            if rate is None:
                return True
            capacity = self.bursts.get(action, max(rate, 1.0))  # a second's worth, and at least one call
            now = time.monotonic()
            tokens, at = self._buckets.get((account, region, action), (capacity, now))
            tokens = min(capacity, tokens + (now - at) * rate)
            if tokens < cost:
                self._buckets[(account, region, action)] = (tokens, now)
                self.throttled[action] = self.throttled.get(action, 0) + 1
                return False
            self._buckets[(account, region, action)] = (tokens - cost, now)
            return True


class VcpuQuotas:
    """The account's Fargate vCPU quotas, per Region: On-Demand and Spot are two separate quotas
    (Service Quotas L-3032A538 and L-36FBB829). None: not enforced (set one to play a small
    account); a launch over it is refused as ECS refuses it (``fargate_rules.capacity``)."""

    def __init__(self) -> None:
        self.limits: dict[str, float | None] = {FARGATE: None, FARGATE_SPOT: None}

    def reset(self) -> None:
        self.limits = {FARGATE: None, FARGATE_SPOT: None}

    def set(self, on_demand: float | None = None, spot: float | None = None) -> None:
        for name, value in (("on_demand", on_demand), ("spot", spot)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
                raise ValueError(f"vcpu quota {name}: must be a number of vCPUs above 0, got {value!r}")
        self.limits = {FARGATE: on_demand, FARGATE_SPOT: spot}
