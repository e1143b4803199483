"""Session registries: what makes a signed token still count.

PostgreSQL keeps the record of every revocation, written in the same transaction as the action:
``revoked_tokens`` (each logged-out token until it would have expired) and
``users.sessions_valid_after`` (logout-all-devices, block, role change). Triggers NOTIFY each
change on ``rural24_sessions`` (a deleted user row too, even one deleted behind the app's back),
and every instance LISTENs (:class:`SessionEvents`) and updates its store at once.

``SESSION_STRATEGY=jwt`` (:class:`DenyListSessions`): stateless JWTs; the store (memory or Redis)
holds a copy of the revocations (a deny-list of token ids, a per-user "valid after" mark). The
copy is answered from only while it is known to be complete: loaded from PostgreSQL after
LISTEN began, with a ``loaded`` key a Redis that restarted empty no longer has, and no failed
store operation since. Otherwise (store down, emptied, listener reconnecting) each check is one
PostgreSQL query, and with PostgreSQL down too the request is refused (503): revocation never
fails open, and a live token keeps working through a Redis outage.

``SESSION_STRATEGY=redis`` (:class:`RedisSessions`): every token id is a session record in Redis;
a token without its record is dead, and with Redis down nothing can be checked (503).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NamedTuple, Protocol

import asyncpg
import msgspec
from redis.asyncio import Redis
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

CHANNEL = "rural24_sessions"
"""The NOTIFY channel of migration 0005's triggers."""
LISTENER_NAME = "rural24-session-events"
"""``application_name`` of each instance's listening connection (``pg_stat_activity``)."""

_GONE = b"gone"
"""A user mark: the user was deleted or is blocked, no token of theirs counts."""
_LOADED = "loaded"
_RESYNC_INTERVAL = 1.0
"""Seconds between attempts to reload an incomplete store (each request in between is checked
in PostgreSQL)."""


class Cutoff(NamedTuple):
    """A user's sessions mark: tokens issued up to ``at_ms`` are dead, except ``kept`` (the token
    that changed the password keeps its session)."""

    at_ms: int
    kept: str | None = None

    def admits(self, token_id: str, issued_at_ms: int) -> bool:
        return issued_at_ms > self.at_ms or token_id == self.kept

    def encode(self) -> bytes:
        return f"{self.at_ms}:{self.kept}".encode() if self.kept else str(self.at_ms).encode()

    @classmethod
    def decode(cls, value: bytes) -> Cutoff:
        at_ms, _, kept = value.decode().partition(":")
        return cls(int(at_ms), kept or None)


class SessionStoreUnavailable(RuntimeError):
    """Neither the session store nor the database can answer: the token can be neither accepted
    nor refused (503)."""


class SessionRegistry(Protocol):
    async def open(self, user_id: str, token_id: str, expires_at: int) -> None:
        """A token was issued (``expires_at``: epoch seconds)."""

    async def is_live(self, user_id: str, token_id: str, issued_at_ms: int) -> bool:
        """Whether the token still counts (not logged out, not older than a logout-all/block,
        its user still exists)."""

    async def revoke(self, user_id: str, token_id: str, expires_at: int) -> None:
        """Logout of one token (after the ``revoked_tokens`` row is written, before its commit)."""

    async def revoke_all(self, user_id: str, at_ms: int, keep: str | None = None) -> None:
        """Every token of the user issued up to ``at_ms`` dies, but ``keep`` (a token id)."""

    async def user_gone(self, user_id: str) -> None:
        """The user no longer exists, or is blocked: none of their tokens counts."""

    async def listening(self, up: bool) -> None:
        """The session events listener started (after a reload) or lost its connection."""

    async def user_changed(self, user_id: str, *, blocked: bool) -> None:
        """A session event: the user's ``sessions_valid_after`` or ``blocked_at`` changed."""

    async def token_revoked(self, user_id: str, token_id: str, expires_at: int) -> None:
        """A session event: a ``revoked_tokens`` row was committed (here or on another instance)."""


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class RevocationRecords(Protocol):
    """What the database knows about sessions (see :class:`SessionRecords`)."""

    async def valid_after(self, user_id: str) -> Cutoff | None: ...

    async def token_state(self, user_id: str, token_id: str) -> tuple[Cutoff | None, bool]: ...

    async def live_revocations(self) -> list[tuple[str, int]]: ...


class SessionRecords:
    """The database side of revocation, read on the primary (replicas may lag behind a logout)."""

    def __init__(self, fetch: Callable[..., Awaitable[Sequence[Any]]]) -> None:
        self._fetch = fetch

    async def valid_after(self, user_id: str) -> Cutoff | None:
        """The user's cutoff (0: none); ``None``: deleted or blocked (a deleted account is blocked too)."""
        rows = await self._fetch(
            "SELECT sessions_valid_after, blocked_at IS NOT NULL, sessions_kept_token::text FROM users "
            "WHERE id = $1::uuid",
            user_id,
        )
        if not rows or rows[0][1]:
            return None
        return _cutoff(rows[0][0], rows[0][2])

    async def token_state(self, user_id: str, token_id: str) -> tuple[Cutoff | None, bool]:
        """``(cutoff, revoked)`` in one query."""
        rows = await self._fetch(
            "SELECT u.sessions_valid_after, u.blocked_at IS NOT NULL, u.sessions_kept_token::text, "
            "EXISTS (SELECT 1 FROM revoked_tokens r WHERE r.id = $2::uuid) FROM users u WHERE u.id = $1::uuid",
            user_id,
            token_id,
        )
        if not rows or rows[0][1]:
            return None, False
        return _cutoff(rows[0][0], rows[0][2]), bool(rows[0][3])

    async def live_revocations(self) -> list[tuple[str, int]]:
        """Every revoked token that has not expired yet: ``(token id, expires at epoch s)``."""
        rows = await self._fetch(
            "SELECT id::text, floor(extract(epoch FROM expires_at))::bigint FROM revoked_tokens "
            "WHERE expires_at > now()"
        )
        return [(str(r[0]), int(r[1])) for r in rows]


def _cutoff(valid_after: Any, kept: str | None) -> Cutoff:
    return Cutoff(0 if valid_after is None else int(valid_after.timestamp() * 1000), kept)


class Marks(Protocol):
    """A small key-value store for the deny-list and the marks. Litestar's stores lack the two
    operations the hot path needs: one round trip for several keys, and set-if-absent."""

    volatile: bool
    """Emptied by a restart of the process (memory): a reload starts from nothing."""

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]: ...

    async def set(self, key: str, value: bytes, ttl: int | None, *, only_if_absent: bool = False) -> None: ...

    async def set_many(self, items: Sequence[tuple[str, bytes, int]]) -> None: ...

    async def delete(self, key: str) -> None: ...

    def clear(self) -> None: ...


class MemoryMarks:
    """Stage 1: a dict in the process (one event loop, no lock needed)."""

    volatile = True

    def __init__(self) -> None:
        self._data: dict[str, tuple[bytes, float | None]] = {}
        self._writes = 0

    def _live(self, key: str, now: float) -> bytes | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        if entry[1] is not None and entry[1] <= now:
            del self._data[key]
            return None
        return entry[0]

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        now = time.monotonic()
        return [self._live(key, now) for key in keys]

    async def set(self, key: str, value: bytes, ttl: int | None, *, only_if_absent: bool = False) -> None:
        now = time.monotonic()
        if only_if_absent and self._live(key, now) is not None:
            return
        self._data[key] = (value, None if ttl is None else now + ttl)
        self._writes += 1
        if self._writes % 1024 == 0:  # expired entries go from time to time: bounded by live ones
            for stale in [k for k, (_, expires) in self._data.items() if expires is not None and expires <= now]:
                del self._data[stale]

    async def set_many(self, items: Sequence[tuple[str, bytes, int]]) -> None:
        for key, value, ttl in items:
            await self.set(key, value, ttl)

    async def delete(self, key: str) -> None:
        self._data.pop(key, None)

    def clear(self) -> None:
        self._data.clear()


class RedisMarks:
    """Stage 2: keys under ``<prefix>:`` in Redis, shared by every instance."""

    volatile = False

    def __init__(self, client: Redis, prefix: str) -> None:
        self._redis = client
        self._prefix = prefix

    def _key(self, key: str) -> str:
        return f"{self._prefix}:{key}"

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        values: list[bytes | None] = await self._redis.mget([self._key(k) for k in keys])
        return values

    async def set(self, key: str, value: bytes, ttl: int | None, *, only_if_absent: bool = False) -> None:
        await self._redis.set(self._key(key), value, ex=ttl, nx=only_if_absent)

    async def set_many(self, items: Sequence[tuple[str, bytes, int]]) -> None:
        for start in range(0, len(items), 1000):
            async with self._redis.pipeline(transaction=False) as pipe:
                for key, value, ttl in items[start : start + 1000]:
                    pipe.set(self._key(key), value, ex=ttl)
                await pipe.execute()

    async def delete(self, key: str) -> None:
        await self._redis.delete(self._key(key))

    def clear(self) -> None:
        return None  # shared with the other instances: never emptied from here


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


class DenyListSessions:
    """Stateless JWTs; a complete copy of the revocations in a store, PostgreSQL when the copy
    cannot be trusted."""

    def __init__(self, marks: Marks, records: RevocationRecords, mark_ttl: int) -> None:
        """``mark_ttl``: how long a user's "valid after" mark is kept before PostgreSQL is asked
        again. Session events keep the marks current; the TTL bounds what a missed event (no
        instance listening at that moment) can cost."""
        self._marks = marks
        self._records = records
        self._ttl = mark_ttl
        self._listening = False
        self._trusted = False
        self._failures = 0  # bumped by every failed store operation: a reload begun before is stale
        self._resync_task: asyncio.Task[None] | None = None
        self._next_resync = 0.0

    # -- the per-request check ----------------------------------------------------------------

    async def is_live(self, user_id: str, token_id: str, issued_at_ms: int) -> bool:
        if self._trusted:
            try:
                denied, mark, loaded = await self._marks.get_many(
                    [f"deny:{token_id}", f"valid-after:{user_id}", _LOADED]
                )
            except Exception as exc:
                self._distrust(f"read failed ({type(exc).__name__})")
            else:
                if loaded is not None:
                    if denied is not None:
                        return False
                    cutoff = await self._mark(user_id, mark)
                    return cutoff is not None and cutoff.admits(token_id, issued_at_ms)
                self._distrust("the store lost its copy (restarted empty?)")
        self._resync_soon()
        if not _is_uuid(token_id):
            return False
        try:
            cutoff, revoked = await self._records.token_state(user_id, token_id)
        except Exception as exc:  # neither can answer: refuse to guess (503), never accept
            raise SessionStoreUnavailable(f"session store untrusted and database failed: {exc!r}") from exc
        return not revoked and cutoff is not None and cutoff.admits(token_id, issued_at_ms)

    async def _mark(self, user_id: str, cached: bytes | None) -> Cutoff | None:
        if cached is not None:
            return None if cached == _GONE else Cutoff.decode(cached)
        try:
            loaded = await self._records.valid_after(user_id)
        except Exception as exc:
            raise SessionStoreUnavailable(f"database failed: {exc!r}") from exc
        # if absent: a revoke_all or an event that landed meanwhile is newer than what we read
        await self._write(f"valid-after:{user_id}", _GONE if loaded is None else loaded.encode(), absent=True)
        return loaded

    # -- writes (each also recorded in PostgreSQL by the caller) ---------------------------------

    async def open(self, user_id: str, token_id: str, expires_at: int) -> None:
        return None  # nothing to remember: the signature and the marks decide

    async def revoke(self, user_id: str, token_id: str, expires_at: int) -> None:
        await self.token_revoked(user_id, token_id, expires_at)

    async def revoke_all(self, user_id: str, at_ms: int, keep: str | None = None) -> None:
        await self._write(f"valid-after:{user_id}", Cutoff(at_ms, keep).encode())

    async def user_gone(self, user_id: str) -> None:
        await self._write(f"valid-after:{user_id}", _GONE)

    async def _write(self, key: str, value: bytes, *, absent: bool = False) -> None:
        """A failed write is not an error for the caller (PostgreSQL has the fact): the store is
        just no longer trusted until it is reloaded."""
        try:
            await self._marks.set(key, value, self._ttl, only_if_absent=absent)
        except Exception as exc:
            self._distrust(f"write failed ({type(exc).__name__})")

    # -- session events and reloads -----------------------------------------------------------

    async def token_revoked(self, user_id: str, token_id: str, expires_at: int) -> None:
        try:
            await self._marks.set(f"deny:{token_id}", b"1", max(1, expires_at - int(time.time())))
        except Exception as exc:
            self._distrust(f"write failed ({type(exc).__name__})")

    async def user_changed(self, user_id: str, *, blocked: bool) -> None:
        try:
            if blocked:
                await self._marks.set(f"valid-after:{user_id}", _GONE, self._ttl)
            else:  # read again from PostgreSQL on the next request: events may arrive out of order
                await self._marks.delete(f"valid-after:{user_id}")
        except Exception as exc:
            self._distrust(f"write failed ({type(exc).__name__})")

    async def listening(self, up: bool) -> None:
        self._listening = up
        if not up:
            self._distrust("session events listener disconnected")
            return
        # One reload at a time (two interleaved ones could empty the store under each other); the
        # one from before the reconnection cannot be trusted, so a fresh one follows it.
        if self._resync_task is not None:
            await self._resync_task
        self._next_resync = 0.0
        if (task := self._resync_soon()) is not None:
            await task  # the first requests after it take the fast path

    def _distrust(self, why: str) -> None:
        if self._trusted:
            logger.warning("session store not trusted (%s): checking sessions in the database", why)
        self._trusted = False
        self._failures += 1

    def _resync_soon(self) -> asyncio.Task[None] | None:
        """Starts a reload unless one runs or one failed less than a second ago."""
        now = time.monotonic()
        running = self._resync_task is not None and not self._resync_task.done()
        if self._listening and not running and now >= self._next_resync:
            self._next_resync = now + _RESYNC_INTERVAL
            self._resync_task = asyncio.get_running_loop().create_task(self._resync_quietly())
            return self._resync_task
        return None

    async def _resync_quietly(self) -> None:
        try:
            await self._resync()
        except Exception as exc:
            logger.info("session store reload failed (%s); retrying", type(exc).__name__)

    async def _resync(self) -> None:
        """Copy every live revocation from PostgreSQL into the store; trusted again when nothing
        failed meanwhile and the listener is up (so nothing committed later can be missed)."""
        self._trusted = False
        failures = self._failures
        if self._marks.volatile:
            self._marks.clear()  # before reading: an event arriving from here on is kept
        revocations = await self._records.live_revocations()
        now = int(time.time())
        await self._marks.set_many([(f"deny:{t}", b"1", max(1, exp - now)) for t, exp in revocations])
        await self._marks.set(_LOADED, b"1", None)
        if self._listening and failures == self._failures:
            self._trusted = True
            logger.info("session store loaded: %d live revocations", len(revocations))


class RedisSessions:
    """One Redis record per token, and one set of token ids per user."""

    def __init__(self, client: Redis, prefix: str, session_ttl: int) -> None:
        self._redis = client
        self._prefix = prefix
        self._ttl = session_ttl

    def _session_key(self, token_id: str) -> str:
        return f"{self._prefix}:session:{token_id}"

    def _user_key(self, user_id: str) -> str:
        return f"{self._prefix}:user-sessions:{user_id}"

    async def open(self, user_id: str, token_id: str, expires_at: int) -> None:
        ttl = max(1, expires_at - int(time.time()))
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.set(self._session_key(token_id), user_id, ex=ttl)
                pipe.sadd(self._user_key(user_id), token_id)
                pipe.expire(self._user_key(user_id), self._ttl)
                await pipe.execute()
        except RedisError as exc:
            raise SessionStoreUnavailable(str(exc)) from exc

    async def is_live(self, user_id: str, token_id: str, issued_at_ms: int) -> bool:
        try:
            owner = await self._redis.get(self._session_key(token_id))
        except RedisError as exc:
            raise SessionStoreUnavailable(str(exc)) from exc
        return owner is not None and owner.decode() == user_id

    async def revoke(self, user_id: str, token_id: str, expires_at: int) -> None:
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.delete(self._session_key(token_id))
                pipe.srem(self._user_key(user_id), token_id)
                await pipe.execute()
        except RedisError as exc:
            raise SessionStoreUnavailable(str(exc)) from exc

    async def revoke_all(self, user_id: str, at_ms: int, keep: str | None = None) -> None:
        try:
            token_ids: set[bytes] = await self._redis.smembers(self._user_key(user_id))  # type: ignore[misc]
            ending = [t.decode() for t in token_ids if t.decode() != keep]
            if ending:
                async with self._redis.pipeline(transaction=True) as pipe:
                    pipe.delete(*(self._session_key(t) for t in ending))
                    pipe.srem(self._user_key(user_id), *ending)
                    await pipe.execute()
        except RedisError as exc:
            raise SessionStoreUnavailable(str(exc)) from exc

    async def user_gone(self, user_id: str) -> None:
        await self.revoke_all(user_id, now_ms())

    async def listening(self, up: bool) -> None:
        return None  # the records are the truth; events only remove records

    async def user_changed(self, user_id: str, *, blocked: bool) -> None:
        # A blocked user cannot log in again, so every record can go; a bare logout-all through the
        # app has already removed its records (an event arriving late must not end a newer login).
        if blocked:
            await self.revoke_all(user_id, now_ms())

    async def token_revoked(self, user_id: str, token_id: str, expires_at: int) -> None:
        await self.revoke(user_id, token_id, expires_at)


class SessionEvent(msgspec.Struct, rename="camel"):
    event: str
    user: str
    token: str | None = None
    expires_at: int | None = None
    blocked: bool = False


class SessionEvents:
    """LISTENs on the primary for migration 0005's session events and hands them to a registry;
    reconnects after a lost connection (the registry distrusts its store meanwhile)."""

    def __init__(self, dsn: str, registry: SessionRegistry) -> None:
        self._dsn = dsn
        self._registry = registry
        self._task: asyncio.Task[None] | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self.connected = asyncio.Event()

    async def start(self, wait: float = 5.0) -> None:
        """Starts listening; waits (at most ``wait`` s) for the first reload so the first requests
        take the fast path. A database that is not there yet only delays that."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="session-events")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.connected.wait(), wait)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        delay = 0.2
        while True:
            connection: asyncpg.Connection | None = None
            try:
                connection = await asyncpg.connect(
                    self._dsn, timeout=5, server_settings={"application_name": LISTENER_NAME}
                )
                lost = asyncio.Event()
                connection.add_termination_listener(lambda _, lost=lost: lost.set())
                await connection.add_listener(CHANNEL, self._on_notification)
                await self._registry.listening(True)  # after LISTEN: a change committed from now is heard
                self.connected.set()
                delay = 0.2
                while not lost.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(lost.wait(), 15)
                    if not lost.is_set():  # a half-open connection never reports its loss
                        await connection.fetchval("SELECT 1", timeout=5)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("session events listener: %s; reconnecting", exc)
            finally:
                self.connected.clear()
                await self._registry.listening(False)
                if connection is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(connection.close(), 2)
            await asyncio.sleep(delay)  # back off while the database is away
            delay = min(delay * 2, 5.0)

    def _on_notification(self, _connection: object, _pid: int, _channel: str, payload: str) -> None:
        task = asyncio.get_running_loop().create_task(self._handle(payload))
        self._handlers.add(task)
        task.add_done_callback(self._handlers.discard)

    async def _handle(self, payload: str) -> None:
        try:
            event = msgspec.json.decode(payload, type=SessionEvent)
            if event.event == "revoked" and event.token and event.expires_at is not None:
                await self._registry.token_revoked(event.user, event.token, event.expires_at)
            elif event.event == "deleted":
                await self._registry.user_gone(event.user)
            elif event.event == "changed":
                await self._registry.user_changed(event.user, blocked=event.blocked)
        except Exception as exc:  # a bad payload, or a store that is down (a 503 for every check then)
            logger.warning("session event not applied (%s): %s", type(exc).__name__, payload[:200])
