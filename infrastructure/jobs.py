"""The job queue (SAQ): on the primary PostgreSQL in stage 1, on Redis with ``REDIS_ENABLED``.

``QUEUE_URL`` overrides both. The worker (``rural24 worker``) and the API build the queue here, so
both always agree on where jobs live.
"""

from __future__ import annotations

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
        self._connected = False

    async def connect(self) -> None:
        if not self._connected:
            await self.queue.connect()
            self._connected = True

    async def disconnect(self) -> None:
        if self._connected:
            await self.queue.disconnect()
            self._connected = False

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
