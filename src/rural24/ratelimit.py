"""Rate limits on the HTTP edge (API.md: Conventions, rows "429" and "client address").

This module is the HTTP side (middleware, route limits, 429 answers); the counting itself, the
window and the fail-open policy are ``infrastructure/ratelimit.py`` (memory or Redis, chosen in
``rural24.services``). Two layers, one limiter:

* **The global per-address limit** ``RATE_LIMIT_API`` on every HTTP route except health,
  metrics, the schema and ``OPTIONS``: :class:`ApiRateLimitMiddleware`. It keeps Litestar's
  :class:`~litestar.middleware.rate_limit.RateLimitConfig` as its configuration surface
  (``exclude``, ``exclude_opt_key``, ``set_rate_limit_headers``, the header names) through
  ``RateLimitConfig.middleware_class``, but replaces the stock middleware's behaviour: that one
  reads and then writes a history in a store under a per-process lock (not atomic across
  processes, and every request waits on the lock) and keys on the raw peer address. Ours does
  one atomic hit on the limiter, without building a ``Request``, and keys on
  :func:`~infrastructure.ratelimit.client_address` (``TRUSTED_PROXY_HOPS``). The config's
  ``identifier_for_request``, ``check_throttle_handler``, ``store`` and ``rate_limit`` are not
  used (``rate_limit`` is filled in for the record).
* **Route limits per address** declared in a route's ``opt`` (``opt={ROUTE_LIMIT: "search"}``):
  counted by the same middleware, together with the global one in one step (one Redis round
  trip, :meth:`~infrastructure.ratelimit.RateLimiter.hit_all`), the global limit first; a request
  the global limit refuses does not count against the route's. ``search`` is one.
* **Route limits that need the request's content**, called by handlers through :class:`Limits`
  (the ``limits`` dependency): ``login`` (per address, then per normalised email), ``messages``
  (per user id), the account emails and the emailed tokens.

Refusals are 429 ``application/problem+json`` (``status``, ``title``, ``detail``, ``resetAt`` in
epoch seconds) with ``Retry-After`` and the ``RateLimit-*`` headers, and count in
``rural24_rate_limit_rejections_total{limit=name}``. Headers follow the IETF RateLimit header
fields draft (draft-ietf-httpapi-ratelimit-headers, the separate-fields revisions):
``RateLimit-Limit`` (requests per window), ``RateLimit-Remaining``, ``RateLimit-Reset`` (seconds
until the window resets, not a timestamp) and ``RateLimit-Policy`` (``N;w=seconds``). Allowed
responses carry the API limit's headers; a route limit's 429 carries that limit's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import ImproperlyConfiguredException, TooManyRequestsException
from litestar.middleware.rate_limit import RateLimitConfig, RateLimitMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from domain.accounts.rules import normalise_email
from infrastructure.generations import Generations, RedisGenerations
from infrastructure.metrics import RATE_LIMIT_REJECTIONS
from infrastructure.ratelimit import Hit, RateDecision, RateLimiter, client_address
from infrastructure.settings import RateLimit, Settings

__all__ = (
    "API_LIMIT_EXCLUDE",
    "READS_GENERATIONS",
    "ROUTE_LIMIT",
    "SKIP_RATE_LIMIT",
    "ApiRateLimitConfig",
    "ApiRateLimitMiddleware",
    "Counted",
    "EdgeLimits",
    "Limits",
    "RateLimitExceeded",
    "api_rate_limit_config",
    "enforce",
    "hand_over",
    "prefetched_generations",
    "rate_limit_headers",
    "request_client_address",
    "scope_client_address",
)


API_LIMIT_EXCLUDE = ["^/api/health", "^/metrics", "^/api/metrics", "^/schema"]
"""Paths the global limit skips: probes, scrapers and the docs must never be refused."""
SKIP_RATE_LIMIT = "skip_rate_limit"
"""Route ``opt`` key: ``opt={SKIP_RATE_LIMIT: True}`` exempts a route from the global limit."""
READS_GENERATIONS = "reads_generations"
"""Route ``opt`` key: ``opt={READS_GENERATIONS: ("search",)}`` (or a function of the scope, for
names taken from the path): the cache generations the route's handler reads first. In Redis mode
the middleware reads them in the same script as the limits (one round trip for both) and leaves
them in the scope's state for the handler (:func:`prefetched_generations`); in memory mode, or
when Redis fails, the handler reads them."""
_PREFETCHED = "prefetched_generations"
_COUNTED = "counted_limits"
ROUTE_LIMIT = "route_limit"
"""Route ``opt`` key: ``opt={ROUTE_LIMIT: "search"}`` also counts the request against that
per-address limit (``RATE_LIMIT_SEARCH``), with the global one (a route it applies to must not
be exempt from the global limit)."""

_WHAT: dict[str, str] = {
    "api": "requests from this address",
    "search": "searches from this address",
    "login": "login attempts",
    "account-emails": "account emails asked for",
    "tokens": "attempts with emailed links",
    "messages": "messages",
}


def rate_limit_headers(decision: RateDecision, window_seconds: int | None = None) -> dict[str, str]:
    """The ``RateLimit-*`` headers of a decision, plus ``Retry-After`` when it refused."""
    headers = {
        "RateLimit-Limit": str(decision.limit),
        "RateLimit-Remaining": str(decision.remaining),
        "RateLimit-Reset": str(decision.reset_in),
    }
    if window_seconds is not None:
        headers["RateLimit-Policy"] = f"{decision.limit};w={window_seconds}"
    if not decision.allowed:
        headers["Retry-After"] = str(decision.retry_after)
    return headers


class RateLimitExceeded(TooManyRequestsException):
    """A refused hit: rendered by ``rural24.errors`` as the 429 problem+json of API.md."""

    def __init__(self, name: str, limit: RateLimit, decision: RateDecision) -> None:
        what = _WHAT.get(name, "requests")
        super().__init__(
            detail=f"Too many {what}: at most {limit}. Retry in {decision.retry_after} s.",
            headers=rate_limit_headers(decision, limit.seconds),
            extra={"resetAt": decision.reset_at},
        )
        self.limit_name = name
        self.decision = decision


async def enforce(limiter: RateLimiter, name: str, key: str, limit: RateLimit) -> RateDecision:
    """Count one request of ``key`` against ``name``; raise :class:`RateLimitExceeded` when over."""
    decision = await limiter.hit(name, key, limit)
    if not decision.allowed:
        RATE_LIMIT_REJECTIONS.labels(name).inc()
        raise RateLimitExceeded(name, limit, decision)
    return decision


def _forwarded_for(scope: Scope) -> str | None:
    # Every X-Forwarded-For field, in order: a proxy may add a field instead of extending one,
    # and the client's own field must then stay on the left.
    values = [value.decode("latin-1") for name, value in scope["headers"] if name.lower() == b"x-forwarded-for"]
    return ",".join(values) if values else None


def scope_client_address(scope: Scope, trusted_hops: int) -> str:
    """:func:`client_address` of an ASGI scope (reads the headers only when proxies are trusted)."""
    peer = scope.get("client")
    host = peer[0] if peer else None
    return client_address(host, _forwarded_for(scope) if trusted_hops > 0 else None, trusted_hops)


def request_client_address(connection: ASGIConnection[Any, Any, Any, Any], trusted_hops: int) -> str:
    return scope_client_address(connection.scope, trusted_hops)


class Limits:
    """The route limits handlers call (one per process, ``rural24.services``)."""

    def __init__(self, limiter: RateLimiter, settings: Settings) -> None:
        self.limiter = limiter
        self._limits = settings.rate_limits
        self._hops = settings.app.trusted_proxy_hops

    async def login(self, connection: ASGIConnection[Any, Any, Any, Any], email: str) -> RateDecision:
        """``RATE_LIMIT_LOGIN`` per client address, then per normalised email.

        The address is checked first: an address already refused does not use up the email's
        budget (one client cannot lock an account out alone). The email is hashed in the key (no
        addresses of people in the Redis keyspace).
        """
        address = request_client_address(connection, self._hops)
        await enforce(self.limiter, "login", f"ip:{address}", self._limits.login)
        digest = hashlib.blake2b(normalise_email(email).encode(), digest_size=16).hexdigest()
        return await enforce(self.limiter, "login", f"email:{digest}", self._limits.login)

    async def account_email(self, connection: ASGIConnection[Any, Any, Any, Any], email: str) -> RateDecision:
        """Password-reset and verification emails: ``RATE_LIMIT_ACCOUNT_EMAIL_IP`` per client address,
        then ``RATE_LIMIT_ACCOUNT_EMAIL`` per normalised email (hashed in the key), counted alike
        whether the address has an account or not."""
        address = request_client_address(connection, self._hops)
        await enforce(self.limiter, "account-emails", f"ip:{address}", self._limits.account_email_ip)
        digest = hashlib.blake2b(normalise_email(email).encode(), digest_size=16).hexdigest()
        return await enforce(self.limiter, "account-emails", f"email:{digest}", self._limits.account_email)

    async def token_use(self, connection: ASGIConnection[Any, Any, Any, Any]) -> RateDecision:
        """Posting an emailed token back: ``RATE_LIMIT_LOGIN`` per client address (tokens cannot be
        guessed, but nobody needs to try many)."""
        address = request_client_address(connection, self._hops)
        return await enforce(self.limiter, "tokens", address, self._limits.login)

    async def messages(self, user_id: str) -> RateDecision:
        """``RATE_LIMIT_MESSAGES`` per sending user."""
        return await enforce(self.limiter, "messages", str(user_id), self._limits.messages)


@dataclass
class ApiRateLimitConfig(RateLimitConfig):
    """Litestar's config plus what our middleware needs; build it with :func:`api_rate_limit_config`."""

    limiter: RateLimiter | None = None
    limit: RateLimit | None = None
    name: str = "api"
    trusted_proxy_hops: int = 0
    route_limits: dict[str, RateLimit] = field(default_factory=dict)
    """The per-address limits a route may name in its ``opt`` (:data:`ROUTE_LIMIT`)."""
    generations: RedisGenerations | None = None
    """Redis mode: where a route's :data:`READS_GENERATIONS` are read with the limits."""


def api_rate_limit_config(
    limiter: RateLimiter,
    limit: RateLimit,
    trusted_proxy_hops: int,
    route_limits: dict[str, RateLimit] | None = None,
    generations: Generations | None = None,
) -> ApiRateLimitConfig:
    return ApiRateLimitConfig(
        rate_limit=(limit.unit, limit.requests),
        exclude=API_LIMIT_EXCLUDE,
        exclude_opt_key=SKIP_RATE_LIMIT,
        middleware_class=ApiRateLimitMiddleware,
        limiter=limiter,
        limit=limit,
        trusted_proxy_hops=trusted_proxy_hops,
        route_limits=dict(route_limits or {}),
        generations=generations if isinstance(generations, RedisGenerations) else None,
    )


class EdgeLimits:
    """The per-address limits counted when a request arrives: the global one and the route's
    (:data:`ROUTE_LIMIT`), with the route's :data:`READS_GENERATIONS` read in the same step in
    Redis mode. Used by :class:`ApiRateLimitMiddleware` and by the hot reads
    (``rural24.hot_reads``), which count before Litestar routes the request and hand what they
    counted to the middleware when they cannot answer (:func:`hand_over`): counted once either way."""

    def __init__(self, config: ApiRateLimitConfig) -> None:
        if config.limiter is None or config.limit is None:
            msg = "the edge limits need an ApiRateLimitConfig with a limiter and a limit"
            raise ImproperlyConfiguredException(msg)
        self.limiter = config.limiter
        self.limit = config.limit
        self.name = config.name
        self.hops = config.trusted_proxy_hops
        self._rejections = RATE_LIMIT_REJECTIONS.labels(config.name)
        self._route_limits = {
            name: (limit, RATE_LIMIT_REJECTIONS.labels(name)) for name, limit in config.route_limits.items()
        }
        self._generations = config.generations
        self.limit_header, self._remaining_header, self._reset_header, self._fixed_headers = _header_names(config)

    def allowed_headers(self, decision: RateDecision) -> list[tuple[bytes, bytes]]:
        """The ``RateLimit-*`` headers of an allowed response (per request only "remaining" and
        "reset" are formatted)."""
        return [
            *self._fixed_headers,
            (self._remaining_header, str(decision.remaining).encode()),
            (self._reset_header, str(decision.reset_in).encode()),
        ]

    async def count(self, address: str, route_limit: str | None, names: Sequence[str] | None) -> Counted:
        """Count one request of ``address``; nothing is raised here (:meth:`verdict` does)."""
        if route_limit is None and not names:
            return Counted([await self.limiter.hit(self.name, address, self.limit)], None, None)
        hits: list[Hit] = [(self.name, address, self.limit)]
        if route_limit is not None:
            hits.append((route_limit, address, self._route_limits[route_limit][0]))
        if names and self._generations is not None:
            decisions, raw = await self.limiter.hit_all_and_read(hits, self._generations.keys(*names))
            values = None if raw is None else self._generations.values(raw)
            generations = None if values is None else dict(zip(names, values, strict=True))
            return Counted(decisions, route_limit, generations)
        return Counted(await self.limiter.hit_all(hits), route_limit, None)

    def verdict(self, counted: Counted) -> RateDecision:
        """The decision whose headers an allowed response carries; raises
        :class:`RateLimitExceeded` (and counts the rejection) when a limit refused."""
        decision = counted.decisions[0]
        if not decision.allowed:
            self._rejections.inc()
            raise RateLimitExceeded(self.name, self.limit, decision)
        last = counted.decisions[-1]
        if counted.route_limit is not None and not last.allowed:
            limit, rejections = self._route_limits[counted.route_limit]
            rejections.inc()
            raise RateLimitExceeded(counted.route_limit, limit, last)
        return decision


@dataclass(frozen=True, slots=True)
class Counted:
    """What :meth:`EdgeLimits.count` counted: the decisions in order (global first, a refusal
    last), the route limit's name, and the generations read with them (Redis mode) or ``None``."""

    decisions: list[RateDecision]
    route_limit: str | None
    generations: dict[str, int] | None

    @property
    def allowed(self) -> bool:
        return self.decisions[-1].allowed


def hand_over(scope: Scope, counted: Counted) -> None:
    """Leave what was counted for the request to :class:`ApiRateLimitMiddleware` (which then
    counts nothing) and the generations read with it to the handler."""
    state = scope.setdefault("state", {})
    state[_COUNTED] = counted
    if counted.generations is not None:
        state[_PREFETCHED] = counted.generations


class ApiRateLimitMiddleware(RateLimitMiddleware):
    """The global limit: one atomic hit per request on the shared limiter (no lock, no ``Request``).

    Path exclusion and ``exclude_opt_key`` are applied by Litestar's ``AbstractMiddleware``
    before ``__call__``; ``OPTIONS`` (CORS preflight) is skipped here.
    """

    def __init__(self, app: ASGIApp, config: RateLimitConfig) -> None:
        super().__init__(app, config)
        if not isinstance(config, ApiRateLimitConfig):
            msg = "ApiRateLimitMiddleware needs an ApiRateLimitConfig with a limiter and a limit"
            raise ImproperlyConfiguredException(msg)
        self._limits = EdgeLimits(config)
        self._set_headers = config.set_rate_limit_headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("method") == "OPTIONS":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        counted: Counted | None = state.pop(_COUNTED, None)  # counted by the hot reads, which passed
        if counted is None:
            opt = scope["route_handler"].opt
            names = opt.get(READS_GENERATIONS)
            if callable(names):
                names = names(scope)
            counted = await self._limits.count(
                scope_client_address(scope, self._limits.hops), opt.get(ROUTE_LIMIT), names
            )
            if counted.generations is not None:
                state[_PREFETCHED] = counted.generations
        decision = self._limits.verdict(counted)
        if self._set_headers:
            send = self._send_with_headers(send, decision)
        await self.app(scope, receive, send)

    def _send_with_headers(self, send: Send, decision: RateDecision) -> Send:
        limit_header = self._limits.limit_header
        extra = self._limits.allowed_headers(decision)

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers")
                if not isinstance(headers, list):
                    headers = message["headers"] = list(headers or ())
                # a route limit's 429 already carries that limit's headers: keep them
                if not any(name.lower() == limit_header for name, _ in headers):
                    headers.extend(extra)
            await send(message)

        return send_wrapper


def _header_names(config: ApiRateLimitConfig) -> tuple[bytes, bytes, bytes, tuple[tuple[bytes, bytes], ...]]:
    """The ``RateLimit-*`` header names, encoded once, and the two fixed headers of an allowed response."""
    assert config.limit is not None

    def name(key: str) -> bytes:
        return key.lower().encode("latin-1")

    limit_header = name(config.rate_limit_limit_header_key)
    fixed = (
        (limit_header, str(config.limit.requests).encode()),
        (name(config.rate_limit_policy_header_key), f"{config.limit.requests};w={config.limit.seconds}".encode()),
    )
    return limit_header, name(config.rate_limit_remaining_header_key), name(config.rate_limit_reset_header_key), fixed


def prefetched_generations(connection: ASGIConnection[Any, Any, Any, Any]) -> dict[str, int] | None:
    """The route's :data:`READS_GENERATIONS` as the rate-limit middleware read them at the start of
    the request (Redis mode), or ``None``: the handler reads them itself."""
    found: dict[str, int] | None = connection.scope.get("state", {}).get(_PREFETCHED)
    return found
