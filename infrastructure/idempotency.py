"""``Idempotency-Key``: remember the first response to a POST and replay it on a retry.

This module is the storage (an atomic claim, the stored response; memory or Redis); the HTTP side
(header, replay, problem answers) is ``rural24/idempotency.py``.

API.md: a retry with the same key and body returns the first response and creates nothing new
(kept 24 h, scoped to the caller); same key with another body → 422; same key while the first
request is still running → 409.

The whole protocol rests on one atomic *claim*: the first request for a key writes an
``in_flight`` record only if there is none (set-if-absent); whoever loses that race reads the
existing record and is told what to answer. Litestar's ``Store`` API (``get``/``set``/``delete``)
has no set-if-absent, so a get-then-set on it would let two concurrent retries both run the
handler (two ads, two messages): that is why this is a store of its own and not a named store of
the ``StoreRegistry``.

* In-flight claims expire (:data:`IN_FLIGHT_TTL`): a crashed instance cannot block a key forever.
* A finished response is kept :data:`IDEMPOTENCY_TTL` (24 h).
* A claim that ends in an exception or a 5xx is *released* (deleted, only if it is still ours)
  so the client may retry.

The caller scopes keys: :func:`storage_key` (``scope:user_id:header value``). This module has no
Litestar in it; ``rural24.idempotency`` is the HTTP glue.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, Literal, Protocol, TypeAlias

import msgspec
from redis.asyncio import Redis
from redis.exceptions import RedisError

__all__ = (
    "IDEMPOTENCY_TTL",
    "IN_FLIGHT_TTL",
    "KEPT_HEADERS",
    "MAX_KEY_LENGTH",
    "Claim",
    "Claimed",
    "IdempotencyRecord",
    "IdempotencyStore",
    "IdempotencyStoreUnavailable",
    "InFlight",
    "MemoryIdempotencyStore",
    "Mismatch",
    "RedisIdempotencyStore",
    "Replay",
    "canonical_body",
    "decode_record",
    "encode_record",
    "request_fingerprint",
    "storage_key",
    "validate_key",
)

IDEMPOTENCY_TTL: Final = 86400
"""Seconds a finished response is kept and replayed (24 h)."""
IN_FLIGHT_TTL: Final = 60.0
"""Seconds an unfinished claim holds its key; after that a crashed request no longer blocks it."""
MAX_KEY_LENGTH: Final = 255
KEPT_HEADERS: Final = frozenset({"content-type", "location", "etag"})
"""The response headers a replay repeats (lower case); the others are recomputed or dropped."""

_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]+")


# --- the key and the fingerprint -------------------------------------------------------------


def validate_key(value: str) -> str:
    """The ``Idempotency-Key`` header value, surrounding blanks removed, if it is 1 to 255 printable
    ASCII characters; else :class:`ValueError` with a message fit for a 400's detail."""
    key = value.strip(" \t")
    if not key:
        msg = "The Idempotency-Key header is empty."
        raise ValueError(msg)
    if len(key) > MAX_KEY_LENGTH:
        msg = f"The Idempotency-Key header is longer than {MAX_KEY_LENGTH} characters."
        raise ValueError(msg)
    if not _PRINTABLE_ASCII.fullmatch(key):
        msg = "The Idempotency-Key header may only hold printable ASCII characters."
        raise ValueError(msg)
    return key


def storage_key(scope: str, user_id: str, key: str) -> str:
    """``scope:user_id:key``: the same header value from two callers (or two routes) never meets."""
    return f"{scope}:{user_id}:{key}"


def canonical_body(body: bytes) -> bytes:
    """A JSON body re-encoded with sorted keys and no whitespace (so key order and formatting do
    not make a retry "another body"); any other body as it is."""
    if not body:
        return b""
    try:
        value = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return body
    # Valid JSON never equals a non-JSON body, so the two kinds cannot collide.
    return msgspec.json.encode(value, order="sorted")


def request_fingerprint(method: str, path: str, body: bytes) -> str:
    """sha256 (hex) of the method, the path (with its query string, if any) and the canonical body."""
    digest = hashlib.sha256()
    digest.update(method.upper().encode())
    digest.update(b"\n")
    digest.update(path.encode())
    digest.update(b"\n")
    digest.update(canonical_body(body))
    return digest.hexdigest()


# --- the record ------------------------------------------------------------------------------


class IdempotencyRecord(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """What is stored under a key: a claim in flight, or the finished response."""

    state: Literal["in_flight", "done"]
    fingerprint: str
    token: str = ""
    """``in_flight`` only: who owns the claim (random), so a release never deletes another's."""
    status_code: int = 0
    headers: tuple[tuple[str, str], ...] = ()
    """``done`` only: the :data:`KEPT_HEADERS` of the response, names in lower case."""
    body: bytes = b""

    @classmethod
    def in_flight(cls, fingerprint: str) -> IdempotencyRecord:
        return cls(state="in_flight", fingerprint=fingerprint, token=secrets.token_hex(16))

    @classmethod
    def done(
        cls,
        fingerprint: str,
        status_code: int,
        headers: Mapping[str, str] | Iterable[tuple[str, str]],
        body: bytes,
    ) -> IdempotencyRecord:
        """The finished response; only the :data:`KEPT_HEADERS` of ``headers`` are kept."""
        items = headers.items() if isinstance(headers, Mapping) else headers
        kept = tuple(sorted((name.lower(), str(value)) for name, value in items if name.lower() in KEPT_HEADERS))
        return cls(state="done", fingerprint=fingerprint, status_code=status_code, headers=kept, body=bytes(body))

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((value for key, value in self.headers if key == lowered), None)


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(IdempotencyRecord)


def encode_record(record: IdempotencyRecord) -> bytes:
    return _encoder.encode(record)


def decode_record(data: bytes) -> IdempotencyRecord:
    return _decoder.decode(data)


# --- what a claim answers ----------------------------------------------------------------------


class Claimed(msgspec.Struct, frozen=True):
    """The key is ours: run the handler, then :meth:`~IdempotencyStore.complete` or
    :meth:`~IdempotencyStore.release` with this."""

    record: IdempotencyRecord

    @property
    def token(self) -> str:
        return self.record.token


class InFlight(msgspec.Struct, frozen=True):
    """A request with this key and body is still running → 409."""


class Mismatch(msgspec.Struct, frozen=True):
    """The key was used with another request (method, path or body) → 422."""


class Replay(msgspec.Struct, frozen=True):
    """The key's request finished: send ``record``'s response again."""

    record: IdempotencyRecord


Claim: TypeAlias = Claimed | InFlight | Mismatch | Replay


def _judge(existing: IdempotencyRecord, fingerprint: str) -> Claim:
    """What a request that lost the claim answers. Another body wins over "still running": a
    retry of that request can never succeed, so 422 tells the client more than 409 would."""
    if existing.fingerprint != fingerprint:
        return Mismatch()
    if existing.state == "in_flight":
        return InFlight()
    return Replay(existing)


class IdempotencyStoreUnavailable(RuntimeError):
    """The store cannot be reached: the request can be neither claimed nor refused."""


class IdempotencyStore(Protocol):
    async def claim(self, key: str, fingerprint: str, in_flight_ttl: float = IN_FLIGHT_TTL) -> Claim:
        """Atomically: when ``key`` is free, hold it for ``in_flight_ttl`` seconds and answer
        :class:`Claimed`; else judge the existing record (:class:`InFlight`, :class:`Mismatch`,
        :class:`Replay`)."""
        ...

    async def complete(self, key: str, record: IdempotencyRecord, ttl: int = IDEMPOTENCY_TTL) -> None:
        """Store the finished response (``IdempotencyRecord.done(...)``) for ``ttl`` seconds."""
        ...

    async def release(self, key: str, claimed: Claimed) -> None:
        """Delete the in-flight claim if it is still this one (the handler failed: the client may retry)."""
        ...


# --- stage 1: memory -------------------------------------------------------------------------


class MemoryIdempotencyStore:
    """One process's dict with expiry. Atomic because nothing awaits between the check and the set."""

    _SWEEP_EVERY: Final = 1000

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._entries: dict[str, tuple[float, IdempotencyRecord]] = {}
        self._writes = 0

    def __len__(self) -> int:
        return len(self._entries)

    def _live(self, key: str, now: float) -> IdempotencyRecord | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires_at, record = entry
        if expires_at <= now:
            del self._entries[key]
            return None
        return record

    def _put(self, key: str, record: IdempotencyRecord, ttl: float, now: float) -> None:
        self._entries[key] = (now + ttl, record)
        self._writes += 1
        if self._writes % self._SWEEP_EVERY == 0:  # keys nobody asks for again still go away
            for stale in [k for k, (expires_at, _) in self._entries.items() if expires_at <= now]:
                del self._entries[stale]

    async def claim(self, key: str, fingerprint: str, in_flight_ttl: float = IN_FLIGHT_TTL) -> Claim:
        now = self._clock()
        existing = self._live(key, now)
        if existing is not None:
            return _judge(existing, fingerprint)
        record = IdempotencyRecord.in_flight(fingerprint)
        self._put(key, record, in_flight_ttl, now)
        return Claimed(record)

    async def complete(self, key: str, record: IdempotencyRecord, ttl: int = IDEMPOTENCY_TTL) -> None:
        self._put(key, record, ttl, self._clock())

    async def release(self, key: str, claimed: Claimed) -> None:
        existing = self._live(key, self._clock())
        if existing is not None and existing.state == "in_flight" and existing.token == claimed.token:
            del self._entries[key]


# --- stage 2: Redis --------------------------------------------------------------------------

# Delete the key only if it still holds exactly our in-flight record (our claim may have expired
# and been taken by another request meanwhile: that one must keep it).
_RELEASE_SCRIPT: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""
_CLAIM_ATTEMPTS: Final = 3


def _milliseconds(seconds: float) -> int:
    return max(1, round(seconds * 1000))


class RedisIdempotencyStore:
    """Records under ``<prefix>:<key>`` on a bytes client (``decode_responses=False``).

    Claim: ``SET key in-flight NX PX ttl`` (one round trip when the key is free) and a ``GET`` only
    when it is taken. Complete: ``SET key done PX 24h``. Release: compare-and-delete in Lua.
    """

    def __init__(self, client: Redis, prefix: str) -> None:
        self._redis = client
        self._prefix = prefix

    def _key(self, key: str) -> str:
        return f"{self._prefix}:{key}"

    async def claim(self, key: str, fingerprint: str, in_flight_ttl: float = IN_FLIGHT_TTL) -> Claim:
        name = self._key(key)
        record = IdempotencyRecord.in_flight(fingerprint)
        value = encode_record(record)
        try:
            for _ in range(_CLAIM_ATTEMPTS):
                if await self._redis.set(name, value, nx=True, px=_milliseconds(in_flight_ttl)):
                    return Claimed(record)
                existing: bytes | None = await self._redis.get(name)
                if existing is not None:
                    return _judge(decode_record(existing), fingerprint)
                # It expired (or was released) between the SET and the GET: try to claim again.
        except RedisError as exc:
            raise IdempotencyStoreUnavailable(str(exc)) from exc
        return InFlight()  # the key keeps flipping: someone is busy with it, the client may retry

    async def complete(self, key: str, record: IdempotencyRecord, ttl: int = IDEMPOTENCY_TTL) -> None:
        try:
            await self._redis.set(self._key(key), encode_record(record), px=_milliseconds(ttl))
        except RedisError as exc:
            raise IdempotencyStoreUnavailable(str(exc)) from exc

    async def release(self, key: str, claimed: Claimed) -> None:
        try:
            # redis-py's stubs type the arguments as str and the result as "str or awaitable": both too narrow.
            mine: Any = encode_record(claimed.record)
            await self._redis.eval(_RELEASE_SCRIPT, 1, self._key(key), mine)  # type: ignore[misc]
        except RedisError as exc:
            raise IdempotencyStoreUnavailable(str(exc)) from exc
