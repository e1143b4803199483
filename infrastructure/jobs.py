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


def queue_url(settings: Settings, primary_url: str) -> str:
    if settings.queue.url:
        url = settings.queue.url
        return url if url.startswith("redis") else asyncpg_dsn(url)
    if settings.redis.enabled:
        return settings.redis.url
    return asyncpg_dsn(primary_url)


def build_queue(settings: Settings, primary_url: str, **kwargs: Any) -> Queue:
    return Queue.from_url(queue_url(settings, primary_url), name=QUEUE_NAME, **kwargs)
