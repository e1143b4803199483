"""Email jobs: the outbox's delivery step and its safety net."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any
from uuid import UUID

from sqlalchemy import text

from domain.messaging.outbox import MAX_ATTEMPTS, Outgoing, deliver_email
from infrastructure.email import Email
from infrastructure.jobs import JOB_DEFAULTS, JobQueue

if TYPE_CHECKING:
    from rural24.worker import Context

logger = logging.getLogger("rural24.jobs.emails")

EMAIL_JOB: dict[str, Any] = {**JOB_DEFAULTS, "retries": MAX_ATTEMPTS, "timeout": 60}
"""Three attempts, exponential backoff from 1 s; a send taking over a minute counts as failed."""


def email_job_key(delivery_id: UUID | str) -> str:
    return f"email:{delivery_id}"


async def send_email(ctx: Context, *, delivery_id: str) -> str:
    """Deliver one outbox email. Raises on a failed attempt so SAQ retries with backoff; the last
    failed attempt leaves the delivery ``failed`` (``rural24 emails --status failed`` lists them)."""
    job = ctx.get("job")
    final = job is None or job.attempts >= job.retries

    async def send(outgoing: Outgoing) -> None:
        await ctx["mailer"].send(Email(to=outgoing.to, subject=outgoing.subject, text=outgoing.body))

    outcome = await deliver_email(UUID(delivery_id), ctx["engine"].connect, send, final_attempt=final)
    logger.info("email %s: %s", delivery_id, outcome)
    return outcome


_STALE_PENDING = text(
    "SELECT id FROM email_deliveries WHERE status = 'pending' AND created_at < now() - interval '2 minutes' "
    "ORDER BY created_at LIMIT 500"
)


async def requeue_pending_emails(ctx: Context) -> int:
    """Scheduled safety net: an email whose enqueue was lost (the queue was down right after the
    commit) is queued again. The job key dedupes it against a job still in the queue."""
    async with ctx["engine"].connect() as connection:
        ids = (await connection.scalars(_STALE_PENDING)).all()
    queue = ctx["worker"].queue
    queued = 0
    for delivery_id in ids:
        job = await queue.enqueue(
            "send_email", key=email_job_key(delivery_id), delivery_id=str(delivery_id), **EMAIL_JOB
        )
        if job is not None:
            queued += 1
    return queued


async def enqueue_email(jobs: JobQueue, delivery_id: UUID | None) -> None:
    """After the commit that queued the email (``None``: it was queued before, nothing to do)."""
    if delivery_id is not None:
        await jobs.enqueue(
            "send_email", key=email_job_key(delivery_id), options=EMAIL_JOB, delivery_id=str(delivery_id)
        )
