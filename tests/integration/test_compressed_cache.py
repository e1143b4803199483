"""Cached reads served as stored bytes: a gzip copy made once per cache entry, chosen per request
from ``Accept-Encoding``, with its own ETag and ``Vary: Accept-Encoding`` (memory and Redis modes).

The raw bytes on the wire are read with ``client.stream(...).aiter_raw()``: httpx would otherwise
decode the gzip body and hide what was sent.
"""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import Mapping
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.integration.test_ads import auth, category_id, publish, user

Client = AsyncTestClient[Litestar]
IDENTITY = {"Accept-Encoding": "identity"}
GZIP = {"Accept-Encoding": "gzip"}


class Sent:
    """One response as sent: its headers and its raw (undecoded) body."""

    def __init__(self, response: httpx.Response, raw: bytes) -> None:
        self.status = response.status_code
        self.headers = response.headers
        self.raw = raw

    @property
    def encoding(self) -> str | None:
        encoding: str | None = self.headers.get("content-encoding")
        return encoding


async def sent(client: Client, path: str, headers: Mapping[str, str | None], **params: Any) -> Sent:
    """GET ``path``; a header given as ``None`` is left out (httpx sends ``Accept-Encoding`` unless removed)."""
    request = client.build_request("GET", path, params=params)
    for name, value in headers.items():
        if value is None:
            del request.headers[name]
        else:
            request.headers[name] = value
    response = await client.send(request, stream=True)
    try:
        raw = b"".join([chunk async for chunk in response.aiter_raw()])
    finally:
        await response.aclose()
    if response.status_code != 304:
        assert int(response.headers["content-length"]) == len(raw)  # the bytes sent, whichever copy
    return Sent(response, raw)


def assert_variants(identity: Sent, gzipped: Sent) -> None:
    """The gzip copy is one gzip layer over exactly the identity bytes, with its own validator."""
    assert identity.status == gzipped.status == 200
    assert identity.encoding is None
    assert gzipped.encoding == "gzip"
    assert gzip.decompress(gzipped.raw) == identity.raw
    assert len(gzipped.raw) < len(identity.raw)
    assert identity.headers["vary"] == gzipped.headers["vary"] == "Accept-Encoding"
    assert gzipped.headers["etag"] == identity.headers["etag"][:-1] + '-gz"'
    assert gzipped.headers["content-type"] == identity.headers["content-type"] == "application/json"


async def assert_revalidates(client: Client, path: str, identity: Sent, gzipped: Sent) -> None:
    """``If-None-Match`` → 304 for each variant's own ETag; the other variant's ETag does not match."""
    for accept, own, other in ((IDENTITY, identity, gzipped), (GZIP, gzipped, identity)):
        fresh = await sent(client, path, accept | {"If-None-Match": own.headers["etag"]})
        assert fresh.status == 304
        assert fresh.raw == b""
        assert fresh.encoding is None
        assert fresh.headers["etag"] == own.headers["etag"]
        assert fresh.headers["vary"] == "Accept-Encoding"
        stale = await sent(client, path, accept | {"If-None-Match": other.headers["etag"]})
        assert stale.status == 200
        assert stale.raw == own.raw


async def test_categories_send_one_stored_body_in_two_encodings(client: Client) -> None:
    first = await sent(client, "/api/categories", GZIP)
    assert first.headers["x-cache"] == "miss"
    identity = await sent(client, "/api/categories", IDENTITY)
    gzipped = await sent(client, "/api/categories", GZIP)
    assert identity.headers["x-cache"] == gzipped.headers["x-cache"] == "hit"
    assert_variants(identity, gzipped)
    assert first.raw == gzipped.raw  # the miss sent the very bytes it stored
    assert "s-maxage=3600" in gzipped.headers["cache-control"]  # the route's own policy, in both
    assert "s-maxage=3600" in identity.headers["cache-control"]
    await assert_revalidates(client, "/api/categories", identity, gzipped)


@pytest.mark.parametrize(
    ("accept_encoding", "encoding"),
    [
        (None, None),  # no header at all
        ("gzip;q=0", None),
        ("gzip, deflate, br, zstd", "gzip"),
    ],  # the parsing itself: tests/unit/test_accept_encoding.py
)
async def test_accept_encoding_q_values_choose_the_copy(
    client: Client, accept_encoding: str | None, encoding: str | None
) -> None:
    await sent(client, "/api/categories", IDENTITY)  # stored
    answer = await sent(client, "/api/categories", {"Accept-Encoding": accept_encoding})
    assert answer.status == 200
    assert answer.encoding == encoding
    assert answer.headers["vary"] == "Accept-Encoding"
    body = gzip.decompress(answer.raw) if encoding else answer.raw
    assert json.loads(body)[0]["slug"]


async def test_search_hits_send_the_stored_gzip_copy_and_a_write_shows_at_once(client: Client) -> None:
    seller = await user(client)
    for n in range(4):  # a page well over 1 KB
        await publish(client, seller, title=f"Tractor Deutz AX 4.190 número {n}")
    path = "/api/ads/search"

    miss = await sent(client, path, GZIP, q="deutz")
    assert miss.headers["x-cache"] == "miss"
    assert miss.encoding == "gzip"
    missed = json.loads(gzip.decompress(miss.raw))
    assert missed["cached"] is False
    assert len(missed["results"]) == 4

    identity = await sent(client, path, IDENTITY, q="deutz")
    gzipped = await sent(client, path, GZIP, q="deutz")
    assert identity.headers["x-cache"] == gzipped.headers["x-cache"] == "hit"
    assert_variants(identity, gzipped)
    hit = json.loads(identity.raw)
    assert hit["cached"] is True
    assert hit["results"] == missed["results"]
    assert gzipped.headers["etag"] == miss.headers["etag"]  # the miss and the hits: one page, one ETag each way
    await assert_revalidates(client, f"{path}?q=deutz", identity, gzipped)

    newest = await publish(client, seller, title="Tractor Deutz AX 6.110 recién llegado")
    after = await sent(client, path, GZIP, q="deutz")
    assert after.headers["x-cache"] == "miss"
    page = json.loads(gzip.decompress(after.raw))
    assert newest["id"] in [row["id"] for row in page["results"]]
    assert after.headers["etag"] != gzipped.headers["etag"]


async def test_ad_detail_gzip_copy_revalidates_and_its_etag_serves_if_match(client: Client) -> None:
    seller = await user(client)
    ad = await publish(client, seller, description="Excelente estado, 4500 horas, cubiertas nuevas. " * 30)
    path = f"/api/ads/{ad['id']}"
    identity = await sent(client, path, IDENTITY)
    gzipped = await sent(client, path, GZIP)
    assert identity.headers["x-cache"] == gzipped.headers["x-cache"] == "hit"  # the publish stored it
    assert_variants(identity, gzipped)
    assert identity.headers["etag"].startswith('"r')
    await assert_revalidates(client, path, identity, gzipped)

    # a client that read the gzip copy may send that ETag back as If-Match
    changed = await client.patch(
        path, json={"price": "44000"}, headers=auth(seller) | GZIP | {"If-Match": gzipped.headers["etag"]}
    )
    assert changed.status_code == 200, changed.text
    assert changed.headers.get("content-encoding") is None  # a write's answer is never compressed
    assert changed.headers["cache-control"] == "private, no-store"
    stale = await client.patch(path, json={"price": "1"}, headers=auth(seller) | {"If-Match": gzipped.headers["etag"]})
    assert stale.status_code == 412
    after = await sent(client, path, GZIP)
    assert json.loads(gzip.decompress(after.raw))["price"] == "44000.00"
    assert after.headers["etag"] != gzipped.headers["etag"]


async def test_small_bodies_and_writes_stay_identity(client: Client) -> None:
    seller = await user(client)
    created = await client.post(
        "/api/ads",
        json={
            "title": "Tractor Deutz AX 4.190 en Córdoba",
            "description": "Excelente estado, 4500 horas, cubiertas nuevas. " * 30,
            "price": "45000.00",
            "currency": "USD",
            "categoryId": await category_id(client, "tractores"),
            "province": "cordoba",
            "locality": "Marcos Juárez",
            "condition": "used",
        },
        headers=auth(seller) | GZIP,
    )
    assert created.status_code == 201, created.text
    assert created.headers.get("content-encoding") is None
    # an empty search page is a few dozen bytes: not worth compressing, still Vary
    empty = await sent(client, "/api/ads/search", GZIP, q="inexistente")
    assert empty.encoding is None
    assert empty.headers["vary"] == "Accept-Encoding"
    assert json.loads(empty.raw)["results"] == []


async def test_the_local_first_level_serves_hits_without_redis_and_a_write_elsewhere_shows_at_once(
    database: Any, request: pytest.FixtureRequest
) -> None:
    """Redis mode: an instance keeps the entries it read, decoded, in the process (one Redis round
    trip fewer per hit). Exact, not fresh-enough: after another instance's write the next search
    asks for another key (the generations are read every time) and shows the new ad."""
    from redis.asyncio import Redis

    from rural24.app import create_app
    from tests.conftest import make_settings

    redis_url = request.getfixturevalue("redis_url")
    settings = make_settings(database, redis_url)  # both instances: one APP_NAME, one Redis
    async with AsyncTestClient(app=create_app(settings)) as one, AsyncTestClient(app=create_app(settings)) as two:
        seller = await user(one)
        await publish(one, seller, title="Rastra de discos Baldan 24")
        assert (await two.get("/api/ads/search", params={"q": "rastra"})).headers["x-cache"] == "miss"
        assert (await two.get("/api/ads/search", params={"q": "rastra"})).headers["x-cache"] == "hit"

        # the entries leave Redis: instance two still hits, from its own copy
        redis = Redis.from_url(redis_url)
        try:
            stored = [key async for key in redis.scan_iter(match=f"{settings.app.name}:cache:search:*")]
            assert stored
            await redis.delete(*stored)
        finally:
            await redis.aclose()
        held = await two.get("/api/ads/search", params={"q": "rastra"})
        assert held.headers["x-cache"] == "hit"

        # a publish on instance one: instance two's next search is a new key, with the new ad
        newest = await publish(one, seller, title="Rastra de discos Baldan 28 nueva")
        after = await two.get("/api/ads/search", params={"q": "rastra"})
        assert after.headers["x-cache"] == "miss"
        assert newest["id"] in [row["id"] for row in after.json()["results"]]
        assert after.headers["etag"] != held.headers["etag"]


async def test_a_cached_search_or_detail_in_redis_mode_is_one_redis_round_trip(
    database: Any, request: pytest.FixtureRequest
) -> None:
    """The search and detail routes' limits and their generation are read by one script at the
    start of the request, and the entry comes from the process's first level: a hit sends Redis
    one command (watched with MONITOR, filtered to this app's keys)."""
    from redis.asyncio import Redis

    from rural24.app import create_app
    from tests.conftest import make_settings

    redis_url = request.getfixturevalue("redis_url")
    settings = make_settings(database, redis_url)
    prefix = settings.app.name
    async with AsyncTestClient(app=create_app(settings)) as api:
        seller = await user(api)
        ad = await publish(api, seller, title="Cosechadora Don Roque 150")
        assert (await api.get("/api/ads/search", params={"q": "cosechadora"})).headers["x-cache"] == "miss"
        assert (await api.get(f"/api/ads/{ad['id']}")).status_code == 200  # cached (the publish stored it)
        watcher, marker = Redis.from_url(redis_url), f"end-{prefix}"
        try:
            async with watcher.monitor() as monitor:
                for _ in range(3):
                    hit = await api.get("/api/ads/search", params={"q": "cosechadora"})
                    assert hit.headers["x-cache"] == "hit"
                for _ in range(2):
                    assert (await api.get(f"/api/ads/{ad['id']}")).headers["x-cache"] == "hit"
                await watcher.echo(marker)  # another connection of the pool: the end of what to read
                commands: list[str] = []
                while True:
                    seen = await asyncio.wait_for(monitor.next_command(), timeout=10)
                    if marker in seen["command"]:
                        break
                    if seen["client_type"] != "lua" and prefix in seen["command"]:
                        commands.append(seen["command"].split()[0])
        finally:
            await watcher.aclose()
    assert commands == ["EVALSHA"] * 5, commands
