"""The read path's one helper: query → cache → replica, with freshness as a named value.

Every query route reads through :class:`Reads`:

* **freshness** says which copy of the data a read may use: :data:`ANY_REPLICA`, :data:`PRIMARY`,
  or :meth:`Freshness.after` a WAL position (a replica that has replayed it, else the primary);
* **generations** (bumped by the unit of work after each commit) go into cache keys, so a write
  makes the next read miss; the same generation is the read's freshness, so a lagging replica
  cannot refill the new key with rows from before the write. When the generations cannot be read
  (Redis down), no cache entry is trusted: shared reads load from any replica, a user's own lists
  (:meth:`Reads.for_writer`) from the primary;
* **ETags** of cached bodies are computed once, when the body is built, and travel with it;
* **compression** too: a cached entry (:class:`CachedBody`) holds the bytes sent and their gzip copy,
  made when the entry is stored. :func:`respond` picks one per request from ``Accept-Encoding``
  (always with ``Vary: Accept-Encoding``); the gzip copy's ETag ends in ``-gz`` (two
  representations, two validators), and ``If-None-Match`` is checked against the one sent.
  Nothing else compresses: the app has no compression middleware (it would encode twice).
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any
from uuid import UUID

import msgspec
from litestar import Request, Response
from litestar.enums import MediaType
from litestar.status_codes import HTTP_200_OK, HTTP_304_NOT_MODIFIED

from domain.shared.ports import ReadConnection, Row
from domain.shared.unit_of_work import user_key
from infrastructure.cache import CachedBody, QueryCache
from infrastructure.database.reads import ReadSide
from infrastructure.generations import Generations

PUBLIC_CACHE = "public, s-maxage=300, stale-while-revalidate=600"
PUBLIC_CDN_CACHE = "max-age=600"
"""``CDN-Cache-Control`` (RFC 9213) of the public ad reads, as the original design has it: a CDN in
front keeps a page or an ad 10 minutes, and shared caches that do not read it keep ``s-maxage``."""
PRIVATE = "private, no-store"
NEGOTIATED = "negotiated_encoding"
"""Scope state key: the response varies on ``Accept-Encoding`` (set by :func:`respond`)."""


def make_private(response: Response[Any]) -> None:
    """A response built as public, turned into the caller's own (after a write): no cache keeps it."""
    response.headers["Cache-Control"] = PRIVATE
    response.headers.pop("CDN-Cache-Control", None)


class Freshness(msgspec.Struct, frozen=True):
    """Which copy a read may use. ``after_lsn``: at least that WAL position; ``primary``: only the
    primary (the caller's position is unknown)."""

    after_lsn: int | None = None
    primary: bool = False

    @classmethod
    def after(cls, lsn: int) -> Freshness:
        return cls(after_lsn=lsn) if lsn > 0 else ANY_REPLICA


ANY_REPLICA = Freshness()
PRIMARY = Freshness(primary=True)


class _AtLeast:
    """The read side with a minimum WAL position bound to every call."""

    __slots__ = ("_after_lsn", "_db")

    def __init__(self, db: ReadSide, after_lsn: int) -> None:
        self._db = db
        self._after_lsn = after_lsn

    async def fetch(self, query: str, *args: Any) -> Sequence[Row]:
        return await self._db.fetch(query, *args, after_lsn=self._after_lsn)

    async def fetchrow(self, query: str, *args: Any) -> Row | None:
        return await self._db.fetchrow(query, *args, after_lsn=self._after_lsn)

    async def fetchval(self, query: str, *args: Any) -> Any:
        return await self._db.fetchval(query, *args, after_lsn=self._after_lsn)


class Snapshot(msgspec.Struct, frozen=True):
    """Where one read stands: its cache key (``None``: generations unknown, do not cache) and the
    freshness its load must have."""

    key: str | None
    freshness: Freshness


def entry_key(prefix: str, generations: Sequence[int], suffix: str) -> str:
    """The cache key of data under these generations: ``prefix:<g1>[:<g2>…][:suffix]``."""
    return ":".join((prefix, *map(str, generations), *((suffix,) if suffix else ())))


class Reads:
    """One per process (``rural24.services``): the read side, the query cache and the generations."""

    def __init__(self, db: ReadSide, cache: QueryCache, generations: Generations) -> None:
        self.db = db
        self.cache = cache
        self.generations = generations

    def at(self, freshness: Freshness) -> ReadConnection:
        """The connection for a read of this freshness."""
        if freshness.primary:
            return self.db.on_primary()
        if freshness.after_lsn is None:
            return self.db
        return _AtLeast(self.db, freshness.after_lsn)

    async def for_writer(self, user_id: UUID) -> Freshness:
        """Fresh for this user's own writes (read-your-writes across requests and instances)."""
        positions = await self.generations.get(user_key(user_id))
        return PRIMARY if positions is None else Freshness.after(positions[0])

    async def snapshot(
        self,
        prefix: str,
        *names: str,
        suffix: str = "",
        writer: UUID | None = None,
        known: Mapping[str, int] | None = None,
    ) -> Snapshot:
        """The cache key ``prefix:<generations>[:suffix]`` of data that depends on ``names``, and
        the freshness a load for that key must have: the newest of those generations and, when
        ``writer`` is given, of that user's own writes (which stay out of the key: the entry is
        shared). One store round trip, or none when ``known`` holds every generation wanted (read
        at the start of the request with its rate limits, ``rural24.ratelimit.READS_GENERATIONS``)."""
        wanted = (*names, user_key(writer)) if writer is not None else names
        generations: list[int] | None
        if known is not None and all(name in known for name in wanted):
            generations = [known[name] for name in wanted]
        else:
            generations = await self.generations.get(*wanted)
        if generations is None:  # unknown: no cache entry can be trusted (the old code's choice: any replica)
            return Snapshot(None, ANY_REPLICA)
        return Snapshot(entry_key(prefix, generations[: len(names)], suffix), Freshness.after(max(generations)))

    async def peek(self, snapshot: Snapshot) -> CachedBody | None:
        return None if snapshot.key is None else await self.cache.peek(snapshot.key)

    async def put(self, snapshot: Snapshot, entry: CachedBody, ttl: int) -> None:
        if snapshot.key is not None:
            await self.cache.put(snapshot.key, entry, ttl)

    async def cached(
        self, snapshot: Snapshot, ttl: int, load: Callable[[ReadConnection], Awaitable[CachedBody]]
    ) -> tuple[CachedBody, bool]:
        """``(entry, hit)``: from the cache, else loaded at the snapshot's freshness and stored."""
        if snapshot.key is None:
            return await load(self.at(snapshot.freshness)), False
        return await self.cache.get_or_load(snapshot.key, ttl, lambda: load(self.at(snapshot.freshness)))


# -- ETags and conditional responses ------------------------------------------------------------


def content_etag(body: bytes) -> str:
    """A strong ETag of a body, computed once when the body is built (and cached with it)."""
    return f'"s{hashlib.blake2b(body, digest_size=12).hexdigest()}"'


def revision_etag(revision: int) -> str:
    """The ETag of a versioned row: its ``revision``. ``If-Match`` is checked against it."""
    return f'"r{revision}"'


MAX_REVISION_DIGITS = 18
"""Revisions are ``bigint``; a longer tag was not ours (and ``int()`` of thousands of digits is
refused by Python's int-string limit)."""


def if_match_revision(request: Request[Any, Any, Any]) -> int | None:
    """The revision an ``If-Match`` names (``None``: no precondition); an unparseable or absurd
    one can never match (412)."""
    header = request.headers.get("if-match")
    if header is None or header.strip() == "*":
        return None
    tag = header.split(",", 1)[0].strip().removeprefix("W/").strip('"').removesuffix(GZIP_TAG_SUFFIX)
    digits = tag[1:]
    if tag.startswith("r") and 0 < len(digits) <= MAX_REVISION_DIGITS and digits.isascii() and digits.isdigit():
        return int(digits)
    return -1


def not_modified(request: Request[Any, Any, Any], etag: str) -> bool:
    return etag_matches(request.headers.get("if-none-match"), etag)


def etag_matches(header: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` value names ``etag`` (weakly compared, or ``*``)."""
    if not header:
        return False
    return header.strip() == "*" or etag in {tag.strip().removeprefix("W/") for tag in header.split(",")}


GZIP_TAG_SUFFIX = "-gz"
"""Ends the (quoted) ETag of a gzip-encoded body: ``"r7"`` → ``"r7-gz"``. ``If-Match`` takes both."""


@lru_cache(maxsize=256)
def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an ``Accept-Encoding`` value lets us send gzip (RFC 9110 §12.5.3): ``gzip`` (or
    ``x-gzip``, or else ``*``) with a q-value above 0, and not below identity's when identity is
    named. A malformed q-value counts as 0. Cached per value: clients send a handful of them."""
    weights: dict[str, float] = {}
    for item in accept_encoding.lower().split(","):
        coding, *params = (part.strip() for part in item.split(";"))
        if not coding:
            continue
        weight = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    weight = float(value.strip())
                except ValueError:
                    weight = 0.0
                if not 0.0 <= weight <= 1.0:  # also nan
                    weight = 0.0
        weights[coding] = max(weight, weights.get(coding, 0.0))
    gzip_weight = weights.get("gzip", weights.get("x-gzip", weights.get("*", 0.0)))
    return gzip_weight > 0.0 and gzip_weight >= weights.get("identity", 0.0)


def wants_gzip(request: Request[Any, Any, Any]) -> bool:
    """A GET that accepts gzip: only safe reads negotiate (a write's answer, stored for replays by
    ``Idempotency-Key``, stays identity)."""
    header = request.headers.get("accept-encoding")
    return header is not None and request.method == "GET" and accepts_gzip(header)


def pick(entry: CachedBody, accept_encoding: str | None) -> tuple[bytes, str, bool]:
    """The copy of an entry a GET with this ``Accept-Encoding`` gets: ``(body, etag, gzipped)``."""
    if entry.gzipped is not None and accept_encoding is not None and accepts_gzip(accept_encoding):
        return entry.gzipped, entry.etag[:-1] + GZIP_TAG_SUFFIX + '"', True
    return entry.body, entry.etag, False


def answer(request: Request[Any, Any, Any], body: bytes, etag: str) -> CachedBody:
    """A body that is not stored (a search page's ``cached: false`` copy), gzipped only when this
    request would use the gzip copy."""
    return CachedBody.build(body, etag) if wants_gzip(request) else CachedBody(body, etag)


def respond(
    request: Request[Any, Any, Any],
    entry: CachedBody,
    cache_control: str | None,
    status_code: int = HTTP_200_OK,
    extra_headers: dict[str, str] | None = None,
) -> Response[bytes]:
    """An encoded JSON body with its ETag, as the caller accepts it: the entry's gzip copy
    (``Content-Encoding: gzip``, ETag ``…-gz``) on a 200 to a GET that accepts gzip, else the
    identity bytes; 304 (no body) when ``If-None-Match`` names the chosen one's ETag.
    ``cache_control=None`` leaves the route's own ``cache_control`` in force."""
    headers = {"Vary": "Accept-Encoding", **(extra_headers or {})}
    request.scope["state"][NEGOTIATED] = True  # kept through CORS (rural24.plugin.keep_vary)
    if cache_control is not None:
        headers["Cache-Control"] = cache_control
        if cache_control == PUBLIC_CACHE:
            headers["CDN-Cache-Control"] = PUBLIC_CDN_CACHE
    body, etag = entry.body, entry.etag
    if status_code == HTTP_200_OK and request.method == "GET":
        body, etag, gzipped = pick(entry, request.headers.get("accept-encoding"))
        if gzipped:
            headers["Content-Encoding"] = "gzip"
    headers["ETag"] = etag
    if status_code == HTTP_200_OK and not_modified(request, etag):
        headers.pop("Content-Encoding", None)  # a 304 has no body to encode
        return Response(b"", status_code=HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(body, status_code=status_code, media_type=MediaType.JSON, headers=headers)
