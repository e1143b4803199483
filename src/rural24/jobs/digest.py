"""The new-message digest job: scheduled after a message, it emails what is still unread."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING
from uuid import UUID

from domain.messaging.digest import DIGEST_DELAY_SECONDS, queue_message_digest
from domain.shared.job_outbox import RecordedJob, record_job
from rural24.jobs.emails import EMAIL_JOB, email_job_key

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from rural24.worker import Context


async def record_message_digest(session: AsyncSession, recipient_id: UUID) -> RecordedJob:
    """In the message's transaction: the digest job, due :data:`DIGEST_DELAY_SECONDS` later. One
    pending digest per recipient (the job key): more messages meanwhile join the same one."""
    return await record_job(
        session,
        "send_message_digest",
        key=f"digest:{recipient_id}",
        delay=timedelta(seconds=DIGEST_DELAY_SECONDS),
        user_id=str(recipient_id),
    )


async def send_message_digest(ctx: Context, *, user_id: str) -> bool:
    """Queue (and send) the digest if messages are still unread; ``False`` when all were read."""
    async with ctx["engine"].begin() as connection:
        delivery_id = await queue_message_digest(UUID(user_id), connection)
    if delivery_id is None:
        return False
    await ctx["worker"].queue.enqueue(
        "send_email", key=email_job_key(delivery_id), delivery_id=str(delivery_id), **EMAIL_JOB
    )
    return True
