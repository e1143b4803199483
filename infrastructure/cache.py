"""The query cache: encoded response bytes in a store, loaded on a miss.

Bytes, not objects: a hit costs one store GET and no encoding. Keys are versioned by the caller
(a ``generation`` in the key) so invalidation never scans the keyspace.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from litestar.stores.base import Store

logger = logging.getLogger(__name__)

CacheCounter = Callable[[str, bool], None]
"""``(cache name, hit)`` → records a hit or a miss (metrics)."""


class QueryCache:
    def __init__(self, store: Store, on_lookup: CacheCounter | None = None) -> None:
        self._store = store
        self._on_lookup = on_lookup

    async def get_or_load(self, key: str, ttl: int, load: Callable[[], Awaitable[bytes]]) -> tuple[bytes, bool]:
        """``(body, cached)``. A store that fails (Redis down) degrades to a load, never to an error."""
        cached = await self.peek(key)
        if cached is not None:
            return cached, True
        body = await load()
        await self.put(key, body, ttl)
        return body, False

    async def peek(self, key: str) -> bytes | None:
        """The cached bytes (counted as a hit or a miss), or ``None``; a failing store is a miss."""
        try:
            cached = await self._store.get(key)
        except Exception as exc:
            logger.warning("cache read failed for %s: %s", key.split(":", 1)[0], exc)
            cached = None
        self._count(key.split(":", 1)[0], hit=cached is not None)
        return cached

    async def put(self, key: str, body: bytes, ttl: int) -> None:
        try:
            await self._store.set(key, body, expires_in=ttl)
        except Exception as exc:
            logger.warning("cache write failed for %s: %s", key.split(":", 1)[0], exc)

    def _count(self, name: str, *, hit: bool) -> None:
        if self._on_lookup is not None:
            self._on_lookup(name, hit)
