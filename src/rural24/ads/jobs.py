"""The ads context's jobs: saved-search alerts (instant, as an ad is published; daily) and the
expiry of ads. Each writes through the worker's unit of work (``services.writes``)."""

from __future__ import annotations

import logging
from uuid import UUID

from domain.ads.alerts import DailyAlerts, InstantAlerts, queue_daily_alerts, queue_instant_alerts
from domain.ads.commands import ExpireAds, WarnExpiringAds, expire_ads, warn_expiring_ads
from domain.shared.unit_of_work import Actor, Command
from rural24.contexts import JobContext

logger = logging.getLogger("rural24.ads.jobs")


async def alert_saved_searches(ctx: JobContext, *, ad_id: str) -> int:
    """After a publish: every instant saved search the ad matches gets one email (deduplicated per
    search and ad, so a retried job queues nothing twice). Returns how many were queued."""
    command = Command(Actor.system(), InstantAlerts(ad_id=UUID(ad_id)))
    return await ctx["services"].writes.run(queue_instant_alerts, command)


async def daily_saved_search_alerts(ctx: JobContext) -> int:
    """Scheduled daily: each daily saved search gets one email listing the new ads it matches."""
    queued = await ctx["services"].writes.run(queue_daily_alerts, Command(Actor.system(), DailyAlerts()))
    if queued:
        logger.info("daily alerts: %d emails", queued)
    return queued


async def expire_ads_job(ctx: JobContext) -> int:
    """Scheduled: ads past their ``expiresAt`` become ``expired`` (they leave search); owners of ads
    expiring within 3 days are emailed once. Returns how many ads expired.

    Stage 2+: the API instances read the generations this moves from Redis and drop the expired
    ads from cached pages at once. Stage 1: search filters on ``expiresAt`` anyway; cached pages
    age out."""
    writes = ctx["services"].writes
    expired = await writes.run(expire_ads, Command(Actor.system(), ExpireAds()))
    warned = await writes.run(warn_expiring_ads, Command(Actor.system(), WarnExpiringAds()))
    if expired.count:
        logger.info("expired %d ads", expired.count)
    if warned:
        logger.info("warned %d owners of expiring ads", warned)
    return expired.count
