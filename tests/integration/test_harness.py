"""The test harness works: replication to the replica, a read-only replica, and Redis."""

from __future__ import annotations

import os
import uuid

import asyncpg
import pytest
import redis.asyncio as aioredis

from tests.conftest import POOLER_ENV, PgDatabase, make_settings
from tests.harness.pgbouncer import PgBouncer
from tests.harness.postgres import ClusterPair
from tests.harness.redis import RedisServer, RedisService


def _unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


@pytest.mark.postgres
async def test_a_row_written_on_the_primary_is_visible_on_the_replica(pg_cluster: ClusterPair) -> None:
    primary, replica = pg_cluster.primary, pg_cluster.replica
    table, value = _unique("harness_probe"), uuid.uuid4().hex
    await primary.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, value text NOT NULL)")
    await primary.execute(f"INSERT INTO {table} VALUES (1, $1)", value)

    lsn = await replica.wait_caught_up(timeout=10)

    connection = await asyncpg.connect(replica.plain_dsn())
    try:
        assert await connection.fetchval(f"SELECT value FROM {table} WHERE id = 1") == value
        assert await connection.fetchval("SELECT pg_last_wal_replay_lsn() >= $1::text::pg_lsn", lsn) is True
    finally:
        await connection.close()


@pytest.mark.postgres
async def test_the_replica_is_in_recovery_and_refuses_writes(pg_cluster: ClusterPair) -> None:
    assert await pg_cluster.replica.is_in_recovery() is True
    assert await pg_cluster.primary.is_in_recovery() is False
    assert pg_cluster.replica.port != pg_cluster.primary.port

    connection = await asyncpg.connect(pg_cluster.replica.plain_dsn())
    try:
        assert await connection.fetchval("SELECT pg_is_in_recovery()") is True
        with pytest.raises(asyncpg.exceptions.ReadOnlySQLTransactionError):
            await connection.execute(f"CREATE TABLE {_unique('harness_refused')} (id int)")
    finally:
        await connection.close()


@pytest.mark.postgres
async def test_databases_are_created_and_dropped_and_replicated(pg_cluster: ClusterPair) -> None:
    primary, replica = pg_cluster.primary, pg_cluster.replica
    name = _unique("harness_db")
    assert primary.dsn(name) == f"postgresql+asyncpg://postgres@127.0.0.1:{primary.port}/{name}"
    assert replica.plain_dsn(name) == f"postgresql://postgres@127.0.0.1:{replica.port}/{name}"

    await primary.create_database(name)
    try:
        await replica.wait_caught_up(timeout=10)
        assert await replica.fetchval("SELECT current_database()", dbname=name) == name
        copy = _unique("harness_copy")
        await primary.create_database(copy, template=name)
        await primary.drop_database(copy)
    finally:
        await primary.drop_database(name)

    await replica.wait_caught_up(timeout=10)
    assert await replica.fetchval("SELECT count(*) FROM pg_database WHERE datname = $1", name) == 0


@pytest.mark.redis
async def test_redis_set_then_get(redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    key, value = f"rural24:test:harness:{uuid.uuid4().hex}", uuid.uuid4().hex.encode()
    try:
        assert await client.set(key, value, ex=60) is True
        assert await client.get(key) == value
    finally:
        await client.delete(key)
        await client.aclose()


@pytest.mark.redis
async def test_a_killed_redis_server_restarts_on_the_same_port(redis_service: RedisService) -> None:
    if redis_service.server is None:
        pytest.skip("REDIS_URL points at an external Redis: no redis-server of ours to kill")
    server = RedisServer(binary=redis_service.server.binary)  # not the session's: others use that one
    server.start()
    client = aioredis.Redis.from_url(server.url)
    try:
        port = server.port
        assert await client.set("k", "v") is True

        server.kill()
        assert not server.running
        assert not server.ping()
        with pytest.raises(aioredis.ConnectionError):
            await client.get("k")

        server.restart()
        assert server.port == port
        assert server.ping()
        assert await client.get("k") is None  # nothing is persisted
    finally:
        await client.aclose()
        server.stop()


@pytest.mark.postgres
async def test_the_apps_of_a_pooler_run_go_through_pgbouncer(database: PgDatabase, pg_pooler: PgBouncer | None) -> None:
    """``make test-pooler`` (``RURAL24_TEST_POOLER=transaction``): every app the tests build has
    its primary behind the session's PgBouncer, and its requests show in PgBouncer's counters; in
    the ordinary run nothing is in between."""
    from litestar.testing import AsyncTestClient

    from rural24.app import create_app

    settings = make_settings(database)
    if os.environ.get(POOLER_ENV) != "transaction":
        assert pg_pooler is None
        assert database.pooler_url is None
        assert (settings.db.pooler, settings.db.url) == ("none", database.primary_url)
        return
    assert pg_pooler is not None
    bouncer = pg_pooler
    assert (settings.db.pooler, settings.db.url) == ("transaction", database.pooler_url)
    assert settings.db.direct_url == database.primary_url

    def transactions() -> int:
        row = bouncer.stats().get(database.name)
        return int(row["total_xact_count"]) if row else 0

    before = transactions()
    async with AsyncTestClient(app=create_app(settings)) as client:
        registered = await client.post(
            "/api/auth/register",
            json={"email": f"{uuid.uuid4().hex[:8]}@campo.com.ar", "password": "trigo-y-soja-2026", "name": "Pool"},
        )
        assert registered.status_code == 201, registered.text
        assert (
            await client.get("/api/me/ads", headers={"Authorization": f"Bearer {registered.json()['token']}"})
        ).status_code == 200
    assert transactions() > before
