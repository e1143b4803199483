"""Job outbox, and saved searches that cannot be evaluated.

``job_outbox``: alert, image and digest jobs are recorded in the same transaction as their cause and
dispatched from there, so a queue that is down at commit time delays them instead of losing them.
``saved_searches.error`` / ``failing_since``: a saved search whose stored filters cannot be
evaluated is marked and skipped by the alert jobs (its owner sees why) instead of failing every
user's alerts.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 02:50:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from advanced_alchemy.types import GUID, DateTimeUTC
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "job_outbox",
        sa.Column("id", GUID(length=16), nullable=False),
        sa.Column("function", sa.String(length=64), nullable=False),
        sa.Column("job_key", sa.String(length=200), nullable=False),
        sa.Column("kwargs", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("run_after", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("dispatched_at", DateTimeUTC(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", DateTimeUTC(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_outbox")),
    )
    op.create_index(
        "uq_job_outbox_pending_key",
        "job_outbox",
        ["job_key"],
        unique=True,
        postgresql_where=sa.text("dispatched_at IS NULL"),
    )
    op.create_index(
        "ix_job_outbox_pending", "job_outbox", ["created_at"], postgresql_where=sa.text("dispatched_at IS NULL")
    )
    op.create_index(
        "ix_job_outbox_dispatched",
        "job_outbox",
        ["dispatched_at"],
        postgresql_where=sa.text("dispatched_at IS NOT NULL"),
    )
    op.add_column("saved_searches", sa.Column("error", sa.String(length=500), nullable=True))
    op.add_column("saved_searches", sa.Column("failing_since", DateTimeUTC(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("saved_searches", "failing_since")
    op.drop_column("saved_searches", "error")
    op.drop_index("ix_job_outbox_dispatched", table_name="job_outbox")
    op.drop_index("ix_job_outbox_pending", table_name="job_outbox")
    op.drop_index("uq_job_outbox_pending_key", table_name="job_outbox")
    op.drop_table("job_outbox")
