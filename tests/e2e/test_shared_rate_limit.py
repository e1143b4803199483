"""Two real API processes sharing one Redis enforce one exact rate limit between them."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.processes import Process, serving

LIMIT = 20
REQUESTS = 30


@pytest.fixture
def instances(database: Any, redis_url: str, tmp_path: Path) -> Iterator[tuple[list[Process], list[str]]]:
    env = {
        "APP_ENV": "test",
        "APP_NAME": f"rural24-rl-{uuid.uuid4().hex[:8]}",
        "DATABASE_URL": database.primary_url,
        "REDIS_ENABLED": "true",
        "REDIS_URL": redis_url,
        "RATE_LIMIT_API": f"{LIMIT}/minute",
        "JWT_SECRET": "e2e-rate-limit-secret-" + "r" * 18,  # 40 characters
        "HOST": "127.0.0.1",
        "DB_POOL_SIZE": "2",
    }
    with serving(env, 2, tmp_path) as started:
        yield [p for p, _ in started], [u for _, u in started]


async def test_two_instances_share_one_exact_limit(instances: tuple[list[Process], list[str]]) -> None:
    processes, (a, b) = instances
    limits = httpx.Limits(max_connections=REQUESTS)
    async with httpx.AsyncClient(timeout=10, limits=limits) as client:
        burst = asyncio.gather(*(client.get(f"{(a, b)[i % 2]}/api/categories") for i in range(REQUESTS)))
        responses = await processes[0].await_while_running(burst, timeout=60)

    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == LIMIT, statuses
    assert statuses.count(429) == REQUESTS - LIMIT, statuses
    # one counter, incremented atomically: every allowed request saw a different "remaining"
    remaining = sorted(int(r.headers["RateLimit-Remaining"]) for r in responses if r.status_code == 200)
    assert remaining == list(range(LIMIT))
    for refused in (r for r in responses if r.status_code == 429):
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["status"] == 429
        assert int(refused.headers["Retry-After"]) >= 1
    # both instances took part in the burst (alternating URLs)
    hosts = {r.request.url.port for r in responses}
    assert len(hosts) == 2
    for process in processes:
        assert process.process.poll() is None, process.output()[-3000:]
