"""The new-message digest: one email listing what a user has not read, when they stay offline.

:func:`~domain.messaging.commands.send_message` schedules the ``send_message_digest`` job
:data:`DIGEST_DELAY_SECONDS` after a message; the job runs :func:`queue_message_digest`.
"""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import text

from domain.messaging.rules import preview
from domain.shared.emails import QueueEmail
from domain.shared.structs import CamelStruct
from domain.shared.unit_of_work import Command, UnitOfWork

DIGEST_DELAY_SECONDS = 600
"""Unread this long after arriving: the recipient is taken as offline and gets the digest."""
DIGEST_JOB = "send_message_digest"
"""The job a message sets off (``rural24.messaging.jobs``), one pending per recipient."""

_UNREAD = text(
    """
    SELECT m.id, m.content, s.name, s.id
    FROM messages m JOIN users s ON s.id = m.sender_id
    WHERE m.recipient_id = :user_id AND m.read_at IS NULL
    ORDER BY m.created_at DESC
    LIMIT 20
    """
)
_RECIPIENT = text("SELECT email, name FROM users WHERE id = :user_id AND blocked_at IS NULL")


class SendMessageDigest(CamelStruct):
    user_id: UUID


async def queue_message_digest(command: Command[SendMessageDigest], uow: UnitOfWork) -> UUID | None:
    """Queue the digest of the user's unread messages (sent after the commit); ``None`` when there
    is nothing new to tell (all read meanwhile, a blocked or deleted user, or already told up to
    the latest message: the dedupe key names it)."""
    user_id = command.payload.user_id
    unread = (await uow.session.execute(_UNREAD, {"user_id": user_id})).all()
    recipient = (await uow.session.execute(_RECIPIENT, {"user_id": user_id})).first()
    if not unread or recipient is None:
        return None
    lines = "\n".join(f"  • {sender}: {preview(content)}" for _, content, sender, _ in unread)
    senders = tuple(dict.fromkeys(sender_id for *_, sender_id in unread))
    count = len(unread)
    subject = f"Tenés {count} mensaje{'s' if count != 1 else ''} sin leer en Rural24"
    body = f"Hola {recipient.name},\n\n{lines}\n\nRespondé desde Rural24.\n\nEl equipo de Rural24"
    email = QueueEmail(kind="digest", dedupe_key=f"digest:{user_id}:{unread[0][0]}", to=recipient.email,
                       subject=subject, body=body, mentions=senders)  # fmt: skip
    return await uow.add_email(email)
