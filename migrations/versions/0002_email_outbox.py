"""Email outbox: every email the service sends, with its outcome (pending, sent, failed).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 04:09:07.408590
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from advanced_alchemy.types import GUID, DateTimeUTC
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "email_deliveries",
        sa.Column("id", GUID(length=16), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=False),
        sa.Column("to_address", sa.String(length=254), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("body", sa.String(length=20000), nullable=False),
        sa.Column("status", sa.String(length=16), server_default=sa.text("'pending'"), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("sent_at", DateTimeUTC(timezone=True), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('pending', 'sent', 'failed')", name=op.f("ck_email_deliveries_status_known")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_deliveries")),
    )
    # operators list failed or stuck emails, newest first; the requeue job finds old pending ones
    op.create_index(
        "ix_email_deliveries_status_created",
        "email_deliveries",
        ["status", sa.literal_column("created_at DESC")],
        unique=False,
    )
    # one email per cause: a retried command never queues the same email twice
    op.create_index("uq_email_deliveries_dedupe_key", "email_deliveries", ["dedupe_key"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_email_deliveries_dedupe_key", table_name="email_deliveries")
    op.drop_index("ix_email_deliveries_status_created", table_name="email_deliveries")
    op.drop_table("email_deliveries")
