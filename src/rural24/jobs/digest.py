"""The new-message digest job: scheduled after a message, it emails what is still unread."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING
from uuid import UUID

from domain.messaging.digest import DIGEST_DELAY_SECONDS, queue_message_digest
from infrastructure.jobs import JobQueue
from rural24.jobs.emails import EMAIL_JOB, email_job_key

if TYPE_CHECKING:
    from rural24.worker import Context


async def schedule_message_digest(jobs: JobQueue, recipient_id: UUID) -> None:
    """One pending digest per recipient (the job key): more messages meanwhile join the same one."""
    await jobs.enqueue(
        "send_message_digest",
        key=f"digest:{recipient_id}",
        options={"scheduled": int(time.time()) + DIGEST_DELAY_SECONDS},
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
