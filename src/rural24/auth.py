"""Authentication: Litestar's JWT auth (pyjwt, HS256 only) backed by our session registry.

Every token carries ``sub`` (user id), ``exp``, ``iat``, ``jti`` (its session id), ``role`` and
``iat_ms`` (issue time in milliseconds, so a logout-all and a new login in the same second stay
ordered). The signature proves who issued it; the session registry says whether it still counts.
Roles may travel in tokens because every role change ends the user's sessions.
"""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from typing import Any

import msgspec
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AuthenticationResult
from litestar.security.jwt import JWTAuth, JWTAuthenticationMiddleware, Token

from domain.accounts.models import ROLES, Role
from domain.shared.unit_of_work import Actor
from infrastructure.sessions import SessionEvents, SessionRegistry, now_ms

PUBLIC = {"public": True}
"""Route ``opt``: no authentication at all."""
AUTH_OPTIONAL = {"auth_optional": True}
"""Route ``opt``: a valid token identifies the caller; no token means anonymous."""


class CurrentUser(msgspec.Struct, frozen=True):
    id: uuid.UUID
    role: Role
    token_id: str
    expires_at: int

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def actor(self) -> Actor:
        """The caller as the commands see them."""
        return Actor(user_id=self.id, is_admin=self.is_admin)


class IssuedToken(msgspec.Struct, frozen=True):
    token: str
    token_id: str
    expires_at: int


class OptionalJWTMiddleware(JWTAuthenticationMiddleware):
    """Lets anonymous callers through on ``auth_optional`` routes; a token that is present must
    still be valid (a bad token is a 401, never silently anonymous)."""

    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        if not connection.headers.get(self.auth_header) and connection.route_handler.opt.get("auth_optional"):
            return AuthenticationResult(user=None, auth=None)
        return await super().authenticate_request(connection)


class Authenticator:
    """Issues tokens and resolves them to a :class:`CurrentUser` on every request."""

    def __init__(self, secret: str, ttl: int, sessions: SessionRegistry, events: SessionEvents | None = None) -> None:
        self.sessions = sessions
        self.events = events
        self.ttl = ttl
        self.jwt = JWTAuth[CurrentUser, Token](
            token_secret=secret,
            algorithm="HS256",
            retrieve_user_handler=self._current_user,
            exclude_opt_key="public",
            exclude=["^/schema", "^/metrics", "^/api/metrics", "^/api/health"],
            default_token_expiration=timedelta(seconds=ttl),
            require_claims=["exp", "iat", "jti", "sub"],
            authentication_middleware_class=OptionalJWTMiddleware,
            description="`Authorization: Bearer <token>` from register or login; lasts SESSION_TTL (7 days).",
        )

    async def start(self) -> None:
        """Listens for session events (logouts, blocks, deleted users) from every instance."""
        if self.events is not None:
            await self.events.start()

    async def close(self) -> None:
        if self.events is not None:
            await self.events.close()

    async def is_live(self, user: CurrentUser, issued_at_ms: int) -> bool:
        """Whether a token checked earlier still counts (a long-lived socket re-checks its own)."""
        return await self.sessions.is_live(str(user.id), user.token_id, issued_at_ms)

    async def user_gone(self, user_id: uuid.UUID) -> None:
        """The account behind a valid token no longer exists: none of its tokens counts from now on.
        (Writes end sessions through the unit of work; this is for a read that finds the row gone.)"""
        await self.sessions.user_gone(str(user_id))

    async def issue(self, user_id: uuid.UUID, role: str) -> IssuedToken:
        token_id = str(uuid.uuid4())
        expires_at = int(time.time()) + self.ttl
        token = self.jwt.create_token(
            identifier=str(user_id),
            token_expiration=timedelta(seconds=self.ttl),
            token_unique_jwt_id=token_id,
            token_extras={"role": role, "iat_ms": now_ms()},
        )
        await self.sessions.open(str(user_id), token_id, expires_at)
        return IssuedToken(token, token_id, expires_at)

    async def _current_user(self, token: Token, connection: ASGIConnection[Any, Any, Any, Any]) -> CurrentUser | None:
        role = token.extras.get("role")
        issued_at_ms = token.extras.get("iat_ms")
        if role not in ROLES or not isinstance(issued_at_ms, int) or not isinstance(token.jti, str):
            return None
        try:
            user_id = uuid.UUID(token.sub)
        except ValueError:
            return None
        if not await self.sessions.is_live(token.sub, token.jti, issued_at_ms):
            return None
        return CurrentUser(user_id, role, token.jti, int(token.exp.timestamp()))


def optional_user(connection: ASGIConnection[Any, Any, Any, Any]) -> CurrentUser | None:
    """The logged-in caller on an auth-optional route, or ``None`` for an anonymous one."""
    user = connection.scope.get("user")
    return user if isinstance(user, CurrentUser) else None


def current_user(connection: ASGIConnection[Any, Any, Any, Any]) -> CurrentUser:
    user = optional_user(connection)
    if user is None:
        raise NotAuthorizedException("authentication required")
    return user


def current_actor(connection: ASGIConnection[Any, Any, Any, Any]) -> Actor:
    """The logged-in caller as a command's actor (401 when nobody is)."""
    return current_user(connection).actor


def requires_admin(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard: admins only (403 for everyone else)."""
    if not current_user(connection).is_admin:
        raise PermissionDeniedException("admins only")
