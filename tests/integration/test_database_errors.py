"""Database failures as the client sees them: real PostgreSQL errors through the real app.

A refused value is 422, only a uniqueness conflict is 409, a foreign key pointing nowhere is 422,
an unreachable database is 503 with ``Retry-After`` on every route (the authentication's session
check included), and anything else is a 500 with a generic body and one JSON log line carrying
the traceback and the request id. The failing routes below are registered by the tests on an
app built by ``create_app``: production code has none of them.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import asyncpg
import httpx
import pytest
from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from litestar import Litestar, get, post
from litestar.di import NamedDependency
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from structlog.stdlib import ProcessorFormatter

from domain.catalog.models import Category
from infrastructure.database.errors import DatabaseFailure, DatabaseUnavailable, classify
from infrastructure.database.reads import ReadSide
from infrastructure.settings import Settings, load_settings
from rural24.app import create_app
from rural24.auth import PUBLIC
from rural24.errors import CALLER_REFERENCES
from rural24.reading import Reads
from tests.conftest import PgDatabase, make_settings, own_primary
from tests.conftest import assert_problem as problem_of
from tests.harness.postgres import PostgresCluster


class CategoryRepository(SQLAlchemyAsyncRepository[Category]):
    model_type = Category


@post("/test/categories", opt=PUBLIC, status_code=201)
async def add_category(db_session: AsyncSession, data: dict[str, str]) -> None:
    """Through advanced-alchemy's repository: its errors wrap the driver's."""
    parent = data.get("parentId")
    category = Category(slug=data["slug"], name=data["name"], parent_id=uuid.UUID(parent) if parent else None)
    await CategoryRepository(session=db_session).add(category)
    await db_session.commit()


@get("/test/cast", opt=PUBLIC)
async def cast_on_primary(db_session: AsyncSession, value: str, to: str) -> str:
    """A raw SQLAlchemy statement (no repository around it)."""
    types = {"numeric": "numeric(6,2)", "int": "integer"}
    return str(await db_session.scalar(text(f"SELECT CAST(CAST(:value AS text) AS {types[to]})"), {"value": value}))


@get("/test/read", opt=PUBLIC)
async def read_side_cast(reads: NamedDependency[Reads], value: str) -> str:
    """The raw asyncpg read side."""
    return str(await reads.db.fetchval("SELECT $1::text::int", value))


@get("/test/read-big", opt=PUBLIC)
async def read_side_big(reads: NamedDependency[Reads]) -> str:
    """A value the driver itself refuses to encode."""
    return str(await reads.db.fetchval("SELECT $1::int8", 10**30))


@get("/test/nul", opt=PUBLIC)
async def read_side_nul(reads: NamedDependency[Reads]) -> str:
    return str(await reads.db.fetchval("SELECT $1::text", "a\x00b"))


@get("/test/not-null", opt=PUBLIC)
async def not_null(db_session: AsyncSession) -> None:
    """A violated NOT NULL is our bug, not the caller's: a 500."""
    await db_session.execute(text("INSERT INTO provinces (code, iso_code, name) VALUES ('x', 'x', NULL)"))


@get("/test/boom", opt=PUBLIC)
async def boom() -> None:
    msg = "secret internals"
    raise RuntimeError(msg)


@get("/test/hold-primary", opt=PUBLIC)
async def hold_primary_connection(db_session: AsyncSession) -> None:
    """Holds a pooled write-side connection for as long as the test holds advisory lock 42."""
    await db_session.execute(text("SELECT pg_advisory_lock(42)"))
    await db_session.execute(text("SELECT pg_advisory_unlock(42)"))


@get("/test/hold-read", opt=PUBLIC)
async def hold_read_connection(reads: NamedDependency[Reads]) -> None:
    """The same on the read side's asyncpg pool (lock 43)."""
    await reads.db.fetchval("SELECT pg_advisory_lock(43)")
    await reads.db.fetchval("SELECT pg_advisory_unlock_all()")


@get("/test/saved-search-of", opt=PUBLIC)
async def saved_search_of(db_session: AsyncSession, user: str) -> None:
    """A write whose only foreign key is the caller's own user row (``fk_saved_searches_user_id_users``)."""
    await db_session.execute(
        text(
            "INSERT INTO saved_searches (id, user_id, name, filters, frequency, created_at, updated_at) "
            "VALUES (gen_random_uuid(), CAST(:user AS uuid), 'x', '{}'::jsonb, 'daily', now(), now())"
        ),
        {"user": user},
    )
    await db_session.commit()


TEST_ROUTES = (
    saved_search_of,
    hold_primary_connection,
    hold_read_connection,
    add_category,
    cast_on_primary,
    read_side_cast,
    read_side_big,
    read_side_nul,
    not_null,
    boom,
)


@pytest.fixture
def failing_app(app: Litestar) -> Litestar:
    for handler in TEST_ROUTES:
        app.register(handler)
    return app


@pytest.fixture
async def failing_client(failing_app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=failing_app) as client:
        yield client


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    """A problem of ``status`` that carries its request id."""
    assert response.headers["x-request-id"]
    return problem_of(response, status)


async def test_values_the_database_refuses_are_422(failing_client: AsyncTestClient[Litestar]) -> None:
    cases = [
        ("/test/cast", {"value": "123456789", "to": "numeric"}),  # 22003 numeric field overflow
        ("/test/cast", {"value": "abc", "to": "int"}),  # 22P02 invalid text representation
        ("/test/read", {"value": "12x"}),  # the same on the asyncpg read side
        ("/test/read", {"value": "99999999999"}),  # 22003 out of range for integer
        ("/test/nul", {}),  # 22021 NUL in text
        ("/test/read-big", {}),  # refused by the driver before it reaches the server
    ]
    for path, params in cases:
        body = assert_problem(await failing_client.get(path, params=params), 422)
        assert "Traceback" not in body["detail"], body


async def test_too_long_value_through_the_repository_is_422_not_409(failing_client: AsyncTestClient[Litestar]) -> None:
    response = await failing_client.post("/test/categories", json={"slug": "s" * 81, "name": "Largo"})
    assert_problem(response, 422)  # 22001: advanced-alchemy calls it an IntegrityError


async def test_only_a_uniqueness_conflict_is_409(failing_client: AsyncTestClient[Litestar]) -> None:
    slug = f"tractores-{uuid.uuid4().hex[:6]}"
    created = await failing_client.post("/test/categories", json={"slug": slug, "name": "Tractores"})
    assert created.status_code == 201, created.text
    again = await failing_client.post("/test/categories", json={"slug": slug, "name": "Otra vez"})
    assert_problem(again, 409)
    orphan = await failing_client.post(
        "/test/categories", json={"slug": f"{slug}-hija", "name": "Hija", "parentId": str(uuid.uuid4())}
    )
    assert_problem(orphan, 422)  # 23503: the parent does not exist


async def test_a_write_by_an_account_deleted_meanwhile_is_401(
    failing_client: AsyncTestClient[Litestar], database: PgDatabase
) -> None:
    """The race the session events cannot close: the account is deleted between the token check
    and the write. The caller-side foreign key fails: 401, as for any token of a deleted user."""
    body = assert_problem(await failing_client.get("/test/saved-search-of", params={"user": str(uuid.uuid4())}), 401)
    assert "no longer exists" in body["detail"]
    connection = await asyncpg.connect(database.primary_url.replace("+asyncpg", ""))
    try:
        names = {row[0] for row in await connection.fetch("SELECT conname FROM pg_constraint WHERE contype = 'f'")}
    finally:
        await connection.close()
    assert names >= CALLER_REFERENCES, CALLER_REFERENCES - names


async def test_other_database_errors_are_500(failing_client: AsyncTestClient[Litestar]) -> None:
    body = assert_problem(await failing_client.get("/test/not-null"), 500)
    assert body["detail"] == "Something went wrong on our side."


class _ProbeHandler(logging.StreamHandler):  # type: ignore[type-arg]
    def handleError(self, record: logging.LogRecord) -> None:
        raise  # a record that cannot be rendered fails the test, not just prints "Logging error"


@contextmanager
def app_log_lines() -> Iterator[io.StringIO]:
    """What the app's log handler would write, rendered by its own formatter and filters (its
    stream is bound when logging is configured, which pytest's capture cannot follow)."""
    root = logging.getLogger()
    app_handler = next(h for h in root.handlers if isinstance(h.formatter, ProcessorFormatter))
    buffer = io.StringIO()
    probe = _ProbeHandler(buffer)
    probe.setFormatter(app_handler.formatter)
    for log_filter in app_handler.filters:
        probe.addFilter(log_filter)
    root.addHandler(probe)
    try:
        yield buffer
    finally:
        root.removeHandler(probe)


async def test_a_500_is_one_json_log_line_with_traceback_and_request_id(
    failing_client: AsyncTestClient[Litestar],
) -> None:
    with app_log_lines() as lines:
        response = await failing_client.get("/test/boom", headers={"X-Request-ID": "trace-500.a:1"})
    body = assert_problem(response, 500)
    assert response.headers["x-request-id"] == "trace-500.a:1"
    assert "secret" not in response.text
    assert body == {"status": 500, "title": "Internal Server Error", "detail": "Something went wrong on our side."}

    records = [json.loads(line) for line in lines.getvalue().splitlines()]  # every line is JSON
    ours = [r for r in records if r.get("request_id") == "trace-500.a:1" and r["logger"] == "rural24.errors"]
    assert len(ours) == 1, records
    record = ours[0]
    assert record["status"] == 500
    assert record["level"] == "error"
    assert record["path"] == "/test/boom"
    (exception,) = record["exception"]  # structured: type, message, frames (rural24/logs.py)
    assert (exception["exc_type"], exception["exc_value"]) == ("RuntimeError", "secret internals")
    assert exception["frames"]


async def test_a_database_error_renders_as_json_with_the_request_id(
    failing_client: AsyncTestClient[Litestar],
) -> None:
    """asyncpg's exceptions (the ``PostgresMessageMeta`` that broke the renderer) render too."""
    with app_log_lines() as lines:
        response = await failing_client.get("/test/not-null", headers={"X-Request-ID": "trace-db"})
    assert_problem(response, 500)
    records = [json.loads(line) for line in lines.getvalue().splitlines()]
    ours = [r for r in records if r.get("request_id") == "trace-db" and r["logger"] == "rural24.errors"]
    assert len(ours) == 1, records
    assert "NotNullViolationError" in [e["exc_type"] for e in ours[0]["exception"]]  # the cause, under SQLAlchemy's


async def test_request_id_is_taken_when_safe_and_generated_otherwise(client: AsyncTestClient[Litestar]) -> None:
    kept = await client.get("/api/provinces", headers={"X-Request-ID": "abc-123"})
    assert kept.headers["x-request-id"] == "abc-123"
    for unsafe in ("x" * 129, "a b", "abc\\n", "<script>"):
        replaced = await client.get("/api/provinces", headers={"X-Request-ID": unsafe})
        assert replaced.status_code == 200
        assert replaced.headers["x-request-id"] != unsafe
        assert 1 <= len(replaced.headers["x-request-id"]) <= 128
    generated = {(await client.get("/api/provinces")).headers["x-request-id"] for _ in range(3)}
    assert len(generated) == 3
    not_found = await client.get("/api/nothing-here", headers={"X-Request-ID": "nf-1"})
    assert not_found.status_code == 404
    assert not_found.headers["x-request-id"] == "nf-1"
    unauthorized = await client.get("/api/me", headers={"X-Request-ID": "auth-1"})
    assert unauthorized.status_code == 401
    assert unauthorized.headers["x-request-id"] == "auth-1"


@asynccontextmanager
async def serving_on_this_loop(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    """The app's lifespan and requests on the test's own loop, so that requests overlap
    (``AsyncTestClient`` runs the app on a portal thread and each request blocks the test's loop)."""
    to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    from_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    lifespan = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}}, to_app.get, from_app.put))  # type: ignore[arg-type]
    await to_app.put({"type": "lifespan.startup"})
    assert (await asyncio.wait_for(from_app.get(), 30))["type"] == "lifespan.startup.complete"
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
            yield client
    finally:
        await to_app.put({"type": "lifespan.shutdown"})
        await asyncio.wait_for(from_app.get(), 30)
        await asyncio.wait_for(lifespan, 30)


async def test_an_exhausted_pool_or_a_read_past_its_time_is_503(database: PgDatabase) -> None:
    """No pooled write-side connection within ``DB_POOL_TIMEOUT`` (SQLAlchemy's QueuePool
    timeout), and a read-side query running past it (the read side's statement limit): 503.
    The pools are held by requests waiting on advisory locks this test holds: no timing guesses."""
    settings = make_settings(database, DB_POOL_SIZE="1", DB_POOL_TIMEOUT="1", DATABASE_READ_URL="")
    app = create_app(settings)
    for handler in TEST_ROUTES:
        app.register(handler)
    plain = database.primary_url.replace("+asyncpg", "")
    locker = await asyncpg.connect(plain)
    watcher = await asyncpg.connect(plain)
    try:
        await locker.execute("SELECT pg_advisory_lock(42), pg_advisory_lock(43)")
        async with serving_on_this_loop(app) as client:
            # the write side's pool: 1 connection + 1 overflow, both held
            held = [asyncio.create_task(client.get("/test/hold-primary")) for _ in range(2)]
            read = asyncio.create_task(client.get("/test/hold-read"))
            waiting = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            deadline = time.monotonic() + 10
            while await watcher.fetchval(waiting) < 3:
                assert time.monotonic() < deadline, "the holding requests never waited on the locks"
                await asyncio.sleep(0.02)

            login = await client.post("/api/auth/login", json={"email": "ana@campo.com.ar", "password": "x" * 12})
            assert_problem(login, 503)
            assert login.headers["retry-after"] == "5"
            slow_read = await read
            assert_problem(slow_read, 503)
            assert slow_read.headers["retry-after"] == "5"

            await locker.execute("SELECT pg_advisory_unlock_all()")
            assert [r.status_code for r in await asyncio.gather(*held)] == [200, 200]
            assert (
                await client.post("/api/auth/login", json={"email": "ana@campo.com.ar", "password": "x" * 12})
            ).status_code == 401
    finally:
        await locker.close()
        await watcher.close()


async def test_read_side_waits_for_a_pooled_connection_only_so_long(database: PgDatabase) -> None:
    """asyncpg's pool waits for a free connection without limit unless told: ours says 0.5 s."""
    reads = ReadSide(database.primary_url, pool_size=1, pool_timeout=0.5)
    await reads.start()
    try:
        pool = reads._primary_pool()
        # the connect timeout is the pool timeout too (0.5 s): on a loaded machine a first connect
        # may miss it, which is not what this test is about; a few tries get the connection
        for attempt in range(20):
            try:
                held = await pool.acquire()
                break
            except TimeoutError:
                if attempt == 19:
                    raise
        await pool.release(held)
        async with pool.acquire():  # the only connection, held by this test (open now: no connect)
            with pytest.raises(DatabaseUnavailable) as unavailable:
                await reads.fetchval("SELECT 1")
            assert classify(unavailable.value) == DatabaseFailure("unavailable")
            with pytest.raises(DatabaseUnavailable):
                await reads.on_primary().fetchval("SELECT 1")
        assert await reads.fetchval("SELECT 1") == 1
    finally:
        await reads.close()


async def test_429_and_its_log_context_carry_the_request_id(database: PgDatabase) -> None:
    app = create_app(make_settings(database, RATE_LIMIT_API="2/minute"))
    async with AsyncTestClient(app=app) as client:
        statuses = []
        for n in range(3):
            response = await client.get("/api/provinces", headers={"X-Request-ID": f"limited-{n}"})
            statuses.append(response.status_code)
            assert response.headers["x-request-id"] == f"limited-{n}"
    assert statuses == [200, 200, 429]


# --- an unreachable database: a cluster of this module's own, stopped and started again ---------


@pytest.fixture(scope="module")
def outage_cluster() -> Iterator[PostgresCluster]:
    """Never the session's shared cluster: other tests keep using that one."""
    yield from own_primary("outage-integration")


@pytest.fixture(scope="module")
async def outage_database(outage_cluster: PostgresCluster) -> str:
    from infrastructure.database.migrations import migrate

    await outage_cluster.create_database("rural24")
    await asyncio.to_thread(migrate, outage_cluster.dsn("rural24"))
    return outage_cluster.dsn("rural24")


def outage_settings(url: str, redis_url: str | None) -> Settings:
    environ = {
        "APP_ENV": "test",
        "APP_NAME": f"rural24-outage-{uuid.uuid4().hex[:8]}",
        "DATABASE_URL": url,
        "DB_POOL_SIZE": "2",
        "DB_POOL_TIMEOUT": "2",
        "JWT_SECRET": "test-secret-" + "o" * 40,
    }
    if redis_url is not None:
        environ |= {"REDIS_ENABLED": "true", "REDIS_URL": redis_url}
    return load_settings(environ)


async def test_database_down_is_503_with_retry_after_on_every_route(
    outage_cluster: PostgresCluster, outage_database: str, mode: str, request: pytest.FixtureRequest
) -> None:
    redis_url = request.getfixturevalue("redis_url") if mode == "redis" else None
    app = create_app(outage_settings(outage_database, redis_url))
    async with AsyncTestClient(app=app) as client:
        registered = await client.post(
            "/api/auth/register",
            json={"email": f"{uuid.uuid4().hex[:8]}@campo.com.ar", "password": "pasturas-2026", "name": "Ana"},
        )
        assert registered.status_code == 201, registered.text
        auth = {"Authorization": f"Bearer {registered.json()['token']}"}
        categories = (await client.get("/api/categories")).json()
        ad = {
            "title": "Tractor Deutz 55",
            "categoryId": categories[0]["id"],
            "province": "buenos-aires",
            "locality": "Azul",
        }
        assert (await client.post("/api/ads", json=ad, headers=auth)).status_code == 201

        outage_cluster.shutdown("immediate")
        try:
            calls = [
                ("GET", "/api/ads/search", {"params": {"q": "tractor"}}),  # read side
                ("GET", "/api/me", {"headers": auth}),  # the session check reads the primary
                ("POST", "/api/ads", {"json": ad, "headers": auth}),  # write side
                (
                    "POST",
                    "/api/auth/login",
                    {"json": {"email": "nadie@campo.com.ar", "password": "pasturas-2026"}},
                ),
                ("GET", f"/api/users/{uuid.uuid4()}", {}),
            ]
            for n, (method, path, kwargs) in enumerate(calls):
                request_id = f"outage-{n}"
                headers = {**kwargs.pop("headers", {}), "X-Request-ID": request_id}
                with app_log_lines() as lines:
                    response = await client.request(method, path, headers=headers, **kwargs)
                body = assert_problem(response, 503)
                assert response.headers["retry-after"] == "5", (method, path)
                assert response.headers["x-request-id"] == request_id
                assert "Traceback" not in json.dumps(body)
                # logged once as a warning, with the request id (also when auth's middleware failed)
                records = [json.loads(line) for line in lines.getvalue().splitlines()]
                ours = [r for r in records if r["logger"].startswith("rural24") and r["logger"] != "rural24.access"]
                assert ours, (method, path)
                assert all(r.get("request_id") == request_id for r in ours), records
                assert all(r["level"] == "warning" and "exception" not in r for r in ours), records
            ready = await client.get("/api/health/ready")
            assert ready.status_code == 503
        finally:
            outage_cluster.start()

        deadline = time.monotonic() + 30
        while True:  # pooled connections died with the server: the pools recover by themselves
            response = await client.post("/api/ads", json=ad, headers=auth)
            if response.status_code == 201 or time.monotonic() > deadline:
                break
            assert response.status_code == 503, response.text
            await asyncio.sleep(0.1)
        assert response.status_code == 201, response.text
        assert (await client.get("/api/ads/search", params={"q": "tractor"})).status_code == 200
