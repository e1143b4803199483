"""Rate limits through the whole app, in memory and on Redis (API.md: Conventions, 429 and client address)."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import pytest
from litestar import Litestar, Request, get
from litestar.di import NamedDependency
from litestar.params import FromQuery
from litestar.testing import AsyncTestClient
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from infrastructure.ratelimit import RedisRateLimiter
from infrastructure.settings import RateLimit, Settings
from rural24.app import context_plugins
from rural24.auth import PUBLIC
from rural24.contexts import provide
from rural24.plugin import InfrastructurePlugin
from rural24.ratelimit import Limits
from rural24.services import build_services
from tests.conftest import PgDatabase, make_settings, service_unavailable
from tests.harness.redis import RedisServer, RedisUnavailable

OpenClient = Callable[..., AbstractAsyncContextManager[AsyncTestClient[Litestar]]]


@pytest.fixture
def settings(mode: str, database: PgDatabase, request: pytest.FixtureRequest) -> Settings:
    """The conftest's ``settings`` (so ``app`` and ``client`` use it) with a small API limit."""
    redis_url = request.getfixturevalue("redis_url") if mode == "redis" else None
    return make_settings(database, redis_url, RATE_LIMIT_API="5/minute")


@get("/api/test/limits/login", opt=PUBLIC)
async def login_probe(
    request: Request[Any, Any, Any], limits: NamedDependency[Limits], email: FromQuery[str]
) -> dict[str, int]:
    decision = await limits.login(request, email)
    return {"remaining": decision.remaining}


@get("/api/test/limits/messages", opt=PUBLIC)
async def messages_probe(limits: NamedDependency[Limits], user: FromQuery[str]) -> dict[str, int]:
    decision = await limits.messages(user)
    return {"remaining": decision.remaining}


@pytest.fixture
def open_client(mode: str, database: PgDatabase, request: pytest.FixtureRequest) -> OpenClient:
    """``async with open_client(VAR=value, …) as client``: an app of its own, with probe routes."""
    redis_url = request.getfixturevalue("redis_url") if mode == "redis" else None

    @asynccontextmanager
    async def open_(**extra: str) -> AsyncIterator[AsyncTestClient[Litestar]]:
        settings = make_settings(database, redis_url, **({"RATE_LIMIT_API": "5/minute"} | extra))
        services = build_services(settings)
        app = Litestar(
            plugins=[InfrastructurePlugin(services), *context_plugins(services)],
            route_handlers=[login_probe, messages_probe],
            dependencies={"limits": provide(services.limits)},  # the probes' own dependency
        )
        async with AsyncTestClient(app=app) as client:
            yield client

    return open_


def rejections(name: str) -> float:
    return REGISTRY.get_sample_value("rural24_rate_limit_rejections_total", {"limit": name}) or 0.0


async def test_sixth_request_is_429_problem_json(client: AsyncTestClient[Litestar]) -> None:
    before = rejections("api")
    for expected_remaining in (4, 3, 2, 1, 0):
        response = await client.get("/api/categories")
        assert response.status_code == 200
        assert response.headers["RateLimit-Limit"] == "5"
        assert response.headers["RateLimit-Remaining"] == str(expected_remaining)
        assert 1 <= int(response.headers["RateLimit-Reset"]) <= 60
        assert response.headers["RateLimit-Policy"] == "5;w=60"
        assert "Retry-After" not in response.headers

    refused = await client.get("/api/categories")
    assert refused.status_code == 429
    assert refused.headers["content-type"].startswith("application/problem+json")
    body = refused.json()
    assert body["status"] == 429
    assert body["title"] == "Too Many Requests"
    assert "5/minute" in body["detail"]
    now = time.time()
    assert now < body["resetAt"] <= now + 61
    retry_after = int(refused.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    assert refused.headers["RateLimit-Limit"] == "5"
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert refused.headers["RateLimit-Reset"] == str(retry_after)
    assert rejections("api") == before + 1

    # every route shares the per-address budget
    assert (await client.get("/api/provinces")).status_code == 429


async def test_health_metrics_and_schema_are_never_limited(client: AsyncTestClient[Litestar]) -> None:
    for _ in range(6):
        await client.get("/api/categories")
    assert (await client.get("/api/categories")).status_code == 429
    for _ in range(10):
        health = await client.get("/api/health")
        assert health.status_code == 200
        assert "RateLimit-Limit" not in health.headers
    assert (await client.get("/api/health/ready")).status_code == 200
    assert (await client.get("/metrics")).status_code == 200
    assert (await client.get("/api/metrics")).status_code == 200
    assert (await client.get("/schema/openapi.json")).status_code == 200


async def test_options_requests_are_not_counted(client: AsyncTestClient[Litestar]) -> None:
    for _ in range(10):
        await client.options("/api/categories")
    response = await client.get("/api/categories")
    assert response.status_code == 200
    assert response.headers["RateLimit-Remaining"] == "4"


async def test_metrics_count_rejections(client: AsyncTestClient[Litestar]) -> None:
    for _ in range(7):
        await client.get("/api/categories")
    text = (await client.get("/metrics")).text
    assert 'rural24_rate_limit_rejections_total{limit="api"}' in text


async def test_spoofed_forwarded_for_is_ignored_without_trusted_proxies(client: AsyncTestClient[Litestar]) -> None:
    for i in range(5):
        response = await client.get("/api/categories", headers={"X-Forwarded-For": f"198.51.100.{i}"})
        assert response.status_code == 200
    spoofed = await client.get("/api/categories", headers={"X-Forwarded-For": "203.0.113.77"})
    assert spoofed.status_code == 429


async def test_one_trusted_proxy_separates_forwarded_clients(open_client: OpenClient) -> None:
    async with open_client(TRUSTED_PROXY_HOPS="1") as client:
        first = {"X-Forwarded-For": "203.0.113.1"}
        for _ in range(5):
            assert (await client.get("/api/categories", headers=first)).status_code == 200
        assert (await client.get("/api/categories", headers=first)).status_code == 429

        second = await client.get("/api/categories", headers={"X-Forwarded-For": "203.0.113.2"})
        assert second.status_code == 200
        assert second.headers["RateLimit-Remaining"] == "4"

        # the first client prepends a made-up address: the proxy's entry still decides
        spoof = await client.get("/api/categories", headers={"X-Forwarded-For": "192.0.2.99, 203.0.113.1"})
        assert spoof.status_code == 429
        # a client that adds its own header field before the proxy's: still its real bucket
        fields = [("X-Forwarded-For", "192.0.2.99"), ("X-Forwarded-For", "203.0.113.1")]
        assert (await client.get("/api/categories", headers=fields)).status_code == 429


class Captured(logging.Handler):
    """Records of one logger (the app's structlog set-up replaces the root handlers caplog uses)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def limiter_log() -> Iterator[Captured]:
    handler = Captured()
    logger = logging.getLogger("infrastructure.ratelimit")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


async def test_redis_down_fails_open(database: PgDatabase, limiter_log: Captured) -> None:
    from rural24.app import create_app

    settings = make_settings(database, "redis://127.0.0.1:1/0", RATE_LIMIT_API="2/minute")
    async with AsyncTestClient(app=create_app(settings)) as client:
        for _ in range(6):
            response = await client.get("/api/categories")
            assert response.status_code == 200, response.text
            assert response.headers["RateLimit-Limit"] == "2"
    assert len(limiter_log.records) == 1  # once per period, not once per request
    assert "requests pass unchecked" in limiter_log.records[0].getMessage()


async def test_route_limits_search_and_messages(open_client: OpenClient) -> None:
    limits = {"RATE_LIMIT_API": "100/minute", "RATE_LIMIT_SEARCH": "2/minute", "RATE_LIMIT_MESSAGES": "3/minute"}
    async with open_client(**limits) as c:
        before = rejections("search")
        for _ in range(2):
            allowed = await c.get("/api/ads/search")
            assert allowed.status_code == 200, allowed.text
            assert allowed.headers["RateLimit-Limit"] == "100"  # an allowed answer shows the API limit
        refused = await c.get("/api/ads/search")
        assert refused.status_code == 429
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert "searches" in refused.json()["detail"]
        assert isinstance(refused.json()["resetAt"], int)
        # the route limit's headers, not the API limit's
        assert refused.headers["RateLimit-Limit"] == "2"
        assert refused.headers["RateLimit-Remaining"] == "0"
        assert int(refused.headers["Retry-After"]) >= 1
        assert rejections("search") == before + 1
        # other routes still answer: only the search budget is spent
        assert (await c.get("/api/categories")).status_code == 200

        for expected in (2, 1, 0):
            assert (await c.get("/api/test/limits/messages", params={"user": "u1"})).json() == {"remaining": expected}
        assert (await c.get("/api/test/limits/messages", params={"user": "u1"})).status_code == 429
        assert (await c.get("/api/test/limits/messages", params={"user": "u2"})).status_code == 200


async def test_login_is_limited_per_address_and_per_email(open_client: OpenClient) -> None:
    async with open_client(RATE_LIMIT_API="100/minute", RATE_LIMIT_LOGIN="2/minute", TRUSTED_PROXY_HOPS="1") as c:

        async def attempt(address: str, email: str) -> int:
            response = await c.get(
                "/api/test/limits/login", params={"email": email}, headers={"X-Forwarded-For": address}
            )
            return response.status_code

        # per email, whatever the address, and the email is normalised
        assert await attempt("203.0.113.1", "ana@campo.com") == 200
        assert await attempt("203.0.113.2", " Ana@Campo.COM ") == 200
        assert await attempt("203.0.113.3", "ana@campo.com") == 429
        # per address, whatever the email
        assert await attempt("203.0.113.4", "a@x.com") == 200
        assert await attempt("203.0.113.4", "b@x.com") == 200
        assert await attempt("203.0.113.4", "c@x.com") == 429
        # a refused address did not use up c@x.com's budget
        assert await attempt("203.0.113.5", "c@x.com") == 200
        assert await attempt("203.0.113.6", "c@x.com") == 200


# --- the Redis limiter on its own ---


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


async def test_redis_limiter_is_exact_under_concurrency(redis_client: Redis) -> None:
    prefix = f"rl-test-{uuid.uuid4().hex[:8]}"
    limiter = RedisRateLimiter(redis_client, prefix)
    limit = RateLimit(25, "minute")
    decisions = await asyncio.gather(*(limiter.hit("api", "1.2.3.4", limit) for _ in range(100)))
    assert sum(d.allowed for d in decisions) == 25
    assert sorted(d.remaining for d in decisions if d.allowed) == list(range(25))
    key = f"{prefix}:rl:api:1.2.3.4"
    assert int(await redis_client.get(key) or 0) == 100
    ttl = await redis_client.pttl(key)
    assert 50_000 < ttl <= 60_000


async def test_redis_limiter_loads_its_script_again_and_repacks_beyond_its_bound() -> None:
    """The limiter sends pre-packed ``EVALSHA`` commands (``PackedScript``): a server that lost its
    scripts (``SCRIPT FLUSH``, a restart, a failover) gets the script again, and more distinct
    callers than the packed bound start the bound over: every count stays exact. A private
    redis-server: flushing the shared one's scripts would touch other tests."""
    try:
        server = RedisServer()
    except RedisUnavailable as exc:
        service_unavailable(str(exc))
    server.start()
    client = Redis.from_url(server.url)
    try:
        limiter = RedisRateLimiter(client, "packed")
        limiter._script._max_packed = 3  # a small bound to cross
        limit = RateLimit(100, "minute")
        for round_ in range(1, 4):
            await client.script_flush()
            for address in ("a", "b", "c", "d", "e"):  # five callers: the bound of three is crossed
                decision = await limiter.hit("api", address, limit)
                assert decision.remaining == 100 - round_, (round_, address)
        assert len(limiter._script._packed) <= 3
        assert [int(await client.get(f"packed:rl:api:{a}") or 0) for a in "abcde"] == [3] * 5
    finally:
        await client.aclose()
        server.stop()


async def test_redis_limiter_keeps_the_window_and_heals_a_lost_expiry(redis_client: Redis) -> None:
    prefix = f"rl-test-{uuid.uuid4().hex[:8]}"
    limiter = RedisRateLimiter(redis_client, prefix)
    limit = RateLimit(3, "second")
    first = await limiter.hit("search", "k", limit)
    assert first.allowed
    assert first.remaining == 2
    assert first.reset_in == 1
    key = f"{prefix}:rl:search:k"
    await redis_client.persist(key)  # as if the expiry had been lost
    healed = await limiter.hit("search", "k", limit)
    assert healed.remaining == 1
    assert 0 < await redis_client.pttl(key) <= 1000
    await asyncio.sleep(1.1)
    fresh = await limiter.hit("search", "k", limit)
    assert fresh.remaining == 2


async def test_redis_limiter_fails_open_and_warns_once_per_period(limiter_log: Captured) -> None:
    client = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)
    limiter = RedisRateLimiter(client, "down", warn_every=60, cooldown=0)
    limit = RateLimit(1, "minute")
    try:
        decisions = [await limiter.hit("api", "a", limit) for _ in range(5)]
    finally:
        await client.aclose()
    assert all(d.allowed for d in decisions)
    assert [r.levelno for r in limiter_log.records] == [logging.WARNING]


async def test_the_search_limit_counts_with_the_global_one_and_not_after_its_refusal(
    open_client: OpenClient, mode: str, database: PgDatabase, request: pytest.FixtureRequest
) -> None:
    """The search route names its per-address limit in ``opt``: the global limit and it are
    counted in one step (one script in Redis), the global one first; a search the global limit
    refuses is a 429 of the API limit and leaves the search budget alone."""
    async with open_client(RATE_LIMIT_API="3/minute", RATE_LIMIT_SEARCH="10/minute") as c:
        searches, api = rejections("search"), rejections("api")
        assert [(await c.get("/api/ads/search")).status_code for _ in range(3)] == [200, 200, 200]
        refused = await c.get("/api/ads/search")
        assert refused.status_code == 429
        assert refused.headers["RateLimit-Limit"] == "3"  # the API limit refused it
        assert (rejections("api"), rejections("search")) == (api + 1, searches)

    # the limiter's step itself, memory or Redis: the counters after a refusal are not counted
    redis_url = request.getfixturevalue("redis_url") if mode == "redis" else None
    limiter = build_services(make_settings(database, redis_url)).limits.limiter
    api_limit, search_limit = RateLimit(3, "minute"), RateLimit(10, "minute")
    key = f"203.0.113.{uuid.uuid4().int % 250}"
    hits = (("api", key, api_limit), ("search", key, search_limit))
    for n in range(1, 4):
        both = await limiter.hit_all(hits)
        assert [(d.allowed, d.remaining) for d in both] == [(True, 3 - n), (True, 10 - n)]
    [refusal] = await limiter.hit_all(hits)  # the API limit refuses: the search limit is not reached
    assert (refusal.allowed, refusal.limit) == (False, 3)
    assert (await limiter.hit("search", key, search_limit)).remaining == 6  # 4th search counted, not 5th

    # with a read of other keys in the same step: Redis returns their values, memory cannot
    other = f"198.51.100.{uuid.uuid4().int % 250}"
    decisions, values = await limiter.hit_all_and_read((("api", other, api_limit),), ["absent-key"])
    assert [d.remaining for d in decisions] == [2]
    assert values == ([None] if mode == "redis" else None)
