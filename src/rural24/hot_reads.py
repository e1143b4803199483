"""Hot reads: the repeat of an anonymous GET answered from the cache before Litestar routes it.

A cached search page is stored bytes, yet answering it through Litestar costs routing, seven
middleware layers, parameter parsing and validation, dependency injection, the handler and a
``Response`` turned into an ASGI response: ~90 µs of the ~110 µs a cached search cost in the
profile of issue 11 (docs/performance.md, "Hot reads"). This layer sits around the app's ASGI
handler (outside the router, inside ``before_send``: the request id and the access line are the
app's own) and answers the requests it has seen answered, doing only the work whose outcome can
differ between two identical requests.

How it stays the same answer as the full path:

* **It knows only what a route taught it.** After answering a GET with a public cached entry (the
  search, the ad detail, the category tree and the province list do), a route records a
  :class:`Recipe` under the request's path and raw query string: which cache key that request
  leads to (prefix, generation names, suffix; the parameters were parsed, validated and
  normalised once, by the handler) and the route's own facts (template, route limit, cache
  headers). A query string the route refused (422) is never recorded, so nothing is validated
  here; nor are paths or query strings longer than real ones (:data:`MAX_PATH_BYTES`,
  :data:`MAX_QUERY_BYTES`).
* **Per request it does what the route does, minus what the recipe saves:** it counts the
  per-address limits (the same :class:`~rural24.ratelimit.EdgeLimits`: the global limit, the
  route's, and in Redis mode the generations in the same script), reads the generations, builds
  the key (a write anywhere moved the generation, so the next request misses exactly as the
  route would) and peeks the cache.
* **Anything else goes the full path**, with the limits already counted and handed over in the
  scope (:func:`~rural24.ratelimit.hand_over`: a request is counted once): a refusal (the
  middleware renders the 429), a cache miss (the handler loads and stores), unknown generations
  (Redis down: the route bypasses the cache), a recipe older than :data:`RECIPE_TTL` or whose
  inputs changed (a search recipe depends on the category tree it resolved slugs with).
* **Only requests whose answer cannot depend on who asks:** no ``Authorization`` (a token must
  still be checked: a bad one is a 401), no ``Origin`` (CORS headers are Litestar's, on the full
  path), ``GET`` only; the liveness probe too. ``Accept-Encoding`` and ``If-None-Match`` are
  negotiated as the route does (:func:`rural24.reading.pick`, :func:`~rural24.reading.etag_matches`).
* **An error here is the full path's to meet:** the layer sits outside Litestar's exception
  handling, so anything raised before the answer starts hands the request over (counted once).
* **The same bytes and headers**: a test sends the same requests to an app with and without this
  layer and compares status, body and every header but the request id.

It counts in the request metrics with the route's template, and the cache lookups as the route
would. ``CACHE_HOT_READS=false`` turns it off; it is also off when tracing is on (spans are made by
route middleware).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from litestar import Litestar, Request
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from infrastructure.cache import CachedBody
from rural24.ratelimit import ROUTE_LIMIT, Counted, EdgeLimits, hand_over, scope_client_address
from rural24.reading import PUBLIC_CACHE, PUBLIC_CDN_CACHE, Reads, entry_key, etag_matches, pick
from rural24.request_id import begin
from rural24.request_metrics import RequestMetricsMiddleware

logger = logging.getLogger(__name__)

__all__ = ("MAX_PATH_BYTES", "MAX_QUERY_BYTES", "MAX_RECIPES", "RECIPE_TTL", "HotReads", "Recipe")

RECIPE_TTL: Final = 60.0
"""Seconds a recipe is trusted before the full path must answer its request again (and re-teach it)."""
MAX_RECIPES: Final = 10_000
"""Recipes kept per process, the oldest dropped beyond."""
MAX_QUERY_BYTES: Final = 512
"""Longer query strings are not remembered (real searches are far shorter; unknown parameters are
ignored by the routes, so padding would otherwise make every recipe as big as a URL can be)."""
MAX_PATH_BYTES: Final = 128
"""Longer paths are not remembered either: an ad's id parses from far longer spellings
(``urn:uuid:`` prefixes, braces, any number of hyphens), each a recipe of its own. With both
bounds the recipes hold at most ~6 MB per process."""

_AUTHORIZATION: Final = b"authorization"
_ORIGIN: Final = b"origin"
_ACCEPT_ENCODING: Final = b"accept-encoding"
_IF_NONE_MATCH: Final = b"if-none-match"
_JSON: Final = (b"content-type", b"application/json")
_VARY: Final = (b"vary", b"Accept-Encoding")
_HIT: Final = (b"x-cache", b"hit")
_GZIP: Final = (b"content-encoding", b"gzip")


def _negotiation(scope: Scope) -> tuple[str | None, str | None] | None:
    """``(Accept-Encoding, If-None-Match)`` of a request this layer may answer, or ``None`` when it
    carries a token (checked on the full path: a bad one is a 401) or an ``Origin`` (CORS headers
    are Litestar's, on the full path). The first of a repeated field, as Litestar's
    ``headers.get`` reads it."""
    accept_encoding = if_none_match = None
    for name, value in scope["headers"]:
        if name in (_AUTHORIZATION, _ORIGIN):
            return None
        if name == _ACCEPT_ENCODING and accept_encoding is None:
            accept_encoding = value.decode("latin-1")
        elif name == _IF_NONE_MATCH and if_none_match is None:
            if_none_match = value.decode("latin-1")
    return accept_encoding, if_none_match


@dataclass(frozen=True, slots=True)
class Recipe:
    """How the full path answered one path and query string from the cache."""

    route: str
    """The path template (the metrics' ``path`` label, the access line's ``route``)."""
    prefix: str
    names: tuple[str, ...]
    """The generations in the cache key, in order (:meth:`rural24.reading.Reads.snapshot`)."""
    suffix: str
    route_limit: str | None
    headers: tuple[tuple[bytes, bytes], ...]
    """What a hit sends besides the body's own (type, length, encoding, ETag) and the limits'."""
    still_valid: Callable[[], bool] | None
    """``False`` once an input the recipe was made with has changed (the category tree)."""
    expires: float


class HotReads:
    """One per process (``rural24.services``); :meth:`install` puts it around an app's ASGI handler."""

    def __init__(self, reads: Reads, limits: EdgeLimits, metrics: RequestMetricsMiddleware) -> None:
        self._reads = reads
        self._limits = limits
        self._metrics = metrics
        self._recipes: dict[tuple[str, bytes], Recipe] = {}
        self._fixed: dict[str, bytes] = {}
        self._next: ASGIApp | None = None
        self.answered: dict[str, int] = {}
        """Requests answered here since the process started, by route template (the request
        metrics count them too)."""

    def install(self, app: Litestar) -> None:
        """Answer ``app``'s hot reads from now on: wraps its ASGI handler (the router behind
        Litestar's exception handling and CORS), so ``before_send`` hooks still see every message."""
        self._next = app.asgi_handler
        app.asgi_handler = self

    @property
    def installed(self) -> bool:
        return self._next is not None

    def remember(
        self,
        request: Request[Any, Any, Any],
        prefix: str,
        names: tuple[str, ...],
        suffix: str,
        still_valid: Callable[[], bool] | None = None,
        cache_control: str = PUBLIC_CACHE,
        cdn_cache_control: str = PUBLIC_CDN_CACHE,
    ) -> None:
        """Called by a route that has just answered ``request`` with a public cached entry stored
        under ``prefix:<generations of names>:suffix`` (the same for every caller), sent with
        these ``Cache-Control`` and ``CDN-Cache-Control``."""
        scope = request.scope
        if (
            self._next is None
            or request.method != "GET"
            or len(scope["query_string"]) > MAX_QUERY_BYTES
            or len(scope["path"]) > MAX_PATH_BYTES
        ):
            return
        key = (scope["path"], scope["query_string"])
        now = time.monotonic()
        known = self._recipes.get(key)
        if known is not None and known.expires > now:
            return
        opt = request.route_handler.opt
        self._recipes.pop(key, None)  # re-inserted last: dict order is the eviction order
        self._recipes[key] = Recipe(
            route=scope["path_template"],
            prefix=prefix,
            names=names,
            suffix=suffix,
            route_limit=opt.get(ROUTE_LIMIT),
            headers=(
                _VARY,
                _HIT,
                (b"cache-control", cache_control.encode("latin-1")),
                (b"cdn-cache-control", cdn_cache_control.encode("latin-1")),
            ),
            still_valid=still_valid,
            expires=now + RECIPE_TTL,
        )
        if len(self._recipes) > MAX_RECIPES:
            for old in list(self._recipes)[: MAX_RECIPES // 10]:
                del self._recipes[old]

    def fixed(self, route: str, body: bytes) -> None:
        """Answer ``GET route`` (any query string: the route reads none) with these JSON bytes,
        always: for a route whose answer never changes and costs nothing (the liveness probe)."""
        self._fixed[route] = body

    def __len__(self) -> int:
        return len(self._recipes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self._next is not None
        if scope["type"] != ScopeType.HTTP or scope["method"] != "GET":
            await self._next(scope, receive, send)
            return
        fixed = self._fixed.get(scope["path"])
        if fixed is not None:
            if _negotiation(scope) is None:  # a token or an Origin: the full path (auth, CORS)
                await self._next(scope, receive, send)
            else:
                await self._send_fixed(scope["path"], fixed, scope, send)
            return
        recipe = self._recipes.get((scope["path"], scope["query_string"]))
        if recipe is None or not await self._answer(recipe, scope, send):
            await self._next(scope, receive, send)

    async def _send_fixed(self, route: str, body: bytes, scope: Scope, send: Send) -> None:
        started = time.perf_counter()
        begin(scope)
        scope["path_template"] = route
        headers = [_JSON, (b"content-length", str(len(body)).encode())]
        await self._send(route, 200, headers, body, started, send)

    async def _answer(self, recipe: Recipe, scope: Scope, send: Send) -> bool:
        """``True`` once the response is sent; ``False``: the full path must answer (with what
        was counted handed over in the scope)."""
        if recipe.expires < time.monotonic() or (recipe.still_valid is not None and not recipe.still_valid()):
            self._recipes.pop((scope["path"], scope["query_string"]), None)
            return False
        negotiation = _negotiation(scope)
        if negotiation is None:
            return False
        accept_encoding, if_none_match = negotiation
        started = time.perf_counter()
        begin(scope)  # the request id and the clock, as RequestIdMiddleware (which then does nothing)
        limits = self._limits
        counted: Counted | None = None
        try:
            counted = await limits.count(scope_client_address(scope, limits.hops), recipe.route_limit, recipe.names)
            key, entry = await self._lookup(recipe, counted)
        except Exception:
            # This layer sits outside Litestar's exception handling: whatever went wrong here is
            # the full path's to meet again and answer (a problem+json 500 at worst), counted once.
            logger.warning("hot read of %s failed: the full path answers", recipe.route, exc_info=True)
            key = entry = None
        if entry is None or key is None or counted is None:
            if counted is not None:
                hand_over(scope, counted)
            return False
        self._reads.cache.count(key, hit=True)
        scope["path_template"] = recipe.route  # the access line's route
        body, etag, gzipped = pick(entry, accept_encoding)
        headers = [*recipe.headers]
        status = 200
        if etag_matches(if_none_match, etag):
            status, body = 304, b""
        else:
            headers.append(_JSON)
            headers.append((b"content-length", str(len(body)).encode()))
            if gzipped:
                headers.append(_GZIP)
        headers.append((b"etag", etag.encode("latin-1")))
        headers.extend(limits.allowed_headers(counted.decisions[0]))
        await self._send(recipe.route, status, headers, body, started, send)
        return True

    async def _lookup(self, recipe: Recipe, counted: Counted) -> tuple[str | None, CachedBody | None]:
        """The cache key the recipe leads to now, and its entry (``None``: refused, generations
        unknown, or not cached)."""
        generations: list[int] | None
        if counted.generations is not None:
            generations = [counted.generations[name] for name in recipe.names]
        elif not recipe.names:  # reference data: a fixed key
            generations = []
        else:
            generations = await self._reads.generations.get(*recipe.names)
        if generations is None or not counted.allowed:
            return None, None
        key = entry_key(recipe.prefix, generations, recipe.suffix)
        return key, await self._reads.cache.peek(key, count=False)

    async def _send(
        self, route: str, status: int, headers: list[tuple[bytes, bytes]], body: bytes, started: float, send: Send
    ) -> None:
        gauge = self._metrics.in_progress("GET", route)
        gauge.inc()
        try:
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body, "more_body": False})
        finally:
            gauge.dec()
            self._metrics.record("GET", route, status, time.perf_counter() - started)
        self.answered[route] = self.answered.get(route, 0) + 1
