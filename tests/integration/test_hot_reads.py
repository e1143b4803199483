"""Hot reads (``rural24.hot_reads``): a repeat anonymous search or ad detail answered from the cache
before routing is the same answer as the full path's, and everything it cannot answer (a write
since, a refusal, a token, an ``Origin``) goes the full path, counted once. Memory and Redis modes.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest
import redis
from litestar import Litestar
from litestar.testing import AsyncTestClient

from infrastructure.settings import Settings
from rural24.app import create_app
from rural24.hot_reads import MAX_PATH_BYTES, MAX_QUERY_BYTES, HotReads
from rural24.services import Services
from tests.conftest import PgDatabase, make_settings
from tests.integration.test_ads import auth, publish, user
from tests.integration.test_compressed_cache import GZIP, IDENTITY, Sent, sent
from tests.integration.test_request_metrics import _count

Client = AsyncTestClient[Litestar]


def hot_reads(client: Client) -> HotReads:
    return Services.of(client.app.state).hot_reads


SEARCH = "/api/ads/search"
DETAIL = "/api/ads/{id}"


def answered(client: Client, route: str | None = None) -> int:
    """Requests answered before routing: to ``route`` (a path template), or to any."""
    counts = hot_reads(client).answered
    return counts.get(route, 0) if route is not None else sum(counts.values())


def mode_settings(mode: str, database: PgDatabase, request: pytest.FixtureRequest, **extra: str) -> Settings:
    redis_url = request.getfixturevalue("redis_url") if mode == "redis" else None
    return make_settings(database, redis_url, **extra)


@pytest.fixture
async def pair(mode: str, database: PgDatabase, request: pytest.FixtureRequest) -> AsyncIterator[tuple[Client, Client]]:
    """Two apps on one database: with hot reads (the default) and without (``CACHE_HOT_READS=false``).
    Both read the primary: the other app's writes are not in its generations, a replica may lag."""
    primary = database.primary_url
    hot_app = create_app(mode_settings(mode, database, request, DATABASE_READ_URL=primary))
    full_app = create_app(mode_settings(mode, database, request, DATABASE_READ_URL=primary, CACHE_HOT_READS="false"))
    assert Services.of(hot_app.state).hot_reads.installed
    assert not Services.of(full_app.state).hot_reads.installed
    async with AsyncTestClient(app=hot_app) as hot, AsyncTestClient(app=full_app) as full:
        yield hot, full


UNLIKE = ("x-request-id", "ratelimit-remaining", "ratelimit-reset")
"""Headers that differ between the apps: the id is random; the hot app also registered and published
(each request counts once on both sides: ``test_limits_are_counted_once_and_refused_alike``), and
each app's window started when its first request came."""


def comparable(response: Sent) -> tuple[int, bytes, list[tuple[str, str]]]:
    """Status, raw body and every header but :data:`UNLIKE`, in a stable order."""
    headers = sorted((k, v) for k, v in response.headers.multi_items() if k not in UNLIKE)
    return response.status, response.raw, headers


async def both(
    hot: Client, full: Client, path: str, headers: Mapping[str, str | None], **params: Any
) -> tuple[Sent, Sent]:
    return await sent(hot, path, headers, **params), await sent(full, path, headers, **params)


async def test_the_same_answer_as_the_full_path(pair: tuple[Client, Client]) -> None:
    hot, full = pair
    owner = await user(hot)
    ad = await publish(hot, owner)
    detail = f"/api/ads/{ad['id']}"
    search = {"q": "tractor", "province": "cordoba", "sort": "price_asc"}
    reads = (("/api/ads/search", search), (detail, {}), ("/api/categories", {}), ("/api/provinces", {}))
    for path, params in reads:  # in both caches (the publish filled some of the hot app's), recipes taught
        await hot.get(path, params=params)
        await full.get(path, params=params)
    answered_before = answered(hot)
    for path, params in reads:
        for accept in (IDENTITY, GZIP, {"Accept-Encoding": None}):
            # the first answer teaches the route's recipe; the next ones are hot on one side only
            for _ in range(3):
                a, b = await both(hot, full, path, accept, **params)
                assert a.status == 200
                assert comparable(a) == comparable(b)
            etag = a.headers["etag"]
            a, b = await both(hot, full, path, accept | {"If-None-Match": etag}, **params)
            assert a.status == 304
            assert comparable(a) == comparable(b)
    # a recipe is per path and query string, whatever the encoding: every answer (4 routes x
    # 3 encodings x (3 + the 304)) came before routing, on one side only
    assert answered(hot) - answered_before == 4 * 3 * 4
    assert a.headers["x-cache"] == "hit"
    assert re.fullmatch(r"[0-9a-f]{24}", a.headers["x-request-id"])


async def test_a_write_shows_in_the_next_hot_search(client: Client) -> None:
    owner = await user(client)
    await publish(client, owner, title="Sembradora Agrometal 2008")
    params = {"q": "sembradora"}
    await client.get("/api/ads/search", params=params)  # miss: teaches the recipe
    before = answered(client, SEARCH)
    repeat = await client.get("/api/ads/search", params=params)
    assert answered(client, SEARCH) == before + 1
    assert len(repeat.json()["results"]) == 1
    await publish(client, owner, title="Sembradora Pierobon 2015")
    after_write = await client.get("/api/ads/search", params=params)
    assert answered(client, SEARCH) == before + 1  # the generation moved: the full path loads the page
    assert after_write.headers["x-cache"] == "miss"
    assert len(after_write.json()["results"]) == 2
    again = await client.get("/api/ads/search", params=params)
    assert answered(client, SEARCH) == before + 2
    assert len(again.json()["results"]) == 2


async def test_a_changed_ad_shows_in_the_next_hot_detail(client: Client) -> None:
    owner = await user(client)
    ad = await publish(client, owner)
    path = f"/api/ads/{ad['id']}"
    await client.get(path)
    before = answered(client, DETAIL)
    assert (await client.get(path)).json()["price"] == "45000.00"
    assert answered(client, DETAIL) == before + 1
    changed = await client.patch(path, json={"price": "41000.00"}, headers=auth(owner))
    assert changed.status_code == 200, changed.text
    fresh = await client.get(path)  # the change stored the new public detail: its key, a hit
    assert fresh.json()["price"] == "41000.00"
    assert answered(client, DETAIL) == before + 2
    removed = await client.delete(path, headers=auth(owner))
    assert removed.status_code == 204, removed.text
    assert (await client.get(path)).status_code == 404


@pytest.mark.parametrize("limit", ["search", "api"])
async def test_limits_are_counted_once_and_refused_alike(
    limit: str, mode: str, database: PgDatabase, request: pytest.FixtureRequest
) -> None:
    """Hot or not, every request counts once; the refusal is the full path's 429 problem+json."""
    variable = {"search": "RATE_LIMIT_SEARCH", "api": "RATE_LIMIT_API"}[limit]
    app = create_app(mode_settings(mode, database, request, **{variable: "5/minute"}))
    async with AsyncTestClient(app=app) as client:
        remaining = []
        for _ in range(5):
            response = await client.get("/api/ads/search", params={"q": "cosechadora"})
            assert response.status_code == 200
            remaining.append(int(response.headers["ratelimit-remaining"]))
        assert answered(client, SEARCH) == 4  # the first taught the recipe
        refused = await client.get("/api/ads/search", params={"q": "cosechadora"})
        assert refused.status_code == 429
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.headers["ratelimit-limit"] == "5"
        assert refused.headers["ratelimit-remaining"] == "0"
        assert int(refused.headers["retry-after"]) > 0
        assert answered(client, SEARCH) == 4
    api_remaining = [r - remaining[-1] for r in remaining]
    assert api_remaining == [4, 3, 2, 1, 0]  # one apiece (the API limit's headers: 120 - n, or 5 - n)


async def test_what_needs_the_full_path_takes_it(
    mode: str, database: PgDatabase, request: pytest.FixtureRequest
) -> None:
    frontend = "https://rural24.com.ar"
    app = create_app(mode_settings(mode, database, request, FRONTEND_URL=frontend))
    async with AsyncTestClient(app=app) as client:
        owner = await user(client)
        ad = await publish(client, owner)  # asks for the categories: their recipe
        path, params = "/api/ads/search", {"category": "tractores"}
        await client.get(path, params=params)
        recipes = len(hot_reads(client))
        assert recipes == 2
        before = answered(client)
        bad_token = await client.get(path, params=params, headers={"Authorization": "Bearer nope"})
        assert bad_token.status_code == 401  # a token is checked, never taken for anonymous
        good_token = await client.get(path, params=params, headers=auth(owner))
        assert good_token.status_code == 200
        browser = await client.get(path, params=params, headers={"Origin": frontend})
        assert browser.status_code == 200
        assert browser.headers["access-control-allow-origin"] == frontend
        # Litestar's CORS replaces Vary; a negotiated read keeps Accept-Encoding (rural24.plugin.keep_vary)
        assert browser.headers.get_list("vary") == ["Accept-Encoding, Origin"]
        head = await client.head(path, params=params)
        assert head.status_code in (200, 405)
        invalid = await client.get(path, params={"category": "tractores", "page": "0"})
        assert invalid.status_code == 422
        await client.get(path, params={"category": "tractores", "page": "0"})
        padded = {"category": "tractores", "pad": "x" * MAX_QUERY_BYTES}  # unknown parameters are ignored
        for _ in range(2):
            assert (await client.get(path, params=padded)).status_code == 200  # never remembered
        spelled = "/api/ads/urn:uuid:{" + "-" * MAX_PATH_BYTES + ad["id"] + "}"  # an id parses from this too
        for _ in range(2):
            long_path = await client.get(spelled)
            assert long_path.status_code == 200, long_path.text
            assert long_path.json()["id"] == ad["id"]
        assert answered(client, DETAIL) == 0  # never remembered
        probe = await client.get("/api/health", headers={"Origin": frontend})
        assert probe.status_code == 200
        assert probe.headers["access-control-allow-origin"] == frontend  # the full path's CORS
        assert answered(client) == before  # none of these was answered before routing
        assert len(hot_reads(client)) == recipes  # and a refused query string, or a long one, teaches nothing
        anonymous = await client.get(path, params=params)
        assert anonymous.status_code == 200
        assert answered(client) == before + 1


async def test_hot_reads_count_in_the_request_metrics(client: Client) -> None:
    for _ in range(4):
        assert (await client.get("/api/ads/search", params={"q": "rastra"})).status_code == 200
    assert answered(client, SEARCH) == 3
    metrics = (await client.get("/metrics")).text
    name = Services.of(client.app.state).settings.app.name
    assert _count(metrics, name, "/api/ads/search", 200) == 4


async def test_liveness_is_answered_alike(pair: tuple[Client, Client]) -> None:
    hot, full = pair
    before = answered(hot)
    for query in ({}, {"probe": "k8s"}):  # the route reads no parameter
        a, b = await both(hot, full, "/api/health", IDENTITY, **query)
        assert a.status == 200
        assert a.raw == b'{"status":"ok"}'
        assert comparable(a) == comparable(b)
    assert answered(hot) == before + 2


async def test_an_error_before_the_answer_is_the_full_paths_to_meet(
    database: PgDatabase, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The layer sits outside Litestar's exception handling: a failure in it (injected here into the
    generations, which both paths read in memory mode) is answered by the full path, as
    problem+json with the request id, counted once."""
    async with AsyncTestClient(app=create_app(mode_settings("memory", database, request))) as client:
        await _fails_over(client, monkeypatch)


async def _fails_over(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    services = Services.of(client.app.state)
    params = {"q": "rastra"}
    await client.get("/api/ads/search", params=params)  # teaches the recipe

    async def broken(*names: str) -> list[int] | None:
        raise RuntimeError("generations store broken")

    remaining = int((await client.get("/api/ads/search", params=params)).headers["ratelimit-remaining"])
    monkeypatch.setattr(services.generations, "get", broken)
    failed = await client.get("/api/ads/search", params=params)
    assert failed.status_code == 500
    assert failed.headers["content-type"] == "application/problem+json"
    assert failed.headers["x-request-id"]
    monkeypatch.undo()
    after = await client.get("/api/ads/search", params=params)
    assert after.status_code == 200
    assert int(after.headers["ratelimit-remaining"]) == remaining - 2  # the failed one counted once


async def test_a_garbled_generation_bypasses_the_cache(database: PgDatabase, request: pytest.FixtureRequest) -> None:
    """A generation in Redis that is not a number (written by something else) is unknown: both
    paths load from the database and store nothing, instead of failing."""
    app = create_app(mode_settings("redis", database, request))
    async with AsyncTestClient(app=app) as client:
        services = Services.of(client.app.state)
        params = {"q": "arado"}
        await client.get("/api/ads/search", params=params)
        # from this thread's own client (the app's belongs to its event loop)
        garbler = redis.Redis.from_url(request.getfixturevalue("redis_url"))
        try:
            garbler.set(f"{services.settings.app.name}:gen:search", "not-a-number")
        finally:
            garbler.close()
        before = answered(client, SEARCH)
        for _ in range(2):
            response = await client.get("/api/ads/search", params=params)
            assert response.status_code == 200
            assert response.headers["x-cache"] == "miss"
        assert answered(client, SEARCH) == before
