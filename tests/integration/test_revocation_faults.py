"""Revocation with the session store really stopped: a redis-server of the test's own is killed
and restarted (empty), never the session's shared one."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import asyncpg
import jwt
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis

from infrastructure.settings import Settings
from tests.conftest import PgDatabase, make_settings, service_unavailable
from tests.harness.redis import RedisServer, RedisUnavailable
from tests.integration.test_accounts import SECRET, assert_401, bearer, login, register

pytestmark = pytest.mark.redis

Client = AsyncTestClient[Litestar]


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    try:
        server = RedisServer()
    except RedisUnavailable as exc:
        service_unavailable(str(exc))
    server.start()
    yield server
    server.stop()


async def _sql(settings: Settings, statement: str, *args: Any) -> Any:
    assert settings.db.url is not None
    connection = await asyncpg.connect(settings.db.url.replace("+asyncpg", ""))
    try:
        return await connection.fetchval(statement, *args)
    finally:
        await connection.close()


async def _admin(api: Client, settings: Settings) -> str:
    email = (await register(api))["user"]["email"]
    await _sql(settings, "UPDATE users SET role = 'admin' WHERE email = $1", email)
    return await login(api, email)


async def _statuses(api: Client, tokens: dict[str, str]) -> dict[str, int]:
    return {name: (await api.get("/api/me", headers=bearer(token))).status_code for name, token in tokens.items()}


def _jti(token: str) -> str:
    return str(jwt.decode(token, SECRET, algorithms=["HS256"])["jti"])


async def test_jwt_revocation_never_fails_open_while_redis_is_down(
    database: PgDatabase, own_redis: RedisServer
) -> None:
    settings = make_settings(database, own_redis.url, SESSION_STRATEGY="jwt")
    from rural24.app import create_app

    async with AsyncTestClient(app=create_app(settings)) as api:
        admin = await _admin(api, settings)
        email = (await register(api))["user"]["email"]
        live, before, during = await login(api, email), await login(api, email), await login(api, email)
        blocked_before, blocked_during = await register(api), await register(api)
        assert (await api.post("/api/auth/logout", headers=bearer(before))).status_code == 204
        block = f"/api/admin/users/{blocked_before['user']['id']}/block"
        assert (await api.post(block, headers=bearer(admin))).status_code == 204
        tokens = {"live": live, "before": before, "blocked before": blocked_before["token"]}
        expected = {"live": 200, "before": 401, "blocked before": 401}
        assert await _statuses(api, tokens) == expected

        own_redis.kill()
        for _ in range(2):  # the first request finds Redis gone, the next ones do not ask it
            assert await _statuses(api, tokens) == expected
        # logouts and blocks made while Redis is down hold too (they are in PostgreSQL)
        assert (await api.post("/api/auth/logout", headers=bearer(during))).status_code == 204
        block = f"/api/admin/users/{blocked_during['user']['id']}/block"
        assert (await api.post(block, headers=bearer(admin))).status_code == 204
        tokens |= {"during": during, "blocked during": blocked_during["token"]}
        expected |= {"during": 401, "blocked during": 401}
        assert await _statuses(api, tokens) == expected
        # the marketplace stays usable for live sessions
        assert (await api.get("/api/me/saved-searches", headers=bearer(live))).status_code == 200

        own_redis.restart()  # empty: nothing is persisted
        assert await _statuses(api, tokens) == expected
        # the instance copies PostgreSQL's revocations back into the new Redis, then answers from it
        redis = Redis.from_url(own_redis.url)
        try:
            key = f"{settings.app.name}:sessions:deny:{_jti(during)}"
            deadline = time.monotonic() + 10
            while not await redis.exists(key):
                assert time.monotonic() < deadline, "the revocations were not copied back into Redis"
                await _statuses(api, {"live": live})  # requests trigger the reload
        finally:
            await redis.aclose()
        assert await _statuses(api, tokens) == expected


async def test_session_records_answer_503_while_redis_is_down(database: PgDatabase, own_redis: RedisServer) -> None:
    settings = make_settings(database, own_redis.url, SESSION_STRATEGY="redis")
    from rural24.app import create_app

    async with AsyncTestClient(app=create_app(settings)) as api:
        registered = await register(api)
        token = registered["token"]
        assert (await api.get("/api/me", headers=bearer(token))).status_code == 200

        own_redis.kill()
        for method, path in (("GET", "/api/me"), ("POST", "/api/auth/logout")):
            refused = await api.request(method, path, headers=bearer(token))
            assert refused.status_code == 503, f"{method} {path}: {refused.text}"
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert int(refused.headers["retry-after"]) >= 1
        assert await _sql(settings, "SELECT count(*) FROM revoked_tokens") == 0  # nothing half-done

        own_redis.restart()  # empty: every session record is gone, so is every session
        assert_401(await api.get("/api/me", headers=bearer(token)))
