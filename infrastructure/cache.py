"""The query cache: response bodies as sent, stored once, loaded on a miss.

Each entry is a :class:`CachedBody`: the encoded JSON, its ETag and a gzip copy made once, when the
entry is built, never per request. One store value per entry (msgpack), so a hit is one store GET
with no encoding and no compression, in memory mode and in Redis mode alike. Keys are versioned
by the caller (a ``generation`` in the key) so invalidation never scans the keyspace.
"""

from __future__ import annotations

import gzip
import logging
from collections.abc import Awaitable, Callable

import msgspec
from litestar.stores.base import Store

logger = logging.getLogger(__name__)

CacheCounter = Callable[[str, bool], None]
"""``(cache name, hit)`` → records a hit or a miss (metrics)."""

GZIP_MIN_BYTES = 1024
"""Smaller bodies fit one packet anyway; gzip's ~20 bytes of framing would eat the gain."""
GZIP_LEVEL = 6
"""zlib's default: ~0.2 ms for a 20 KB search page here, paid once per entry; level 9 saves ~1 %."""
FORMAT = ":b2"
"""Appended to every store key: instances of an older release (``<etag>\\n<body>`` values) and this
one can share a Redis during a rolling deploy without reading each other's entries."""


def gzip_of(body: bytes) -> bytes | None:
    """``body`` gzipped (no timestamp: the same body always gives the same bytes), or ``None`` when
    it is under :data:`GZIP_MIN_BYTES` or does not get smaller."""
    if len(body) < GZIP_MIN_BYTES:
        return None
    packed = gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0)
    return packed if len(packed) < len(body) else None


class CachedBody(msgspec.Struct, frozen=True, array_like=True):
    """A response body as sent: ``body`` (identity), its ``etag`` (quoted) and, when worth it, the
    same body gzip-encoded (``gzipped``). Build it with :meth:`build` (compresses) or directly (identity only)."""

    body: bytes
    etag: str
    gzipped: bytes | None = None

    @classmethod
    def build(cls, body: bytes, etag: str) -> CachedBody:
        return cls(body, etag, gzip_of(body))


_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(CachedBody).decode


class QueryCache:
    def __init__(self, store: Store, on_lookup: CacheCounter | None = None) -> None:
        self._store = store
        self._on_lookup = on_lookup

    async def get_or_load(
        self, key: str, ttl: int, load: Callable[[], Awaitable[CachedBody]]
    ) -> tuple[CachedBody, bool]:
        """``(entry, cached)``. A store that fails (Redis down) degrades to a load, never to an error."""
        cached = await self.peek(key)
        if cached is not None:
            return cached, True
        entry = await load()
        await self.put(key, entry, ttl)
        return entry, False

    async def peek(self, key: str) -> CachedBody | None:
        """The cached entry (counted as a hit or a miss), or ``None``; a failing store or an entry
        that cannot be read is a miss."""
        entry: CachedBody | None = None
        try:
            raw = await self._store.get(key + FORMAT)
            entry = None if raw is None else _decode(raw)
        except Exception as exc:
            logger.warning("cache read failed for %s: %s", key.split(":", 1)[0], exc)
        self._count(key.split(":", 1)[0], hit=entry is not None)
        return entry

    async def put(self, key: str, entry: CachedBody, ttl: int) -> None:
        try:
            await self._store.set(key + FORMAT, _encode(entry), expires_in=ttl)
        except Exception as exc:
            logger.warning("cache write failed for %s: %s", key.split(":", 1)[0], exc)

    def _count(self, name: str, *, hit: bool) -> None:
        if self._on_lookup is not None:
            self._on_lookup(name, hit)
