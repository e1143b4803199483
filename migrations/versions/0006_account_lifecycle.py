"""Account lifecycle: emailed tokens, verified emails, deleted accounts, the session a password
change keeps, and emails with an HTML part.

``account_tokens`` holds only each token's SHA-256 digest. ``users`` gains ``email_verified_at``,
``deleted_at`` (a deleted account is a tombstone without personal data: its email and password
become NULL, checked by ``ck_users_erased``) and ``sessions_kept_token``. ``email_deliveries``
gains ``html_body``, ``token_id`` (the token whose link is filled in when sending) and
``mentions`` (users named in an email to someone else).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 11:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from advanced_alchemy.types import GUID, DateTimeUTC
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("sessions_kept_token", GUID(length=16), nullable=True))
    op.add_column("users", sa.Column("email_verified_at", DateTimeUTC(timezone=True), nullable=True))
    op.add_column("users", sa.Column("deleted_at", DateTimeUTC(timezone=True), nullable=True))
    op.alter_column("users", "email", existing_type=sa.String(length=254), nullable=True)
    op.alter_column("users", "password_hash", existing_type=sa.String(length=255), nullable=True)
    op.create_check_constraint(
        op.f("ck_users_live"), "users", "deleted_at IS NOT NULL OR (email IS NOT NULL AND password_hash IS NOT NULL)"
    )
    op.create_check_constraint(
        op.f("ck_users_erased"),
        "users",
        "deleted_at IS NULL OR (email IS NULL AND password_hash IS NULL AND phone IS NULL "
        "AND province_code IS NULL AND email_verified_at IS NULL)",
    )

    op.create_table(
        "account_tokens",
        sa.Column("id", GUID(length=16), nullable=False),
        sa.Column("user_id", GUID(length=16), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("digest", sa.LargeBinary(length=32), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("expires_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("used_at", DateTimeUTC(timezone=True), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", DateTimeUTC(timezone=True), nullable=False),
        sa.CheckConstraint(
            "purpose IN ('verify_email', 'reset_password', 'change_email')",
            name=op.f("ck_account_tokens_purpose_known"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_account_tokens_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_tokens")),
    )
    op.create_index("uq_account_tokens_digest", "account_tokens", ["digest"], unique=True)
    op.create_index("ix_account_tokens_user_purpose", "account_tokens", ["user_id", "purpose"], unique=False)

    op.add_column("email_deliveries", sa.Column("html_body", sa.String(length=60000), nullable=True))
    op.add_column("email_deliveries", sa.Column("token_id", GUID(length=16), nullable=True))
    op.add_column(
        "email_deliveries", sa.Column("mentions", postgresql.ARRAY(postgresql.UUID(as_uuid=True)), nullable=True)
    )
    op.create_foreign_key(
        op.f("fk_email_deliveries_token_id_account_tokens"),
        "email_deliveries",
        "account_tokens",
        ["token_id"],
        ["id"],
        ondelete="CASCADE",
    )


def downgrade() -> None:
    op.drop_constraint(op.f("fk_email_deliveries_token_id_account_tokens"), "email_deliveries", type_="foreignkey")
    op.drop_column("email_deliveries", "mentions")
    op.drop_column("email_deliveries", "token_id")
    op.drop_column("email_deliveries", "html_body")
    op.drop_index("ix_account_tokens_user_purpose", table_name="account_tokens")
    op.drop_index("uq_account_tokens_digest", table_name="account_tokens")
    op.drop_table("account_tokens")
    op.execute("DELETE FROM users WHERE deleted_at IS NOT NULL")
    op.drop_constraint(op.f("ck_users_erased"), "users", type_="check")
    op.drop_constraint(op.f("ck_users_live"), "users", type_="check")
    op.alter_column("users", "password_hash", existing_type=sa.String(length=255), nullable=False)
    op.alter_column("users", "email", existing_type=sa.String(length=254), nullable=False)
    op.drop_column("users", "deleted_at")
    op.drop_column("users", "email_verified_at")
    op.drop_column("users", "sessions_kept_token")
