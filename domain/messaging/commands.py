"""Write side of messaging: commands and their handlers, ``handler(Command(actor, payload), uow)``.

Handlers change rows through ``uow.session`` and declare what follows (both participants' write
positions, the recipient's notification, the digest job); the unit of work commits, and only
then is anyone notified (the database is the truth).

A conversation is one ordered pair of users about one ad (or about no ad). Two first messages
racing for the same pair and ad end in one conversation: the unique index on
``(user_low_id, user_high_id, ad_id)`` (NULLS NOT DISTINCT) arbitrates an
``INSERT … ON CONFLICT DO NOTHING``, and the loser reads the winner's row.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated
from uuid import UUID

from msgspec import Meta
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from domain.messaging.digest import DIGEST_DELAY_SECONDS, DIGEST_JOB
from domain.messaging.errors import (
    ConversationAdNotFound,
    ConversationNotFound,
    InvalidMessage,
    RecipientNotFound,
    SenderBlocked,
)
from domain.messaging.events import MessageNew, Sender
from domain.messaging.models import Conversation, Message
from domain.messaging.rules import MAX_CONTENT_LENGTH, clean_content, content_problem, ordered_pair, preview
from domain.shared.fields import Prose
from domain.shared.structs import CamelStruct
from domain.shared.unit_of_work import Command, UnitOfWork, user_key

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
    """What a send did (the app answers with the ids)."""

    message_id: UUID
    conversation_id: UUID


class MarkConversationRead(CamelStruct):
    """The reader is the actor."""

    conversation_id: UUID


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
            raise ConversationAdNotFound
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


async def send_message(command: Command[SendMessage], uow: UnitOfWork) -> MessageSent:
    """Find or create the conversation, add the message, move the conversation to the top. Both
    participants' next reads see it; the recipient is notified, and gets an email digest if they
    have not read it :data:`DIGEST_DELAY_SECONDS` later (one pending digest per recipient: more
    messages meanwhile join it).

    Errors: blank or too long content, or a message to oneself → 422; unknown or blocked
    recipient → 404; a new conversation about an unknown, deleted or suspended ad → 404, about
    an ad of neither participant → 422; a blocked sender → 403.
    """
    session, sender_id, data = uow.session, command.actor.user_id, command.payload
    content = clean_content(data.content)
    if problem := content_problem(content):
        raise InvalidMessage("content", problem)
    recipient_id = data.recipient_id
    if recipient_id == sender_id:
        raise InvalidMessage("recipientId", "you cannot send a message to yourself")
    people = {
        row.id: row for row in (await session.execute(_PARTICIPANTS, {"sender": sender_id, "recipient": recipient_id}))
    }
    sender = people.get(sender_id)
    if sender is None or sender.blocked:
        raise SenderBlocked
    recipient = people.get(recipient_id)
    if recipient is None or recipient.blocked:
        raise RecipientNotFound

    at = uow.now
    conversation_id = await _conversation_for(session, sender_id, recipient_id, data.ad_id, at)
    message_id = await session.scalar(
        insert(Message)
        .values(
            conversation_id=conversation_id,
            sender_id=sender_id,
            recipient_id=recipient_id,
            content=content,
            created_at=at,
            updated_at=at,
        )
        .returning(Message.id)
    )
    assert message_id is not None
    await session.execute(_TOUCH, {"id": conversation_id, "now": at})
    uow.touch(user_key(sender_id), user_key(recipient_id))
    await uow.add_job(
        DIGEST_JOB,
        key=f"digest:{recipient_id}",
        delay=timedelta(seconds=DIGEST_DELAY_SECONDS),
        user_id=str(recipient_id),
    )
    uow.notify(
        recipient_id,
        MessageNew(
            message_id=message_id,
            conversation_id=conversation_id,
            sender=Sender(sender_id, sender.name),
            preview=preview(content),
        ),
    )
    return MessageSent(message_id=message_id, conversation_id=conversation_id)


_PAIR = text("SELECT user_low_id, user_high_id FROM conversations WHERE id = :id")

_MARK_READ = text(
    "UPDATE messages SET read_at = :now, updated_at = :now "
    "WHERE recipient_id = :reader AND conversation_id = :id AND read_at IS NULL"
)


async def mark_conversation_read(command: Command[MarkConversationRead], uow: UnitOfWork) -> int:
    """Every message to the actor in the conversation becomes read; participants only (else 404).
    How many became read; when any did, both participants' next reads see it."""
    reader_id, conversation_id = command.actor.user_id, command.payload.conversation_id
    pair = (await uow.session.execute(_PAIR, {"id": conversation_id})).first()
    if pair is None or reader_id not in (pair.user_low_id, pair.user_high_id):
        raise ConversationNotFound
    other_id = pair.user_high_id if pair.user_low_id == reader_id else pair.user_low_id
    result = await uow.session.execute(_MARK_READ, {"reader": reader_id, "id": conversation_id, "now": uow.now})
    marked = int(getattr(result, "rowcount", 0) or 0)
    if marked:
        uow.touch(user_key(reader_id), user_key(other_id))
    return marked
