"""Write side of messaging: commands and their handlers, run on the primary inside the caller's
transaction. The caller commits, and only then notifies anyone (the database is the truth).

A conversation is one ordered pair of users about one ad (or about no ad). Two first messages
racing for the same pair and ad end in one conversation: the unique index on
``(user_low_id, user_high_id, ad_id)`` (NULLS NOT DISTINCT) arbitrates an
``INSERT … ON CONFLICT DO NOTHING``, and the loser reads the winner's row.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

from msgspec import Meta
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from domain.messaging.errors import AdNotFound, ConversationNotFound, InvalidMessage, RecipientNotFound, SenderBlocked
from domain.messaging.models import Conversation, Message
from domain.messaging.rules import MAX_CONTENT_LENGTH, clean_content, content_problem, ordered_pair, preview
from domain.shared.fields import Prose
from domain.shared.structs import CamelStruct

Content = Annotated[
    Prose,
    Meta(
        description=(
            f"The message: surrounding whitespace is trimmed, then it must have 1 to {MAX_CONTENT_LENGTH} "
            "characters (422 otherwise)."
        ),
        # Documented in OpenAPI (Litestar reads Schema fields from "extra"), checked by the handler
        # after trimming: a schema check would count surrounding spaces.
        extra_json_schema={"extra": {"min_length": 1, "max_length": MAX_CONTENT_LENGTH}},
    ),
]


class SendMessage(CamelStruct, forbid_unknown_fields=True):
    """``POST /api/messages/send``. The sender is the caller."""

    recipient_id: UUID
    content: Content
    ad_id: Annotated[
        UUID | None,
        Meta(description="The ad the conversation is about; it must belong to the sender or the recipient."),
    ] = None


class MessageSent(CamelStruct):
    """What a send did: the app answers with the ids and notifies the recipient after commit."""

    message_id: UUID
    conversation_id: UUID
    sender_id: UUID
    sender_name: str
    recipient_id: UUID
    preview: str
    created_at: datetime


class MarkConversationRead(CamelStruct):
    conversation_id: UUID
    reader_id: UUID
    now: datetime


class ConversationRead(CamelStruct):
    conversation_id: UUID
    reader_id: UUID
    other_id: UUID
    marked: int
    """Messages that became read (0: nothing changed)."""


_PARTICIPANTS = text("SELECT id, name, blocked_at IS NOT NULL AS blocked FROM users WHERE id IN (:sender, :recipient)")

# Two statements rather than `ad_id IS NOT DISTINCT FROM :ad`, which no index can serve.
_FIND_WITH_AD = text("SELECT id FROM conversations WHERE user_low_id = :low AND user_high_id = :high AND ad_id = :ad")
_FIND_WITHOUT_AD = text(
    "SELECT id FROM conversations WHERE user_low_id = :low AND user_high_id = :high AND ad_id IS NULL"
)

# A new conversation may only be about an ad anyone can still find a trace of (not deleted,
# not suspended); an existing one goes on whatever became of its ad.
_AD_OWNER = text("SELECT owner_id FROM ads WHERE id = :id AND deleted_at IS NULL AND suspended_at IS NULL")

_TOUCH = text(
    "UPDATE conversations SET last_message_at = GREATEST(last_message_at, :now), updated_at = :now WHERE id = :id"
)


async def _find_conversation(session: AsyncSession, low: UUID, high: UUID, ad_id: UUID | None) -> UUID | None:
    if ad_id is None:
        found: UUID | None = await session.scalar(_FIND_WITHOUT_AD, {"low": low, "high": high})
    else:
        found = await session.scalar(_FIND_WITH_AD, {"low": low, "high": high, "ad": ad_id})
    return found


async def _conversation_for(
    session: AsyncSession, sender_id: UUID, recipient_id: UUID, ad_id: UUID | None, now: datetime
) -> UUID:
    low, high = ordered_pair(sender_id, recipient_id)
    existing = await _find_conversation(session, low, high, ad_id)
    if existing is not None:
        return existing
    if ad_id is not None:
        owner = await session.scalar(_AD_OWNER, {"id": ad_id})
        if owner is None:
            raise AdNotFound
        if owner not in (sender_id, recipient_id):
            raise InvalidMessage("adId", "the ad belongs to neither the sender nor the recipient")
    created: UUID | None = await session.scalar(
        insert(Conversation)
        .values(user_low_id=low, user_high_id=high, ad_id=ad_id, last_message_at=now, created_at=now, updated_at=now)
        .on_conflict_do_nothing()
        .returning(Conversation.id)
    )
    if created is not None:
        return created
    # A concurrent first message created it: its row is committed and visible to this statement.
    winner = await _find_conversation(session, low, high, ad_id)
    assert winner is not None
    return winner


async def send_message(
    command: SendMessage, sender_id: UUID, session: AsyncSession, *, now: datetime | None = None
) -> MessageSent:
    """Find or create the conversation, add the message, move the conversation to the top.

    Errors: blank or too long content, or a message to oneself → 422; unknown or blocked
    recipient → 404; a new conversation about an unknown, deleted or suspended ad → 404, about
    an ad of neither participant → 422; a blocked sender → 403.
    """
    content = clean_content(command.content)
    if problem := content_problem(content):
        raise InvalidMessage("content", problem)
    if command.recipient_id == sender_id:
        raise InvalidMessage("recipientId", "you cannot send a message to yourself")
    people = {
        row.id: row
        for row in (await session.execute(_PARTICIPANTS, {"sender": sender_id, "recipient": command.recipient_id}))
    }
    sender = people.get(sender_id)
    if sender is None or sender.blocked:
        raise SenderBlocked
    recipient = people.get(command.recipient_id)
    if recipient is None or recipient.blocked:
        raise RecipientNotFound

    at = now or datetime.now(UTC)
    conversation_id = await _conversation_for(session, sender_id, command.recipient_id, command.ad_id, at)
    message_id = await session.scalar(
        insert(Message)
        .values(
            conversation_id=conversation_id,
            sender_id=sender_id,
            recipient_id=command.recipient_id,
            content=content,
            created_at=at,
            updated_at=at,
        )
        .returning(Message.id)
    )
    assert message_id is not None
    await session.execute(_TOUCH, {"id": conversation_id, "now": at})
    return MessageSent(
        message_id=message_id,
        conversation_id=conversation_id,
        sender_id=sender_id,
        sender_name=sender.name,
        recipient_id=command.recipient_id,
        preview=preview(content),
        created_at=at,
    )


_PAIR = text("SELECT user_low_id, user_high_id FROM conversations WHERE id = :id")

_MARK_READ = text(
    "UPDATE messages SET read_at = :now, updated_at = :now "
    "WHERE recipient_id = :reader AND conversation_id = :id AND read_at IS NULL"
)


async def mark_conversation_read(command: MarkConversationRead, session: AsyncSession) -> ConversationRead:
    """Every message to the reader in the conversation becomes read; participants only (else 404)."""
    pair = (await session.execute(_PAIR, {"id": command.conversation_id})).first()
    if pair is None or command.reader_id not in (pair.user_low_id, pair.user_high_id):
        raise ConversationNotFound
    other = pair.user_high_id if pair.user_low_id == command.reader_id else pair.user_low_id
    result = await session.execute(
        _MARK_READ, {"reader": command.reader_id, "id": command.conversation_id, "now": command.now}
    )
    marked = int(getattr(result, "rowcount", 0) or 0)
    return ConversationRead(
        conversation_id=command.conversation_id, reader_id=command.reader_id, other_id=other, marked=marked
    )
