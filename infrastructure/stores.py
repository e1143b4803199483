"""Litestar's named stores: the query cache (``CACHE_STORE``) and whatever a plugin asks the
registry for. Stage 1: a ``MemoryStore`` per name (the cache bounded); stage 2: a ``RedisStore`` per
name on the shared client. ``rural24.services`` picks one with every other memory-or-Redis choice.

Idempotency keys, rate limits, session marks and cache generations are not stores: each needs an
atomic operation a ``Store`` lacks and has its own small adapter (``infrastructure.idempotency``,
``.ratelimit``, ``.sessions``, ``.generations``).
"""

from __future__ import annotations

import itertools
from datetime import timedelta

from litestar.stores.base import StorageObject, Store
from litestar.stores.memory import MemoryStore
from litestar.stores.redis import RedisStore
from litestar.stores.registry import StoreRegistry

from infrastructure.redis import RedisConnection

CACHE_STORE = "cache"
MAX_MEMORY_CACHE_ENTRIES = 5_000
"""~100 MB of ~20 KB search pages: a burst of distinct searches cannot grow a stage-1 process
without bound for the cache's lifetime (Redis bounds itself with its maxmemory policy)."""


class BoundedMemoryStore(MemoryStore):
    """A ``MemoryStore`` that drops its oldest entries beyond ``max_entries``. Only for caches:
    evicting from a deny-list or a rate-limit store would lose facts, not just speed."""

    __slots__ = ("_max_entries",)

    def __init__(self, max_entries: int) -> None:
        super().__init__()
        self._max_entries = max_entries

    # Litestar's MemoryStore holds an anyio lock around every operation. Nothing inside one
    # awaits, so on the one event loop of a process the lock guards nothing, and taking it (anyio's
    # cancellation checkpoint) was ~9% of a cached search in a profile: the cache's get and set
    # do without it. Only these two: the store's other operations keep the stock behaviour.

    async def get(self, key: str, renew_for: int | timedelta | None = None) -> bytes | None:
        if renew_for:
            return await super().get(key, renew_for)
        stored = self._store.get(key)
        if stored is None:
            return None
        if stored.expired:
            self._store.pop(key, None)
            return None
        return stored.data

    async def set(self, key: str, value: str | bytes, expires_in: int | timedelta | None = None) -> None:
        self._store[key] = StorageObject.new(
            data=value.encode("utf-8") if isinstance(value, str) else value, expires_in=expires_in
        )
        overflow = len(self._store) - self._max_entries
        if overflow > 0:
            # dicts keep insertion order: the first keys are the oldest writes (no await here, so
            # nothing interleaves)
            for old in list(itertools.islice(self._store, overflow + self._max_entries // 10)):
                self._store.pop(old, None)


def memory_stores() -> StoreRegistry:
    """Stage 1: a ``MemoryStore`` per name (the cache's bounded)."""

    def memory_store(name: str) -> Store:
        if name == CACHE_STORE:
            return BoundedMemoryStore(MAX_MEMORY_CACHE_ENTRIES)
        return MemoryStore()

    return StoreRegistry(default_factory=memory_store)


def redis_stores(redis: RedisConnection, app_name: str) -> StoreRegistry:
    """Stage 2+: a ``RedisStore`` per name, namespaced ``<app>:<name>`` on the shared client."""

    def redis_store(name: str) -> Store:
        # The client is shared and closed by the app's shutdown, not by each store.
        return RedisStore(redis.client, namespace=f"{app_name}:{name}", handle_client_shutdown=False)

    return StoreRegistry(default_factory=redis_store)
