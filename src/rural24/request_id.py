"""``X-Request-ID`` and the access line: the id is taken from the request when it is a short,
safe token, else generated; echoed on every response, bound into the log context of everything
the request logs (and carried into the jobs it queues, ``infrastructure.jobs``); and every
response is one access line with that id.

Three small pieces, because Litestar's app middleware runs only for requests that matched a
route and an exception raised inside it (the rate limiter's 429, the authentication's 503) is
answered outside it: :class:`RequestIdMiddleware` (pure ASGI, outermost of the app middleware)
binds the id and starts the clock before anything else runs; :func:`echo_request_id` and
:class:`AccessLog`, called by a ``before_send`` hook on the app's outermost ``send``, write the
header and the line for every response, 404s of unknown paths included.
"""

from __future__ import annotations

import logging
import os
import re
import time
from typing import Any, Final

import structlog
from litestar.types import ASGIApp, HTTPResponseStartEvent, Receive, Scope, Send

from rural24.logs import DirectLines
from rural24.ratelimit import scope_client_address

HEADER: Final = "X-Request-ID"
_HEADER_KEY: Final = HEADER.lower().encode("latin-1")
_STATE_KEY: Final = "request_id"
_STARTED_KEY: Final = "request_started"
_SAFE: Final = re.compile(rb"[A-Za-z0-9._:-]{1,128}")

access_logger = logging.getLogger("rural24.access")
_direct = DirectLines(access_logger)

QUIET_ROUTES: Final = frozenset({"/api/health", "/api/health/ready", "/metrics", "/api/metrics"})
"""Probes and scrapers, every few seconds: their lines are DEBUG, not INFO."""


def _from_headers(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == _HEADER_KEY:
            return value.decode("ascii") if _SAFE.fullmatch(value) else None
    return None


def request_id(scope: Scope) -> str:
    """The request's id, resolved once per request and kept in its state."""
    state: dict[str, Any] = scope.setdefault("state", {})
    value = state.get(_STATE_KEY)
    if not isinstance(value, str):
        # 96 random bits: unique enough across instances, and a fifth of uuid4()'s cost
        value = state[_STATE_KEY] = _from_headers(scope) or os.urandom(12).hex()
    return value


class RequestIdMiddleware:
    """Binds ``request_id`` into structlog's context variables for the whole request and notes
    when the request started (the access line's ``duration_ms``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and _STARTED_KEY not in scope.setdefault("state", {}):
            begin(scope)
        await self.app(scope, receive, send)


def begin(scope: Scope) -> None:
    """Notes when the request started and binds its id (also called by ``rural24.hot_reads``,
    which answers before this middleware would run; the middleware then does nothing again)."""
    scope.setdefault("state", {})[_STARTED_KEY] = time.perf_counter()
    # Not reset afterwards: the exception handlers that answer outside this middleware still log
    # with it; each request runs in a task (and context) of its own.
    structlog.contextvars.bind_contextvars(request_id=request_id(scope))


def echo_request_id(message: HTTPResponseStartEvent, scope: Scope) -> None:
    """The id on an ``http.response.start`` message (called by the app's one ``before_send`` hook)."""
    headers = message.get("headers")
    if not isinstance(headers, list):
        headers = message["headers"] = list(headers or ())
    if not any(name.lower() == _HEADER_KEY for name, _ in headers):
        headers.append((_HEADER_KEY, request_id(scope).encode("latin-1")))


class AccessLog:
    """One INFO line a response, written as it starts (called by the app's one ``before_send``
    hook): ``GET /api/ads 200`` with the fields ``method``, ``path`` (never the query string: it
    may carry a token), ``route`` (the template, ``/api/ads/{ad_id:uuid}``; ``null`` when no
    route matched), ``status``, ``duration_ms`` (until the response started), ``client`` (the
    address the rate limiter sees, ``TRUSTED_PROXY_HOPS``) and ``request_id``.
    ``LOG_LEVEL=warning`` drops them; probes and scrapes (:data:`QUIET_ROUTES`) are DEBUG."""

    def __init__(self, trusted_proxy_hops: int) -> None:
        self._hops = trusted_proxy_hops

    def __call__(self, message: HTTPResponseStartEvent, scope: Scope) -> None:
        route = scope.get("path_template")
        level = logging.DEBUG if route in QUIET_ROUTES else logging.INFO
        if not access_logger.isEnabledFor(level):
            return
        started = scope.get("state", {}).get(_STARTED_KEY)
        duration = None if started is None else round((time.perf_counter() - started) * 1000, 3)
        method, path, status = scope.get("method"), scope.get("path"), message["status"]
        line = f"{method} {path} {status}"
        fields = {
            "method": method,
            "path": path,
            "route": route,
            "status": status,
            # None only when no route matched: answered at once, before any middleware ran
            "duration_ms": duration,
            "client": scope_client_address(scope, self._hops),
            "request_id": request_id(scope),
        }
        if not _direct.emit(level, line, fields):  # the same line, without the record machinery
            access_logger.log(level, line, extra=fields)
