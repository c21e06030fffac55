"""LocalEcsClient: drive a running emulator's control endpoint over HTTP (tests, DAGs, the CLI)."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from typing import Any

DEFAULT_ENDPOINT = "http://127.0.0.1:5000"


class LocalEcsClient:
    def __init__(self, endpoint: str | None = None, timeout: float = 10.0):
        self.endpoint = (endpoint or os.environ.get("AWS_ENDPOINT_URL") or DEFAULT_ENDPOINT).rstrip("/")
        self.timeout = timeout

    def _call(self, method: str, route: str, payload: dict[str, Any] | None = None) -> Any:
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(
            f"{self.endpoint}/_fargate_local/{route}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            detail = json.loads(error.read() or b"{}").get("error", error.reason)
            raise ValueError(f"fargate-local {method} {route}: {detail}") from None

    def health(self) -> dict[str, Any]:
        return self._call("GET", "health")

    def describe(self) -> dict[str, Any]:
        return self._call("GET", "describe")

    def network(self) -> dict[str, Any]:
        return self._call("GET", "network")

    def reset(self, seed: int | None = None) -> dict[str, Any]:
        return self._call("POST", "reset", {} if seed is None else {"seed": seed})

    def add_behaviour(self, **rule: Any) -> dict[str, Any]:
        return self._call("POST", "behaviours", rule)

    def clear_behaviours(self) -> dict[str, Any]:
        return self._call("DELETE", "behaviours")

    def add_api_fault(
        self, operation: str, kind: str = "throttle", rate: float = 1.0, count: int | None = None
    ) -> dict[str, Any]:
        return self._call("POST", "api-faults", {"operation": operation, "kind": kind, "rate": rate, "count": count})

    def clear_api_faults(self) -> dict[str, Any]:
        return self._call("DELETE", "api-faults")

    def set_spot(self, **market: float) -> dict[str, Any]:
        """Fargate Spot's market (``LocalEcs.set_spot``): capacity_missing_for, interruption_rate,
        interruptions, interrupt_after."""
        return self._call("POST", "spot", market)

    def load_balancer_request(self, **request: Any) -> dict[str, Any]:
        """What ELB answers ``listener_arn``, ``host``, ``path``, ``source_ip`` (LocalEcs.load_balancer_request)."""
        return self._call("POST", "load-balancer-request", request)

    def set_vcpu_quota(self, on_demand: float | None = None, spot: float | None = None) -> dict[str, Any]:
        """The account's Fargate On-Demand and Spot vCPU quotas (``LocalEcs.set_vcpu_quota``)."""
        return self._call("POST", "vcpu-quota", {"on_demand": on_demand, "spot": spot})

    def set_timing(self, **values: float) -> dict[str, Any]:
        return self._call("POST", "timing", values)

    def set_event_delivery(self, **values: float) -> dict[str, Any]:
        """How ECS's events reach EventBridge's targets: delay (emulated s), duplicate, reorder, loss (shares)."""
        return self._call("PUT", "event-delivery", values)

    def set_live_tail(self, **values: float) -> dict[str, Any]:
        """How Live Tail sessions behave: session_seconds, max_sessions (stricter only), drop (share)."""
        return self._call("PUT", "live-tail", values)
