"""aiobotocore clients shared by every trigger of the provider in one triggerer process.

A client costs about 20 ms and 1.35 MB to open (its session, credentials and service model);
a triggerer with a thousand waits would hold a thousand of them, each for one call every few
seconds. aiobotocore clients are safe for concurrent use, so the triggers share one per
(connection settings, AWS service, region) and event loop (a triggerer runs one loop), opened
on first use and closed when the last user leaves.

"Connection settings" is everything a trigger carries into the triggerer (``aws_conn_id``,
``region_name``, ``verify``, ``botocore_config``): two triggers whose settings differ in any of
them never share a client.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from dataclasses import dataclass
from typing import Any

# One pool per event loop: clients are bound to the loop they were opened in.
_POOLS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ClientPool] = weakref.WeakKeyDictionary()


def settings_key(hook: Any) -> tuple[Any, ...]:
    """The connection settings a hook was made with, as a hashable key."""
    config = getattr(hook, "_config", None) or getattr(hook, "config", None)
    options = getattr(config, "_user_provided_options", None) or {}
    return (hook.aws_conn_id, hook.region_name, repr(hook.verify), json.dumps(options, sort_keys=True, default=repr))


@dataclass
class _Entry:
    client: Any
    context: Any  # what __aexit__ closes
    users: int = 0


class ClientPool:
    """The clients of one event loop, counted by user."""

    def __init__(self) -> None:
        self._entries: dict[tuple[Any, ...], _Entry] = {}
        self._opening: dict[tuple[Any, ...], asyncio.Lock] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def keys(self) -> list[tuple[Any, ...]]:
        return list(self._entries)

    async def acquire(
        self, hook: Any, service: str, region: str | None, open_client: Any
    ) -> tuple[tuple[Any, ...], Any]:
        """A client for ``service`` in ``region`` with ``hook``'s settings (opened with
        ``await open_client()`` if the pool has none), and the key to release it with."""
        key = (*settings_key(hook), service, region)
        lock = self._opening.setdefault(key, asyncio.Lock())
        async with lock:  # two triggers starting together open one client, not two
            entry = self._entries.get(key)
            if entry is None:
                context = await open_client()
                entry = _Entry(client=await context.__aenter__(), context=context)
                self._entries[key] = entry
            entry.users += 1
        return key, entry.client

    async def release(self, key: tuple[Any, ...]) -> None:
        entry = self._entries.get(key)
        if entry is None:
            return
        entry.users -= 1
        if entry.users <= 0:
            del self._entries[key]
            self._opening.pop(key, None)
            await entry.context.__aexit__(None, None, None)


def client_pool() -> ClientPool:
    """The running event loop's pool."""
    loop = asyncio.get_running_loop()
    pool = _POOLS.get(loop)
    if pool is None:
        pool = _POOLS[loop] = ClientPool()
    return pool
