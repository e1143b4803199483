"""``WS /api/ws/notifications``: push events to a logged-in user, from whichever instance.

Protocol (text frames, JSON):

* **Authentication**, with the same tokens as the HTTP API, taken from the first of:
  ``Authorization: Bearer <token>`` (non-browser clients); the ``Sec-WebSocket-Protocol`` header
  offering ``bearer, <token>`` (browsers: ``new WebSocket(url, ["bearer", token])``; the server
  selects ``bearer`` and never echoes the token); or the ``token`` query parameter
  (``/api/ws/notifications?token=…``: simplest, but URLs end up in proxy logs — prefer the
  subprotocol).
* **A bad token** (missing, malformed, expired, revoked, of a blocked user): the server accepts
  the socket and closes it at once with code **4401** (reason says why). Closing *after* the
  accept lets a browser tell "log in again" (4401) from a network failure (1006) and not
  reconnect in a loop with a dead token. No event is ever sent on such a socket.
* **Then** the server sends ``{"type": "ready"}`` once the socket is subscribed, and every event
  published to the user afterwards, e.g. ``{"type": "message.new", "messageId", "conversationId",
  "from": {"id", "name"}, "preview"}`` (``preview`` ≤ 50 characters).
* **Session end:** when the token is logged out, the user logs out of all devices or is blocked,
  the socket is closed with **4401** within moments (every socket of the user re-checks its own
  token when any of the user's sessions ends). It is also closed with 4401 when the token expires.
* The client may send ``ping``; the server answers ``{"type": "pong"}``. Anything else the
  client sends is ignored.
* **1011**: the server could not subscribe (pub/sub down) or check the session; reconnect with
  a backoff. Events are hints, delivered at most once: after a reconnect, re-read the API.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from typing import Any

from litestar import WebSocket, websocket
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException
from prometheus_client import Gauge

from infrastructure.sessions import SessionStoreUnavailable
from rural24.auth import PUBLIC, Authenticator, CurrentUser
from rural24.messaging.http import MessagingPorts
from rural24.notifications import PONG, READY, SESSION_ENDED

logger = logging.getLogger("rural24.notifications")

UNAUTHORIZED = 4401
TRY_AGAIN = 1011
BEARER = "bearer"

OPEN_SOCKETS = Gauge("rural24_notification_sockets", "Open notification WebSockets in this process.")


class SocketAuth:
    """The token a socket came with, resolved: who, and what the session registry needs later."""

    __slots__ = ("issued_at_ms", "user")

    def __init__(self, user: CurrentUser, issued_at_ms: int) -> None:
        self.user = user
        self.issued_at_ms = issued_at_ms


def _offered_subprotocols(socket: WebSocket[Any, Any, Any]) -> list[str]:
    offered = socket.scope.get("subprotocols") or []
    return [str(value).strip() for value in offered if str(value).strip()]


def socket_token(socket: WebSocket[Any, Any, Any]) -> str | None:
    """The token, from the ``Authorization`` header, the ``bearer`` subprotocol, or ``?token=``."""
    header = socket.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        return value.strip() if scheme.lower() == BEARER and value.strip() else None
    offered = _offered_subprotocols(socket)
    if BEARER in offered:
        others = [value for value in offered if value != BEARER]
        return others[0] if others else None
    return socket.query_params.get("token") or None


async def authenticate_socket(socket: WebSocket[Any, Any, Any], authenticator: Authenticator) -> SocketAuth | None:
    """What the HTTP middleware does for a request, for a socket: signature, claims, expiry, and
    the session registry. ``None`` for any bad token; ``SessionStoreUnavailable`` propagates."""
    encoded = socket_token(socket)
    if not encoded:
        return None
    jwt = authenticator.jwt
    try:
        token = jwt.token_cls.decode(
            encoded_token=encoded,
            secret=jwt.token_secret,
            algorithm=jwt.algorithm,
            require_claims=jwt.require_claims,
        )
    except NotAuthorizedException:
        return None
    resolved = jwt.retrieve_user_handler(token, socket)  # Authenticator._current_user: the registry's verdict
    user = await resolved if inspect.isawaitable(resolved) else resolved
    issued_at_ms = token.extras.get("iat_ms")
    if not isinstance(user, CurrentUser) or not isinstance(issued_at_ms, int):
        return None
    return SocketAuth(user, issued_at_ms)


async def _close(socket: WebSocket[Any, Any, Any], code: int, reason: str) -> None:
    if socket.connection_state == "disconnect":
        return
    try:
        await socket.close(code=code, reason=reason)
    except Exception as exc:  # already gone
        logger.debug("closing a notification socket failed: %s", exc)


async def _read_client(socket: WebSocket[Any, Any, Any]) -> None:
    """Returns when the client disconnects; answers ``ping``."""
    while True:
        message = await socket.receive()
        if message["type"] == "websocket.disconnect":
            return
        if message["type"] == "websocket.receive" and (message.get("text") or "").strip() == "ping":
            await socket.send_text(PONG)


async def _token_still_live(authenticator: Authenticator, auth: SocketAuth) -> bool:
    try:
        return await authenticator.is_live(auth.user, auth.issued_at_ms)
    except SessionStoreUnavailable as exc:
        logger.warning("cannot re-check a socket's session (%s): keeping it open", exc)
        return True


@websocket(
    "/api/ws/notifications",
    opt=PUBLIC,  # not the HTTP middleware: the token may come in the subprotocol or the query
    name="notifications",
)
async def notifications_socket(
    socket: WebSocket[Any, Any, Any],
    messaging: NamedDependency[MessagingPorts],
) -> None:
    """Push events to the logged-in user (see the module documentation for the protocol)."""
    authenticator, notifier = messaging.authenticator, messaging.notifier
    subprotocol = BEARER if BEARER in _offered_subprotocols(socket) else None
    try:
        auth = await authenticate_socket(socket, authenticator)
    except SessionStoreUnavailable:
        await socket.accept(subprotocols=subprotocol)
        await _close(socket, TRY_AGAIN, "sessions cannot be checked right now")
        return
    await socket.accept(subprotocols=subprotocol)
    if auth is None:
        await _close(socket, UNAUTHORIZED, "missing, invalid, expired or revoked token")
        return

    verdict: asyncio.Future[tuple[int, str]] = asyncio.get_running_loop().create_future()

    async def forward(data: bytes) -> None:
        # Runs in the subscriber's task: it must never raise (a raising callback stops delivery).
        if verdict.done():
            return
        try:
            if data == SESSION_ENDED:
                if not await _token_still_live(authenticator, auth):
                    verdict.set_result((UNAUTHORIZED, "session ended"))
                return
            await socket.send_text(data.decode())
        except Exception as exc:
            if not verdict.done():
                verdict.set_result((TRY_AGAIN, f"delivery failed: {type(exc).__name__}"))

    channels, channel = notifier.channels, notifier.channel(auth.user.id)
    try:
        subscriber = await channels.subscribe(channel)
    except Exception as exc:
        logger.warning("could not subscribe a notification socket: %s: %s", type(exc).__name__, exc)
        await _close(socket, TRY_AGAIN, "notifications are unavailable right now")
        return
    OPEN_SOCKETS.inc()
    reader = asyncio.create_task(_read_client(socket))
    try:
        # A session that ended between the check above and the subscription published its
        # "session.ended" to nobody: check once more now that nothing can be missed.
        if not await _token_still_live(authenticator, auth):
            await _close(socket, UNAUTHORIZED, "session ended")
            return
        await socket.send_text(READY)  # before the forwarder starts: always the first frame
        async with subscriber.run_in_background(forward, join=False):
            remaining = max(0.0, auth.user.expires_at - time.time())
            waiters: set[asyncio.Future[Any]] = {reader, verdict}
            done, _ = await asyncio.wait(waiters, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
            if reader not in done:
                code, reason = verdict.result() if verdict in done else (UNAUTHORIZED, "token expired")
                await _close(socket, code, reason)
    finally:
        OPEN_SOCKETS.dec()
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        if not verdict.done():
            verdict.cancel()
        try:
            await channels.unsubscribe(subscriber, channel)
        except Exception as exc:
            logger.warning("could not unsubscribe a notification socket: %s", exc)
