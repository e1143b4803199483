"""The job outbox: a background job recorded in the same transaction as its cause.

A command that must be followed by a job (an ad published → its saved-search alerts) declares it
with ``uow.add_job`` (``domain.shared.unit_of_work``), which calls :func:`record_job` in the
command's transaction: the job then exists exactly when the cause does. After the commit the unit
of work dispatches it at once; the worker's relay dispatches what is still undispatched
(the queue was down, the API died in between). Dispatching lives in ``infrastructure.jobs``:
nothing here knows the queue.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import msgspec
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from uuid_utils.compat import uuid7

PURGE_MEDIA_JOB = "purge_media"
"""Deletes media files whose rows are gone (a deleted ad's images, a deleted account's): two
contexts queue it, the ads context runs it (``rural24.ads.image_jobs.purge_media``)."""


class RecordedJob(msgspec.Struct, frozen=True):
    """One outbox row, as the dispatcher needs it. ``key`` is also the queue's job key, so a row
    dispatched twice (API and relay) is queued once."""

    id: UUID
    function: str
    key: str
    kwargs: dict[str, Any]
    run_after: datetime


_RECORD = text(
    """
    INSERT INTO job_outbox (id, function, job_key, kwargs, run_after, attempts, created_at, updated_at)
    VALUES (:id, :function, :key, CAST(:kwargs AS jsonb), :run_after, 0, :now, :now)
    ON CONFLICT (job_key) WHERE dispatched_at IS NULL DO UPDATE SET updated_at = EXCLUDED.updated_at
    RETURNING id, function, job_key, kwargs, run_after
    """
)


async def record_job(
    session: AsyncSession | AsyncConnection,
    function: str,
    *,
    key: str,
    delay: timedelta | None = None,
    now: datetime | None = None,
    **kwargs: str,
) -> RecordedJob:
    """Record ``function(**kwargs)`` to run (after ``delay``) once the caller's transaction commits.
    A job with the same ``key`` still waiting to be dispatched is that job: it is returned as is."""
    now = now or datetime.now(UTC)
    row = (
        await session.execute(
            _RECORD,
            {
                "id": uuid7(),
                "function": function,
                "key": key,
                "kwargs": msgspec.json.encode(kwargs).decode(),
                "run_after": now + (delay or timedelta()),
                "now": now,
            },
        )
    ).one()
    return RecordedJob(id=row[0], function=row[1], key=row[2], kwargs=row[3], run_after=row[4])


_UNDISPATCHED = text(
    """
    SELECT id, function, job_key, kwargs, run_after FROM job_outbox
    WHERE dispatched_at IS NULL AND created_at < :before
    ORDER BY created_at
    LIMIT :limit
    FOR UPDATE SKIP LOCKED
    """
)


async def undispatched_jobs(connection: AsyncConnection, *, older_than: timedelta, limit: int) -> list[RecordedJob]:
    """Rows recorded over ``older_than`` ago and still undispatched, oldest first, locked for the
    caller's transaction (several relays never dispatch the same row at the same time).
    ``older_than`` leaves the API's own dispatch right after the commit the time to happen."""
    rows = (await connection.execute(_UNDISPATCHED, {"before": datetime.now(UTC) - older_than, "limit": limit})).all()
    return [RecordedJob(id=r[0], function=r[1], key=r[2], kwargs=r[3], run_after=r[4]) for r in rows]


async def mark_dispatched(session: AsyncSession | AsyncConnection, job_ids: list[UUID]) -> None:
    await session.execute(
        text(
            "UPDATE job_outbox SET dispatched_at = now(), updated_at = now(), attempts = attempts + 1 "
            "WHERE id = ANY(:ids) AND dispatched_at IS NULL"
        ),
        {"ids": job_ids},
    )


async def mark_not_dispatched(session: AsyncSession | AsyncConnection, job_id: UUID, error: str) -> None:
    """A dispatch failed: counted and kept with its reason; the relay tries again."""
    await session.execute(
        text(
            "UPDATE job_outbox SET attempts = attempts + 1, last_error = :error, updated_at = now() "
            "WHERE id = :id AND dispatched_at IS NULL"
        ),
        {"id": job_id, "error": error[:500]},
    )


async def redispatch_since(connection: AsyncConnection, *, since: timedelta) -> int:
    """Disaster recovery: the jobs dispatched within ``since`` become undispatched again, so the
    relay queues them once more (a Redis that lost its queue loses no job the outbox still holds:
    dispatched rows are kept ``OUTBOX_RETENTION``). Every job is idempotent by design (its key, and
    each job checks its own state), so one that did run simply runs again to no effect."""
    result = await connection.execute(
        text("UPDATE job_outbox SET dispatched_at = NULL, updated_at = now() WHERE dispatched_at >= :after"),
        {"after": datetime.now(UTC) - since},
    )
    return int(result.rowcount or 0)


async def purge_dispatched(connection: AsyncConnection, *, older_than: timedelta) -> int:
    """Dispatched rows are kept a while (what was dispatched when, for operators), then removed."""
    result = await connection.execute(
        text("DELETE FROM job_outbox WHERE dispatched_at < :before"), {"before": datetime.now(UTC) - older_than}
    )
    return int(result.rowcount or 0)
