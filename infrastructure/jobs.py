"""The job queue (SAQ): on the primary PostgreSQL in stage 1, on Redis with ``REDIS_ENABLED``.

``QUEUE_URL`` overrides both. The worker (``rural24 worker``) and the API build the queue here, so
both always agree on where jobs live.
"""

from __future__ import annotations

from typing import Any

from saq import Queue

from infrastructure.database.urls import asyncpg_dsn
from infrastructure.settings import Settings

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
