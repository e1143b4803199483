"""Read side of messaging: the inbox and a conversation's messages, SQL straight into Structs.

Both are private to the caller and must show the caller's own writes (and the other
participant's message the caller was just notified of): the app reads them on a connection fresh
for the caller's writes (``rural24.reading.Reads.for_writer``), a position every send and
mark-read moves for both participants.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from msgspec import Meta

from domain.messaging.errors import InvalidMessage
from domain.messaging.rules import preview
from domain.shared import cursors
from domain.shared.ports import ReadConnection
from domain.shared.structs import CamelStruct, ReadModel

MAX_PAGE_SIZE = 50
MAX_INBOX_PAGE = 100


# -- read models ------------------------------------------------------------------------------


class AdRef(ReadModel):
    id: UUID
    title: str


class UserRef(ReadModel):
    id: UUID
    name: str


class LastMessage(ReadModel):
    preview: Annotated[str, Meta(max_length=50, description="The start of the message, one line, ≤ 50 characters.")]
    created_at: datetime


class ConversationSummary(ReadModel):
    """One row of the inbox."""

    id: UUID
    ad: AdRef | None
    other_user: UserRef
    last_message: LastMessage
    unread_count: Annotated[int, Meta(description="Messages to the caller not read yet.")]


class MessageRead(ReadModel):
    id: UUID
    sender_id: UUID
    content: str
    created_at: datetime
    read_at: Annotated[datetime | None, Meta(description="When the recipient marked it read.")]


class ConversationMessages(ReadModel):
    """A conversation and one page of its messages, newest first."""

    id: UUID
    ad: AdRef | None
    other_user: UserRef
    messages: list[MessageRead]
    next_cursor: Annotated[str | None, Meta(description="Pass as `cursor` for older messages; null on the last page.")]


# -- queries ------------------------------------------------------------------------------------


class ListConversations(CamelStruct):
    user_id: UUID
    page: int = 1
    page_size: int = MAX_PAGE_SIZE


class GetConversation(CamelStruct):
    user_id: UUID
    conversation_id: UUID
    cursor: str | None = None
    page_size: int = MAX_PAGE_SIZE


# Each side of the pair has its own index, (user_x_id, last_message_at DESC): one bounded scan per
# side, merged. The unread count is a count on the partial index ix_messages_unread_recipient,
# the last message one probe of ix_messages_conversation_created.
_INBOX = """
WITH mine AS (
    (SELECT id, ad_id, user_high_id AS other_id, last_message_at FROM conversations
     WHERE user_low_id = $1 ORDER BY last_message_at DESC, id DESC LIMIT $2)
    UNION ALL
    (SELECT id, ad_id, user_low_id AS other_id, last_message_at FROM conversations
     WHERE user_high_id = $1 ORDER BY last_message_at DESC, id DESC LIMIT $2)
), page AS (
    SELECT id, ad_id, other_id, last_message_at FROM mine
    ORDER BY last_message_at DESC, id DESC LIMIT $3 OFFSET $4
)
SELECT p.id, p.ad_id, a.title, p.other_id, u.name, last.content, last.created_at,
       (SELECT count(*) FROM messages r
        WHERE r.recipient_id = $1 AND r.conversation_id = p.id AND r.read_at IS NULL) AS unread
FROM page p
JOIN users u ON u.id = p.other_id
LEFT JOIN ads a ON a.id = p.ad_id
JOIN LATERAL (
    SELECT left(m.content, 200) AS content, m.created_at FROM messages m
    WHERE m.conversation_id = p.id ORDER BY m.created_at DESC, m.id DESC LIMIT 1
) last ON true
ORDER BY p.last_message_at DESC, p.id DESC
"""


async def list_conversations(query: ListConversations, db: ReadConnection) -> list[ConversationSummary]:
    """The caller's conversations, the one with the newest message first."""
    offset = (query.page - 1) * query.page_size
    rows = await db.fetch(_INBOX, query.user_id, offset + query.page_size, query.page_size, offset)
    return [
        ConversationSummary(
            id=row[0],
            ad=None if row[1] is None else AdRef(row[1], row[2]),
            other_user=UserRef(row[3], row[4]),
            last_message=LastMessage(preview(row[5]), row[6]),
            unread_count=int(row[7]),
        )
        for row in rows
    ]


_CONVERSATION = """
SELECT c.id, c.ad_id, a.title, u.id, u.name
FROM conversations c
JOIN users u ON u.id = CASE WHEN c.user_low_id = $2 THEN c.user_high_id ELSE c.user_low_id END
LEFT JOIN ads a ON a.id = c.ad_id
WHERE c.id = $1 AND (c.user_low_id = $2 OR c.user_high_id = $2)
"""

_MESSAGES = """
SELECT id, sender_id, content, created_at, read_at FROM messages
WHERE conversation_id = $1 {keyset}
ORDER BY created_at DESC, id DESC LIMIT {limit}
"""


# Keyset cursors (domain.shared.cursors): the (created_at, id) of the last message sent.


def _encode_cursor(created_at: datetime, message_id: UUID) -> str:
    return cursors.encode([created_at.isoformat(), str(message_id)])


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    """The position a cursor names; :class:`InvalidMessage` (422, field ``cursor``) when it is not one."""
    try:
        values = cursors.decode(cursor)
        if len(values) != 2:
            raise cursors.BadCursor(cursor)
        return cursors.read_time(values[0]), cursors.read_id(values[1])
    except cursors.BadCursor:
        raise InvalidMessage("cursor", "not a cursor from a previous page", source="query") from None


async def get_conversation(query: GetConversation, db: ReadConnection) -> ConversationMessages | None:
    """One page of messages, newest first; ``None`` when the caller is not a participant."""
    position = decode_cursor(query.cursor) if query.cursor else None
    head = await db.fetchrow(_CONVERSATION, query.conversation_id, query.user_id)
    if head is None:
        return None
    args: list[Any] = [query.conversation_id]
    keyset = ""
    if position is not None:
        args.extend(position)
        keyset = "AND (created_at, id) < ($2, $3)"
    sql = _MESSAGES.format(keyset=keyset, limit=f"${len(args) + 1}")
    rows = await db.fetch(sql, *args, query.page_size + 1)
    has_more = len(rows) > query.page_size
    rows = rows[: query.page_size]
    messages = [MessageRead(row[0], row[1], row[2], row[3], row[4]) for row in rows]
    last = messages[-1] if has_more and messages else None
    return ConversationMessages(
        id=head[0],
        ad=None if head[1] is None else AdRef(head[1], head[2]),
        other_user=UserRef(head[3], head[4]),
        messages=messages,
        next_cursor=None if last is None else _encode_cursor(last.created_at, last.id),
    )
