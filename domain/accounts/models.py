"""The ``users`` table."""

from __future__ import annotations

from datetime import datetime

from advanced_alchemy.base import UUIDv7AuditBase
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

ROLES = ("user", "admin")


class User(UUIDv7AuditBase):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN ('user', 'admin')", name="role_known"),
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
