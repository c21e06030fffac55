"""Rate quotas the emulator enforces as AWS does, per account and Region, in real time (not the
emulated clock): a call over the rate is answered 400 ThrottlingException "Rate exceeded".

GetLogEvents: 25 a second per account and Region, a hard quota (CloudWatch Logs quotas; 10 when
ASFHyP3/hyp3#519 quoted the page; the answer's wording as users quote it in e-travel/
cloudwatchlogsbeat#1 and maxbanton/cwh#120). Followers of many streams meet it first.
"""

from __future__ import annotations

import threading
import time

# IAM action name -> calls a second (the bucket holds one second's worth, as a burst)
DEFAULT_RATES = {"logs:GetLogEvents": 25.0}


class RateQuotas:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.rates: dict[str, float] = dict(DEFAULT_RATES)
        self._buckets: dict[tuple[str, str, str], tuple[float, float]] = {}  # (account, region, action) -> (tokens, at)
        self.throttled: dict[str, int] = {}

    def reset(self) -> None:
        with self._lock:
            self.rates = dict(DEFAULT_RATES)
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
            self._buckets = {k: v for k, v in self._buckets.items() if k[2] != action}

    def allow(self, account: str, region: str, action: str) -> bool:
        """Whether this call fits the quota (and, if so, counts it)."""
        with self._lock:
            rate = self.rates.get(action)
            if rate is None:
                return True
            capacity = max(rate, 1.0)  # a second's worth, and at least one call
            now = time.monotonic()
            tokens, at = self._buckets.get((account, region, action), (capacity, now))
            tokens = min(capacity, tokens + (now - at) * rate)
            if tokens < 1:
                self._buckets[(account, region, action)] = (tokens, now)
                self.throttled[action] = self.throttled.get(action, 0) + 1
                return False
            self._buckets[(account, region, action)] = (tokens - 1, now)
            return True
