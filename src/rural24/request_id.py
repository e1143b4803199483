"""``X-Request-ID``: taken from the request when it is a short, safe token, else generated; echoed
on every response and bound into the log context of everything the request logs.

Two small pieces, because Litestar's app middleware runs only for requests that matched a
route and an exception raised inside it (the rate limiter's 429, the authentication's 503) is
answered outside it: :class:`RequestIdMiddleware` (pure ASGI, outermost of the app middleware)
binds the id before anything else runs, and :func:`echo_request_id`, called by a ``before_send`` hook on
the app's outermost ``send``, writes the header on every response, 404s of unknown paths
included.
"""

from __future__ import annotations

import os
import re
from typing import Any, Final

import structlog
from litestar.types import ASGIApp, HTTPResponseStartEvent, Receive, Scope, Send

HEADER: Final = "X-Request-ID"
_HEADER_KEY: Final = HEADER.lower().encode("latin-1")
_STATE_KEY: Final = "request_id"
_SAFE: Final = re.compile(rb"[A-Za-z0-9._:-]{1,128}")


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
    """Binds ``request_id`` into structlog's context variables for the whole request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            # Not reset afterwards: the exception handlers that answer outside this middleware
            # still log with it; each request runs in a task (and context) of its own.
            structlog.contextvars.bind_contextvars(request_id=request_id(scope))
        await self.app(scope, receive, send)


def echo_request_id(message: HTTPResponseStartEvent, scope: Scope) -> None:
    """The id on an ``http.response.start`` message (called by the app's one ``before_send`` hook)."""
    headers = message.get("headers")
    if not isinstance(headers, list):
        headers = message["headers"] = list(headers or ())
    if not any(name.lower() == _HEADER_KEY for name, _ in headers):
        headers.append((_HEADER_KEY, request_id(scope).encode("latin-1")))
