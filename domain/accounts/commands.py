"""Write side of accounts: commands (imperative) and their handlers, run on the primary.

Every write is ``handler(Command(actor, payload), uow)`` (``domain.shared.unit_of_work``): it
changes rows through ``uow.session`` (advanced-alchemy's ``UserService`` on it, never committing)
and declares what follows: the welcome email, the sessions it ends, the generations it touches.
The unit of work commits. :func:`log_in` is the one check that writes nothing.

Password hashing is CPU work: it runs in a thread so the event loop keeps serving.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

from msgspec import UNSET, Meta, UnsetType
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from domain.accounts import passwords
from domain.accounts.emails import welcome_email
from domain.accounts.errors import EmailTaken, InvalidAccountData, InvalidCredentials, UserNotFound
from domain.accounts.lifecycle import send_verification
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
from domain.accounts.tokens import NewToken
from domain.catalog.provinces import ProvinceCode, province_problem
from domain.shared.emails import QueueEmail
from domain.shared.errors import AccountGone
from domain.shared.fields import EMAIL_PATTERN, Line
from domain.shared.structs import CamelStruct
from domain.shared.unit_of_work import SEARCH, Command, Revocation, UnitOfWork, ad_key

Email = Annotated[
    str,
    Meta(pattern=EMAIL_PATTERN, min_length=3, max_length=254, description="Case and surrounding spaces are ignored."),
]
Password = Annotated[Line, Meta(min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH)]
Name = Annotated[Line, Meta(min_length=1, max_length=120)]
Phone = Annotated[Line, Meta(max_length=40)]


class RegisterUser(CamelStruct, forbid_unknown_fields=True):
    """Open an account. Anything else in the body (``role`` …) is refused."""

    email: Email
    password: Annotated[Password, Meta(description="At least 10 characters.")]
    name: Name
    phone: Phone | None = None
    province: ProvinceCode | None = None


class Registration(CamelStruct):
    """A registration and the verification token its welcome email carries."""

    account: RegisterUser
    token: NewToken


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


class EndSession(CamelStruct):
    """Logout of the actor's token ``token_id``: recorded until the token would have expired anyway."""

    token_id: UUID
    expires_at: datetime


class EndAllSessions(CamelStruct):
    """Every token of the actor issued up to now dies (logout-all-devices)."""


class BlockUser(CamelStruct):
    user_id: UUID


class PromoteToAdmin(CamelStruct):
    email: str


def _check_province(province: str | None) -> None:
    if province is not None and (problem := province_problem(province)):
        raise InvalidAccountData("province", problem)


def _at_ms(uow: UnitOfWork) -> tuple[datetime, int]:
    """The unit's clock reading at the millisecond tokens are stamped with (``iat_ms``): the
    ``sessions_valid_after`` written and the session store's revocation agree exactly."""
    at_ms = int(uow.now.timestamp() * 1000)
    return datetime.fromtimestamp(at_ms / 1000, UTC), at_ms


async def register_user(command: Command[Registration], uow: UnitOfWork) -> User:
    """A new account, and its welcome email in the same transaction (an outbox row), carrying the
    link that verifies the address."""
    data = command.payload.account
    email = normalise_email(data.email)
    if not is_valid_email(email):
        raise InvalidAccountData("email", "not a valid email address")
    if problem := password_problem(data.password):
        raise InvalidAccountData("password", problem)
    name = clean_name(data.name)
    if not name:
        raise InvalidAccountData("name", "the name cannot be blank")
    _check_province(data.province)
    users = UserService(session=uow.session)
    if await users.exists(email=email):
        raise EmailTaken
    password_hash = await asyncio.to_thread(passwords.hash_password, data.password)
    try:
        user = await users.create(
            User(
                email=email,
                password_hash=password_hash,
                name=name,
                phone=data.phone.strip() if data.phone else None,
                province_code=data.province,
            ),
            auto_commit=False,
        )
    except IntegrityError as exc:  # a concurrent registration of the same email won the race
        raise EmailTaken from exc
    token = command.payload.token
    await send_verification(user, token, uow)
    welcome = welcome_email(user.name)
    await uow.add_email(
        QueueEmail(
            kind="welcome",
            dedupe_key=f"welcome:{user.id}",
            to=email,
            subject=welcome.subject,
            body=welcome.text,
            html=welcome.html,
            token_id=token.id,
        )
    )
    return user


async def log_in(command: LogIn, users: UserService) -> User:
    """The user when the password matches and the account is not blocked (nor deleted: a deleted
    account has no email); else ``InvalidCredentials``.

    A check, not a write: it reads the primary through ``users`` and changes nothing. Unknown
    email, wrong password and blocked account answer alike and cost one argon2 verification each,
    so neither the answer nor its timing tells which accounts exist.
    """
    user = await users.get_one_or_none(email=normalise_email(command.email))
    matches = await asyncio.to_thread(passwords.verify_password, user.password_hash if user else None, command.password)
    if user is None or not matches or user.is_blocked:
        raise InvalidCredentials
    return user


async def update_profile(command: Command[ProfileChanges], uow: UnitOfWork) -> User:
    """The actor's own profile; ``AccountGone`` when their account no longer exists."""
    users = UserService(session=uow.session)
    user = await users.get_one_or_none(id=command.actor.user_id)
    if user is None:
        raise AccountGone
    changes = command.payload
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


async def end_session(command: Command[EndSession], uow: UnitOfWork) -> None:
    """Logout of one token: the ``revoked_tokens`` row (a trigger tells every instance on commit)
    and the session store's revocation."""
    user_id, data = command.actor.user_id, command.payload
    await uow.session.execute(_REVOKE, {"token_id": data.token_id, "user_id": user_id, "expires_at": data.expires_at})
    await uow.session.execute(_FORGET_EXPIRED)
    uow.end_sessions(Revocation(user_id, token_id=str(data.token_id), expires_at=int(data.expires_at.timestamp())))


async def end_all_sessions(command: Command[EndAllSessions], uow: UnitOfWork) -> None:
    """Every token of the actor issued up to now dies; ``AccountGone`` when the account is gone."""
    users = UserService(session=uow.session)
    user = await users.get_one_or_none(id=command.actor.user_id)
    if user is None:
        raise AccountGone
    at, at_ms = _at_ms(uow)
    user.sessions_valid_after = at
    user.sessions_kept_token = None
    await users.update(user, auto_commit=False)
    uow.end_sessions(Revocation(user.id, issued_before_ms=at_ms))


_USER_ADS = text("SELECT id FROM ads WHERE owner_id = :id")


async def block_user(command: Command[BlockUser], uow: UnitOfWork) -> None:
    """Blocked: login refused, every session ends, and their ads leave search and detail at once."""
    users = UserService(session=uow.session)
    user = await users.get_one_or_none(id=command.payload.user_id)
    if user is None:
        raise UserNotFound
    at, _ = _at_ms(uow)
    if user.blocked_at is None:
        user.blocked_at = at
    user.sessions_valid_after = at
    user.sessions_kept_token = None
    await users.update(user, auto_commit=False)
    uow.end_sessions(Revocation(user.id, blocked=True))
    ads = (await uow.session.scalars(_USER_ADS, {"id": user.id})).all()
    uow.touch(SEARCH, *(ad_key(ad_id) for ad_id in ads))


async def promote_to_admin(command: Command[PromoteToAdmin], uow: UnitOfWork) -> User:
    """Gives the admin role; the user's old tokens end (roles travel in tokens), so they log in
    again. ``UserNotFound`` for an unknown email."""
    email = normalise_email(command.payload.email)
    users = UserService(session=uow.session)
    user = await users.get_one_or_none(email=email)
    if user is None:
        raise UserNotFound(f"no user with email {email!r}")
    at, at_ms = _at_ms(uow)
    user.role = "admin"
    user.sessions_valid_after = at
    user.sessions_kept_token = None
    user = await users.update(user, auto_commit=False)
    uow.end_sessions(Revocation(user.id, issued_before_ms=at_ms))
    return user
