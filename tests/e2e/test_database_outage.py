"""PostgreSQL stopped and started again under load, against a real ``rural24 serve``.

A few clients publish ads (``POST /api/ads``) and search while the database is stopped twice
(``fast``: the server terminates its sessions, 57P01; ``immediate``: a crash) and started
again. Whatever the moment, a client sees a success or a 503 problem+json with
``Retry-After``, never another server error; once the database is back, requests succeed again
without restarting the API; and every ad whose publication was acknowledged (201) is in the
database. The database is a cluster of this module's own: the session's shared one is never
stopped.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import own_primary
from tests.e2e.processes import serving
from tests.harness.postgres import PostgresCluster, ShutdownMode
from tests.hostile_results import record_fault

CLIENTS = 4
MAX_REQUESTS = 4000  # a hard cap on the whole load, whatever happens
PHASE_TIMEOUT = 30.0  # seconds any one phase may take before the test fails
REQUEST_TIMEOUT = 15.0


@dataclass
class Load:
    """What the clients saw."""

    statuses: list[int] = field(default_factory=list)
    bad: list[str] = field(default_factory=list)  # every answer that breaks the contract
    published: list[str] = field(default_factory=list)  # ids of acknowledged ads
    unavailable: int = 0
    requests: int = 0


@pytest.fixture(scope="module")
def outage_cluster() -> Iterator[PostgresCluster]:
    yield from own_primary("outage-e2e")


@dataclass(frozen=True)
class Api:
    url: str
    dsn: str  # the API's database, for checking what it acknowledged


@pytest.fixture
async def api(outage_cluster: PostgresCluster, tmp_path: Path) -> AsyncIterator[Api]:
    from infrastructure.database.migrations import migrate

    name = f"outage_{uuid.uuid4().hex[:8]}"
    await outage_cluster.create_database(name)
    await asyncio.to_thread(migrate, outage_cluster.dsn(name))
    env = {
        "APP_ENV": "test",
        "APP_NAME": f"rural24-outage-{uuid.uuid4().hex[:6]}",
        "DATABASE_URL": outage_cluster.dsn(name),
        "JWT_SECRET": "e2e-secret-" + "d" * 40,
        "DB_POOL_SIZE": "4",
        "DB_POOL_TIMEOUT": "3",
        "RATE_LIMIT_API": "100000/minute",  # the load comes from one address
        "RATE_LIMIT_SEARCH": "100000/minute",
        "WEB_CONCURRENCY": "1",
    }
    with serving(env, 1, tmp_path) as started:
        process, url = started[0]
        yield Api(url, outage_cluster.plain_dsn(name))
        log = process.output()
    assert "--- Logging error ---" not in log, log[-3000:]
    assert '"database unavailable"' in log  # the 503s were logged, as JSON


def check(response: httpx.Response, load: Load, expected: int) -> None:
    load.statuses.append(response.status_code)
    where = f"{response.request.method} {response.request.url.path} → {response.status_code}"
    if not response.headers.get("x-request-id"):
        load.bad.append(f"{where}: no X-Request-ID")
    if response.status_code == 503:
        load.unavailable += 1
        if not response.headers.get("content-type", "").startswith("application/problem+json"):
            load.bad.append(f"{where}: not problem+json: {response.text[:200]}")
        elif response.json().get("status") != 503:
            load.bad.append(f"{where}: body {response.text[:200]}")
        if response.headers.get("retry-after") != "5":
            load.bad.append(f"{where}: Retry-After {response.headers.get('retry-after')!r}")
    elif response.status_code != expected:
        load.bad.append(f"{where}: {response.text[:300]}")


async def client_loop(base: str, token: str, category_id: str, load: Load, stop: asyncio.Event, n: int) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, timeout=REQUEST_TIMEOUT) as client:
        round_ = 0
        while not stop.is_set() and load.requests < MAX_REQUESTS:
            round_ += 1
            load.requests += 2
            ad = {
                "title": f"Tractor outage {n}-{round_}",
                "categoryId": category_id,
                "province": "cordoba",
                "locality": "Marcos Juárez",
            }
            try:
                published = await client.post("/api/ads", json=ad, headers=headers)
                check(published, load, 201)
                if published.status_code == 201:
                    load.published.append(published.json()["id"])
                # a new query each time: the search reaches the database, not the cache
                found = await client.get("/api/ads/search", params={"q": f"tractor {n} {round_}"})
                check(found, load, 200)
            except httpx.TransportError as exc:  # the API itself must stay up
                load.bad.append(f"transport error: {exc!r}")


async def wait_for(condition: Any, what: str, timeout: float = PHASE_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            msg = f"not within {timeout} s: {what}"
            raise AssertionError(msg)
        await asyncio.sleep(0.05)


async def test_database_outage_under_load(api: Api, outage_cluster: PostgresCluster) -> None:
    async with httpx.AsyncClient(base_url=api.url, timeout=REQUEST_TIMEOUT) as client:
        registered = await client.post(
            "/api/auth/register",
            json={"email": f"{uuid.uuid4().hex[:8]}@campo.com.ar", "password": "pasturas-2026", "name": "Rosa"},
        )
        assert registered.status_code == 201, registered.text
        token = registered.json()["token"]
        categories = (await client.get("/api/categories")).json()
        category_id = next(c["id"] for c in categories if c["slug"] == "tractores")

    load = Load()
    stop = asyncio.Event()
    clients = [asyncio.create_task(client_loop(api.url, token, category_id, load, stop, n)) for n in range(CLIENTS)]
    try:
        await wait_for(lambda: len(load.published) >= 10, "10 ads published before the first outage")
        modes: tuple[ShutdownMode, ...] = ("fast", "immediate")
        for mode in modes:
            seen = load.unavailable
            await asyncio.to_thread(outage_cluster.shutdown, mode)
            try:
                await wait_for(lambda: load.unavailable >= seen + 10, f"503s while stopped ({mode})")  # noqa: B023
            finally:
                await asyncio.to_thread(outage_cluster.start)
            published = len(load.published)
            await wait_for(lambda: len(load.published) >= published + 10, f"10 ads published after ({mode})")  # noqa: B023
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*clients, return_exceptions=True), REQUEST_TIMEOUT * 2)

    server_errors = sorted({s for s in load.statuses if s >= 500 and s != 503})
    assert server_errors == [], load.bad[:10]
    assert load.bad == [], load.bad[:10]
    assert load.unavailable >= 20
    assert load.requests <= MAX_REQUESTS + 2 * CLIENTS

    connection = await asyncpg.connect(api.dsn)
    try:
        stored = {
            str(row["id"])
            for row in await connection.fetch("SELECT id FROM ads WHERE id = ANY($1::uuid[])", load.published)
        }
    finally:
        await connection.close()
    missing = set(load.published) - stored
    record_fault(
        "PostgreSQL stopped (fast, then immediate) and restarted under load, memory mode",
        requests=load.requests,
        acknowledged=len(load.published),
        unavailable503=load.unavailable,
        other5xx=sum(1 for s in load.statuses if s >= 500 and s != 503),
        lost=len(missing),
    )
    assert not missing, f"{len(missing)} acknowledged ads are not in the database"
    assert len(load.published) >= 30
