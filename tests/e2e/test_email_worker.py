"""Emails through a real `rural24 worker` process and a local SMTP server: retries with backoff,
a failed state operators can list, and no email lost or sent twice when a worker is SIGKILLed."""

from __future__ import annotations

import os
import signal
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from infrastructure.jobs import EMAIL_JOB
from tests.conftest import PgDatabase, make_settings
from tests.e2e.processes import Process
from tests.e2e.smtp_sink import SmtpSink
from tests.hostile_results import record_fault


@pytest.fixture(params=["postgres-queue", "redis-queue"])
def queue_mode(request: pytest.FixtureRequest) -> str | None:
    return request.getfixturevalue("redis_url") if request.param == "redis-queue" else None


def worker_env(database: PgDatabase, redis_url: str | None, sink: SmtpSink, app_name: str) -> dict[str, str]:
    env = {
        "APP_ENV": "test",
        "APP_NAME": app_name,
        "DATABASE_URL": database.primary_url,
        "JWT_SECRET": "x" * 40,
        "EMAIL_URL": sink.url,
    }
    if redis_url:
        env |= {"REDIS_ENABLED": "true", "REDIS_URL": redis_url}
    return env


async def _delivery(database: PgDatabase, dedupe_key: str) -> asyncpg.Record:
    connection = await asyncpg.connect(database.primary_url.replace("+asyncpg", ""))
    try:
        row = await connection.fetchrow(
            "SELECT id, status, attempts, last_error FROM email_deliveries WHERE dedupe_key = $1", dedupe_key
        )
    finally:
        await connection.close()
    assert row is not None
    return row


async def _register(database: PgDatabase, redis_url: str | None, app_name: str) -> dict[str, Any]:
    from rural24.app import create_app

    settings = make_settings(database, redis_url, APP_NAME=app_name)
    async with AsyncTestClient(app=create_app(settings)) as client:
        response = await client.post(
            "/api/auth/register",
            json={"email": f"{uuid.uuid4().hex[:8]}@chacra.com.ar", "password": "ganado-2026!", "name": "Rosa"},
        )
    assert response.status_code == 201
    user: dict[str, Any] = response.json()["user"]
    return user


async def test_welcome_email_arrives_after_two_refusals(
    queue_mode: str | None, database: PgDatabase, tmp_path: Path
) -> None:
    app_name = f"rural24-mail-{uuid.uuid4().hex[:6]}"
    with SmtpSink() as sink:
        sink.refusals_left = 2
        user = await _register(database, queue_mode, app_name)
        worker = Process(["worker"], worker_env(database, queue_mode, sink, app_name), tmp_path / "worker.log")
        try:
            sink.wait_accepted(1)
            delivery = await _delivery(database, f"welcome:{user['id']}")
            deadline_checks = 0
            while delivery["status"] != "sent" and deadline_checks < 100:
                deadline_checks += 1
                await _sleepless_poll()
                delivery = await _delivery(database, f"welcome:{user['id']}")
        finally:
            assert worker.stop() == 0, worker.output()[-3000:]
    assert sink.refused == 2
    assert len(sink.accepted) == 1
    assert sink.accepted[0]["To"] == user["email"]
    assert "Bienvenido" in str(sink.accepted[0]["Subject"])
    assert delivery["status"] == "sent"
    assert delivery["attempts"] == 3


async def test_an_email_refused_three_times_is_listed_as_failed(
    queue_mode: str | None, database: PgDatabase, tmp_path: Path
) -> None:
    app_name = f"rural24-mail-{uuid.uuid4().hex[:6]}"
    with SmtpSink() as sink:
        sink.refusals_left = 10**6
        user = await _register(database, queue_mode, app_name)
        env = worker_env(database, queue_mode, sink, app_name)
        worker = Process(["worker"], env, tmp_path / "worker.log")
        try:
            for _ in range(400):
                delivery = await _delivery(database, f"welcome:{user['id']}")
                if delivery["status"] == "failed":
                    break
                await _sleepless_poll()
        finally:
            worker.stop()
    assert delivery["status"] == "failed", worker.output()[-2000:]
    assert delivery["attempts"] == 3
    assert "451" in delivery["last_error"]
    assert sink.accepted == []
    listing = Process(["emails", "--status", "failed"], env, tmp_path / "emails.log")
    listing.process.wait(60)
    assert user["email"] in listing.output()


async def test_a_worker_killed_mid_send_leaves_the_email_to_the_next_worker(
    queue_mode: str | None, database: PgDatabase, tmp_path: Path
) -> None:
    """The job as the API queued it (60 s timeout): the dead worker's job misses its heartbeat
    (15 s) and the next sweep hands it to the second worker, well before the timeout would."""
    app_name = f"rural24-mail-{uuid.uuid4().hex[:6]}"
    with SmtpSink() as sink:
        user = await _register(database, queue_mode, app_name)
        sink.hold.clear()  # the next message is held mid-send
        env = worker_env(database, queue_mode, sink, app_name)
        first = Process(["worker"], env, tmp_path / "first.log")
        assert sink.holding.wait(30), first.output()[-3000:]
        os.killpg(first.process.pid, signal.SIGKILL)  # in the middle of the SMTP conversation
        first.process.wait(10)
        sink.hold.set()
        second = Process(["worker"], env, tmp_path / "second.log")
        try:
            # under the job's 60 s timeout: only the missed heartbeat can have freed the job
            sink.wait_accepted(1, timeout=EMAIL_JOB["timeout"] - 15)
            for _ in range(200):
                if (await _delivery(database, f"welcome:{user['id']}"))["status"] == "sent":
                    break
                await _sleepless_poll()
        finally:
            second.stop()
    record_fault(
        f"Worker SIGKILLed mid SMTP send, a second worker started ({'redis' if queue_mode else 'postgres'} queue)",
        acknowledged=1,
        emailsDelivered=len(sink.accepted),
        lost=int(not sink.accepted),
        duplicates=max(0, len(sink.accepted) - 1),
    )
    assert len(sink.accepted) == 1, second.output()[-3000:]  # nothing lost, nothing sent twice
    assert (await _delivery(database, f"welcome:{user['id']}"))["status"] == "sent"


async def _sleepless_poll() -> None:
    """Yield to the loop for a moment between bounded polls of the database."""
    import asyncio

    await asyncio.sleep(0.05)
