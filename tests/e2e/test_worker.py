"""A real `rural24 worker` process takes jobs from the queue: PostgreSQL in stage 1, Redis in stage 2."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from domain.ads.commands import EXPIRE_BATCH
from infrastructure.jobs import JOB_DEFAULTS, build_queue
from infrastructure.settings import load_settings
from tests.e2e.processes import Process

pytestmark = pytest.mark.postgres


async def _backdated_ad(url: str) -> tuple[uuid.UUID, uuid.UUID]:
    """An ad past its expiry (still 'active'), ``EXPIRE_BATCH`` more, and one expiring in two days,
    of one seller."""
    connection = await asyncpg.connect(url.replace("+asyncpg", ""))
    try:
        owner = await connection.fetchval(
            "INSERT INTO users (id, email, password_hash, name, created_at, updated_at) "
            "VALUES (gen_random_uuid(), 'seller@rural24.test', 'x', 'Vendedor', now(), now()) RETURNING id"
        )
        category = await connection.fetchval("SELECT id FROM categories WHERE slug = 'tractores'")
        ad_id: uuid.UUID = await connection.fetchval(
            "INSERT INTO ads (id, owner_id, category_id, title, province_code, locality, expires_at, "
            "created_at, updated_at) VALUES (gen_random_uuid(), $1, $2, 'Tractor Zanello 4200', 'cordoba', "
            "'Río Cuarto', now() - interval '1 day', now() - interval '31 days', now() - interval '31 days') "
            "RETURNING id",
            owner,
            category,
        )
        # more past their expiry than one batch of the expiry statement holds: the job repeats it
        await connection.execute(
            "INSERT INTO ads (id, owner_id, category_id, title, province_code, locality, expires_at, "
            "created_at, updated_at) SELECT gen_random_uuid(), $1, $2, 'Rastra de discos ' || n, 'cordoba', "
            "'Río Cuarto', now() - interval '2 days' + n * interval '1 second', now() - interval '40 days', "
            "now() - interval '40 days' FROM generate_series(1, $3) n",
            owner,
            category,
            EXPIRE_BATCH,
        )
        expiring: uuid.UUID = await connection.fetchval(
            "INSERT INTO ads (id, owner_id, category_id, title, province_code, locality, expires_at, "
            "created_at, updated_at) VALUES (gen_random_uuid(), $1, $2, 'Tractor Hanomag R55', 'cordoba', "
            "'Río Cuarto', now() + interval '2 days', now() - interval '28 days', now() - interval '28 days') "
            "RETURNING id",
            owner,
            category,
        )
        return ad_id, expiring
    finally:
        await connection.close()


@pytest.mark.parametrize("queue_backend", ["postgres", "redis"])
async def test_worker_expires_a_backdated_ad(
    queue_backend: str, database: Any, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    env = {"APP_ENV": "test", "DATABASE_URL": database.primary_url, "JWT_SECRET": "x" * 40}
    if queue_backend == "redis":
        env |= {"REDIS_ENABLED": "true", "REDIS_URL": request.getfixturevalue("redis_url")}
    ad_id, expiring_id = await _backdated_ad(database.primary_url)

    settings = load_settings(env)
    queue = build_queue(settings, database.primary_url)
    await queue.connect()
    worker = Process(["worker", "--concurrency", "2"], env, tmp_path / "worker.log")
    try:
        # apply() waits for the job's result: the real worker process has to pick it up.
        expired = await worker.await_while_running(queue.apply("expire_ads_job", **JOB_DEFAULTS), timeout=60)
    finally:
        assert worker.stop() == 0 or "Traceback" not in worker.output(), worker.output()[-3000:]
        await queue.disconnect()

    assert expired == 1 + EXPIRE_BATCH
    connection = await asyncpg.connect(database.primary_url.replace("+asyncpg", ""))
    try:
        assert await connection.fetchval("SELECT status FROM ads WHERE id = $1", ad_id) == "expired"
        assert await connection.fetchval("SELECT count(*) FROM ads WHERE status = 'expired'") == 1 + EXPIRE_BATCH
        assert (
            await connection.fetchval("SELECT count(*) FROM ads WHERE status = 'active' AND expires_at <= now()") == 0
        )
        assert await connection.fetchval("SELECT status FROM ads WHERE id = $1", expiring_id) == "active"
        warning = await connection.fetchrow(
            "SELECT kind, to_address, subject FROM email_deliveries WHERE dedupe_key LIKE $1",
            f"expiring:{expiring_id}:%",
        )
    finally:
        await connection.close()
    assert warning is not None
    assert warning["to_address"] == "seller@rural24.test"
    assert "Hanomag" in warning["subject"]

    from litestar.testing import AsyncTestClient

    from rural24.app import create_app

    async with AsyncTestClient(app=create_app(settings)) as client:
        detail = await client.get(f"/api/ads/{ad_id}")
        assert detail.status_code == 404  # an expired ad is gone for buyers
        found = (await client.get("/api/ads/search", params={"q": "tractor"})).json()["results"]
        assert [ad["id"] for ad in found] == [str(expiring_id)]
