"""Messages (API.md: Messages and notifications): commands on the primary, reads fresh for the caller.

A send commits, then moves both participants' write positions (``user_writes``) to the commit's
WAL position, then notifies the recipient's channel: by the time the recipient hears of the
message, any read they make (with ``after_lsn`` = their position) sees it, replica or not.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.messaging.commands import MarkConversationRead, SendMessage, mark_conversation_read, send_message
from domain.messaging.errors import ConversationNotFound
from domain.messaging.queries import (
    MAX_INBOX_PAGE,
    MAX_PAGE_SIZE,
    ConversationMessages,
    ConversationSummary,
    GetConversation,
    ListConversations,
    get_conversation,
    list_conversations,
)
from domain.shared.fields import CURSOR_PATTERN
from domain.shared.structs import CamelStruct
from infrastructure.database.reads import lsn_to_int
from infrastructure.generations import user_writes
from rural24.auth import current_user
from rural24.idempotency import IdempotencyKeyHeader, idempotent
from rural24.jobs.digest import record_message_digest
from rural24.notifications import MessageNew, Sender
from rural24.openapi import CACHE_CONTROL, REPLAYED, documented
from rural24.ratelimit import limit_messages
from rural24.state import Services

PRIVATE = {"Cache-Control": "private, no-store"}


class MessageAccepted(CamelStruct):
    message_id: UUID
    conversation_id: UUID


async def _commit_and_mark(session: AsyncSession, services: Services, *user_ids: UUID) -> None:
    """Commit, then move the users' write positions past it (their next reads see this write)."""
    await session.commit()
    lsn_text = await session.scalar(text("SELECT pg_current_wal_insert_lsn()::text"))
    await session.commit()
    await services.generations.bump(lsn_to_int(str(lsn_text)), *(user_writes(user_id) for user_id in user_ids))


async def _own_position(services: Services, user_id: UUID) -> int | None:
    """The caller's write position for ``after_lsn``; unknown (Redis down): the primary."""
    (position,) = await services.generations.get(user_writes(user_id))
    if position < 0:
        return 1 << 62
    return position or None


class MessagesController(Controller):
    path = "/api/messages"
    tags = ["messages"]

    @post(
        "/send",
        status_code=HTTP_201_CREATED,
        summary="Send a message",
        **documented("sendMessage", "user", body=True, errors=(404, 409), headers=(CACHE_CONTROL, REPLAYED)),
        description=(
            "The sender is the caller. Goes to the conversation of the two users about `adId` (or about "
            "no ad), created by the first message. `content` is trimmed, then must have 1 to 2000 "
            "characters. 422: blank or too long content, a message to oneself, unknown fields, or an ad "
            "that belongs to neither user. 404: unknown or blocked recipient; a new conversation about an "
            "unknown, deleted or suspended ad. At most `RATE_LIMIT_MESSAGES` (30) sends per minute per "
            "user: 429 with `Retry-After`, `RateLimit-*` headers and `resetAt`. `Idempotency-Key`: a "
            "retry with the same key and body returns the first response (`Idempotent-Replayed: true`) "
            "and sends nothing; same key, other body → 422; while the first runs → 409. The recipient "
            'is notified on `WS /api/ws/notifications` with `{type: "message.new", messageId, '
            "conversationId, from: {id, name}, preview}` (preview ≤ 50 characters)."
        ),
    )
    async def send(
        self,
        data: JSONBody[SendMessage],
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        services: NamedDependency[Services],
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[MessageAccepted]:
        me = current_user(request)

        async def handle() -> Response[MessageAccepted]:
            await limit_messages(services, str(me.id))  # only real sends count, not replays
            sent = await send_message(data, me.id, db_session)
            # if the recipient has not read it in a while (offline), an email digest follows
            digest = await record_message_digest(db_session, sent.recipient_id)
            await _commit_and_mark(db_session, services, me.id, sent.recipient_id)
            event = MessageNew(
                message_id=sent.message_id,
                conversation_id=sent.conversation_id,
                sender=Sender(sent.sender_id, sent.sender_name),
                preview=sent.preview,
            )
            await services.notifications.publish(sent.recipient_id, event)
            await services.jobs.dispatch(digest, db_session)
            return Response(
                MessageAccepted(sent.message_id, sent.conversation_id), status_code=HTTP_201_CREATED, headers=PRIVATE
            )

        return await idempotent(
            request, scope="messages.send", user_id=str(me.id), store=services.idempotency, handle=handle
        )

    @get(
        "/conversations",
        summary="Own conversations, newest message first",
        **documented("listConversations", "user", errors=(422,), headers=(CACHE_CONTROL,)),
        description=(
            "Each with its ad (`null` when about no ad), the other user, a preview of the last message "
            "(≤ 50 characters) and how many messages to the caller are unread. Always fresh for the caller."
        ),
    )
    async def conversations(
        self,
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        page: Annotated[int, QueryParameter(ge=1, le=MAX_INBOX_PAGE)] = 1,
        page_size: Annotated[int, QueryParameter(name="pageSize", ge=1, le=MAX_PAGE_SIZE)] = MAX_PAGE_SIZE,
    ) -> Response[list[ConversationSummary]]:
        me = current_user(request)
        query = ListConversations(user_id=me.id, page=page, page_size=page_size)
        found = await list_conversations(query, services.read_side, after_lsn=await _own_position(services, me.id))
        return Response(found, headers=PRIVATE)

    @get(
        "/conversations/{id:uuid}",
        summary="A conversation's messages, newest first",
        **documented("getConversation", "user", errors=(404, 422), headers=(CACHE_CONTROL,)),
        description=(
            "Participants only (404 for anyone else). Keyset-paged: `nextCursor` → `cursor` for older "
            "messages (stable while new ones arrive); `pageSize` ≤ 50."
        ),
    )
    async def conversation(
        self,
        id: FromPath[UUID],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        cursor: Annotated[str | None, QueryParameter(max_length=512, pattern=CURSOR_PATTERN)] = None,
        page_size: Annotated[int, QueryParameter(name="pageSize", ge=1, le=MAX_PAGE_SIZE)] = MAX_PAGE_SIZE,
    ) -> Response[ConversationMessages]:
        me = current_user(request)
        query = GetConversation(user_id=me.id, conversation_id=id, cursor=cursor, page_size=page_size)
        found = await get_conversation(query, services.read_side, after_lsn=await _own_position(services, me.id))
        if found is None:
            raise ConversationNotFound
        return Response(found, headers=PRIVATE)

    @post(
        "/conversations/{id:uuid}/read",
        status_code=HTTP_204_NO_CONTENT,
        summary="Mark a conversation read",
        **documented("markConversationRead", "user", errors=(404,)),
        description="Every message to the caller in it becomes read. Participants only (404 for anyone else).",
    )
    async def mark_read(
        self,
        id: FromPath[UUID],
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        services: NamedDependency[Services],
    ) -> Response[None]:
        me = current_user(request)
        command = MarkConversationRead(conversation_id=id, reader_id=me.id, now=datetime.now(UTC))
        done = await mark_conversation_read(command, db_session)
        if done.marked:
            await _commit_and_mark(db_session, services, me.id, done.other_id)
        return Response(None, status_code=HTTP_204_NO_CONTENT, headers=PRIVATE)
