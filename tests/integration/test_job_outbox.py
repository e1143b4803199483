"""The job outbox: jobs recorded in the same transaction as their cause, dispatched at once after
the commit, and by the worker's relay when the queue was down at that moment."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from typing import Any

import asyncpg
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.messaging.digest import DIGEST_DELAY_SECONDS
from domain.shared.job_outbox import record_job
from infrastructure.jobs import build_queue, enqueue_recorded, relay_outbox
from infrastructure.settings import Settings
from tests.conftest import PgDatabase, make_settings
from tests.e2e.processes import free_port
from tests.integration.test_ads import Client, auth, publish, user


async def _outbox(db: asyncpg.Connection, key: str) -> asyncpg.Record:
    row = await db.fetchrow("SELECT * FROM job_outbox WHERE job_key = $1", key)
    assert row is not None, key
    return row


async def test_a_publish_dispatches_its_alert_job_right_after_the_commit(
    client: Client, settings: Settings, database: PgDatabase, db: asyncpg.Connection
) -> None:
    ad = await publish(client, await user(client))
    row = await _outbox(db, f"alert:{ad['id']}")
    assert row["function"] == "alert_saved_searches"
    assert row["dispatched_at"] is not None
    assert (row["attempts"], row["last_error"]) == (1, None)
    queue = build_queue(settings, database.primary_url)  # the app's queue: PostgreSQL or Redis
    await queue.connect()
    try:
        job = await queue.job(f"alert:{ad['id']}")
    finally:
        await queue.disconnect()
    assert job is not None
    assert job.kwargs == {"ad_id": ad["id"]}
    assert job.heartbeat > 0  # a dead worker's job is noticed by its missing heartbeat


async def test_jobs_recorded_while_the_queue_is_down_go_out_once_it_returns(
    database: PgDatabase, db: asyncpg.Connection, engine: AsyncEngine
) -> None:
    from rural24.app import create_app

    down = make_settings(database, QUEUE_URL=f"redis://127.0.0.1:{free_port()}")  # nobody listens
    async with AsyncTestClient(app=create_app(down)) as client:
        seller, buyer = await user(client), await user(client)
        ad = await publish(client, seller)  # answered: the ad is committed, its alert job recorded
        sent = await client.post(
            "/api/messages/send", json={"recipientId": seller["id"], "content": "¿Sigue disponible?"},
            headers=auth(buyer),
        )  # fmt: skip
        assert sent.status_code == 201, sent.text
    alert, digest = await _outbox(db, f"alert:{ad['id']}"), await _outbox(db, f"digest:{seller['id']}")
    for row in (alert, digest):
        assert (row["dispatched_at"], row["attempts"]) == (None, 1)
        assert row["last_error"]
    assert (digest["run_after"] - digest["created_at"]).total_seconds() == DIGEST_DELAY_SECONDS

    queue = build_queue(make_settings(database), database.primary_url)  # the queue is back
    await queue.connect()
    try:
        assert await relay_outbox(engine, queue) == 0  # within the grace: the API may still dispatch them
        assert await relay_outbox(engine, queue, grace=timedelta(0)) == 2
        assert await relay_outbox(engine, queue, grace=timedelta(0)) == 0  # dispatched: not again
        for key in (f"alert:{ad['id']}", f"digest:{seller['id']}"):
            assert (await _outbox(db, key))["dispatched_at"] is not None
        alert_job = await queue.job(f"alert:{ad['id']}")
        digest_job = await queue.job(f"digest:{seller['id']}")
        assert alert_job is not None
        assert alert_job.kwargs == {"ad_id": ad["id"]}
        assert digest_job is not None
        assert digest_job.kwargs == {"user_id": seller["id"]}
        # the digest keeps its delay: due ten minutes after the message, not at the relay's time
        assert abs(digest_job.scheduled - (time.time() + DIGEST_DELAY_SECONDS)) < 60

        # dispatched twice (the API and the relay both got to it): queued once, under the row's key
        queued = await queue.count("queued")
        async with engine.begin() as connection:
            again = await record_job(connection, "alert_saved_searches", key=f"alert:{ad['id']}", ad_id=ad["id"])
        await enqueue_recorded(queue, again)
        assert await queue.count("queued") == queued
    finally:
        await queue.disconnect()


async def test_one_undispatched_row_per_key(engine: AsyncEngine, db: asyncpg.Connection) -> None:
    """A command retried before its job went out records nothing new; once dispatched, the same key
    can be recorded again (a second digest for the same recipient, later)."""
    key = f"digest:{uuid.uuid4()}"
    async with engine.begin() as connection:
        first = await record_job(connection, "send_message_digest", key=key, user_id="u")
        second = await record_job(connection, "send_message_digest", key=key, user_id="u")
    assert second.id == first.id
    await db.execute("UPDATE job_outbox SET dispatched_at = now() WHERE id = $1", first.id)
    async with engine.begin() as connection:
        third = await record_job(connection, "send_message_digest", key=key, user_id="u")
    assert third.id != first.id
    rows: list[Any] = await db.fetch("SELECT dispatched_at FROM job_outbox WHERE job_key = $1 ORDER BY id", key)
    assert [r["dispatched_at"] is None for r in rows] == [False, True]
