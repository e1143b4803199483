"""The job queue (SAQ): on the primary PostgreSQL in stage 1, on Redis with ``REDIS_ENABLED``.

``QUEUE_URL`` overrides both. :func:`build_queue` is called once per process, by
``rural24.services.build_services``, for the API and the worker alike: both always agree on where
jobs live.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import structlog
from saq import Job, Queue
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from domain.shared.emails import MAX_ATTEMPTS
from domain.shared.job_outbox import (
    RecordedJob,
    mark_dispatched,
    mark_not_dispatched,
    purge_dispatched,
    undispatched_jobs,
)
from infrastructure.database.urls import asyncpg_dsn
from infrastructure.redis import is_sentinel_url, redis_client
from infrastructure.settings import Settings

logger = logging.getLogger(__name__)

QUEUE_NAME = "rural24"

HEARTBEAT_SECONDS = 15
"""A running job whose worker has not touched it for this long is taken for dead: the next sweep
(every few seconds) retries it. The worker touches every running job every
:data:`BEAT_EVERY_SECONDS` (``rural24.worker``), so only a dead or frozen worker misses it."""
BEAT_EVERY_SECONDS = 4

# Every job is retried: a worker that dies mid-job must leave the job to run again, not lose
# it. Jobs are written to be idempotent, so a retry after a partial run does no harm. The timeout
# bounds a job that hangs (a big image takes seconds, not minutes); the heartbeat notices a job
# whose worker died in about 20 s instead of after the timeout.
JOB_DEFAULTS: dict[str, Any] = {
    "retries": 3,
    "retry_delay": 1.0,
    "retry_backoff": True,
    "timeout": 300,
    "heartbeat": HEARTBEAT_SECONDS,
}

SEND_EMAIL = "send_email"
EMAIL_JOB: dict[str, Any] = {**JOB_DEFAULTS, "retries": MAX_ATTEMPTS, "timeout": 60}
"""Three attempts, exponential backoff from 1 s; a send taking over a minute counts as failed."""


def email_job_key(delivery_id: UUID | str) -> str:
    """One send job per delivery: queued twice (after the commit, by the requeue), it runs once."""
    return f"email:{delivery_id}"


ENQUEUE_TIMEOUT_SECONDS = 3.0
"""A queue that hangs (host gone, not refusing) must not hold a request or the relay for long."""


def queue_url(settings: Settings, primary_url: str) -> str:
    if settings.queue.url:
        url = settings.queue.url
        return asyncpg_dsn(url) if url.lower().startswith("postgres") else url
    if settings.redis.enabled:
        return settings.redis.url
    return asyncpg_dsn(primary_url)


def build_queue(settings: Settings, primary_url: str, **kwargs: Any) -> Queue:
    url = queue_url(settings, primary_url)
    if url.lower().startswith("unix://") or is_sentinel_url(url):
        # SAQ's Queue.from_url knows redis:// and postgres:// only; a Redis on a unix socket
        # (REDIS_URL=unix://...) is a Redis queue all the same, and through Sentinel the queue's
        # client follows a failover like every other Redis client of the service
        from saq.queue.redis import RedisQueue

        queue: Queue = RedisQueue(redis_client(url, socket_connect_timeout=2.0), name=QUEUE_NAME, **kwargs)
    else:
        queue = Queue.from_url(url, name=QUEUE_NAME, **kwargs)
    queue.register_before_enqueue(_carry_request_id)
    return queue


REQUEST_ID_META = "request_id"
"""The key of a job's ``meta`` (stored with the job) that carries the id of the request that
queued it; the worker binds it into the log context of the job's lines (``rural24.worker``)."""


async def _carry_request_id(job: Job) -> None:
    """SAQ's ``before_enqueue``, on every enqueue of this process: the log context's
    ``request_id`` (bound for each request, and for each job the worker runs) into the job's
    meta. A job the outbox relay or a schedule queues has none."""
    request_id = structlog.contextvars.get_contextvars().get(REQUEST_ID_META)
    if isinstance(request_id, str):
        job.meta[REQUEST_ID_META] = request_id


async def enqueue_recorded(queue: Queue, job: RecordedJob) -> None:
    """Queue an outbox job under its row's key: dispatched twice (API and relay), it is queued
    once. Raises when the queue cannot take it."""
    scheduled = int(job.run_after.timestamp())
    options = {**JOB_DEFAULTS, "key": job.key, "scheduled": scheduled if job.run_after > datetime.now(UTC) else 0}
    async with asyncio.timeout(ENQUEUE_TIMEOUT_SECONDS):
        await queue.enqueue(job.function, **options, **job.kwargs)


class JobQueue:
    """Enqueueing after a commit (the unit of work's dispatch, the email requeue); a queue that is
    down degrades to a logged warning (the write already succeeded and its data is committed). Jobs recorded in the
    outbox are not lost then: the worker's relay dispatches them once the queue is back."""

    def __init__(self, queue: Queue) -> None:
        self.queue = queue
        self._connecting: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        """Connect once, whoever asks first (the queue-depth sampler, an enqueue, readiness)."""
        failed = (
            self._connecting is not None
            and self._connecting.done()
            and (self._connecting.cancelled() or self._connecting.exception() is not None)
        )
        if self._connecting is None or failed:  # a connect that failed (database down at start) is retried
            self._connecting = asyncio.ensure_future(self.queue.connect())
        # shield: a caller cancelled mid-connect (app shutdown) must not leave a half-open queue
        await asyncio.shield(self._connecting)

    async def disconnect(self) -> None:
        """Close whatever a connect opened, even a connect that was still under way."""
        if self._connecting is None:
            return
        connecting, self._connecting = self._connecting, None
        with contextlib.suppress(Exception):
            await connecting
        try:
            await self.queue.disconnect()
        except Exception as exc:  # shutting down with the queue's backend gone: nothing left to close
            logger.warning("queue disconnect failed: %s", exc)

    async def depth(self) -> int:
        """Jobs waiting to run (readiness and the queue-depth metric)."""
        await self.connect()
        return int(await self.queue.count("queued"))

    async def dispatch(self, job: RecordedJob, session: AsyncSession) -> bool:
        """After the commit that recorded ``job``: queue it and mark its row dispatched (in a short
        transaction of its own). ``False`` when the queue is down: the relay dispatches it later."""
        try:
            await self.connect()
            await enqueue_recorded(self.queue, job)
        except Exception as exc:  # after the commit: the row waits for the relay, the request succeeds
            logger.warning("could not dispatch %s (%s), left to the relay: %r", job.function, job.key, exc)
            with contextlib.suppress(Exception):
                await session.rollback()
                await mark_not_dispatched(session, job.id, f"{type(exc).__name__}: {exc}")
                await session.commit()
            return False
        try:
            await mark_dispatched(session, [job.id])
            await session.commit()
        except Exception as exc:  # queued; the relay will queue it again under the same key: harmless
            logger.warning("could not mark %s dispatched: %r", job.key, exc)
            with contextlib.suppress(Exception):
                await session.rollback()
        return True

    async def enqueue(
        self, function: str, *, key: str | None = None, options: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> bool:
        """``True`` when queued. ``key`` makes the job unique: the same key is queued once.
        ``options`` override :data:`JOB_DEFAULTS` (retries, timeout …); ``kwargs`` go to the job."""
        try:
            await self.connect()
            job_options = {**JOB_DEFAULTS, **(options or {}), **({"key": key} if key else {})}
            job = await self.queue.enqueue(function, **job_options, **kwargs)
        except Exception as exc:  # the queue is an after-commit side effect: never fail the request
            logger.warning("could not enqueue %s: %s", function, exc)
            return False
        return job is not None


async def enqueue_email(jobs: JobQueue, delivery_id: UUID) -> bool:
    """After the commit that put the email in the outbox: queue its send (the per-minute requeue
    catches an email whose enqueue failed)."""
    return await jobs.enqueue(
        SEND_EMAIL, key=email_job_key(delivery_id), options=EMAIL_JOB, delivery_id=str(delivery_id)
    )


RELAY_GRACE = timedelta(seconds=2)
"""The relay leaves a new row alone this long: the API dispatches it itself right after commit."""
OUTBOX_RETENTION = timedelta(days=7)


async def relay_outbox(engine: AsyncEngine, queue: Queue, *, grace: timedelta = RELAY_GRACE, limit: int = 500) -> int:
    """Dispatch outbox rows the API did not (queue down at commit time, API died meanwhile);
    returns how many went out. Stops at the first failure: the queue is down, the rest wait."""
    dispatched = []
    async with engine.begin() as connection:
        for job in await undispatched_jobs(connection, older_than=grace, limit=limit):
            try:
                await enqueue_recorded(queue, job)
            except Exception as exc:
                await mark_not_dispatched(connection, job.id, f"{type(exc).__name__}: {exc}")
                logger.warning("relay: queue unavailable, %s waits: %r", job.key, exc)
                break
            dispatched.append(job.id)
        if dispatched:
            await mark_dispatched(connection, dispatched)
    if dispatched:
        logger.info("relay: dispatched %d outbox jobs", len(dispatched))
    return len(dispatched)


async def run_relay(engine: AsyncEngine, queue: Queue, *, every: float = 2.0) -> None:
    """The worker's relay loop, until cancelled. Its own loop rather than a SAQ cron job: cron runs
    once a minute at best, and a cron job needs the very queue that may be down."""
    rounds = 0
    while True:
        try:
            await relay_outbox(engine, queue)
            if rounds % 300 == 0:  # about every 10 minutes
                async with engine.begin() as connection:
                    await purge_dispatched(connection, older_than=OUTBOX_RETENTION)
        except Exception as exc:  # the database is down: try again next round
            logger.warning("relay round failed: %r", exc)
        rounds += 1
        await asyncio.sleep(every)


SWEEP_SECONDS = 5
"""How often the worker sweeps: a job whose worker died is retried within heartbeat + this."""
SWEEP_ABORT_WAIT = 1.0
"""How long a sweep waits for a stuck job's worker to acknowledge its abort. SAQ waits 5 s per
stuck job, one after the other: a dead worker never acknowledges, so the ten jobs of a dead worker
would wait 50 s more to be retried. A live worker notices an abort within a second (SAQ's abort
timer)."""


def sweep_quickly(queue: Queue) -> Queue:
    """``queue`` whose ``sweep`` waits :data:`SWEEP_ABORT_WAIT` per stuck job. SAQ's worker calls
    ``queue.sweep(lock)`` with no way to pass the wait, so this one queue instance's method is
    bound with it (nothing else changes)."""
    queue.sweep = functools.partial(queue.sweep, abort=SWEEP_ABORT_WAIT)  # type: ignore[method-assign]
    return queue
