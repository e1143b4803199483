"""The SAQ worker: job functions and schedules, sharing the request path's code and settings."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, cast

from saq import CronJob, Job, Worker
from saq.types import Context as SaqContext
from saq.types import PartialTimersDict
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from domain.ads.commands import ExpireAds, WarnExpiringAds, expire_ads, warn_expiring_ads
from domain.ads.emails import expiring_email
from domain.messaging.outbox import QueueEmail, queue_email
from infrastructure.database.embedded import resolve_primary_url
from infrastructure.database.reads import lsn_to_int
from infrastructure.database.urls import sqlalchemy_url
from infrastructure.email import Mailer, build_mailer
from infrastructure.generations import SEARCH, Generations, MemoryGenerations, RedisGenerations, ad_generation
from infrastructure.jobs import (
    BEAT_EVERY_SECONDS,
    JOB_DEFAULTS,
    SWEEP_SECONDS,
    build_queue,
    run_relay,
    sweep_quickly,
)
from infrastructure.media import MediaStorage, build_media_storage
from infrastructure.redis import RedisConnection
from infrastructure.settings import Settings, get_settings
from rural24.jobs.alerts import alert_saved_searches, daily_saved_search_alerts
from rural24.jobs.digest import send_message_digest
from rural24.jobs.emails import EMAIL_JOB, email_job_key, requeue_pending_emails, send_email
from rural24.jobs.images import process_ad_image

logger = logging.getLogger("rural24.worker")

HEARTBEAT = JOB_DEFAULTS["heartbeat"]


class Context(SaqContext, total=False):
    """SAQ's job context plus what our start-up puts in it."""

    engine: AsyncEngine
    mailer: Mailer
    media: MediaStorage
    generations: Generations
    redis: RedisConnection
    relay: asyncio.Task[None]


async def _beat(job: Job) -> None:
    while True:
        await asyncio.sleep(BEAT_EVERY_SECONDS)
        try:
            await job.update()  # sets ``touched``: the sweep sees a live job
        except Exception as exc:  # the queue's backend is away for a moment: beat again next time
            logger.warning("heartbeat of %s failed: %r", job.key, exc)


def with_heartbeat(function: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """Touch the running job every few seconds while ``function`` runs. SAQ sweeps a job whose
    ``heartbeat`` passes untouched but never touches a running job itself. The beat stops before
    the function returns, so it never races the worker's own final update of the job."""

    @functools.wraps(function)
    async def run(ctx: Context, **kwargs: Any) -> Any:
        job = ctx.get("job")
        if job is None or not job.heartbeat:
            return await function(ctx, **kwargs)
        beat = asyncio.create_task(_beat(job))
        try:
            return await function(ctx, **kwargs)
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat

    return run


async def expire_ads_job(ctx: Context) -> int:
    """Scheduled: ads past their ``expiresAt`` become ``expired`` (they leave search); owners of ads
    expiring within 3 days are emailed once. Emails are queued in the same transaction."""
    now = datetime.now(UTC)
    async with ctx["engine"].begin() as connection:
        expired = await expire_ads(ExpireAds(now=now), connection)
        expiring = await warn_expiring_ads(WarnExpiringAds(now=now), connection)
        deliveries = []
        for ad in expiring:
            subject, body = expiring_email(ad.owner_name, ad.title, ad.expires_at)
            email = QueueEmail(
                kind="ad_expiring",
                dedupe_key=f"expiring:{ad.ad_id}:{ad.expires_at:%Y%m%d}",
                to=ad.owner_email,
                subject=subject,
                body=body,
            )
            deliveries.append(await queue_email(email, connection))
        lsn = lsn_to_int(str(await connection.scalar(text("SELECT pg_current_wal_insert_lsn()::text"))))
    for delivery_id in deliveries:
        if delivery_id is not None:
            await ctx["worker"].queue.enqueue(
                "send_email", key=email_job_key(delivery_id), delivery_id=str(delivery_id), **EMAIL_JOB
            )
    if expired.ad_ids:
        # Stage 2+: the API instances see these generations in Redis and drop the ads from cached
        # pages at once. Stage 1: search already filters on expiresAt; cached pages age out.
        await ctx["generations"].bump(lsn, SEARCH, *(ad_generation(ad_id) for ad_id in expired.ad_ids))
        logger.info("expired %d ads", expired.count)
    if expiring:
        logger.info("warned %d owners of expiring ads", len(expiring))
    return expired.count


async def run_worker(settings: Settings | None = None, *, concurrency: int = 10) -> None:
    """Connect the queue, work until SIGINT/SIGTERM, disconnect."""
    worker = build_worker(settings, concurrency=concurrency)
    await worker.queue.connect()
    try:
        await worker.start()
    finally:
        await worker.queue.disconnect()


def build_worker(settings: Settings | None = None, *, concurrency: int = 10) -> Worker[Context]:
    settings = settings or get_settings()
    primary_url = resolve_primary_url(
        settings.db.url, settings.db.embedded_dir, allow_embedded=not settings.app.is_production
    )

    async def startup(ctx: Context) -> None:
        # Sweep before taking jobs. SAQ's own first sweep runs concurrently with the first
        # dequeues, and on Redis it aborts a job this very worker has just taken ("swept").
        # Sweeping here takes the sweep lock first, so that concurrent sweep finds nothing to do.
        # The lock is the sweep interval: on Redis the default (60 s) would keep every worker from
        # sweeping for a minute, and a dead worker's job would wait that long.
        await ctx["worker"].queue.sweep(lock=SWEEP_SECONDS)
        ctx["mailer"] = build_mailer(settings.app.email_url)
        ctx["engine"] = create_async_engine(
            sqlalchemy_url(primary_url), pool_size=min(settings.db.pool_size, concurrency), pool_pre_ping=True
        )
        ctx["media"] = build_media_storage(settings.app.media_storage_url)
        # Stage 2+: the API instances read these generations from Redis, so a processed image shows
        # at once. Stage 1: memory generations are per process and cannot reach the API; its caches
        # show the image when their entries expire (CACHE_TTL_AD / CACHE_TTL_SEARCH).
        if settings.redis.enabled:
            ctx["redis"] = RedisConnection(settings.redis)
            ctx["generations"] = RedisGenerations(ctx["redis"].client, settings.app.name)
        else:
            ctx["generations"] = MemoryGenerations()
        ctx["relay"] = asyncio.create_task(run_relay(ctx["engine"], ctx["worker"].queue))

    async def shutdown(ctx: Context) -> None:
        relay = ctx.get("relay")
        if relay is not None:
            relay.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await relay
        engine = ctx.get("engine")
        if engine is not None:
            await engine.dispose()
        redis = ctx.get("redis")
        if redis is not None:
            await redis.close()

    return Worker(
        sweep_quickly(build_queue(settings, primary_url)),
        functions=[
            with_heartbeat(function)
            for function in (
                expire_ads_job,
                send_email,
                requeue_pending_emails,
                process_ad_image,
                alert_saved_searches,
                daily_saved_search_alerts,
                send_message_digest,
            )
        ],
        cron_jobs=[
            CronJob(
                with_heartbeat(expire_ads_job),
                cron="*/10 * * * *",
                retries=JOB_DEFAULTS["retries"],
                timeout=300,
                heartbeat=HEARTBEAT,
            ),
            CronJob(
                with_heartbeat(requeue_pending_emails), cron="* * * * *", retries=1, timeout=60, heartbeat=HEARTBEAT
            ),
            # 08:00 in Argentina (UTC-3)
            CronJob(
                with_heartbeat(daily_saved_search_alerts),
                cron="0 11 * * *",
                retries=JOB_DEFAULTS["retries"],
                timeout=600,
                heartbeat=HEARTBEAT,
            ),
        ],
        # Sweep often: a job whose worker died (SIGKILL, lost machine) misses its heartbeat and is
        # retried at the next sweep (SAQ's default sweeps every 60 s).
        timers=cast("PartialTimersDict", {"sweep": SWEEP_SECONDS}),
        startup=startup,
        shutdown=shutdown,
        concurrency=concurrency,
    )
