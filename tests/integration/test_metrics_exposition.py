"""One process's ``/metrics`` (the default registry, pools read at the scrape) and the queue
figures the worker reads at each of its scrapes, on real SAQ queues (Redis and PostgreSQL)."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from litestar.testing import AsyncTestClient
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from saq import Queue
from saq.queue.redis import RedisQueue

from infrastructure.database.urls import asyncpg_dsn
from rural24.app import create_app
from rural24.worker_metrics import oldest_queued_age, refresh_queue_gauges
from tests.conftest import PgDatabase, make_settings


async def test_one_process_serves_its_own_registry_with_the_pools(database: PgDatabase) -> None:
    async with AsyncTestClient(app=create_app(make_settings(database))) as client:
        assert (await client.get("/api/provinces")).status_code == 200
        text = (await client.get("/metrics")).text
    values = {
        (s.name, s.labels.get("pool"), s.labels.get("pid")): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    pid = str(os.getpid())
    assert values[("rural24_db_write_pool_size", None, pid)] == 4  # DB_POOL_SIZE of make_settings
    assert ("rural24_db_write_pool_checked_out", None, pid) in values
    assert values[("rural24_db_write_pool_overflow", None, pid)] == 0
    assert values[("rural24_db_pool_size", "primary", pid)] >= 1
    assert ("rural24_db_pool_size", "replica", pid) in values
    assert ("process_start_time_seconds", None, None) in values  # the default registry's own collectors


@pytest.fixture(params=["redis", "postgres"])
async def queue(request: pytest.FixtureRequest, database: PgDatabase) -> AsyncIterator[Queue]:
    """A queue of this test's alone (its own name): no worker takes its jobs."""
    url = request.getfixturevalue("redis_url") if request.param == "redis" else asyncpg_dsn(database.primary_url)
    queue = Queue.from_url(url, name=f"metrics-{uuid.uuid4().hex[:8]}")
    await queue.connect()
    try:
        yield queue
    finally:
        if isinstance(queue, RedisQueue):  # the shared Redis keeps nothing of this test's
            keys = [k async for k in queue.redis.scan_iter(f"saq:*{queue.name}*")]
            if keys:
                await queue.redis.delete(*keys)
        await queue.disconnect()


async def test_an_empty_queue_has_no_waiting_job(queue: Queue) -> None:
    assert await oldest_queued_age(queue) == 0
    await refresh_queue_gauges(queue)
    assert REGISTRY.get_sample_value("rural24_queue_depth") == 0
    assert REGISTRY.get_sample_value("rural24_queue_oldest_job_age_seconds") == 0


async def test_the_oldest_waiting_job_ages_until_it_is_taken(queue: Queue) -> None:
    await queue.enqueue("first")
    await queue.enqueue("second")
    deadline = time.monotonic() + 10
    while (age := await oldest_queued_age(queue)) == 0:  # the clock moves on: the job ages
        assert time.monotonic() < deadline, "the oldest job never aged"
    assert age > 0
    await refresh_queue_gauges(queue)
    assert REGISTRY.get_sample_value("rural24_queue_depth") == 2
    assert REGISTRY.get_sample_value("rural24_queue_oldest_job_age_seconds") >= age  # type: ignore[operator]
    taken = [await queue.dequeue(timeout=5), await queue.dequeue(timeout=5)]
    assert [job.function for job in taken if job is not None] == ["first", "second"]
    assert await oldest_queued_age(queue) == 0  # running jobs are not waiting


async def test_a_job_due_long_ago_counts_from_when_it_was_due(database: PgDatabase) -> None:
    """PostgreSQL keeps when a job is due: one due 100 s ago has waited at least that long."""
    queue = Queue.from_url(asyncpg_dsn(database.primary_url), name=f"metrics-{uuid.uuid4().hex[:8]}")
    await queue.connect()
    try:
        await queue.enqueue("late", scheduled=int(time.time()) - 100)
        assert await queue.count("queued") == 1
        assert await oldest_queued_age(queue) >= 100
    finally:
        await queue.disconnect()
