"""Rate limiters that decide atomically, in one process (memory) or across many (Redis).

This module counts; the HTTP side (middleware, route limits, 429 answers) is ``rural24/ratelimit.py``.

Window: a **fixed window started by the first hit** of a key. The first request of ``key``
against a limit opens a window of ``limit.seconds``; every request in it counts (refused ones
too); the window ends ``limit.seconds`` after it opened and the next request opens a new one.
This is exactly ``INCR`` + ``PEXPIRE``-when-new in Redis, one key per client and limit, no
clean-up job. Unlike epoch-aligned windows, clients do not all reset at the same instant. As with
any fixed window, a client may burst up to ``2 * requests`` across a window boundary; that is the
accepted price of one integer per key and one round trip per request.

Counting and deciding is one atomic step: in memory there is no ``await`` between the read and
the write (the event loop runs one coroutine at a time); in Redis it is one Lua script, so
several API processes sharing a Redis enforce one exact limit.

Failure policy: a rate limiter protects the API, it must never take it down. When Redis cannot
be reached (connection refused, timeout, any Redis error) :class:`RedisRateLimiter` **fails
open**: the request is allowed, a warning is logged at most once per ``warn_every`` seconds
(with the number of failures since the last one), and for ``cooldown`` seconds after a failure
Redis is not asked at all, so an outage does not add a connect timeout to every request.

Also here: :func:`client_address`, the only place that reads ``X-Forwarded-For``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any, Protocol

import msgspec
from redis.asyncio import Redis
from redis.exceptions import RedisError

from infrastructure.redis import PackedScript
from infrastructure.settings import RateLimit

__all__ = (
    "Hit",
    "MemoryRateLimiter",
    "RateDecision",
    "RateLimiter",
    "RedisRateLimiter",
    "client_address",
)

logger = logging.getLogger(__name__)


class RateDecision(msgspec.Struct, frozen=True):
    """The outcome of one hit."""

    allowed: bool
    limit: int
    """The limit's ``requests`` per window."""
    remaining: int
    """Requests left in the current window after this one (0 when refused)."""
    reset_at: int
    """Epoch seconds at which the current window ends (rounded up)."""
    retry_after: int
    """Seconds to wait before retrying: ``reset_in`` (≥ 1) when refused, 0 when allowed."""
    reset_in: int
    """Seconds until the current window ends (rounded up, ≥ 1): the ``RateLimit-Reset`` value."""


Hit = tuple[str, str, RateLimit]
"""``(name, key, limit)``: one request of ``key`` against the limit called ``name``."""


class RateLimiter(Protocol):
    async def hit(self, name: str, key: str, limit: RateLimit) -> RateDecision:
        """Count one request of ``key`` against the limit called ``name`` and decide, atomically."""
        ...

    async def hit_all(self, hits: Sequence[Hit]) -> list[RateDecision]:
        """:meth:`hit` for each of ``hits`` in order, in one step (one Redis round trip), stopping
        after the first refusal: the limits after it are not counted, as if checked one by one.
        The decisions of the hits counted, in order (the last is the refusal, if any)."""
        ...

    async def hit_all_and_read(
        self, hits: Sequence[Hit], keys: Sequence[str]
    ) -> tuple[list[RateDecision], list[Any] | None]:
        """:meth:`hit_all`, and the values of ``keys`` in the same store, read in the same step;
        ``None`` for the values when they cannot be read there (memory, or Redis down)."""
        ...


def _decide(limit: RateLimit, count: int, remaining_ms: float, now: float) -> RateDecision:
    reset_in = max(1, math.ceil(remaining_ms / 1000))
    allowed = count <= limit.requests
    return RateDecision(
        allowed=allowed,
        limit=limit.requests,
        remaining=max(0, limit.requests - count),
        reset_at=math.ceil(now + remaining_ms / 1000),
        retry_after=0 if allowed else reset_in,
        reset_in=reset_in,
    )


class _Window:
    __slots__ = ("count", "ends")

    def __init__(self, ends: float) -> None:
        self.count = 0
        self.ends = ends


class MemoryRateLimiter:
    """Counters in this process (stage 1): exact for one process, per process with several.

    Atomic because :meth:`hit` never awaits. Windows of one limit name all have the same length,
    so keeping each name's windows in the order they opened (an ``OrderedDict``, a restarted
    window moves to the end) makes the expired ones the oldest: every hit pops the expired
    windows from the front, O(1) amortised, and memory holds only live windows.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        """``clock``: epoch seconds (tests pass a fake one)."""
        self._clock = clock
        self._windows: dict[str, OrderedDict[str, _Window]] = {}

    async def hit(self, name: str, key: str, limit: RateLimit) -> RateDecision:
        now = self._clock()
        windows = self._windows.get(name)
        if windows is None:
            windows = self._windows[name] = OrderedDict()
        self._prune(windows, now)
        window = windows.get(key)
        if window is None or window.ends <= now:
            # new, or expired but kept behind a live one (the limit's length changed at run time)
            window = _Window(now + limit.seconds)
            windows[key] = window
            windows.move_to_end(key)
        window.count += 1
        return _decide(limit, window.count, (window.ends - now) * 1000, now)

    async def hit_all(self, hits: Sequence[Hit]) -> list[RateDecision]:
        decisions: list[RateDecision] = []
        for name, key, limit in hits:  # hit() never awaits: the whole loop is one atomic step
            decision = await self.hit(name, key, limit)
            decisions.append(decision)
            if not decision.allowed:
                break
        return decisions

    async def hit_all_and_read(
        self, hits: Sequence[Hit], keys: Sequence[str]
    ) -> tuple[list[RateDecision], list[Any] | None]:
        return await self.hit_all(hits), None  # the counters are in this process; the keys are not

    @staticmethod
    def _prune(windows: OrderedDict[str, _Window], now: float) -> None:
        while windows:
            oldest = next(iter(windows.values()))
            if oldest.ends > now:
                return
            windows.popitem(last=False)

    def __len__(self) -> int:
        """Live windows held (all names)."""
        return sum(len(windows) for windows in self._windows.values())


# Counters in order, then a read of other keys, in one step. ARGV[1] is the number n of counters:
# KEYS[1..n] the counters (ARGV[2i] the window of counter i in milliseconds, ARGV[2i+1] its limit),
# KEYS[n+1..] the keys to read. Counting stops after the first counter over its limit.
# `pttl < 0` rather than `count == 1`: a counter that somehow lost its expiry heals itself.
# → {{count1, ms left1, count2, ms left2, ...}, {value, ...}}
_HIT_SCRIPT = """
local n = tonumber(ARGV[1])
local out = {}
for i = 1, n do
  local key = KEYS[i]
  local window = tonumber(ARGV[2 * i])
  local count = redis.call('INCR', key)
  local ttl = redis.call('PTTL', key)
  if ttl < 0 then
    redis.call('PEXPIRE', key, window)
    ttl = window
  end
  out[#out + 1] = count
  out[#out + 1] = ttl
  if count > tonumber(ARGV[2 * i + 1]) then
    break
  end
end
local values = {}
if #KEYS > n then
  values = redis.call('MGET', unpack(KEYS, n + 1))
end
return {out, values}
"""

_REDIS_DOWN = (RedisError, OSError, TimeoutError)


class RedisRateLimiter:
    """Counters in Redis (stage 2): one exact limit shared by every process.

    One round trip per request: ``EVALSHA`` of one script doing ``INCR``, ``PTTL`` and ``PEXPIRE``
    for a new key, for each limit of the request in order, and reading any keys the caller adds
    (redis-py loads the script once on ``NOSCRIPT``). Keys:
    ``{prefix}:rl:{name}:{key}``, expiring with their window. Fails open (see the module doc).
    """

    def __init__(
        self,
        client: Redis,
        prefix: str,
        *,
        warn_every: float = 60.0,
        cooldown: float = 1.0,
        clock: Callable[[], float] = time.time,
        timeout: float | None = None,
    ) -> None:
        self._script = PackedScript(client, _HIT_SCRIPT)
        self._timeout = timeout  # for a client without socket_timeout (RedisConnection.hot_client)
        self._prefix = f"{prefix}:rl:"
        self._warn_every = warn_every
        self._cooldown = cooldown
        self._clock = clock
        self._skip_until = 0.0  # monotonic: Redis is not asked before this after a failure
        self._last_warning = -math.inf
        self._unchecked = 0  # requests allowed without asking Redis

    def key(self, name: str, key: str) -> str:
        return f"{self._prefix}{name}:{key}"

    async def hit(self, name: str, key: str, limit: RateLimit) -> RateDecision:
        decisions, _ = await self.hit_all_and_read(((name, key, limit),), ())
        return decisions[0]

    async def hit_all(self, hits: Sequence[Hit]) -> list[RateDecision]:
        decisions, _ = await self.hit_all_and_read(hits, ())
        return decisions

    async def hit_all_and_read(
        self, hits: Sequence[Hit], keys: Sequence[str]
    ) -> tuple[list[RateDecision], list[Any] | None]:
        if self._skip_until and time.monotonic() < self._skip_until:
            self._unchecked += 1  # Redis failed moments ago: do not make this request wait for it
            return [self._allow(limit) for _, _, limit in hits], None
        args: list[int] = [len(hits)]
        for _, _, limit in hits:
            args += [limit.seconds * 1000, limit.requests]
        try:
            async with asyncio.timeout(self._timeout):
                counted, values = await self._script(
                    keys=[*(self.key(name, key) for name, key, _ in hits), *keys], args=args
                )
        except _REDIS_DOWN as exc:
            self._unchecked += 1
            self._skip_until = time.monotonic() + self._cooldown
            self._warn(exc)
            return [self._allow(limit) for _, _, limit in hits], None
        self._skip_until = 0.0
        now = self._clock()
        decisions = []
        for (_, _, limit), count, ttl in zip(hits, counted[::2], counted[1::2], strict=False):
            window_ms = limit.seconds * 1000
            decisions.append(_decide(limit, int(count), int(ttl) if int(ttl) > 0 else window_ms, now))
        return decisions, list(values) if keys else []

    def _allow(self, limit: RateLimit) -> RateDecision:
        """Fail open: allowed, as if this were the window's first request."""
        return _decide(limit, 1, limit.seconds * 1000, self._clock())

    def _warn(self, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._last_warning < self._warn_every:
            return
        logger.warning(
            "rate limiter: Redis failed (%s: %s); requests pass unchecked (%d so far since the last warning)",
            type(exc).__name__,
            exc,
            self._unchecked,
        )
        self._last_warning = now
        self._unchecked = 0


@lru_cache(maxsize=8192)
def _normalise(entry: str) -> str:
    """An address as one canonical string: ports dropped, IPv6 compressed, IPv4-mapped → IPv4.

    Anything that is not an IP (a hostname, an RFC 7239 obfuscated id, ``testclient``) is kept
    as written. Cached: parsing costs ~2 µs and the same clients come back (only the entry our
    own proxy wrote, or the socket peer, gets here, so a client cannot flood the cache with
    made-up values faster than with real addresses).
    """
    host = entry
    if host.startswith("["):  # [v6] or [v6]:port
        end = host.find("]")
        if end > 0:
            host = host[1:end]
    elif host.count(":") == 1:  # v4:port (a bare v6 has several colons)
        host = host.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return entry
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def client_address(scope_client_host: str | None, forwarded_for: str | None, trusted_hops: int) -> str:
    """The client's address for rate limiting, trusting ``X-Forwarded-For`` only as far as the proxies we run.

    ``forwarded_for`` is every ``X-Forwarded-For`` field of the request joined with commas, in
    order. Each trusted proxy appends the address it saw to that list, so with ``trusted_hops``
    = N the client is the N-th entry from the right: everything left of it was written by the
    client and is ignored, so a client cannot pick its own bucket by sending the header.

    * ``trusted_hops == 0``: the header is ignored; the socket peer is the client.
    * fewer entries than N (a proxy less than configured): the leftmost entry.
    * no usable header: the socket peer; no peer: ``"unknown"``.
    """
    if trusted_hops > 0 and forwarded_for:
        entries = [entry for part in forwarded_for.split(",") if (entry := part.strip())]
        if entries:
            chosen = entries[-trusted_hops] if len(entries) >= trusted_hops else entries[0]
            return _normalise(chosen)
    if scope_client_host and (peer := scope_client_host.strip()):
        return _normalise(peer)
    return "unknown"
