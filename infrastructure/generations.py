"""Cache generations: invalidation by versioned keys, never by scanning the keyspace.

A write bumps a generation (names in ``domain.shared.unit_of_work``: ``search`` for every search
page, ``ad:<id>`` for one ad's detail, ``user:<id>`` for one user's own reads) to the WAL position
(LSN) of its commit; the unit of work (``infrastructure.unit_of_work``) is the only writer.
Readers (``rural24.reading``) put the generation in their cache keys, so the next read misses and
loads fresh rows; and they load with ``after_lsn`` = that generation, so a lagging replica cannot
refill the new key with rows from before the write (the read side sends such a read to the primary).

Generations only move forward: two writers racing to bump set the larger LSN (atomic "max" in
Redis with a tiny script; trivially atomic in memory). Litestar's ``Store`` has no such operation,
hence this small adapter of our own.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)


class Generations(Protocol):
    async def get(self, *names: str) -> list[int] | None:
        """The current generation of each name (0 when never bumped); ``None`` when they cannot be
        read (the store is down): then no cache entry can be trusted."""

    async def bump(self, lsn: int, *names: str) -> None:
        """Move each name's generation forward to ``lsn`` (never backwards)."""


class MemoryGenerations:
    """Per process (stage 1). Entries expire so one-off names (an ad's) don't pile up."""

    def __init__(self, ttl: int = 86400) -> None:
        self._values: dict[str, tuple[int, float]] = {}
        self._ttl = ttl

    async def get(self, *names: str) -> list[int] | None:
        now = time.monotonic()
        result = []
        for name in names:
            entry = self._values.get(name)
            result.append(entry[0] if entry and entry[1] > now else 0)
        return result

    async def bump(self, lsn: int, *names: str) -> None:
        expires = time.monotonic() + self._ttl
        if len(self._values) > 100_000:
            now = time.monotonic()
            self._values = {k: v for k, v in self._values.items() if v[1] > now}
        for name in names:
            current = self._values.get(name)
            self._values[name] = (max(lsn, current[0] if current else 0), expires)


_BUMP = """
for i, key in ipairs(KEYS) do
  local current = tonumber(redis.call('GET', key) or '0')
  if tonumber(ARGV[1]) > current then
    redis.call('SET', key, ARGV[1], 'EX', ARGV[2])
  else
    redis.call('EXPIRE', key, ARGV[2])
  end
end
return 1
"""


class RedisGenerations:
    """Shared by every instance (stage 2+)."""

    def __init__(self, client: Redis, prefix: str, ttl: int = 86400) -> None:
        self._redis = client
        self._prefix = f"{prefix}:gen:"
        self._ttl = ttl
        self._bump = client.register_script(_BUMP)

    def keys(self, *names: str) -> list[str]:
        """The Redis keys of ``names`` (for a caller that reads them in a script of its own: the
        rate-limit middleware reads a route's generations with its limits, in one round trip)."""
        return [self._prefix + name for name in names]

    @staticmethod
    def values(raw: Sequence[bytes | str | None]) -> list[int] | None:
        """Generations from the raw values of :meth:`keys` (a missing key is 0); ``None`` when one
        is not a number (written by something else): unknown, so no cache entry is trusted."""
        try:
            return [int(value) if value is not None else 0 for value in raw]
        except ValueError:
            logger.error("a cache generation in Redis is not a number: bypassing the cache")
            return None

    async def get(self, *names: str) -> list[int] | None:
        try:
            raw = await self._redis.mget(self.keys(*names))
        except RedisError as exc:
            logger.warning("generations unavailable (%s): bypassing the cache", type(exc).__name__)
            return None
        return self.values(raw)

    async def bump(self, lsn: int, *names: str) -> None:
        try:
            await self._bump(keys=[self._prefix + name for name in names], args=[lsn, self._ttl])
        except RedisError as exc:
            logger.error(
                "could not bump generations %s (%s): caches may serve stale pages until TTL", names, type(exc).__name__
            )
