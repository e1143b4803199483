"""Session registries: what makes a signed token still count.

``SESSION_STRATEGY=jwt`` (:class:`DenyListSessions`): tokens are stateless; a store (memory or
Redis) keeps a deny-list of logged-out token ids until they expire, and a per-user "valid after"
instant that logout-all-devices, blocking and role changes move forward. The instant is also in
the database (``users.sessions_valid_after``): on a store miss it is loaded from there, so it
survives restarts and is shared by every instance that shares the database.

``SESSION_STRATEGY=redis`` (:class:`RedisSessions`): every token id is a session record in Redis;
a token without its record is dead. Logout deletes one record; logout-all and blocking delete
them all. One GET per request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from litestar.stores.base import Store
from redis.asyncio import Redis
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

ValidAfterLoader = Callable[[str], Awaitable[int | None]]
"""``user id`` → the user's "valid after" instant in epoch milliseconds (0: none), or ``None``
when the user no longer exists."""

_GONE = b"gone"


class SessionStoreUnavailable(RuntimeError):
    """The session store cannot be reached: the token can be neither accepted nor refused."""


class SessionRegistry(Protocol):
    async def open(self, user_id: str, token_id: str, expires_at: int) -> None:
        """A token was issued (``expires_at``: epoch seconds)."""

    async def is_live(self, user_id: str, token_id: str, issued_at_ms: int) -> bool:
        """Whether the token still counts (not logged out, not older than a logout-all/block)."""

    async def revoke(self, user_id: str, token_id: str, expires_at: int) -> None:
        """Logout of one token."""

    async def revoke_all(self, user_id: str, at_ms: int) -> None:
        """Every token of the user issued up to ``at_ms`` dies."""


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class DenyListSessions:
    """Stateless JWTs, a deny-list and a per-user valid-after mark in a Litestar store."""

    def __init__(self, store: Store, load_valid_after: ValidAfterLoader, mark_ttl: int) -> None:
        """``mark_ttl``: how long a user's mark is trusted from the store before the database is
        asked again. With a shared store (Redis) every change is written there, so it can be as
        long as a session; a per-process memory store cannot see changes made by another process
        (the CLI), so there it is short."""
        self._store = store
        self._load = load_valid_after
        self._ttl = mark_ttl

    async def open(self, user_id: str, token_id: str, expires_at: int) -> None:
        return None  # nothing to remember: the signature and the marks decide

    async def _valid_after(self, user_id: str) -> int | None:
        try:
            cached = await self._store.get(f"valid-after:{user_id}")
        except Exception as exc:  # the store is down: the database still knows
            logger.warning("session store read failed (%s); using the database", type(exc).__name__)
            return await self._load(user_id)
        if cached is not None:
            return None if cached == _GONE else int(cached)
        loaded = await self._load(user_id)
        await self._remember(user_id, loaded)
        return loaded

    async def _remember(self, user_id: str, valid_after: int | None) -> None:
        value = _GONE if valid_after is None else str(valid_after).encode()
        try:
            await self._store.set(f"valid-after:{user_id}", value, expires_in=self._ttl)
        except Exception as exc:
            logger.warning("session store write failed (%s)", type(exc).__name__)

    async def _denied(self, token_id: str) -> bool:
        try:
            return await self._store.exists(f"deny:{token_id}")
        except Exception as exc:
            # Degrade: logout-all and blocks still hold (database); a single logout is not seen
            # until the store is back.
            logger.warning("deny-list read failed (%s)", type(exc).__name__)
            return False

    async def is_live(self, user_id: str, token_id: str, issued_at_ms: int) -> bool:
        denied, valid_after = await asyncio.gather(self._denied(token_id), self._valid_after(user_id))
        return not denied and valid_after is not None and issued_at_ms > valid_after

    async def revoke(self, user_id: str, token_id: str, expires_at: int) -> None:
        remaining = max(1, expires_at - int(time.time()))
        await self._store.set(f"deny:{token_id}", b"1", expires_in=remaining)

    async def revoke_all(self, user_id: str, at_ms: int) -> None:
        await self._remember(user_id, at_ms)


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

    async def revoke_all(self, user_id: str, at_ms: int) -> None:
        try:
            token_ids: set[bytes] = await self._redis.smembers(self._user_key(user_id))  # type: ignore[misc]
            keys = [self._session_key(t.decode()) for t in token_ids]
            await self._redis.delete(*keys, self._user_key(user_id))
        except RedisError as exc:
            raise SessionStoreUnavailable(str(exc)) from exc
