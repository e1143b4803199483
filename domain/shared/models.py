"""The outbox tables every context writes to: ``job_outbox`` (background jobs) and
``email_deliveries`` (emails), each row recorded in the same transaction as its cause."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, get_args
from uuid import UUID

from advanced_alchemy.base import UUIDv7AuditBase
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.orm import Mapped, mapped_column


class OutboxJob(UUIDv7AuditBase):
    """A job that must run because something was committed (an ad published, an image uploaded, a
    message sent). The API dispatches it right after the commit; the worker's relay dispatches
    whatever is still undispatched (the queue was down, the API died in between)."""

    __tablename__ = "job_outbox"
    __table_args__ = (
        # one undispatched row per job key: a retried command records its job once. Dispatched rows
        # may share a key (one digest per recipient at a time, then another later): the queue's own
        # job key dedupes a job dispatched twice.
        Index("uq_job_outbox_pending_key", "job_key", unique=True, postgresql_where=text("dispatched_at IS NULL")),
        # the relay: undispatched rows, oldest first
        Index("ix_job_outbox_pending", "created_at", postgresql_where=text("dispatched_at IS NULL")),
        # the relay's clean-up of dispatched rows past their retention
        Index("ix_job_outbox_dispatched", "dispatched_at", postgresql_where=text("dispatched_at IS NOT NULL")),
    )

    function: Mapped[str] = mapped_column(String(64))
    job_key: Mapped[str] = mapped_column(String(200))
    kwargs: Mapped[dict[str, Any]] = mapped_column(JSONB)
    run_after: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    dispatched_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    last_error: Mapped[str | None] = mapped_column(String(500), default=None)


EmailStatus = Literal["pending", "sent", "failed"]
"""``pending`` until sent; ``failed`` after the last attempt (kept with its error)."""
EMAIL_STATUSES: tuple[EmailStatus, ...] = get_args(EmailStatus)


class EmailDelivery(UUIDv7AuditBase):
    """The email outbox: written in the same transaction as what causes the email, sent by the
    worker, and kept with its outcome so that a failure is listed, never silent."""

    __tablename__ = "email_deliveries"
    __table_args__ = (
        CheckConstraint(f"status IN ({', '.join(repr(s) for s in EMAIL_STATUSES)})", name="status_known"),
        # one email per cause: a retried command never queues the same email twice
        Index("uq_email_deliveries_dedupe_key", "dedupe_key", unique=True),
        # operators: failed (or stuck pending) emails, newest first; the requeue job: old pending ones
        Index("ix_email_deliveries_status_created", "status", text("created_at DESC")),
    )

    kind: Mapped[str] = mapped_column(String(40))
    dedupe_key: Mapped[str] = mapped_column(String(200))
    to_address: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(String(20000))
    html_body: Mapped[str | None] = mapped_column(String(60000), default=None)
    """The HTML part, when the email has one (the plain ``body`` is always there)."""
    token_id: Mapped[UUID | None] = mapped_column(ForeignKey("account_tokens.id", ondelete="CASCADE"), default=None)
    """The account token whose link the email carries: filled in only when sending (the token is
    never stored); a token that is deleted takes its unsent email along."""
    mentions: Mapped[list[UUID] | None] = mapped_column(ARRAY(PG_UUID(as_uuid=True)), default=None)
    """Users other than the recipient whose name the email shows (a digest's senders): erased
    from it when one of them deletes their account."""
    status: Mapped[str] = mapped_column(String(16), default="pending", server_default=text("'pending'"))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    last_error: Mapped[str | None] = mapped_column(String(500), default=None)
    sent_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
