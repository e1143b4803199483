"""The email outbox, shared by every context: :func:`queue_email` puts an email in the caller's
transaction (handlers call it through ``uow.add_email``), :func:`deliver_email` is the delivery
step the worker runs (``rural24.emails``). Sending is at least once; a delivery already marked sent
is never sent again."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from uuid import UUID

from markupsafe import escape
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from domain.shared.models import EmailDelivery, EmailStatus
from domain.shared.ports import ReadConnection
from domain.shared.structs import CamelStruct, ReadModel

MAX_ATTEMPTS = 3
"""The original design's policy: three attempts with exponential backoff, then ``failed``."""

FRONTEND_SLOT = "__RURAL24_FRONTEND__"
"""In a queued email's text and HTML: where the frontend's address (``FRONTEND_URL``) goes."""
TOKEN_SLOT = "__RURAL24_TOKEN__"  # noqa: S105 - a placeholder, not a secret
"""In a queued email's text and HTML: where the account token goes (derived when sending, never stored)."""


class QueueEmail(CamelStruct):
    kind: str
    dedupe_key: str
    to: str
    subject: str
    body: str
    html: str | None = None
    token_id: UUID | None = None
    """The account token whose link (``TOKEN_SLOT``) the email carries."""
    mentions: tuple[UUID, ...] = ()
    """Users, other than the recipient, whose names the email shows."""


def fill_slots(content: str, *, frontend: str, token: str | None, html: bool = False) -> str:
    """The email as sent: the slots replaced (escaped for HTML). A slot without a value is an error:
    an email with a broken link is never sent."""
    if html:
        frontend = str(escape(frontend))
    content = content.replace(FRONTEND_SLOT, frontend)
    if TOKEN_SLOT in content:
        if token is None:
            msg = "the email carries a token link but has no token"
            raise ValueError(msg)
        content = content.replace(TOKEN_SLOT, token)
    return content


async def queue_email(command: QueueEmail, session: AsyncSession | AsyncConnection) -> UUID | None:
    """Insert the delivery; ``None`` when this cause already queued its email (dedupe key)."""
    now = datetime.now(UTC)
    statement = (
        insert(EmailDelivery)
        .values(
            kind=command.kind,
            dedupe_key=command.dedupe_key,
            to_address=command.to,
            subject=command.subject,
            body=command.body,
            html_body=command.html,
            token_id=command.token_id,
            mentions=list(command.mentions) or None,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(EmailDelivery.id)
    )
    return await session.scalar(statement)


class Outgoing(CamelStruct):
    to: str
    subject: str
    body: str
    html: str | None = None
    token_id: UUID | None = None


DeliveryOutcome = str  # "sent", "already sent", "gone", "failed"


async def deliver_email(
    delivery_id: UUID,
    connection_factory: Callable[[], AsyncConnection],
    send: Callable[[Outgoing], Awaitable[None]],
    *,
    final_attempt: bool,
) -> DeliveryOutcome:
    """Send one queued email. A failure is recorded and re-raised (the queue retries it); on the
    final attempt the delivery becomes ``failed``, where operators find it."""
    async with connection_factory() as connection, connection.begin():
        row = (
            await connection.execute(
                text(
                    "UPDATE email_deliveries SET attempts = attempts + 1, updated_at = now() "
                    "WHERE id = :id AND status = 'pending' RETURNING to_address, subject, body, html_body, token_id"
                ),
                {"id": delivery_id},
            )
        ).first()
    if row is None:
        async with connection_factory() as connection:
            status = await connection.scalar(
                text("SELECT status FROM email_deliveries WHERE id = :id"), {"id": delivery_id}
            )
        return "gone" if status is None else f"already {status}"
    try:
        await send(
            Outgoing(to=row.to_address, subject=row.subject, body=row.body, html=row.html_body, token_id=row.token_id)
        )
    except Exception as exc:
        async with connection_factory() as connection, connection.begin():
            await connection.execute(
                text(
                    "UPDATE email_deliveries SET last_error = :error, updated_at = now(), "
                    "status = CASE WHEN :final THEN 'failed' ELSE status END WHERE id = :id"
                ),
                {"id": delivery_id, "error": f"{type(exc).__name__}: {exc}"[:500], "final": final_attempt},
            )
        raise
    async with connection_factory() as connection, connection.begin():
        await connection.execute(
            text(
                "UPDATE email_deliveries SET status = 'sent', sent_at = now(), updated_at = now(), last_error = NULL "
                "WHERE id = :id"
            ),
            {"id": delivery_id},
        )
    return "sent"


class EmailDeliveryRead(ReadModel):
    id: UUID
    kind: str
    to: str
    subject: str
    status: EmailStatus
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


_DELIVERIES_SQL = """
SELECT id, kind, to_address, subject, status, attempts, last_error, created_at, sent_at
FROM email_deliveries WHERE status = $1 ORDER BY created_at DESC LIMIT $2
"""


async def list_deliveries(status: str, limit: int, db: ReadConnection) -> list[EmailDeliveryRead]:
    """Operators: failed (or pending) emails, newest first (``ix_email_deliveries_status_created``)."""
    rows = await db.fetch(_DELIVERIES_SQL, status, limit)
    return [EmailDeliveryRead(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8]) for r in rows]


_STALE_PENDING_SQL = """
SELECT id FROM email_deliveries WHERE status = 'pending' AND created_at < now() - interval '2 minutes'
ORDER BY created_at LIMIT 500
"""


async def stale_pending_emails(db: ReadConnection) -> list[UUID]:
    """Pending for over two minutes: their send was never queued (the queue was down right after
    the commit) or is stuck; the requeue queues them again under their job key."""
    return [row[0] for row in await db.fetch(_STALE_PENDING_SQL)]
