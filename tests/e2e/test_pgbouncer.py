"""Stage 3's connection pooler: two real API instances and a real worker reach the primary
through Debian's PgBouncer in **transaction mode** (``DATABASE_POOLER=transaction``), with fewer
server connections than the instances' pools hold, so consecutive transactions of one client run
on different server sessions and clients share them. LISTEN (session events) and the PostgreSQL
job queue go to ``DATABASE_DIRECT_URL``. The main flows pass, and PgBouncer's own counters show
that the traffic went through it. (``make test-pooler`` runs the whole API suite this way.)"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import PgDatabase, service_unavailable
from tests.e2e.accounts import register
from tests.e2e.processes import Process, serving
from tests.e2e.smtp_sink import SmtpSink
from tests.harness.pgbouncer import PgBouncer, PgBouncerUnavailable
from tests.harness.postgres import ClusterPair

pytestmark = pytest.mark.postgres

PASSWORD = "girasol-y-trigo-2026"
SERVER_CONNECTIONS = 2  # PgBouncer's pool: far fewer than the clients below


@pytest.fixture
def bouncer(pg_cluster: ClusterPair) -> Iterator[PgBouncer]:
    missing: str | None = None
    pooler = PgBouncer(pg_cluster.primary.port, pool_size=SERVER_CONNECTIONS)
    try:
        pooler.start()
    except PgBouncerUnavailable as exc:
        missing = str(exc)
    if missing is not None:
        service_unavailable(missing)
    try:
        yield pooler
    finally:
        pooler.stop()


def _auth(body: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {body['token']}"}


async def test_the_main_flows_pass_through_pgbouncer_in_transaction_mode(
    bouncer: PgBouncer, database: PgDatabase, tmp_path: Path
) -> None:
    with SmtpSink() as sink:
        env = {
            "APP_ENV": "test",
            "APP_NAME": f"rural24-pooler-{uuid.uuid4().hex[:6]}",
            "DATABASE_URL": bouncer.dsn(database.name),
            "DATABASE_DIRECT_URL": database.primary_url,
            "DATABASE_POOLER": "transaction",
            "DB_POOL_SIZE": "6",
            "JWT_SECRET": "e2e-secret-" + "p" * 40,
            "RATE_LIMIT_API": "100000/minute",
            "RATE_LIMIT_SEARCH": "100000/minute",
            "EMAIL_URL": sink.url,
        }
        with serving(env, 2, tmp_path) as [(_, one), (_, two)]:
            worker = Process(["worker"], env, tmp_path / "worker.log")
            try:
                async with httpx.AsyncClient(timeout=15) as client:
                    await _main_flows(client, sink, one, two)
            finally:
                worker.stop()

    stats = bouncer.stats()[database.name]
    assert int(stats["total_xact_count"]) > 200, stats  # the API's transactions went through PgBouncer
    servers = [row for row in bouncer.show("SERVERS") if row["database"] == database.name]
    assert len(servers) <= SERVER_CONNECTIONS, servers  # ... on two server sessions, shared by all clients


async def _main_flows(client: httpx.AsyncClient, sink: SmtpSink, one: str, two: str) -> None:
    seller = await register(client, one, "Seller", PASSWORD)
    buyer = await register(client, two, "Buyer", PASSWORD)
    # the worker takes jobs from the PostgreSQL queue on the direct URL: the welcome emails go out
    await asyncio.to_thread(sink.wait_accepted, 2, 60)

    category = (await client.get(f"{one}/api/categories")).json()[0]["id"]
    ads = []
    for n in range(3):
        published = await client.post(
            f"{one}/api/ads",
            json={"title": f"Sembradora Agrometal {n}", "description": "Lista para la campaña", "price": "21000.00",
                  "currency": "USD", "categoryId": category, "province": "cordoba", "locality": "Marcos Juárez"},
            headers=_auth(seller),
        )  # fmt: skip
        assert published.status_code == 201, published.text
        ads.append(published.json()["id"])

    # reads on the other instance: search, detail, the author's own list
    found = (await client.get(f"{two}/api/ads/search", params={"q": "sembradora"})).json()
    assert sorted(a["id"] for a in found["results"]) == sorted(ads)
    assert (await client.get(f"{two}/api/ads/{ads[0]}")).status_code == 200
    mine = (await client.get(f"{two}/api/me/ads", headers=_auth(seller))).json()
    assert len(mine["results"] if isinstance(mine, dict) else mine) == 3

    # writes of the other user: a favorite and a conversation
    assert (await client.put(f"{two}/api/ads/{ads[1]}/favorite", headers=_auth(buyer))).status_code == 204
    favorites = (await client.get(f"{one}/api/me/favorites", headers=_auth(buyer))).json()
    assert ads[1] in {a["id"] for a in (favorites["results"] if isinstance(favorites, dict) else favorites)}
    sent = await client.post(
        f"{two}/api/messages/send",
        json={"recipientId": seller["user"]["id"], "content": "¿Tiene fertilizadora?", "adId": ads[0]},
        headers=_auth(buyer),
    )
    assert sent.status_code == 201, sent.text
    [conversation] = (await client.get(f"{one}/api/messages/conversations", headers=_auth(seller))).json()
    assert conversation["unreadCount"] == 1

    # concurrency: many clients interleave on two server sessions (no statement name collides,
    # no statement is lost between transactions)
    async def one_request(n: int) -> int:
        base = (one, two)[n % 2]
        match n % 4:
            case 0:
                response = await client.get(f"{base}/api/ads/search", params={"q": "agrometal", "page": n % 3 + 1})
            case 1:
                response = await client.get(f"{base}/api/me", headers=_auth(buyer))
            case 2:
                response = await client.get(f"{base}/api/ads/{ads[n % 3]}")
            case _:
                response = await client.patch(
                    f"{base}/api/ads/{ads[n % 3]}", json={"description": f"Revisada {n}"}, headers=_auth(seller)
                )
        return response.status_code

    statuses = await asyncio.gather(*(one_request(n) for n in range(120)))
    assert set(statuses) == {200}, sorted(statuses)

    # a logout committed through the pooler reaches the other instance's LISTEN on the direct URL
    assert (await client.post(f"{one}/api/auth/logout", headers=_auth(buyer))).status_code == 204
    assert (await client.get(f"{two}/api/me", headers=_auth(buyer))).status_code == 401
