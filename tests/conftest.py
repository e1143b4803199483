"""Session-wide fixtures: throwaway PostgreSQL (a primary and its streaming replica) and Redis.

Environment:

* ``RURAL24_PG_BINDIR`` — the PostgreSQL server binaries to use (default: the system's, else
  the ``pgserver`` wheel's); see ``tests/harness/postgres.py``.
* ``RURAL24_PG_KEEP_LOGS`` — a directory to copy the server logs to when the clusters stop.
* ``REDIS_URL`` — an existing Redis to use instead of starting ``redis-server``.
* ``RURAL24_REQUIRE_SERVICES=1`` — a missing service fails the tests that need it instead of
  skipping them (CI sets it).
* ``RURAL24_TEST_POOLER=transaction`` — every app the tests build reaches its primary through a
  PgBouncer in transaction mode (``DATABASE_POOLER=transaction``; LISTEN, the queue and the
  tests' own checks go direct): ``make test-pooler`` runs the API suite that way.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, NoReturn

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from infrastructure.database.urls import sqlalchemy_url
from infrastructure.settings import Settings, load_settings
from tests.harness.pgbouncer import PgBouncer
from tests.harness.postgres import ClusterPair, PostgresCluster, PostgresUnavailable, start_primary_and_replica
from tests.harness.redis import RedisService, RedisUnavailable, start_redis

REQUIRE_SERVICES_ENV = "RURAL24_REQUIRE_SERVICES"
POOLER_ENV = "RURAL24_TEST_POOLER"
_BOUNCER: list[PgBouncer] = []  # the session's, when RURAL24_TEST_POOLER=transaction


def pytest_configure(config: pytest.Config) -> None:
    # A SIGTERM (a CI time-out, `timeout`) must still run the harness's atexit clean-up,
    # or throwaway PostgreSQL servers outlive the run.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def services_required() -> bool:
    return os.environ.get(REQUIRE_SERVICES_ENV) == "1"


def service_unavailable(reason: str) -> NoReturn:
    """Skip the test for want of a service, or fail it when ``RURAL24_REQUIRE_SERVICES=1``."""
    if services_required():
        pytest.fail(f"{reason} ({REQUIRE_SERVICES_ENV}=1: a missing service is a failure)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[ClusterPair]:
    """A primary and a hot-standby replica streaming from it, for the whole session.

    ``pg_cluster.primary`` / ``pg_cluster.replica`` are ``PostgresCluster`` / ``ReplicaCluster``:
    ``.dsn(db)``, ``.plain_dsn(db)``, ``await .create_database(name)``, and
    ``await pg_cluster.replica.wait_caught_up()`` instead of sleeping.
    """
    missing: str | None = None
    try:
        clusters = start_primary_and_replica()
    except PostgresUnavailable as exc:
        missing = str(exc)
    if missing is not None:  # outside the except block: no chained traceback in the report
        service_unavailable(f"no PostgreSQL: {missing}")
    try:
        if os.environ.get(POOLER_ENV) == "transaction":
            bouncer = PgBouncer(clusters.primary.port)
            bouncer.start()
            _BOUNCER.append(bouncer)
        yield clusters
    finally:
        for bouncer in _BOUNCER:
            bouncer.stop()
        _BOUNCER.clear()
        clusters.stop()


@pytest.fixture(scope="session")
def redis_service() -> Iterator[RedisService]:
    """The session's Redis; ``.server`` is the ``RedisServer`` we started (``None`` for ``REDIS_URL``)."""
    missing: str | None = None
    try:
        service = start_redis()
    except RedisUnavailable as exc:
        missing = str(exc)
    if missing is not None:
        service_unavailable(f"no Redis: {missing}")
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture(scope="session")
def redis_url(redis_service: RedisService) -> str:
    """A Redis URL: ``$REDIS_URL`` or that of a ``redis-server`` started for the session."""
    return redis_service.url


# --- application fixtures (see below) ---
# A migrated template database is made once per session; each test gets a fresh copy
# (CREATE DATABASE … TEMPLATE) on the primary, which the replica replays before the test runs.


@pytest.fixture(scope="session")
def pg_pooler(pg_cluster: ClusterPair) -> PgBouncer | None:
    """The session's PgBouncer in front of the primary (``RURAL24_TEST_POOLER``), else ``None``.
    (A fixture, not the module's list: pytest may load this file under another module name than
    the tests' ``from tests.conftest import …``.)"""
    return _BOUNCER[0] if _BOUNCER else None


@dataclass(frozen=True)
class PgDatabase:
    name: str
    primary_url: str
    replica_url: str
    pooler_url: str | None = None
    """The primary through the session's PgBouncer (``RURAL24_TEST_POOLER``), else ``None``."""


@pytest.fixture(scope="session")
async def template_database(pg_cluster: ClusterPair) -> str:
    from infrastructure.database.migrations import migrate

    name = "rural24_template"
    await pg_cluster.primary.create_database(name)
    await asyncio.to_thread(migrate, pg_cluster.primary.dsn(name))
    return name


@asynccontextmanager
async def copy_of_template(pg_cluster: ClusterPair, template_database: str) -> AsyncIterator[PgDatabase]:
    """A fresh copy of the migrated template on the primary, replayed by the replica; dropped after."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    await pg_cluster.primary.create_database(name, template=template_database)
    await pg_cluster.replica.wait_caught_up()
    try:
        pooler = _BOUNCER[0].dsn(name) if _BOUNCER else None
        yield PgDatabase(name, pg_cluster.primary.dsn(name), pg_cluster.replica.dsn(name), pooler)
    finally:
        await pg_cluster.primary.drop_database(name)


@pytest.fixture
async def database(pg_cluster: ClusterPair, template_database: str) -> AsyncIterator[PgDatabase]:
    async with copy_of_template(pg_cluster, template_database) as copy:
        yield copy


@pytest.fixture(scope="module")
async def module_database(pg_cluster: ClusterPair, template_database: str) -> AsyncIterator[PgDatabase]:
    """One database for a whole module (the catalogue, the fuzzer: hundreds of requests, one world)."""
    async with copy_of_template(pg_cluster, template_database) as copy:
        yield copy


def own_primary(name: str) -> Iterator[PostgresCluster]:
    """A primary of the caller's own, to stop and start at will (never the session's shared
    cluster: other tests keep using it). Commits are acknowledged only once durable, as in
    production: with the harness's default (``synchronous_commit=off``, for speed) a crash may
    drop the last acknowledged commits. Use as the body of a fixture: ``yield from own_primary(…)``."""
    missing: str | None = None
    cluster = PostgresCluster(name, settings={"synchronous_commit": True})
    try:
        cluster.start()
    except PostgresUnavailable as exc:
        missing = str(exc)
    if missing is not None:  # outside the except block: no chained traceback in the report
        service_unavailable(f"no PostgreSQL: {missing}")
    try:
        yield cluster
    finally:
        cluster.stop()


def make_settings(database: PgDatabase, redis_url: str | None = None, **extra: str) -> Settings:
    environ = {
        "APP_ENV": "test",
        # Each test's keys live under a prefix of their own in the shared Redis.
        "APP_NAME": f"rural24-test-{uuid.uuid4().hex[:8]}",
        "DATABASE_URL": database.primary_url,
        "DATABASE_READ_URL": database.replica_url,
        "DB_POOL_SIZE": "4",
        "JWT_SECRET": "test-secret-" + "x" * 40,
    }
    if redis_url is not None:
        environ |= {"REDIS_ENABLED": "true", "REDIS_URL": redis_url}
    if database.pooler_url is not None:
        environ |= {
            "DATABASE_URL": database.pooler_url,
            "DATABASE_DIRECT_URL": database.primary_url,
            "DATABASE_POOLER": "transaction",
        }
    environ |= extra
    return load_settings(environ)


@pytest.fixture(params=["memory", "redis"])
def mode(request: pytest.FixtureRequest) -> str:
    """Every app test runs twice: stage 1 (memory adapters) and stage 2 (Redis)."""
    return str(request.param)


@pytest.fixture
def settings(mode: str, database: PgDatabase, request: pytest.FixtureRequest) -> Settings:
    redis_url = request.getfixturevalue("redis_url") if mode == "redis" else None
    return make_settings(database, redis_url)


@pytest.fixture
def app(settings: Settings) -> Litestar:
    from rural24.app import create_app

    return create_app(settings)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=app) as test_client:
        yield test_client


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """With ``RURAL24_REQUIRE_SERVICES=1`` (CI) no test may be skipped, whatever the reason."""
    if not services_required():
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    skipped = len(reporter.stats.get("skipped", []))
    if skipped:
        print(f"\n{skipped} test(s) skipped while {REQUIRE_SERVICES_ENV}=1: failing the run")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    # Every collected test must report: an xdist scheduler once dropped schemathesis's tests
    # without a word (--dist loadfile), and the run looked green.
    outcomes = ("passed", "failed", "skipped", "error", "xfailed", "xpassed")
    # (counted, not keyed by node id: schemathesis's tests share one, which is what that scheduler tripped on)
    reported = sum(
        1
        for key in outcomes
        for r in reporter.stats.get(key, [])
        if isinstance(r, pytest.TestReport) and (r.when == "call" or key in ("skipped", "error"))
    )
    collected = session.testscollected
    if not session.config.option.collectonly and collected and reported < collected and not session.shouldfail:
        print(f"\n{collected - reported} of {collected} collected test(s) never reported: failing the run")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
async def db(database: PgDatabase) -> AsyncIterator[asyncpg.Connection]:
    """A plain asyncpg connection to the test's database on the primary (checking what was written)."""
    connection = await asyncpg.connect(database.primary_url.replace("+asyncpg", ""))
    yield connection
    await connection.close()


@pytest.fixture
async def engine(database: PgDatabase) -> AsyncIterator[AsyncEngine]:
    """A SQLAlchemy engine on the primary, as the worker's jobs get one."""
    engine = create_async_engine(sqlalchemy_url(database.primary_url))
    yield engine
    await engine.dispose()


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    """``response`` is an RFC 9457 problem of ``status``; returns its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    return body
