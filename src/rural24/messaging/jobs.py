"""The new-message digest job: scheduled by each send, it emails what is still unread."""

from __future__ import annotations

from uuid import UUID

from domain.messaging.digest import SendMessageDigest, queue_message_digest
from domain.shared.unit_of_work import Actor, Command
from rural24.contexts import JobContext


async def send_message_digest(ctx: JobContext, *, user_id: str) -> bool:
    """Queue (and send) the digest if messages are still unread; ``False`` when there is nothing
    new to tell."""
    command = Command(Actor.system(), SendMessageDigest(user_id=UUID(user_id)))
    return await ctx["services"].writes.run(queue_message_digest, command) is not None
