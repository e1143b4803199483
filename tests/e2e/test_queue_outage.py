"""The queue's Redis dies while ads are published through a real `rural24 serve`, with a real
`rural24 worker` running: every publish still answers 201, and once Redis is back every instant
saved-search alert reaches the (local) SMTP server, exactly once."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.conftest import PgDatabase, service_unavailable
from tests.e2e.processes import Process, serving
from tests.e2e.smtp_sink import SmtpSink
from tests.harness.redis import RedisServer, RedisUnavailable
from tests.hostile_results import record_fault

pytestmark = pytest.mark.postgres

BUYERS = 3
ADS_DURING_OUTAGE = 4
_UNDISPATCHED_ALERTS = "SELECT count(*) FROM job_outbox WHERE dispatched_at IS NULL AND job_key LIKE 'alert:%'"
_RELAY_FAILED = "SELECT count(*) FROM job_outbox WHERE dispatched_at IS NULL AND attempts >= 2"
_SENT_ALERTS = "SELECT count(*) FROM email_deliveries WHERE kind = 'saved_search' AND status = 'sent'"


async def _count(database: PgDatabase, sql: str) -> int:
    connection = await asyncpg.connect(database.primary_url.replace("+asyncpg", ""))
    try:
        return int(await connection.fetchval(sql))
    finally:
        await connection.close()


async def _register(client: httpx.AsyncClient, url: str, name: str) -> dict[str, str]:
    response = await client.post(
        f"{url}/api/auth/register",
        json={"email": f"{uuid.uuid4().hex[:10]}@campo.com.ar", "password": "girasol-y-maiz-2026", "name": name},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return {"id": body["user"]["id"], "email": body["user"]["email"], "token": body["token"]}


def _auth(who: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {who['token']}"}


@pytest.mark.parametrize("outage", ["all-redis", "queue-redis"])
async def test_alerts_of_ads_published_while_the_queue_is_down_go_out_when_it_returns(
    outage: str, database: PgDatabase, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """``all-redis``: stores, sessions, rate limits and the queue on one Redis, which dies.
    ``queue-redis``: the rest on the session's shared Redis, the queue on its own (``QUEUE_URL``)."""
    try:
        queue_redis = RedisServer()  # the queue's own Redis, never the session's shared one
    except RedisUnavailable as exc:
        service_unavailable(str(exc))
    queue_redis.start()
    env = {
        "APP_ENV": "test",
        "APP_NAME": f"rural24-outage-{uuid.uuid4().hex[:6]}",
        "DATABASE_URL": database.primary_url,
        "JWT_SECRET": "e2e-secret-" + "o" * 40,
        "DB_POOL_SIZE": "4",
        "REDIS_ENABLED": "true",
        "REDIS_URL": queue_redis.url if outage == "all-redis" else request.getfixturevalue("redis_url"),
        "QUEUE_URL": queue_redis.url,
    }
    try:
        with SmtpSink() as sink, serving(env | {"EMAIL_URL": sink.url}, 1, tmp_path) as [(api, url)]:
            worker = Process(["worker"], env | {"EMAIL_URL": sink.url}, tmp_path / "worker.log")
            try:
                async with httpx.AsyncClient(timeout=20) as client:
                    seller = await _register(client, url, "Vendedor")
                    buyers = [await _register(client, url, f"Comprador {n}") for n in range(BUYERS)]
                    for buyer in buyers:
                        saved = await client.post(
                            f"{url}/api/me/saved-searches",
                            json={"filters": {"q": "tractor"}, "frequency": "instant"},
                            headers=_auth(buyer),
                        )
                        assert saved.status_code == 201, saved.text
                    sink.wait_accepted(1 + BUYERS, timeout=60)  # the welcome emails: the queue works
                    categories = (await client.get(f"{url}/api/categories")).json()
                    category = next(c["id"] for c in categories if c["slug"] == "tractores")

                    queue_redis.kill()
                    published = []
                    for n in range(ADS_DURING_OUTAGE):
                        body = {"title": f"Tractor Fiat 700 número {n}", "categoryId": category,
                                "province": "cordoba", "locality": "Río Cuarto"}  # fmt: skip
                        response = await client.post(f"{url}/api/ads", json=body, headers=_auth(seller))
                        assert response.status_code == 201, response.text
                        published.append(response.json()["id"])
                    waiting = await _count(database, _UNDISPATCHED_ALERTS)
                    assert waiting == ADS_DURING_OUTAGE  # recorded with the ads, not lost with the enqueue
                    assert sink.accepted[1 + BUYERS :] == []
                    # the worker's relay tries them too while the queue is still down, and keeps them
                    deadline = time.monotonic() + 30
                    while await _count(database, _RELAY_FAILED) == 0:
                        assert time.monotonic() < deadline, worker.output()[-3000:]
                        await asyncio.sleep(0.1)

                    queue_redis.restart()  # back, empty: what was queued before is gone
                    expected = 1 + BUYERS + ADS_DURING_OUTAGE * BUYERS
                    deadline = time.monotonic() + 90
                    while len(sink.accepted) < expected:
                        assert worker.process.poll() is None, worker.output()[-3000:]
                        assert time.monotonic() < deadline, (len(sink.accepted), worker.output()[-3000:])
                        await asyncio.sleep(0.1)
                    # each delivery is marked sent a moment after the SMTP server has it
                    while (sent := await _count(database, _SENT_ALERTS)) < ADS_DURING_OUTAGE * BUYERS:
                        assert time.monotonic() < deadline, worker.output()[-3000:]
                        await asyncio.sleep(0.1)
                    undispatched = await _count(database, "SELECT count(*) FROM job_outbox WHERE dispatched_at IS NULL")
            finally:
                assert worker.stop() == 0 or "Traceback" not in worker.output(), worker.output()[-3000:]
            assert api.process.poll() is None, api.output()[-3000:]
    finally:
        queue_redis.stop()

    alerts = sink.accepted[1 + BUYERS :]
    expected = Counter(b["email"] for b in buyers for _ in published)
    delivered = Counter(str(m["To"]) for m in alerts)
    record_fault(
        f"Queue's Redis killed while ads are published, restarted empty ({outage})",
        acknowledged=len(published),
        alertsExpected=sum(expected.values()),
        alertsDelivered=len(alerts),
        lost=sum((expected - delivered).values()),
        duplicates=sum((delivered - expected).values()),
    )
    assert len(alerts) == ADS_DURING_OUTAGE * BUYERS  # every alert, none twice
    assert sorted(str(m["To"]) for m in alerts) == sorted(b["email"] for b in buyers for _ in published)
    assert sent == ADS_DURING_OUTAGE * BUYERS
    assert undispatched == 0
