"""Messages (API.md: Messages and notifications): commands in a unit of work, reads fresh for the caller.

A send commits, then the unit of work moves both participants' write positions to the commit's
WAL position, then notifies the recipient's channel: by the time the recipient hears of the
message, any read they make (fresh for their own writes) sees it, replica or not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

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
from domain.shared.unit_of_work import Command
from infrastructure.idempotency import IdempotencyStore
from rural24.accounts.gate import requires_verified_email
from rural24.auth import Authenticator, current_actor, current_user
from rural24.dependencies import Commands
from rural24.idempotency import IdempotencyKeyHeader, idempotent
from rural24.notifications import Notifier
from rural24.openapi import CACHE_CONTROL, REPLAYED, documented
from rural24.ratelimit import Limits
from rural24.reading import PRIVATE, Reads

HEADERS = {"Cache-Control": PRIVATE}


@dataclass(frozen=True, slots=True)
class MessagingPorts:
    """What the messaging routes and the notifications socket use: the ``messaging`` dependency,
    built by ``rural24.messaging.messaging_plugin`` (one per route: see ``rural24.ads.http.AdsPorts``)."""

    reads: Reads
    limits: Limits
    idempotency: IdempotencyStore
    authenticator: Authenticator
    notifier: Notifier


class MessageAccepted(CamelStruct):
    message_id: UUID
    conversation_id: UUID


class MessagesController(Controller):
    path = "/api/messages"
    tags = ["messages"]

    @post(
        "/send",
        status_code=HTTP_201_CREATED,
        summary="Send a message",
        guards=[requires_verified_email],
        **documented("sendMessage", "user", body=True, errors=(403, 404, 409), headers=(CACHE_CONTROL, REPLAYED)),
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
            "conversationId, from: {id, name}, preview}` (preview ≤ 50 characters). With "
            "`REQUIRE_EMAIL_VERIFICATION`, 403 until the sender has verified their email."
        ),
    )
    async def send(
        self,
        data: JSONBody[SendMessage],
        request: Request[Any, Any, Any],
        commands: NamedDependency[Commands],
        messaging: NamedDependency[MessagingPorts],
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[MessageAccepted]:
        actor = current_actor(request)

        async def handle() -> Response[MessageAccepted]:
            await messaging.limits.messages(str(actor.user_id))  # only real sends count, not replays
            sent = await commands.handle(send_message, Command(actor, data))
            return Response(
                MessageAccepted(sent.message_id, sent.conversation_id), status_code=HTTP_201_CREATED, headers=HEADERS
            )

        return await idempotent(
            request, scope="messages.send", user_id=str(actor.user_id), store=messaging.idempotency, handle=handle
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
        messaging: NamedDependency[MessagingPorts],
        page: Annotated[int, QueryParameter(ge=1, le=MAX_INBOX_PAGE)] = 1,
        page_size: Annotated[int, QueryParameter(name="pageSize", ge=1, le=MAX_PAGE_SIZE)] = MAX_PAGE_SIZE,
    ) -> Response[list[ConversationSummary]]:
        me = current_user(request)
        query = ListConversations(user_id=me.id, page=page, page_size=page_size)
        found = await list_conversations(query, messaging.reads.at(await messaging.reads.for_writer(me.id)))
        return Response(found, headers=HEADERS)

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
        messaging: NamedDependency[MessagingPorts],
        cursor: Annotated[str | None, QueryParameter(max_length=512, pattern=CURSOR_PATTERN)] = None,
        page_size: Annotated[int, QueryParameter(name="pageSize", ge=1, le=MAX_PAGE_SIZE)] = MAX_PAGE_SIZE,
    ) -> Response[ConversationMessages]:
        me = current_user(request)
        query = GetConversation(user_id=me.id, conversation_id=id, cursor=cursor, page_size=page_size)
        found = await get_conversation(query, messaging.reads.at(await messaging.reads.for_writer(me.id)))
        if found is None:
            raise ConversationNotFound
        return Response(found, headers=HEADERS)

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
        commands: NamedDependency[Commands],
    ) -> Response[None]:
        await commands.handle(mark_conversation_read, Command(current_actor(request), MarkConversationRead(id)))
        return Response(None, status_code=HTTP_204_NO_CONTENT, headers=HEADERS)
