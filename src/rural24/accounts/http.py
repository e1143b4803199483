"""Accounts and sessions (API.md: Accounts and sessions)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from advanced_alchemy.extensions.litestar.providers import create_service_provider
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT
from msgspec import Meta

from domain.accounts.commands import (
    BlockUser,
    EndAllSessions,
    EndSession,
    LogIn,
    ProfileChanges,
    RegisterUser,
    Registration,
    block_user,
    end_all_sessions,
    end_session,
    log_in,
    register_user,
    update_profile,
)
from domain.accounts.lifecycle import DeleteAccount, delete_account
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
from domain.accounts.rules import MAX_PASSWORD_LENGTH
from domain.accounts.services import UserService
from domain.shared.errors import AccountGone
from domain.shared.fields import Line
from domain.shared.structs import CamelStruct
from domain.shared.unit_of_work import Actor, Command
from infrastructure.account_tokens import AccountTokens
from infrastructure.unit_of_work import Writes
from rural24.auth import PUBLIC, Authenticator, current_actor, current_user, requires_admin
from rural24.dependencies import Commands
from rural24.openapi import CACHE_CONTROL, documented
from rural24.ratelimit import Limits
from rural24.reading import ANY_REPLICA, PRIMARY, PRIVATE, Reads

logger = logging.getLogger("rural24.accounts")

HEADERS = {"Cache-Control": PRIVATE}


@dataclass(frozen=True, slots=True)
class AccountsPorts:
    """What the accounts routes use: the ``accounts`` dependency, built by
    ``rural24.accounts.accounts_plugin`` (one per route: see ``rural24.ads.http.AdsPorts``)."""

    reads: Reads
    authenticator: Authenticator
    limits: Limits
    writes: Writes
    """For the work a route does after answering (``rural24.accounts.lifecycle``)."""
    tokens: AccountTokens


class PasswordConfirmation(CamelStruct, forbid_unknown_fields=True):
    password: Annotated[Line, Meta(min_length=1, max_length=MAX_PASSWORD_LENGTH)]
    """Checked, not set: any length the hasher accepts (a wrong one is a 403)."""


class AuthResult(CamelStruct):
    token: str
    expires_at: datetime
    user: UserSummary


def _summary(user: User) -> UserSummary:
    return UserSummary(user.id, user.email, user.name, user.role)  # type: ignore[arg-type]


async def _issue(authenticator: Authenticator, user: User) -> AuthResult:
    issued = await authenticator.issue(user.id, user.role)
    return AuthResult(issued.token, datetime.fromtimestamp(issued.expires_at, UTC), _summary(user))


provide_users = create_service_provider(UserService)
"""``users`` (registered by ``rural24.accounts.accounts_plugin``): login's check of the
credentials, on the request's session; nothing is written through it."""


class AuthController(Controller):
    path = "/api/auth"
    tags = ["accounts"]

    @post(
        "/register",
        opt=PUBLIC,
        status_code=HTTP_201_CREATED,
        summary="Open an account",
        **documented("register", "public", body=True, errors=(409,), headers=(CACHE_CONTROL,)),
        description="201 with a session token; 409 when the email is taken; 422 when a rule fails "
        "(password under 10 characters, unknown province, fields that cannot be set such as `role`). "
        "A welcome email, sent in the background, carries the link that verifies the address "
        "(`POST /api/auth/verify-email`).",
    )
    async def register(
        self,
        data: JSONBody[RegisterUser],
        commands: NamedDependency[Commands],
        accounts: NamedDependency[AccountsPorts],
    ) -> Response[AuthResult]:
        # Nobody is logged in yet: the system opens the account on the caller's behalf.
        registration = Registration(account=data, token=accounts.tokens.mint())
        user = await commands.handle(register_user, Command(Actor.system(), registration))
        return Response(await _issue(accounts.authenticator, user), status_code=HTTP_201_CREATED, headers=HEADERS)

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
        accounts: NamedDependency[AccountsPorts],
    ) -> Response[AuthResult]:
        await accounts.limits.login(request, data.email)
        user = await log_in(data, users)
        return Response(await _issue(accounts.authenticator, user), headers=HEADERS)

    @post(
        "/logout",
        status_code=HTTP_204_NO_CONTENT,
        summary="Log out this token",
        **documented("logout", "user"),
        description="The token never works again, on any instance, whatever the session store's state. "
        "With `SESSION_STRATEGY=redis` and Redis unreachable: 503 with `Retry-After`, nothing changed.",
    )
    async def logout(self, request: Request[Any, Any, Any], commands: NamedDependency[Commands]) -> None:
        me = current_user(request)
        logout = EndSession(token_id=UUID(me.token_id), expires_at=datetime.fromtimestamp(me.expires_at, UTC))
        await commands.handle(end_session, Command(me.actor, logout))

    @post(
        "/logout-all-devices",
        status_code=HTTP_204_NO_CONTENT,
        summary="Log out every session of the user",
        **documented("logoutAllDevices", "user"),
    )
    async def logout_all_devices(self, request: Request[Any, Any, Any], commands: NamedDependency[Commands]) -> None:
        await commands.handle(end_all_sessions, Command(current_actor(request), EndAllSessions()))


class MeController(Controller):
    path = "/api/me"
    tags = ["accounts"]

    @get(
        "/",
        summary="Own profile",
        **documented("getMe", "user", headers=(CACHE_CONTROL,)),
        description="Always fresh (read on the primary). `private, no-store`. 401 when the account no longer "
        "exists (every token of a deleted user is refused from then on).",
    )
    async def me(
        self,
        request: Request[Any, Any, Any],
        accounts: NamedDependency[AccountsPorts],
    ) -> Response[Profile]:
        me = current_user(request)
        profile = await get_profile(GetProfile(user_id=me.id), accounts.reads.at(PRIMARY))
        if profile is None:  # deleted since the token was checked: no token of theirs counts any more
            await accounts.authenticator.user_gone(me.id)
            raise AccountGone
        return Response(profile, headers=HEADERS)

    @patch(
        "/",
        summary="Change own profile",
        **documented("updateMe", "user", body=True, headers=(CACHE_CONTROL,)),
        description="`name`, `phone`, `province` only. `role` cannot be changed (422); `email` changes through "
        "`POST /api/me/email` (a confirmation link to the new address).",
    )
    async def update_me(
        self,
        data: JSONBody[ProfileChanges],
        request: Request[Any, Any, Any],
        commands: NamedDependency[Commands],
        accounts: NamedDependency[AccountsPorts],
    ) -> Response[Profile]:
        actor = current_actor(request)
        await commands.handle(update_profile, Command(actor, data))
        profile = await get_profile(GetProfile(user_id=actor.user_id), accounts.reads.at(PRIMARY))
        assert profile is not None
        return Response(profile, headers=HEADERS)

    @delete(
        "/",
        status_code=HTTP_204_NO_CONTENT,
        summary="Delete own account",
        **documented("deleteMe", "user", body=True, errors=(403,), headers=(CACHE_CONTROL,)),
        description="With the password (403 when wrong). At once: the user's ads leave search and detail and are "
        "deleted (their images by a background job), favorites, saved searches and reports go, every token of "
        "the user stops working on every instance, and name, email and phone are erased. Messages already sent "
        "stay readable to the other participant, with the author shown as `usuario eliminado`. The email can "
        "register again. Cannot be undone.",
    )
    async def delete_me(
        self,
        data: JSONBody[PasswordConfirmation],
        request: Request[Any, Any, Any],
        commands: NamedDependency[Commands],
    ) -> Response[None]:
        actor = current_user(request).actor
        payload = DeleteAccount(user_id=actor.user_id, password=data.password)
        await commands.handle(delete_account, Command(actor, payload))
        logger.info("account %s deleted by its owner", actor.user_id)
        return Response(None, status_code=HTTP_204_NO_CONTENT, headers=HEADERS)


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
    async def seller(self, id: FromPath[UUID], accounts: NamedDependency[AccountsPorts]) -> SellerProfile:
        profile = await get_seller_profile(GetSellerProfile(user_id=id), accounts.reads.at(ANY_REPLICA))
        if profile is None:
            raise NotFoundException("user not found")
        return profile


class AdminUsersController(Controller):
    path = "/api/admin/users"
    tags = ["admin"]
    guards = [requires_admin]

    @post(
        "/{id:uuid}/block",
        status_code=HTTP_204_NO_CONTENT,
        summary="Block a user",
        **documented("blockUser", "admin", errors=(404,)),
        description="Every session of the user dies at once, login is refused, and their ads leave search.",
    )
    async def block(
        self, id: FromPath[UUID], request: Request[Any, Any, Any], commands: NamedDependency[Commands]
    ) -> None:
        await commands.handle(block_user, Command(current_actor(request), BlockUser(user_id=id)))
        logger.info("user %s blocked", id)

    @delete(
        "/{id:uuid}",
        status_code=HTTP_204_NO_CONTENT,
        summary="Delete a user's account",
        **documented("deleteUser", "admin", errors=(404,)),
        description="What `DELETE /api/me` does, without the password: ads, favorites, saved searches, reports "
        "and personal data go, every session ends; messages stay with a neutral author. 404 for an unknown or "
        "already deleted user.",
    )
    async def delete(
        self, id: FromPath[UUID], request: Request[Any, Any, Any], commands: NamedDependency[Commands]
    ) -> None:
        await commands.handle(delete_account, Command(current_actor(request), DeleteAccount(user_id=id, password=None)))
        logger.info("user %s deleted by an admin", id)
