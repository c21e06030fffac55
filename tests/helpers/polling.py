"""Polling with a deadline: the one way tests wait for state (never a bare sleep)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any


def wait_for(
    what: str, check: Callable[[], Any], timeout: float, interval: float = 0.05, logs: Callable[[], str] | None = None
) -> Any:
    """Poll until ``check()`` is truthy and return it; after ``timeout`` seconds fail naming
    ``what`` (and, given ``logs``, what it returns: e.g. the processes' log tails)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout:.0f} s waiting for {what}" + (f"\n{logs()}" if logs else "")
            )
        time.sleep(interval)


async def async_wait_for(what: str, check: Callable[[], Any], timeout: float, interval: float = 0.005) -> Any:
    """``wait_for`` inside an event loop: between checks the loop runs (the triggers, the pollers)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(interval)
