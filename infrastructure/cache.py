"""The query cache: response bodies as sent, stored once, loaded on a miss.

Each entry is a :class:`CachedBody`: the encoded JSON, its ETag and a gzip copy made once, when the
entry is built, never per request. One store value per entry (msgpack), so a hit is one store GET
with no encoding and no compression, in memory mode and in Redis mode alike. Keys are versioned
by the caller (a ``generation`` in the key) so invalidation never scans the keyspace.

In Redis mode a small first level in the process (:class:`LocalEntries`) holds the entries it has
read or stored, decoded: a hit there costs no Redis round trip and no decoding. It is exact, not
"fresh enough": a key names its generations, so the entry under a key never changes, and a write
anywhere moves the generation and with it the key the next read asks for (the generations are
still read from Redis on every request). A local copy lives at most ``LOCAL_TTL`` seconds (or the
entry's own TTL when this process stored it), which bounds what it adds to a TTL-only staleness
(ads whose time ran out before the expiry job marked them) and keeps memory bounded with
``max_entries``.
"""

from __future__ import annotations

import gzip
import itertools
import logging
import time
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


LOCAL_TTL = 5.0
"""Seconds a local copy of an entry read from Redis is kept (its remaining TTL there is unknown)."""
LOCAL_ENTRIES = 2_000
"""~40 MB of ~20 KB search pages, per process."""


class LocalEntries:
    """Decoded entries by key, each until a deadline, the oldest dropped beyond ``max_entries``.
    No lock: nothing here awaits (one event loop per process)."""

    def __init__(self, max_entries: int = LOCAL_ENTRIES, ttl: float = LOCAL_TTL) -> None:
        self._entries: dict[str, tuple[float, CachedBody]] = {}
        self._max = max_entries
        self._ttl = ttl

    def get(self, key: str) -> CachedBody | None:
        found = self._entries.get(key)
        if found is None:
            return None
        if found[0] < time.monotonic():
            del self._entries[key]
            return None
        return found[1]

    def put(self, key: str, entry: CachedBody, ttl: float | None = None) -> None:
        self._entries.pop(key, None)  # re-inserted last: dict order is the eviction order
        self._entries[key] = (time.monotonic() + min(self._ttl if ttl is None else ttl, self._ttl), entry)
        overflow = len(self._entries) - self._max
        if overflow > 0:
            for old in list(itertools.islice(self._entries, overflow + self._max // 10)):
                del self._entries[old]

    def __len__(self) -> int:
        return len(self._entries)


class QueryCache:
    def __init__(self, store: Store, on_lookup: CacheCounter | None = None, local: LocalEntries | None = None) -> None:
        self._store = store
        self._on_lookup = on_lookup
        self._local = local

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

    async def peek(self, key: str, *, count: bool = True) -> CachedBody | None:
        """The cached entry (counted as a hit or a miss unless ``count`` is false), or ``None``; a
        failing store or an entry that cannot be read is a miss."""
        entry = self._local.get(key) if self._local is not None else None
        if entry is None:
            try:
                raw = await self._store.get(key + FORMAT)
                entry = None if raw is None else _decode(raw)
            except Exception as exc:
                logger.warning("cache read failed for %s: %s", key.split(":", 1)[0], exc)
            if entry is not None and self._local is not None:
                self._local.put(key, entry)
        if count:
            self.count(key, hit=entry is not None)
        return entry

    async def put(self, key: str, entry: CachedBody, ttl: int) -> None:
        if self._local is not None:
            self._local.put(key, entry, ttl)
        try:
            await self._store.set(key + FORMAT, _encode(entry), expires_in=ttl)
        except Exception as exc:
            logger.warning("cache write failed for %s: %s", key.split(":", 1)[0], exc)

    def count(self, key: str, *, hit: bool) -> None:
        """Records a lookup of ``key`` (by its prefix: ``search``, ``ad`` …) as a hit or a miss."""
        if self._on_lookup is not None:
            self._on_lookup(key.split(":", 1)[0], hit)
