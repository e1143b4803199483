"""The SAQ worker: job functions and schedules, sharing the request path's code and settings."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from saq import CronJob, Worker
from saq.types import Context as SaqContext
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from domain.accounts.emails import welcome_email
from domain.ads.commands import ExpireAds, expire_ads
from infrastructure.database.embedded import resolve_primary_url
from infrastructure.database.urls import sqlalchemy_url
from infrastructure.email import Email, Mailer, build_mailer
from infrastructure.jobs import JOB_DEFAULTS, build_queue
from infrastructure.settings import Settings, get_settings

logger = logging.getLogger("rural24.worker")


class Context(SaqContext, total=False):
    """SAQ's job context plus what our start-up puts in it."""

    engine: AsyncEngine
    mailer: Mailer


async def expire_ads_job(ctx: Context) -> int:
    """Scheduled: ads past their ``expiresAt`` become ``expired`` and leave search."""
    async with ctx["engine"].begin() as connection:
        result = await expire_ads(ExpireAds(now=datetime.now(UTC)), connection)
    if result.count:
        logger.info("expired %d ads", result.count)
    return result.count


async def run_worker(settings: Settings | None = None, *, concurrency: int = 10) -> None:
    """Connect the queue, work until SIGINT/SIGTERM, disconnect."""
    worker = build_worker(settings, concurrency=concurrency)
    await worker.queue.connect()
    try:
        await worker.start()
    finally:
        await worker.queue.disconnect()


async def send_welcome_email(ctx: Context, *, user_id: str) -> bool:
    """After register: the welcome email. ``False`` when the user is gone by then."""
    async with ctx["engine"].connect() as connection:
        row = (await connection.execute(_USER_CONTACT, {"id": user_id})).first()
    if row is None:
        return False
    subject, text_body = welcome_email(row.name)
    await ctx["mailer"].send(Email(to=row.email, subject=subject, text=text_body))
    return True


_USER_CONTACT = text("SELECT email, name FROM users WHERE id = CAST(:id AS uuid)")


def build_worker(settings: Settings | None = None, *, concurrency: int = 10) -> Worker[Context]:
    settings = settings or get_settings()
    primary_url = resolve_primary_url(
        settings.db.url, settings.db.embedded_dir, allow_embedded=not settings.app.is_production
    )

    async def startup(ctx: Context) -> None:
        # Sweep before taking jobs. SAQ's own first sweep runs concurrently with the first
        # dequeues, and on Redis it aborts a job this very worker has just taken ("swept").
        # Sweeping here takes the sweep lock first, so that concurrent sweep finds nothing to do.
        await ctx["worker"].queue.sweep()
        ctx["mailer"] = build_mailer(settings.app.email_url)
        ctx["engine"] = create_async_engine(
            sqlalchemy_url(primary_url), pool_size=min(settings.db.pool_size, concurrency), pool_pre_ping=True
        )

    async def shutdown(ctx: Context) -> None:
        engine = ctx.get("engine")
        if engine is not None:
            await engine.dispose()

    return Worker(
        build_queue(settings, primary_url),
        functions=[expire_ads_job, send_welcome_email],
        cron_jobs=[CronJob(expire_ads_job, cron="*/10 * * * *", retries=JOB_DEFAULTS["retries"], timeout=300)],
        startup=startup,
        shutdown=shutdown,
        concurrency=concurrency,
    )
