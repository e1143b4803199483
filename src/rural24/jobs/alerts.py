"""Saved-search alerts: instant (as an ad is published) and daily (one email listing the day's ads)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from uuid import UUID

from domain.ads.emails import saved_search_email
from domain.ads.saved_searches import Match, daily_matches, dedupe_key, match_new_ad
from domain.messaging.outbox import QueueEmail, queue_email
from rural24.jobs.emails import EMAIL_JOB, email_job_key

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from rural24.worker import Context

logger = logging.getLogger("rural24.jobs.alerts")


async def _queue_alerts(connection: AsyncConnection, matches: list[Match], day: datetime | None) -> list[UUID]:
    deliveries = []
    for match in matches:
        subject, body = saved_search_email(match.user_name, match.search_name, match.titles)
        email = QueueEmail(
            kind="saved_search", dedupe_key=dedupe_key(match, day), to=match.email, subject=subject, body=body
        )
        delivery_id = await queue_email(email, connection)
        if delivery_id is not None:
            deliveries.append(delivery_id)
    return deliveries


async def _send(ctx: Context, deliveries: list[UUID]) -> None:
    for delivery_id in deliveries:
        await ctx["worker"].queue.enqueue(
            "send_email", key=email_job_key(delivery_id), delivery_id=str(delivery_id), **EMAIL_JOB
        )


async def alert_saved_searches(ctx: Context, *, ad_id: str) -> int:
    """After a publish: every instant saved search the ad matches gets one email (deduplicated per
    search and ad, so a retried job queues nothing twice)."""
    async with ctx["engine"].begin() as connection:
        matches = await match_new_ad(UUID(ad_id), connection)
        deliveries = await _queue_alerts(connection, matches, None)
    await _send(ctx, deliveries)
    return len(deliveries)


async def daily_saved_search_alerts(ctx: Context) -> int:
    """Scheduled daily: each daily saved search gets one email listing the new ads it matches."""
    now = datetime.now(UTC)
    async with ctx["engine"].begin() as connection:
        matches = await daily_matches(now, connection)
        deliveries = await _queue_alerts(connection, matches, now)
    await _send(ctx, deliveries)
    if deliveries:
        logger.info("daily alerts: %d emails", len(deliveries))
    return len(deliveries)
