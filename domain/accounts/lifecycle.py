"""An account's life after register: verifying the email, resetting or changing the password,
changing the email, and deleting the account.

Each write is a handler of the unit of work (``domain.shared.unit_of_work``), like the rest of
accounts. The tokens these flows email are minted outside (a :class:`NewToken`: a row id and the
digest of the token) and come back as the digest of what the user posted; the token itself is
never seen here, stored, or logged. Every email goes through the outbox in the write's
transaction.

Flows that start from an email address (password reset, resending the verification) are silent:
they do the same thing for an unknown address as for a known one, as far as the caller can tell.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import select, text, update
from sqlalchemy.exc import IntegrityError

from domain.accounts import passwords
from domain.accounts.emails import (
    AccountEmail,
    change_email_email,
    email_change_notice,
    password_changed_email,
    reset_email,
    verification_email,
)
from domain.accounts.errors import (
    EmailTaken,
    InvalidAccountData,
    InvalidToken,
    TokenGone,
    UserNotFound,
    WrongPassword,
)
from domain.accounts.models import DELETED_USER_NAME, AccountToken, TokenPurpose, User
from domain.accounts.rules import is_valid_email, normalise_email, password_problem
from domain.accounts.tokens import LIFETIMES, NewToken
from domain.shared.emails import QueueEmail
from domain.shared.errors import AccountGone
from domain.shared.job_outbox import PURGE_MEDIA_JOB
from domain.shared.structs import CamelStruct
from domain.shared.unit_of_work import SEARCH, Command, Revocation, UnitOfWork, ad_key, user_key

DELETED_AD_TITLE = "aviso eliminado"
"""The title left on a deleted account's ads (conversations about them still name them)."""
"""The job that deletes media files whose rows are gone (``rural24.ads.image_jobs``)."""


class AskForEmail(CamelStruct):
    """Someone asked for an account email (password reset, verification link) for ``email``."""

    email: str
    token: NewToken


class UseToken(CamelStruct):
    """A token the user posted back, as its digest."""

    digest: bytes


class ResetPassword(CamelStruct):
    digest: bytes
    password: str


class ChangePassword(CamelStruct):
    current_password: str
    new_password: str
    keep_token_id: str
    """The session that asks keeps working; every other one ends."""


class ChangeEmail(CamelStruct):
    password: str
    new_email: str
    token: NewToken


class DeleteAccount(CamelStruct):
    user_id: UUID
    password: str | None
    """The account's password when its owner deletes it; ``None`` when an admin does."""


# -- helpers -----------------------------------------------------------------------------------


async def _live_user(uow: UnitOfWork, **where: Any) -> User | None:
    """A user who can still act (not deleted, not blocked), locked for the write."""
    query = select(User).filter_by(**where).where(User.deleted_at.is_(None), User.blocked_at.is_(None))
    return await uow.session.scalar(query.with_for_update())


async def _me(uow: UnitOfWork, user_id: UUID) -> User:
    user = await _live_user(uow, id=user_id)
    if user is None:
        raise AccountGone
    return user


async def _check_password(user: User, password: str) -> None:
    if not await asyncio.to_thread(passwords.verify_password, user.password_hash, password):
        raise WrongPassword


async def _new_password_hash(password: str, field: str) -> str:
    if problem := password_problem(password):
        raise InvalidAccountData(field, problem)
    return await asyncio.to_thread(passwords.hash_password, password)


async def _use_up(uow: UnitOfWork, user_id: UUID, purpose: TokenPurpose) -> None:
    """Every unused token of the user for ``purpose`` stops working."""
    await uow.session.execute(
        update(AccountToken)
        .where(AccountToken.user_id == user_id, AccountToken.purpose == purpose, AccountToken.used_at.is_(None))
        .values(used_at=uow.now)
    )


async def _issue(uow: UnitOfWork, user: User, purpose: TokenPurpose, address: str, token: NewToken) -> None:
    """Store a new token (only the newest link of a purpose works) for ``address``."""
    await _use_up(uow, user.id, purpose)
    uow.session.add(
        AccountToken(
            id=token.id,
            user_id=user.id,
            purpose=purpose,
            digest=token.digest,
            email=address,
            expires_at=uow.now + LIFETIMES[purpose],
        )
    )
    await uow.session.flush()


async def _send(uow: UnitOfWork, kind: str, to: str, email: AccountEmail, *, key: str, token: UUID | None) -> None:
    await uow.add_email(
        QueueEmail(
            kind=kind, dedupe_key=key, to=to, subject=email.subject, body=email.text, html=email.html, token_id=token
        )
    )


async def _take(uow: UnitOfWork, digest: bytes, purpose: TokenPurpose, *, user_id: UUID | None = None) -> AccountToken:
    """The token the user posted, now used up. :class:`InvalidToken` (400) when there is no such
    token, it is for another purpose or another account; :class:`TokenGone` (410) when it was
    used, replaced or has expired. (Refused, the transaction rolls back: nothing is used up.)"""
    token = await uow.session.scalar(select(AccountToken).where(AccountToken.digest == digest).with_for_update())
    if token is None or token.purpose != purpose:
        raise InvalidToken
    if user_id is not None and token.user_id != user_id:
        raise InvalidToken("this link belongs to another account")
    if token.used_at is not None:
        raise TokenGone("this link was already used, or a newer one replaced it: ask for a new one")
    if token.expires_at <= uow.now:
        raise TokenGone("this link has expired: ask for a new one")
    token.used_at = uow.now
    return token


async def _token_owner(uow: UnitOfWork, token: AccountToken) -> User:
    user = await _live_user(uow, id=token.user_id)
    if user is None:  # blocked since (a deleted account's tokens are deleted with it)
        raise InvalidToken
    return user


def _end_sessions(uow: UnitOfWork, user: User, *, keep: str | None = None) -> None:
    """Every session of the user ends (on every instance), but ``keep``."""
    at_ms = int(uow.now.timestamp() * 1000)  # the millisecond tokens are stamped with (iat_ms)
    user.sessions_valid_after = datetime.fromtimestamp(at_ms / 1000, UTC)
    user.sessions_kept_token = UUID(keep) if keep else None
    uow.end_sessions(Revocation(user.id, issued_before_ms=at_ms, keep_token_id=keep))


# -- email verification --------------------------------------------------------------------------


async def send_verification(user: User, token: NewToken, uow: UnitOfWork) -> None:
    """A verification link for the user's current address (register sends its own, in the welcome)."""
    assert user.email is not None
    await _issue(uow, user, "verify_email", user.email, token)


async def resend_verification(command: Command[AskForEmail], uow: UnitOfWork) -> None:
    """A new verification link, when the address belongs to a live, unverified account; else nothing."""
    user = await _live_user(uow, email=normalise_email(command.payload.email))
    if user is None or user.email is None or user.email_verified_at is not None:
        return
    token = command.payload.token
    await send_verification(user, token, uow)
    await _send(uow, "verify_email", user.email, verification_email(user.name), key=f"token:{token.id}", token=token.id)


async def verify_email(command: Command[UseToken], uow: UnitOfWork) -> None:
    """The address the link was sent to is the account's: verified (once is enough)."""
    token = await _take(uow, command.payload.digest, "verify_email")
    user = await _token_owner(uow, token)
    if user.email != token.email:
        raise TokenGone("this link is for an address the account no longer uses")
    if user.email_verified_at is None:
        user.email_verified_at = uow.now
    uow.touch(user_key(user.id))


# -- password reset ------------------------------------------------------------------------------


async def request_password_reset(command: Command[AskForEmail], uow: UnitOfWork) -> None:
    """A reset link by email when the address belongs to a live account; nothing otherwise."""
    user = await _live_user(uow, email=normalise_email(command.payload.email))
    if user is None or user.email is None:
        return
    token = command.payload.token
    await _issue(uow, user, "reset_password", user.email, token)
    await _send(uow, "reset_password", user.email, reset_email(user.name), key=f"token:{token.id}", token=token.id)


async def reset_password(command: Command[ResetPassword], uow: UnitOfWork) -> None:
    """The new password, for the account the link was sent to; every session ends. The link also
    proves the mailbox, so an unverified address becomes verified."""
    password_hash = await _new_password_hash(command.payload.password, "password")
    token = await _take(uow, command.payload.digest, "reset_password")
    user = await _token_owner(uow, token)
    if user.email != token.email:
        raise TokenGone("this link is for an address the account no longer uses")
    user.password_hash = password_hash
    if user.email_verified_at is None:
        user.email_verified_at = uow.now
    _end_sessions(uow, user)
    email = password_changed_email(user.name, all_sessions=True)
    await _send(uow, "password_changed", token.email, email, key=f"password-reset:{token.id}", token=None)


# -- changing the password and the email -------------------------------------------------------


async def change_password(command: Command[ChangePassword], uow: UnitOfWork) -> None:
    """With the current password: the new one, the asking session kept, every other one ended, and
    any reset link still out used up."""
    if problem := password_problem(command.payload.new_password):  # says nothing about the current one
        raise InvalidAccountData("newPassword", problem)
    user = await _me(uow, command.actor.user_id)
    await _check_password(user, command.payload.current_password)
    user.password_hash = await _new_password_hash(command.payload.new_password, "newPassword")
    await _use_up(uow, user.id, "reset_password")
    _end_sessions(uow, user, keep=command.payload.keep_token_id)
    assert user.email is not None
    email = password_changed_email(user.name, all_sessions=False)
    key = f"password-changed:{user.id}:{int(uow.now.timestamp() * 1000)}"
    await _send(uow, "password_changed", user.email, email, key=key, token=None)


async def request_email_change(command: Command[ChangeEmail], uow: UnitOfWork) -> str:
    """With the password: a confirmation link to the new address and a notice to the current one.
    Nothing changes until the link is used (:func:`confirm_email_change`). Returns the new address."""
    user = await _me(uow, command.actor.user_id)
    await _check_password(user, command.payload.password)
    new_email = normalise_email(command.payload.new_email)
    if not is_valid_email(new_email):
        raise InvalidAccountData("newEmail", "not a valid email address")
    if new_email == user.email:
        raise InvalidAccountData("newEmail", "this is already the account's email")
    if await uow.session.scalar(select(User.id).where(User.email == new_email)) is not None:
        raise EmailTaken
    assert user.email is not None
    token = command.payload.token
    await _issue(uow, user, "change_email", new_email, token)
    confirm = change_email_email(user.name, new_email)
    await _send(uow, "change_email", new_email, confirm, key=f"token:{token.id}", token=token.id)
    notice = email_change_notice(user.name, new_email)
    await _send(uow, "email_change_notice", user.email, notice, key=f"email-change-notice:{token.id}", token=None)
    return new_email


async def confirm_email_change(command: Command[UseToken], uow: UnitOfWork) -> None:
    """The confirmed address becomes the account's (verified); only the account that asked can
    confirm, and the address must still be free."""
    token = await _take(uow, command.payload.digest, "change_email", user_id=command.actor.user_id)
    user = await _me(uow, command.actor.user_id)
    if await uow.session.scalar(select(User.id).where(User.email == token.email, User.id != user.id)) is not None:
        raise EmailTaken
    user.email = token.email
    user.email_verified_at = uow.now
    await _use_up(uow, user.id, "verify_email")  # links to the old address stop verifying anything
    try:
        await uow.session.flush()
    except IntegrityError as exc:  # registered a moment ago by someone else
        raise EmailTaken from exc
    uow.touch(user_key(user.id))


# -- deleting the account ------------------------------------------------------------------------

_OWN_MEDIA = text("SELECT i.original_key, i.sizes FROM ad_images i JOIN ads a ON a.id = i.ad_id WHERE a.owner_id = :id")
# Their ads are deleted as every ad is (``deleted_at``: gone from search and detail), and emptied of
# what they wrote. The rows stay because conversations about them do: the other participant sees
# the neutral title. Their images go (the rows here, the files by a job), and so do favorites and
# reports about them.
_OWN_ADS = text(
    "UPDATE ads SET deleted_at = coalesce(deleted_at, :at), title = :title, description = '', locality = '', "
    "price = NULL, revision = revision + 1, updated_at = :at WHERE owner_id = :id RETURNING id"
)
_ERASE = (
    text("DELETE FROM ad_images WHERE ad_id IN (SELECT id FROM ads WHERE owner_id = :id)"),
    text("DELETE FROM favorites WHERE ad_id IN (SELECT id FROM ads WHERE owner_id = :id)"),
    text("DELETE FROM reports WHERE ad_id IN (SELECT id FROM ads WHERE owner_id = :id)"),
    # their own things
    text("DELETE FROM favorites WHERE user_id = :id"),
    text("DELETE FROM saved_searches WHERE user_id = :id"),
    text("DELETE FROM reports WHERE reporter_id = :id"),
    text("DELETE FROM revoked_tokens WHERE user_id = :id"),
    text("DELETE FROM account_tokens WHERE user_id = :id"),  # their unsent emails with links go along
    # emails to them, sent or not; their name leaves the emails that showed it to someone else
    text("DELETE FROM email_deliveries WHERE to_address = :email"),
    text(
        "UPDATE email_deliveries SET body = replace(body, :shown, :neutral), mentions = array_remove(mentions, :id) "
        "WHERE :id = ANY(mentions)"
    ),
)


async def delete_account(command: Command[DeleteAccount], uow: UnitOfWork) -> None:
    """The account goes, and everything personal with it (Ley 25.326): ads (deleted, out of search
    and detail at once, and emptied; their images' files by a job), favorites, saved searches,
    reports, tokens and emails; every session ends on every instance. The row stays as a tombstone with a neutral name
    so that messages already sent keep an author for the other participant; the email may register
    again. With ``password`` (the owner), it must match; without (an admin), it is not asked."""
    data = command.payload
    query = select(User).where(User.id == data.user_id, User.deleted_at.is_(None)).with_for_update()
    user = await uow.session.scalar(query)
    if user is None:
        raise AccountGone if data.password is not None else UserNotFound
    if data.password is not None:
        await _check_password(user, data.password)

    media: list[str] = []
    for original, sizes in (await uow.session.execute(_OWN_MEDIA, {"id": user.id})).all():
        media.append(original)
        media.extend((sizes or {}).values())
    ads = (await uow.session.scalars(_OWN_ADS, {"id": user.id, "at": uow.now, "title": DELETED_AD_TITLE})).all()
    values = {"id": user.id, "email": user.email, "shown": f"• {user.name}:", "neutral": f"• {DELETED_USER_NAME}:"}
    for statement in _ERASE:
        await uow.session.execute(statement, values)

    at = uow.now
    user.email = None
    user.password_hash = None
    user.phone = None
    user.province_code = None
    user.email_verified_at = None
    user.name = DELETED_USER_NAME
    user.role = "user"
    user.deleted_at = at
    user.blocked_at = at
    user.sessions_valid_after = at
    user.sessions_kept_token = None
    await uow.session.flush()

    uow.end_sessions(Revocation(user.id, blocked=True))
    uow.touch(SEARCH, user_key(user.id), *(ad_key(ad_id) for ad_id in ads))
    if media:
        await uow.add_job(PURGE_MEDIA_JOB, key=f"purge-media:{user.id}", keys="\n".join(media))
