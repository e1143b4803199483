"""Concurrent retries of one `POST /api/ads` with the same Idempotency-Key, against real granian
processes: exactly one ad exists afterwards; every other answer is a 409 or the replayed 201.
With Redis, the retries are spread over two instances sharing it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.e2e.processes import serving


@pytest.fixture(params=["memory", "redis"])
def instances(request: pytest.FixtureRequest, database: Any, tmp_path: Path) -> Iterator[list[str]]:
    env = {
        "APP_ENV": "test",
        "APP_NAME": f"rural24-idem-{uuid.uuid4().hex[:6]}",
        "DATABASE_URL": database.primary_url,
        "JWT_SECRET": "e2e-secret-" + "q" * 40,
        "HOST": "127.0.0.1",
        "DB_POOL_SIZE": "4",
    }
    count = 1
    if request.param == "redis":
        env |= {"REDIS_ENABLED": "true", "REDIS_URL": request.getfixturevalue("redis_url")}
        count = 2
    with serving(env, count, tmp_path) as started:
        yield [url for _, url in started]


async def test_concurrent_retries_create_one_ad(instances: list[str], database: Any) -> None:
    async with httpx.AsyncClient(timeout=20) as client:
        registered = await client.post(
            f"{instances[0]}/api/auth/register",
            json={"email": f"{uuid.uuid4().hex[:8]}@campo.com.ar", "password": "pasturas-2026", "name": "Luis"},
        )
        assert registered.status_code == 201
        token = registered.json()["token"]
        categories = (await client.get(f"{instances[0]}/api/categories")).json()
        body = {
            "title": "Cosechadora Case IH 2388",
            "categoryId": next(c["id"] for c in categories if c["slug"] == "cosechadoras"),
            "province": "buenos-aires",
            "locality": "Pergamino",
        }
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": f"k-{uuid.uuid4()}"}
        responses = await asyncio.gather(
            *(client.post(f"{instances[n % len(instances)]}/api/ads", json=body, headers=headers) for n in range(12))
        )
    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {201, 409}, statuses
    created = {r.json()["id"] for r in responses if r.status_code == 201}
    assert len(created) == 1, statuses
    connection = await asyncpg.connect(database.primary_url.replace("+asyncpg", ""))
    try:
        assert await connection.fetchval("SELECT count(*) FROM ads WHERE title = $1", body["title"]) == 1
    finally:
        await connection.close()
