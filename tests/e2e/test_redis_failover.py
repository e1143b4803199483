"""Redis high availability (stage 3): two real API instances and a real worker on
``REDIS_URL=redis+sentinel://…``, a Redis master, its replica and three Sentinels. Under a bounded
load the master is killed (SIGKILL); the Sentinels promote the replica and, without a restart,
requests succeed again, the shared rate limits and the sessions hold (a logged-out token stays
dead, an exhausted login budget stays exhausted), a WebSocket gets the next notification and a
queued job runs. The error window is reported, not asserted: it is Sentinel's
``down-after-milliseconds`` plus the election."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from tests.conftest import PgDatabase, service_unavailable
from tests.e2e.accounts import register
from tests.e2e.processes import Process, serving
from tests.e2e.smtp_sink import SmtpSink
from tests.e2e.wsclient import WebSocketClient
from tests.harness.redis import RedisUnavailable, SentinelSet
from tests.hostile_results import record_fault

pytestmark = pytest.mark.postgres

PASSWORD = "alfalfa-y-sorgo-2026"
LOGIN_BUDGET = 3  # RATE_LIMIT_LOGIN below: per hour, so no window ends during the test
RECOVERY_TIMEOUT = 45.0


@pytest.fixture
def sentinels() -> Iterator[SentinelSet]:
    try:
        group = SentinelSet(service="rural24")
    except RedisUnavailable as exc:
        service_unavailable(str(exc))
    try:
        group.start()
        yield group
    finally:
        group.stop()


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Load:
    """Bounded traffic to both instances while the failover happens: anonymous searches and an
    authenticated ``/api/me`` (sessions live in Redis), every outcome kept with its time."""

    def __init__(self, client: httpx.AsyncClient, bases: list[str], token: str) -> None:
        self.client, self.bases, self.token = client, bases, token
        self.outcomes: list[tuple[float, str, int | str]] = []  # (monotonic time, path, status or error)
        self.stop = asyncio.Event()

    async def _loop(self, n: int) -> None:
        sent = 0
        while not self.stop.is_set() and sent < 4000:  # bounded in count as well as in time
            base = self.bases[(n + sent) % len(self.bases)]
            path = "/api/me" if sent % 2 else f"/api/ads/search?q=tambo&page={sent % 5 + 1}"
            headers = _auth(self.token) if path == "/api/me" else {}
            try:
                response = await self.client.get(base + path, headers=headers)
                outcome: int | str = response.status_code
            except httpx.HTTPError as exc:
                outcome = type(exc).__name__
            self.outcomes.append((time.monotonic(), path.split("?")[0], outcome))
            sent += 1

    def successes_since(self, moment: float) -> int:
        return sum(1 for at, _, outcome in self.outcomes if at >= moment and outcome == 200)

    async def run(self, connections: int = 4) -> None:
        await asyncio.gather(*(self._loop(n) for n in range(connections)))


async def _until(what: str, check: Any, timeout: float = RECOVERY_TIMEOUT) -> None:
    """Poll ``check()`` (an awaitable factory returning bool) until true; fail with ``what``."""
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)


async def test_a_redis_failover_under_load_keeps_limits_sessions_sockets_and_jobs(
    sentinels: SentinelSet, database: PgDatabase, tmp_path: Path
) -> None:
    assert sentinels.replica is not None
    with SmtpSink() as sink:
        env = {
            "APP_ENV": "test",
            "APP_NAME": f"rural24-ha-{uuid.uuid4().hex[:6]}",
            "DATABASE_URL": database.primary_url,
            "REDIS_ENABLED": "true",
            "REDIS_URL": sentinels.url,
            "SESSION_STRATEGY": "redis",
            "JWT_SECRET": "e2e-secret-" + "h" * 40,
            "DB_POOL_SIZE": "4",
            "RATE_LIMIT_API": "100000/minute",
            "RATE_LIMIT_SEARCH": "100000/minute",
            "RATE_LIMIT_LOGIN": f"{LOGIN_BUDGET}/hour",
            "EMAIL_URL": sink.url,
        }
        with serving(env, 2, tmp_path) as [(_, one), (_, two)]:
            worker = Process(["worker"], env, tmp_path / "worker.log")
            try:
                async with httpx.AsyncClient(timeout=10) as client:
                    await _exercise(sentinels, client, sink, one, two, worker)
            finally:
                worker.stop()


async def _exercise(
    sentinels: SentinelSet, client: httpx.AsyncClient, sink: SmtpSink, one: str, two: str, worker: Process
) -> None:
    assert sentinels.replica is not None
    seller = await register(client, two, "Marta Ríos", PASSWORD)
    buyer = await register(client, one, "Ana Gómez", PASSWORD)
    gone = await register(client, one, "Sesión cerrada", PASSWORD)
    await asyncio.to_thread(sink.wait_accepted, 3, 60)  # welcome emails: the queue on the master works

    # a session ended before the failover, and a login budget spent before it
    assert (await client.post(f"{one}/api/auth/logout", headers=_auth(gone["token"]))).status_code == 204
    assert (await client.get(f"{two}/api/me", headers=_auth(gone["token"]))).status_code == 401
    for attempt in range(LOGIN_BUDGET):
        base = (one, two)[attempt % 2]
        wrong = await client.post(
            f"{base}/api/auth/login", json={"email": buyer["user"]["email"], "password": "x" * 12}
        )
        assert wrong.status_code == 401, wrong.text
    refused = await client.post(f"{one}/api/auth/login", json={"email": buyer["user"]["email"], "password": PASSWORD})
    assert refused.status_code == 429, refused.text

    socket = await WebSocketClient.connect(
        two.replace("http://", "ws://", 1) + "/api/ws/notifications", subprotocols=["bearer", seller["token"]]
    )
    try:
        assert await socket.recv_json(10) == {"type": "ready"}
        await asyncio.to_thread(sentinels.wait_replicated)  # what the master holds is on the replica

        load = Load(client, [one, two], buyer["token"])
        running = asyncio.create_task(load.run())
        try:
            await _until("no traffic before the kill", lambda: _true(load.successes_since(0) >= 40))
            killed = time.monotonic()
            sentinels.kill_master()
            promoted = await asyncio.to_thread(sentinels.wait_failover, RECOVERY_TIMEOUT)
            elected = time.monotonic()
            # recovered: both instances answer a session-checked request again
            for base in (one, two):
                await _until(
                    f"{base} does not recover after the failover",
                    lambda base=base: _status(client, f"{base}/api/me", buyer["token"], 200),
                )
            recovered = time.monotonic()
            await _until("no traffic after the recovery", lambda: _true(load.successes_since(recovered) >= 40))
        finally:
            load.stop.set()
            await running
        assert promoted == sentinels.replica.port
        # the login counters came through the failover: the promoted master holds the count spent
        # before the kill (a lost counter would have opened a new window at 1)
        promoted_master = redis.Redis(port=promoted, socket_timeout=2.0)
        try:
            counters = [
                int(promoted_master.get(key) or 0) for key in promoted_master.scan_iter(match="*:rl:login:ip:*")
            ]
        finally:
            promoted_master.close()
        assert counters, "no login counter on the promoted master"
        assert max(counters) > LOGIN_BUDGET, counters

        for base in (one, two):
            ready = (await client.get(f"{base}/api/health/ready")).json()
            assert ready["checks"]["redis"]["status"] == "ok", ready
            assert ready["checks"]["redis"]["detail"] == f"master 127.0.0.1:{promoted}", ready
            # sessions hold: the ended one is still dead, the live one still lives
            assert (await client.get(f"{base}/api/me", headers=_auth(gone["token"]))).status_code == 401
            assert (await client.get(f"{base}/api/me", headers=_auth(buyer["token"]))).status_code == 200
            # the shared limit holds: the budget spent before the failover is still spent. The
            # counters are on the promoted master; the limiter fails open for its cooldown (1 s)
            # after its last Redis error, so the HTTP check polls (bounded) until it asks Redis
            login = {"email": buyer["user"]["email"], "password": PASSWORD}
            await _until(
                f"{base} does not refuse the spent login budget after the failover",
                lambda base=base, login=login: _status_post(client, f"{base}/api/auth/login", login, 429),
                timeout=10.0,
            )

        # the socket on instance two gets the next notification: pub/sub followed the master
        # (delivery is at most once: a message sent before the re-subscription may be missed,
        # so a few are sent, each waited for a bounded time)
        event = None
        for attempt in range(20):
            sent = await client.post(
                f"{one}/api/messages/send",
                json={"recipientId": seller["user"]["id"], "content": f"¿Sigue disponible la sembradora? ({attempt})"},
                headers=_auth(buyer["token"]),
            )
            assert sent.status_code == 201, sent.text
            try:
                event = await socket.recv_json(2.0)
            except TimeoutError:
                continue
            break
        assert event is not None, "no notification reached the socket after the failover"
        assert event["type"] == "message.new", event
    finally:
        await socket.close()

    # a job queued after the failover runs: the worker's queue followed the master too
    late = (await register(client, one, "Después del failover", PASSWORD))["user"]["email"]
    await _until(
        "the welcome email of a user registered after the failover never went out",
        lambda: _true(any(str(message["To"]) == late for message in sink.accepted)),
    )
    assert worker.process.poll() is None, worker.output()[-3000:]

    failures = [(at, path, outcome) for at, path, outcome in load.outcomes if outcome != 200]
    statuses = Counter(f"{path} {outcome}" for _, path, outcome in failures)
    window = (max(at for at, _, _ in failures) - killed) if failures else 0.0
    print(
        f"\nRedis failover under load: {len(load.outcomes)} requests, {len(failures)} failed {dict(statuses)}; "
        f"promotion {elected - killed:.2f} s after the kill, both instances served again at "
        f"{recovered - killed:.2f} s, last failure at {window:.2f} s"
    )
    record_fault(
        "Redis master killed under load behind Sentinel (2 instances, a worker)",
        requests=len(load.outcomes),
        failed=len(failures),
        promotionSeconds=round(elected - killed, 2),
        errorWindowSeconds=round(window, 2),
        lost=0,
    )
    # what failed, failed cleanly and only while there was no master
    assert {outcome for _, _, outcome in failures} <= {503}, statuses
    assert all(at >= killed for at, _, _ in failures)


async def _true(value: bool) -> bool:
    return value


async def _status(client: httpx.AsyncClient, url: str, token: str, expected: int) -> bool:
    try:
        return (await client.get(url, headers=_auth(token))).status_code == expected
    except httpx.HTTPError:
        return False


async def _status_post(client: httpx.AsyncClient, url: str, body: dict[str, str], expected: int) -> bool:
    try:
        return (await client.post(url, json=body)).status_code == expected
    except httpx.HTTPError:
        return False
