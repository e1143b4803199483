"""The job queue (SAQ): on the primary PostgreSQL in stage 1, on Redis with ``REDIS_ENABLED``.

``QUEUE_URL`` overrides both. The worker (``rural24 worker``) and the API build the queue here, so
both always agree on where jobs live.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

from saq import Queue

from infrastructure.database.urls import asyncpg_dsn
from infrastructure.settings import Settings

logger = logging.getLogger(__name__)

QUEUE_NAME = "rural24"

# Every job is retried: a worker that dies mid-job must leave the job to run again, not lose
# it. Jobs are written to be idempotent, so a retry after a partial run does no harm.
JOB_DEFAULTS: dict[str, Any] = {"retries": 3, "retry_delay": 1.0, "retry_backoff": True, "timeout": 300}


def queue_url(settings: Settings, primary_url: str) -> str:
    if settings.queue.url:
        url = settings.queue.url
        return url if url.startswith("redis") else asyncpg_dsn(url)
    if settings.redis.enabled:
        return settings.redis.url
    return asyncpg_dsn(primary_url)


def build_queue(settings: Settings, primary_url: str, **kwargs: Any) -> Queue:
    return Queue.from_url(queue_url(settings, primary_url), name=QUEUE_NAME, **kwargs)


class JobQueue:
    """The API's side of the queue: enqueue after commit; a queue that is down degrades to a
    logged warning (the request already succeeded and its data is committed)."""

    def __init__(self, queue: Queue) -> None:
        self.queue = queue
        self._connecting: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        """Connect once, whoever asks first (the queue-depth sampler, an enqueue, readiness)."""
        if self._connecting is None:
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
