"""The email outbox's other half, shared by every context: delivery jobs and the operators' view.

A write puts an email in the outbox (``uow.add_email``, in the write's transaction); the unit of
work queues ``send_email`` after the commit. This module holds that job, its per-minute safety net
(:func:`requeue_pending_emails`), and ``GET /api/admin/emails``. Their rows and SQL are in
``domain.shared.emails``.
"""

from __future__ import annotations

import logging
from typing import Annotated
from uuid import UUID

from litestar import Controller, Response, get
from litestar.di import NamedDependency
from litestar.params import FromQuery, QueryParameter

from domain.shared.emails import (
    EmailDeliveryRead,
    Outgoing,
    deliver_email,
    fill_slots,
    list_deliveries,
    stale_pending_emails,
)
from domain.shared.models import EmailStatus
from infrastructure.email import Email
from infrastructure.jobs import enqueue_email
from rural24.auth import requires_admin
from rural24.contexts import ContextPlugin, JobContext, Scheduled
from rural24.openapi import CACHE_CONTROL, documented
from rural24.reading import PRIMARY, PRIVATE, Reads
from rural24.services import Services

logger = logging.getLogger("rural24.emails")


async def send_email(ctx: JobContext, *, delivery_id: str) -> str:
    """Deliver one outbox email. Raises on a failed attempt so SAQ retries with backoff; the last
    failed attempt leaves the delivery ``failed`` (``rural24 emails --status failed`` lists them)."""
    services = ctx["services"]
    job = ctx.get("job")
    final = job is None or job.attempts >= job.retries

    frontend = services.settings.app.frontend_base

    async def send(outgoing: Outgoing) -> None:
        # The account token is derived from its row id only now: neither the outbox nor a log holds it.
        token = None if outgoing.token_id is None else services.account_tokens.token_for(outgoing.token_id)
        text = fill_slots(outgoing.body, frontend=frontend, token=token)
        html = None if outgoing.html is None else fill_slots(outgoing.html, frontend=frontend, token=token, html=True)
        await services.mailer.send(Email(to=outgoing.to, subject=outgoing.subject, text=text, html=html))

    outcome = await deliver_email(UUID(delivery_id), services.database.get_engine().connect, send, final_attempt=final)
    logger.info("email %s: %s", delivery_id, outcome)
    return outcome


async def requeue_pending_emails(ctx: JobContext) -> int:
    """Scheduled safety net: an email whose enqueue was lost (the queue was down right after the
    commit) is queued again. The job key dedupes it against a job still in the queue."""
    services = ctx["services"]
    queued = 0
    for delivery_id in await stale_pending_emails(services.read_side.on_primary()):
        if await enqueue_email(services.jobs, delivery_id):
            queued += 1
    return queued


class EmailsController(Controller):
    path = "/api/admin"
    tags = ["admin"]
    guards = [requires_admin]

    @get(
        "/emails",
        summary="Emails by delivery state",
        **documented("listEmails", "admin", errors=(422,), headers=(CACHE_CONTROL,)),
        description="`failed`: gave up after 3 attempts (the last error is kept); `pending`: not sent yet.",
    )
    async def emails(
        self,
        reads: NamedDependency[Reads],
        status: FromQuery[EmailStatus] = "failed",
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
    ) -> Response[list[EmailDeliveryRead]]:
        deliveries = await list_deliveries(status, limit, reads.at(PRIMARY))
        return Response(deliveries, headers={"Cache-Control": PRIVATE})


def emails_plugin(services: Services) -> ContextPlugin:
    """Not a context of the marketplace but shared by all of them, so it plugs in the same way:
    the operators' route, the delivery job and its per-minute safety net."""
    return ContextPlugin(
        name="emails",
        route_handlers=[EmailsController],
        jobs=[send_email, requeue_pending_emails],
        schedules=[Scheduled(requeue_pending_emails, cron="* * * * *", timeout=60, retries=1)],
    )
