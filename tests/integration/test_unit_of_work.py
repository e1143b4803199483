"""The unit of work against a real primary, replica and queue: what a handler declares happens
after one commit, and nothing of it happens when the handler fails."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import msgspec
import pytest

from domain.shared.emails import QueueEmail
from domain.shared.unit_of_work import SEARCH, Actor, Command, UnitOfWork, ad_key, user_key
from infrastructure.database.reads import lsn_to_int
from rural24.services import Services, build_services, running_services
from tests.conftest import PgDatabase, make_settings


class Declare(msgspec.Struct, frozen=True):
    tag: str
    fail: bool = False


class Boom(Exception):
    pass


async def declare_everything(command: Command[Declare], uow: UnitOfWork) -> str:
    tag = command.payload.tag
    uow.touch(SEARCH, ad_key(tag), user_key(command.actor.user_id))
    await uow.add_job("alert_saved_searches", key=f"alert:{tag}", ad_id=tag)
    await uow.add_email(QueueEmail(kind="test", dedupe_key=f"test:{tag}", to="a@b.test", subject="s", body="b"))
    if command.payload.fail:
        raise Boom
    return tag


@pytest.fixture(params=["memory", "redis"])
async def services(request: pytest.FixtureRequest, database: PgDatabase) -> AsyncIterator[Services]:
    redis_url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    async with running_services(build_services(make_settings(database, redis_url))) as running:
        yield running


async def _wal_position(db: asyncpg.Connection) -> int:
    return lsn_to_int(str(await db.fetchval("SELECT pg_current_wal_insert_lsn()::text")))


async def test_one_commit_then_generations_jobs_and_emails(services: Services, db: asyncpg.Connection) -> None:
    actor = Actor(user_id=uuid.uuid4())
    tag = str(uuid.uuid4())
    before = await _wal_position(db)

    assert await services.writes.run(declare_everything, Command(actor, Declare(tag))) == tag

    generations = await services.generations.get(SEARCH, ad_key(tag), user_key(actor.user_id))
    assert all(g > before for g in generations), (before, generations)  # bumped past the commit
    assert len(set(generations)) == 1  # one WAL position, read once
    job = await db.fetchrow("SELECT dispatched_at, kwargs FROM job_outbox WHERE job_key = $1", f"alert:{tag}")
    assert job is not None
    assert job["dispatched_at"] is not None  # dispatched right after the commit
    email = await db.fetchval("SELECT status FROM email_deliveries WHERE dedupe_key = $1", f"test:{tag}")
    assert email == "pending"


async def test_a_failing_handler_leaves_nothing_behind(services: Services, db: asyncpg.Connection) -> None:
    actor = Actor(user_id=uuid.uuid4())
    tag = str(uuid.uuid4())

    with pytest.raises(Boom):
        await services.writes.run(declare_everything, Command(actor, Declare(tag, fail=True)))

    assert await services.generations.get(SEARCH, ad_key(tag), user_key(actor.user_id)) == [0, 0, 0]
    assert await db.fetchval("SELECT count(*) FROM job_outbox WHERE job_key = $1", f"alert:{tag}") == 0
    assert await db.fetchval("SELECT count(*) FROM email_deliveries WHERE dedupe_key = $1", f"test:{tag}") == 0


async def test_the_session_is_usable_after_a_failed_handler(services: Services, db: asyncpg.Connection) -> None:
    """A request's session is rolled back by the unit of work, so the same session can write again."""
    actor = Actor(user_id=uuid.uuid4())
    async with services.writes.session() as session:
        with pytest.raises(Boom):
            await services.writes.handle(session, declare_everything, Command(actor, Declare("x", fail=True)))
        tag = str(uuid.uuid4())
        await services.writes.handle(session, declare_everything, Command(actor, Declare(tag)))
    assert await db.fetchval("SELECT count(*) FROM job_outbox WHERE job_key = $1", f"alert:{tag}") == 1


async def test_compensations_run_only_when_the_unit_does_not_commit(services: Services) -> None:
    undone: list[str] = []

    async def stores_then_maybe_fails(command: Command[Declare], uow: UnitOfWork) -> None:
        async def undo() -> None:
            undone.append(command.payload.tag)

        uow.on_rollback(undo)
        if command.payload.fail:
            raise Boom

    actor = Actor(user_id=uuid.uuid4())
    await services.writes.run(stores_then_maybe_fails, Command(actor, Declare("kept")))
    with pytest.raises(Boom):
        await services.writes.run(stores_then_maybe_fails, Command(actor, Declare("undone", fail=True)))
    assert undone == ["undone"]
