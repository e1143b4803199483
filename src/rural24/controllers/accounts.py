"""Accounts and sessions (API.md: Accounts and sessions)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from advanced_alchemy.extensions.litestar.providers import create_service_provider
from litestar import Controller, Request, Response, get, patch, post
from litestar.di import NamedDependency, Provide
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.accounts.commands import (
    BlockUser,
    EndAllSessions,
    EndSession,
    LogIn,
    ProfileChanges,
    RegisterUser,
    UpdateProfile,
    block_user,
    end_all_sessions,
    end_session,
    log_in,
    register_user,
    update_profile,
)
from domain.accounts.emails import welcome_email
from domain.accounts.errors import AccountGone
from domain.accounts.models import User
from domain.accounts.queries import (
    GetProfile,
    GetSellerProfile,
    Profile,
    SellerProfile,
    UserSummary,
    get_profile,
    get_seller_profile,
)
from domain.accounts.services import UserService
from domain.messaging.outbox import QueueEmail, queue_email
from domain.shared.structs import CamelStruct
from infrastructure.database.reads import lsn_to_int
from infrastructure.generations import SEARCH, ad_generation
from infrastructure.sessions import now_ms
from rural24.auth import PUBLIC, CurrentUser, current_user, requires_admin
from rural24.jobs.emails import enqueue_email
from rural24.openapi import CACHE_CONTROL, documented
from rural24.ratelimit import limit_login
from rural24.state import Services

logger = logging.getLogger("rural24.accounts")

PRIVATE = {"Cache-Control": "private, no-store"}


class AuthResult(CamelStruct):
    token: str
    expires_at: datetime
    user: UserSummary


def _summary(user: User) -> UserSummary:
    return UserSummary(user.id, user.email, user.name, user.role)  # type: ignore[arg-type]


async def _issue(services: Services, user: User) -> AuthResult:
    issued = await services.authenticator.issue(user.id, user.role)
    return AuthResult(issued.token, datetime.fromtimestamp(issued.expires_at, UTC), _summary(user))


provide_users = create_service_provider(UserService)


def provide_current_user(request: Request[Any, Any, Any]) -> CurrentUser:
    return current_user(request)


class AuthController(Controller):
    path = "/api/auth"
    tags = ["accounts"]
    dependencies = {"users": Provide(provide_users)}

    @post(
        "/register",
        opt=PUBLIC,
        status_code=HTTP_201_CREATED,
        summary="Open an account",
        **documented("register", "public", body=True, errors=(409,), headers=(CACHE_CONTROL,)),
        description="201 with a session token; 409 when the email is taken; 422 when a rule fails "
        "(password under 10 characters, unknown province, fields that cannot be set such as `role`). "
        "A welcome email is sent in the background.",
    )
    async def register(
        self,
        data: JSONBody[RegisterUser],
        users: NamedDependency[UserService],
        db_session: NamedDependency[AsyncSession],
        services: NamedDependency[Services],
    ) -> Response[AuthResult]:
        user = await register_user(data, users)
        subject, body = welcome_email(user.name)
        welcome = QueueEmail(kind="welcome", dedupe_key=f"welcome:{user.id}", to=user.email, subject=subject, body=body)
        delivery_id = await queue_email(welcome, db_session)  # same transaction as the account: an outbox
        await db_session.commit()
        await enqueue_email(services.jobs, delivery_id)
        return Response(await _issue(services, user), status_code=HTTP_201_CREATED, headers=PRIVATE)

    @post(
        "/login",
        opt=PUBLIC,
        status_code=HTTP_200_OK,
        summary="Log in",
        **documented("login", "public", body=True, errors=(401,), headers=(CACHE_CONTROL,)),
        description="401 with the same body whether the email exists or not. Limited per IP and per "
        "email (`RATE_LIMIT_LOGIN`): 429 with `Retry-After` beyond.",
    )
    async def login(
        self,
        data: JSONBody[LogIn],
        users: NamedDependency[UserService],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
    ) -> Response[AuthResult]:
        await limit_login(services, request, data.email)
        user = await log_in(data, users)
        return Response(await _issue(services, user), headers=PRIVATE)

    @post(
        "/logout",
        status_code=HTTP_204_NO_CONTENT,
        summary="Log out this token",
        **documented("logout", "user"),
        description="The token never works again, on any instance, whatever the session store's state. "
        "With `SESSION_STRATEGY=redis` and Redis unreachable: 503 with `Retry-After`, nothing changed.",
    )
    async def logout(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        services: NamedDependency[Services],
    ) -> None:
        me = current_user(request)
        expires_at = datetime.fromtimestamp(me.expires_at, UTC)
        await end_session(EndSession(user_id=me.id, token_id=UUID(me.token_id), expires_at=expires_at), db_session)
        # The store before the commit: with session records (Redis) a store that is down refuses the
        # logout (503, nothing recorded) rather than leave a record alive behind a committed logout.
        await services.authenticator.sessions.revoke(str(me.id), me.token_id, me.expires_at)
        await db_session.commit()
        await services.notifications.session_ended(me.id)  # this token's open sockets close (4401)

    @post(
        "/logout-all-devices",
        status_code=HTTP_204_NO_CONTENT,
        summary="Log out every session of the user",
        **documented("logoutAllDevices", "user"),
    )
    async def logout_all_devices(
        self,
        request: Request[Any, Any, Any],
        users: NamedDependency[UserService],
        db_session: NamedDependency[AsyncSession],
        services: NamedDependency[Services],
    ) -> None:
        me = current_user(request)
        at = now_ms()
        await end_all_sessions(EndAllSessions(user_id=me.id, at=datetime.fromtimestamp(at / 1000, UTC)), users)
        await services.authenticator.sessions.revoke_all(str(me.id), at)  # before the commit, as in logout
        await db_session.commit()
        await services.notifications.session_ended(me.id)  # open sockets close (4401)


class MeController(Controller):
    path = "/api/me"
    tags = ["accounts"]
    dependencies = {"users": Provide(provide_users)}

    @get(
        "/",
        summary="Own profile",
        **documented("getMe", "user", headers=(CACHE_CONTROL,)),
        description="Always fresh (read on the primary). `private, no-store`. 401 when the account no longer "
        "exists (every token of a deleted user is refused from then on).",
    )
    async def me(self, request: Request[Any, Any, Any], services: NamedDependency[Services]) -> Response[Profile]:
        me = current_user(request)
        profile = await get_profile(GetProfile(user_id=me.id), services.read_side.on_primary())
        if profile is None:  # deleted since the token was checked: no token of theirs counts any more
            await services.authenticator.sessions.user_gone(str(me.id))
            raise AccountGone
        return Response(profile, headers=PRIVATE)

    @patch(
        "/",
        summary="Change own profile",
        **documented("updateMe", "user", body=True, headers=(CACHE_CONTROL,)),
        description="`name`, `phone`, `province` only. `role` and `email` cannot be changed here (422).",
    )
    async def update_me(
        self,
        data: JSONBody[ProfileChanges],
        request: Request[Any, Any, Any],
        users: NamedDependency[UserService],
        db_session: NamedDependency[AsyncSession],
        services: NamedDependency[Services],
    ) -> Response[Profile]:
        me = current_user(request)
        await update_profile(UpdateProfile(user_id=me.id, changes=data), users)
        await db_session.commit()
        profile = await get_profile(GetProfile(user_id=me.id), services.read_side.on_primary())
        assert profile is not None
        return Response(profile, headers=PRIVATE)


class UsersController(Controller):
    path = "/api/users"
    tags = ["accounts"]

    @get(
        "/{id:uuid}",
        opt=PUBLIC,
        summary="Public seller profile",
        **documented("getUser", "public", errors=(404,)),
        description="404 for unknown or blocked users. `activeAds` counts the ads a buyer can find.",
    )
    async def seller(self, id: FromPath[UUID], services: NamedDependency[Services]) -> SellerProfile:
        profile = await get_seller_profile(GetSellerProfile(user_id=id), services.read_side)
        if profile is None:
            raise NotFoundException("user not found")
        return profile


class AdminUsersController(Controller):
    path = "/api/admin/users"
    tags = ["admin"]
    guards = [requires_admin]
    dependencies = {"users": Provide(provide_users)}

    @post(
        "/{id:uuid}/block",
        status_code=HTTP_204_NO_CONTENT,
        summary="Block a user",
        **documented("blockUser", "admin", errors=(404,)),
        description="Every session of the user dies at once, login is refused, and their ads leave search.",
    )
    async def block(
        self,
        id: FromPath[UUID],
        users: NamedDependency[UserService],
        db_session: NamedDependency[AsyncSession],
        services: NamedDependency[Services],
    ) -> None:
        at = now_ms()
        await block_user(BlockUser(user_id=id, at=datetime.fromtimestamp(at / 1000, UTC)), users)
        await services.authenticator.sessions.user_gone(str(id))  # before the commit, as in logout
        await db_session.commit()
        await services.notifications.session_ended(id)  # open sockets close (4401)
        # their ads leave search and detail at once
        lsn = await db_session.scalar(text("SELECT pg_current_wal_insert_lsn()::text"))
        ads = (await db_session.scalars(text("SELECT id FROM ads WHERE owner_id = :id"), {"id": id})).all()
        await db_session.commit()
        await services.generations.bump(lsn_to_int(str(lsn)), SEARCH, *(ad_generation(ad) for ad in ads))
        logger.info("user %s blocked", id)
