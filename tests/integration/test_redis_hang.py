"""A Redis that stops answering (its process stopped with SIGSTOP, the connection left open: what a
frozen or overloaded server looks like) costs a request a bounded wait, never a hang, and the
service recovers when it answers again. A redis-server of the test's own, never the shared one.

The cached read's one Redis call goes through ``RedisConnection.hot_client``, which has no socket
timeout of its own and bounds each call with ``asyncio.timeout``: without that bound the stopped
server would hold the request forever, and ``asyncio.wait_for`` below fails the test.
"""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from rural24.app import create_app
from rural24.services import Services
from tests.conftest import PgDatabase, make_settings, service_unavailable
from tests.harness.redis import RedisServer, RedisUnavailable
from tests.integration.test_ads import PASSWORD

pytestmark = pytest.mark.redis

HANG_GUARD = 60.0
"""Seconds after which a request is taken to hang (each Redis call gives up after 2 s)."""


@pytest.fixture
def stoppable_redis() -> Iterator[RedisServer]:
    try:
        server = RedisServer()
    except RedisUnavailable as exc:
        service_unavailable(str(exc))
    server.start()
    yield server
    if server.pid is not None:
        os.kill(server.pid, signal.SIGCONT)  # a stopped process would not stop
    server.stop()


def guarded(call: Callable[[], httpx.Response]) -> httpx.Response:
    """``call()`` in a thread, failing after :data:`HANG_GUARD` seconds. The test client blocks its
    caller until the app answers, so a hang is only seen from another thread."""
    pool = ThreadPoolExecutor(1)
    try:
        return pool.submit(call).result(timeout=HANG_GUARD)
    finally:
        pool.shutdown(wait=False)  # a hung call is not waited for here


def publish(client: TestClient[Litestar], title: str) -> dict[str, Any]:
    email = f"{uuid.uuid4().hex[:10]}@campo.com.ar"
    registered = client.post("/api/auth/register", json={"email": email, "password": PASSWORD, "name": "Ana Paz"})
    assert registered.status_code == 201, registered.text
    token = registered.json()["token"]
    category = next(c["id"] for c in client.get("/api/categories").json() if c["slug"] == "tractores")
    body = {
        "title": title,
        "description": "Lista para trabajar.",
        "price": "30000.00",
        "currency": "USD",
        "categoryId": category,
        "province": "cordoba",
        "locality": "Marcos Juárez",
        "condition": "used",
    }
    published = client.post("/api/ads", json=body, headers={"Authorization": f"Bearer {token}"})
    assert published.status_code == 201, published.text
    ad: dict[str, Any] = published.json()
    return ad


def test_a_cached_read_survives_a_redis_that_stops_answering(
    database: PgDatabase, stoppable_redis: RedisServer
) -> None:
    settings = make_settings(database, stoppable_redis.url, DATABASE_READ_URL=database.primary_url)
    params = {"q": "sembradora"}
    with TestClient(app=create_app(settings)) as client:
        ad = publish(client, "Sembradora Agrometal 16 surcos")
        assert client.get("/api/ads/search", params=params).headers["x-cache"] == "miss"
        assert client.get("/api/ads/search", params=params).headers["x-cache"] == "hit"
        assert sum(Services.of(client.app.state).hot_reads.answered.values()) >= 1  # before routing

        assert stoppable_redis.pid is not None
        os.kill(stoppable_redis.pid, signal.SIGSTOP)
        try:
            frozen = guarded(lambda: client.get("/api/ads/search", params=params))
        finally:
            os.kill(stoppable_redis.pid, signal.SIGCONT)
        # Redis down: limits fail open, the cache is bypassed, the database answers
        assert frozen.status_code == 200, frozen.text
        assert [result["id"] for result in frozen.json()["results"]] == [ad["id"]]
        assert frozen.headers["x-cache"] != "hit"

        # answering again: the same search is served, and from the cache once more
        answers = [guarded(lambda: client.get("/api/ads/search", params=params)) for _ in range(3)]
        assert {answer.status_code for answer in answers} == {200}
        assert all([r["id"] for r in answer.json()["results"]] == [ad["id"]] for answer in answers)
        assert answers[-1].headers["x-cache"] == "hit"
