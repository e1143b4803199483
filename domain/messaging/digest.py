"""The new-message digest: one email listing what a user has not read, when they stay offline."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.messaging.outbox import QueueEmail, queue_email
from domain.messaging.rules import preview

DIGEST_DELAY_SECONDS = 600
"""Unread this long after arriving: the recipient is taken as offline and gets the digest."""

_UNREAD = text(
    """
    SELECT m.id, m.content, s.name
    FROM messages m JOIN users s ON s.id = m.sender_id
    WHERE m.recipient_id = :user_id AND m.read_at IS NULL
    ORDER BY m.created_at DESC
    LIMIT 20
    """
)
_RECIPIENT = text("SELECT email, name FROM users WHERE id = :user_id AND blocked_at IS NULL")


async def queue_message_digest(user_id: UUID, connection: AsyncConnection) -> UUID | None:
    """Queue the digest of the user's unread messages; ``None`` when there is nothing new to tell
    (all read meanwhile, or already told up to the latest message: the dedupe key names it)."""
    unread = (await connection.execute(_UNREAD, {"user_id": user_id})).all()
    recipient = (await connection.execute(_RECIPIENT, {"user_id": user_id})).first()
    if not unread or recipient is None:
        return None
    lines = "\n".join(f"  • {sender}: {preview(content)}" for _, content, sender in unread)
    count = len(unread)
    subject = f"Tenés {count} mensaje{'s' if count != 1 else ''} sin leer en Rural24"
    body = f"Hola {recipient.name},\n\n{lines}\n\nRespondé desde Rural24.\n\nEl equipo de Rural24"
    email = QueueEmail(kind="digest", dedupe_key=f"digest:{user_id}:{unread[0][0]}", to=recipient.email,
                       subject=subject, body=body)  # fmt: skip
    return await queue_email(email, connection)
