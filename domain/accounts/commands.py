"""Write side of accounts: commands (imperative) and their handlers, run on the primary.

Handlers take an advanced-alchemy ``UserService`` bound to the request's session; the caller
commits. Password hashing is CPU work: it runs in a thread so the event loop keeps serving.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

from msgspec import UNSET, Meta, UnsetType
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from domain.accounts import passwords
from domain.accounts.errors import AccountGone, EmailTaken, InvalidAccountData, InvalidCredentials, UserNotFound
from domain.accounts.models import User
from domain.accounts.rules import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    clean_name,
    is_valid_email,
    normalise_email,
    password_problem,
)
from domain.accounts.services import UserService
from domain.catalog.reference import PROVINCE_CODES
from domain.shared.fields import EMAIL_PATTERN, Line
from domain.shared.structs import CamelStruct

Email = Annotated[
    str,
    Meta(pattern=EMAIL_PATTERN, min_length=3, max_length=254, description="Case and surrounding spaces are ignored."),
]
Password = Annotated[Line, Meta(min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH)]
Name = Annotated[Line, Meta(min_length=1, max_length=120)]
Phone = Annotated[Line, Meta(max_length=40)]
ProvinceCode = Annotated[Line, Meta(max_length=32, description="A code from GET /api/provinces.")]


class RegisterUser(CamelStruct, forbid_unknown_fields=True):
    """Open an account. Anything else in the body (``role`` …) is refused."""

    email: Email
    password: Annotated[Password, Meta(description="At least 10 characters.")]
    name: Name
    phone: Phone | None = None
    province: ProvinceCode | None = None


class LogIn(CamelStruct, forbid_unknown_fields=True):
    """Loose on purpose: a malformed email or a short password is just a failed login (401, same body)."""

    email: Annotated[Line, Meta(min_length=3, max_length=254)]
    password: Annotated[Line, Meta(min_length=1, max_length=MAX_PASSWORD_LENGTH)]


class ProfileChanges(CamelStruct, forbid_unknown_fields=True):
    """What a user may change about themselves: never ``role``, never ``email`` (that needs a
    re-verification flow). Omitted fields stay; ``null`` clears ``phone`` or ``province``."""

    name: Name | UnsetType = UNSET
    phone: Phone | UnsetType | None = UNSET
    province: ProvinceCode | UnsetType | None = UNSET


class UpdateProfile(CamelStruct):
    user_id: UUID
    changes: ProfileChanges


class EndAllSessions(CamelStruct):
    """Every token of the user issued up to ``at`` dies (logout-all-devices, block, role change)."""

    user_id: UUID
    at: datetime


class EndSession(CamelStruct):
    """Logout of one token: recorded until the token would have expired anyway."""

    user_id: UUID
    token_id: UUID
    expires_at: datetime


class BlockUser(CamelStruct):
    user_id: UUID
    at: datetime


class PromoteToAdmin(CamelStruct):
    email: str


def _check_province(province: str | None) -> None:
    if province is not None and province not in PROVINCE_CODES:
        raise InvalidAccountData("province", f"unknown province code {province!r}")


async def register_user(command: RegisterUser, users: UserService) -> User:
    email = normalise_email(command.email)
    if not is_valid_email(email):
        raise InvalidAccountData("email", "not a valid email address")
    if problem := password_problem(command.password):
        raise InvalidAccountData("password", problem)
    name = clean_name(command.name)
    if not name:
        raise InvalidAccountData("name", "the name cannot be blank")
    _check_province(command.province)
    if await users.exists(email=email):
        raise EmailTaken
    password_hash = await asyncio.to_thread(passwords.hash_password, command.password)
    try:
        return await users.create(
            User(
                email=email,
                password_hash=password_hash,
                name=name,
                phone=command.phone.strip() if command.phone else None,
                province_code=command.province,
            ),
            auto_commit=False,
        )
    except IntegrityError as exc:  # a concurrent registration of the same email won the race
        raise EmailTaken from exc


async def log_in(command: LogIn, users: UserService) -> User:
    """The user when the password matches and the account is not blocked; else ``InvalidCredentials``.

    Unknown email, wrong password and blocked account answer alike and cost one argon2
    verification each, so neither the answer nor its timing tells which accounts exist.
    """
    user = await users.get_one_or_none(email=normalise_email(command.email))
    matches = await asyncio.to_thread(passwords.verify_password, user.password_hash if user else None, command.password)
    if user is None or not matches or user.is_blocked:
        raise InvalidCredentials
    return user


async def update_profile(command: UpdateProfile, users: UserService) -> User:
    user = await users.get_one_or_none(id=command.user_id)
    if user is None:
        raise AccountGone
    changes = command.changes
    if changes.name is not UNSET:
        name = clean_name(changes.name)
        if not name:
            raise InvalidAccountData("name", "the name cannot be blank")
        user.name = name
    if changes.phone is not UNSET:
        user.phone = changes.phone.strip() or None if changes.phone else None
    if changes.province is not UNSET:
        _check_province(changes.province)
        user.province_code = changes.province
    return await users.update(user, auto_commit=False)


_REVOKE = text(
    "INSERT INTO revoked_tokens (id, user_id, expires_at) SELECT :token_id, u.id, :expires_at FROM users u "
    "WHERE u.id = :user_id ON CONFLICT (id) DO NOTHING"
)
# Expired rows are dead weight (their tokens are refused for their age): each logout takes a few.
_FORGET_EXPIRED = text(
    "DELETE FROM revoked_tokens WHERE id IN "
    "(SELECT id FROM revoked_tokens WHERE expires_at < now() ORDER BY expires_at LIMIT 20 FOR UPDATE SKIP LOCKED)"
)


async def end_session(command: EndSession, session: AsyncSession) -> None:
    """Records the logout in the caller's transaction (a trigger tells every instance on commit)."""
    await session.execute(
        _REVOKE, {"token_id": command.token_id, "user_id": command.user_id, "expires_at": command.expires_at}
    )
    await session.execute(_FORGET_EXPIRED)


async def end_all_sessions(command: EndAllSessions, users: UserService) -> User:
    user = await users.get_one_or_none(id=command.user_id)
    if user is None:
        raise AccountGone
    user.sessions_valid_after = command.at
    return await users.update(user, auto_commit=False)


async def block_user(command: BlockUser, users: UserService) -> User:
    """Blocked: login refused, every session ends (the caller revokes them in the session store)."""
    user = await users.get_one_or_none(id=command.user_id)
    if user is None:
        raise UserNotFound
    if user.blocked_at is None:
        user.blocked_at = command.at
    user.sessions_valid_after = command.at
    return await users.update(user, auto_commit=False)


async def promote_to_admin(command: PromoteToAdmin, users: UserService) -> User:
    """Gives the admin role; the user's old tokens end (roles travel in tokens), so they log in again."""
    user = await users.get_one_or_none(email=normalise_email(command.email))
    if user is None:
        raise UserNotFound(f"no user with email {normalise_email(command.email)!r}")
    user.role = "admin"
    user.sessions_valid_after = datetime.now(UTC)
    return await users.update(user, auto_commit=False)
