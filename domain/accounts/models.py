"""The ``users`` and ``revoked_tokens`` tables."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, get_args
from uuid import UUID

from advanced_alchemy.base import UUIDBase, UUIDv7AuditBase
from advanced_alchemy.types import GUID, DateTimeUTC
from sqlalchemy import CheckConstraint, ForeignKey, Index, LargeBinary, String, text
from sqlalchemy.orm import Mapped, mapped_column

Role = Literal["user", "admin"]
"""An account's role: ``admin`` may moderate (suspend ads, block users, read the email outbox)."""
ROLES: tuple[Role, ...] = get_args(Role)

DELETED_USER_NAME = "usuario eliminado"
"""The name a deleted account keeps: its messages stay readable to the other participant, with
this neutral author."""


class User(UUIDv7AuditBase):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(f"role IN ({', '.join(repr(r) for r in ROLES)})", name="role_known"),
        CheckConstraint("email = lower(btrim(email))", name="email_normalised"),
        # a live account has credentials; a deleted one keeps no personal data at all
        CheckConstraint("deleted_at IS NOT NULL OR (email IS NOT NULL AND password_hash IS NOT NULL)", name="live"),
        CheckConstraint(
            "deleted_at IS NULL OR (email IS NULL AND password_hash IS NULL AND phone IS NULL "
            "AND province_code IS NULL AND email_verified_at IS NULL)",
            name="erased",
        ),
        # login and register: the normalised email is unique
        Index("uq_users_email", "email", unique=True),
    )

    email: Mapped[str | None] = mapped_column(String(254))
    """``None`` only once the account is deleted (the address may register again)."""
    password_hash: Mapped[str | None] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(120))
    phone: Mapped[str | None] = mapped_column(String(40), default=None)
    province_code: Mapped[str | None] = mapped_column(ForeignKey("provinces.code", ondelete="SET NULL"), default=None)
    role: Mapped[str] = mapped_column(String(16), default="user", server_default=text("'user'"))
    blocked_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    sessions_valid_after: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    """Tokens issued before this instant are dead (logout-all-devices, block) ..."""
    sessions_kept_token: Mapped[UUID | None] = mapped_column(GUID(length=16), default=None)
    """... but this one (``jti``): the session that changed the password stays open."""
    email_verified_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    """The account was deleted: the row is a tombstone (its id, its timestamps and the neutral
    name) so that messages already sent keep an author. ``blocked_at`` is set too: no session, no
    login, no public profile."""

    @property
    def is_blocked(self) -> bool:
        return self.blocked_at is not None

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


TokenPurpose = Literal["verify_email", "reset_password", "change_email"]
"""What an emailed token is for; a token of one purpose is refused by the others."""
TOKEN_PURPOSES: tuple[TokenPurpose, ...] = get_args(TokenPurpose)


class AccountToken(UUIDv7AuditBase):
    """A single-use token sent by email (verify an address, reset a password, confirm a new
    address). Only its SHA-256 ``digest`` is stored; the token itself is derived from the row's id
    with a server key when the email is sent (``infrastructure.account_tokens``), so neither this
    table nor the email outbox holds it."""

    __tablename__ = "account_tokens"
    __table_args__ = (
        CheckConstraint(f"purpose IN ({', '.join(repr(p) for p in TOKEN_PURPOSES)})", name="purpose_known"),
        # using a token: found by the digest of what the user posts
        Index("uq_account_tokens_digest", "digest", unique=True),
        # a new token of a purpose uses up the user's earlier ones
        Index("ix_account_tokens_user_purpose", "user_id", "purpose"),
    )

    user_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(20))
    digest: Mapped[bytes] = mapped_column(LargeBinary(32))
    email: Mapped[str] = mapped_column(String(254))
    """The address the token proves: the account's (verification, reset) or the new one (change)."""
    expires_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)


class RevokedToken(UUIDBase):
    """A logged-out token (``id`` is its ``jti``) until it would have expired: the durable record
    of a single logout, checked whenever the session store cannot answer (see
    ``infrastructure/sessions.py``). A trigger NOTIFYs every app instance of each new row."""

    __tablename__ = "revoked_tokens"
    __table_args__ = (
        Index("ix_revoked_tokens_user_id", "user_id"),
        Index("ix_revoked_tokens_expires_at", "expires_at"),
    )

    user_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    expires_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
