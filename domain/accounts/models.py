"""The ``users`` and ``revoked_tokens`` tables."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, get_args
from uuid import UUID

from advanced_alchemy.base import UUIDBase, UUIDv7AuditBase
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

Role = Literal["user", "admin"]
"""An account's role: ``admin`` may moderate (suspend ads, block users, read the email outbox)."""
ROLES: tuple[Role, ...] = get_args(Role)


class User(UUIDv7AuditBase):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(f"role IN ({', '.join(repr(r) for r in ROLES)})", name="role_known"),
        CheckConstraint("email = lower(btrim(email))", name="email_normalised"),
        # login and register: the normalised email is unique
        Index("uq_users_email", "email", unique=True),
    )

    email: Mapped[str] = mapped_column(String(254))
    password_hash: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(120))
    phone: Mapped[str | None] = mapped_column(String(40), default=None)
    province_code: Mapped[str | None] = mapped_column(ForeignKey("provinces.code", ondelete="SET NULL"), default=None)
    role: Mapped[str] = mapped_column(String(16), default="user", server_default=text("'user'"))
    blocked_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    sessions_valid_after: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    """Tokens issued before this instant are dead (logout-all-devices, block)."""

    @property
    def is_blocked(self) -> bool:
        return self.blocked_at is not None


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
