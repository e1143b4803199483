"""Durable revocations and session events.

``revoked_tokens``: every logged-out token until it would have expired, written in the logout's
transaction, so a revocation survives a restart of the app and an outage of the session store.
Triggers NOTIFY ``rural24_sessions`` when a token is revoked, a user's sessions are ended or
blocked, or a user row is deleted (by the app or behind its back): every app instance LISTENs and
updates its session store at once.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 03:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from advanced_alchemy.types import GUID, DateTimeUTC
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The payloads are read by infrastructure/sessions.py (SessionEvents).
_STATEMENTS = (
    """
CREATE FUNCTION notify_token_revoked() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('rural24_sessions', json_build_object(
    'event', 'revoked', 'user', NEW.user_id, 'token', NEW.id,
    'expiresAt', floor(extract(epoch FROM NEW.expires_at))::bigint)::text);
  RETURN NULL;
END $$
""",
    """
CREATE FUNCTION notify_user_sessions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM pg_notify('rural24_sessions', json_build_object('event', 'deleted', 'user', OLD.id)::text);
  ELSE
    PERFORM pg_notify('rural24_sessions', json_build_object(
      'event', 'changed', 'user', NEW.id, 'blocked', NEW.blocked_at IS NOT NULL)::text);
  END IF;
  RETURN NULL;
END $$
""",
    """
CREATE TRIGGER revoked_tokens_notify AFTER INSERT ON revoked_tokens
  FOR EACH ROW EXECUTE FUNCTION notify_token_revoked()
""",
    """
CREATE TRIGGER users_sessions_notify_delete AFTER DELETE ON users
  FOR EACH ROW EXECUTE FUNCTION notify_user_sessions()
""",
    """
CREATE TRIGGER users_sessions_notify_update AFTER UPDATE OF sessions_valid_after, blocked_at ON users
  FOR EACH ROW
  WHEN (OLD.sessions_valid_after IS DISTINCT FROM NEW.sessions_valid_after
        OR OLD.blocked_at IS DISTINCT FROM NEW.blocked_at)
  EXECUTE FUNCTION notify_user_sessions()
""",
)


def upgrade() -> None:
    op.create_table(
        "revoked_tokens",
        sa.Column("id", GUID(length=16), nullable=False),
        sa.Column("user_id", GUID(length=16), nullable=False),
        sa.Column("expires_at", DateTimeUTC(timezone=True), nullable=False),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_revoked_tokens_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_revoked_tokens")),
    )
    # deleting a user deletes their revocations (the foreign key's cascade)
    op.create_index("ix_revoked_tokens_user_id", "revoked_tokens", ["user_id"], unique=False)
    # loading the live revocations at start-up; the logout's clean-up of expired ones
    op.create_index("ix_revoked_tokens_expires_at", "revoked_tokens", ["expires_at"], unique=False)
    for statement in _STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS users_sessions_notify_update ON users")
    op.execute("DROP TRIGGER IF EXISTS users_sessions_notify_delete ON users")
    op.execute("DROP TRIGGER IF EXISTS revoked_tokens_notify ON revoked_tokens")
    op.execute("DROP FUNCTION IF EXISTS notify_user_sessions()")
    op.execute("DROP FUNCTION IF EXISTS notify_token_revoked()")
    op.drop_index("ix_revoked_tokens_expires_at", table_name="revoked_tokens")
    op.drop_index("ix_revoked_tokens_user_id", table_name="revoked_tokens")
    op.drop_table("revoked_tokens")
