"""Several replicas: reads spread over the healthy, caught-up ones; one that is unreachable,
behind the caller's write, or stopped under reads is passed over without a failed read; one
started again serves again. ``SELECT inet_server_port()`` says which server answered.

The second replica is this module's own (the session's shared one is never stopped)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator

import pytest
from litestar.testing import AsyncTestClient
from prometheus_client.parser import text_string_to_metric_families

from infrastructure.database.reads import ReadSide, lsn_to_int, replica_name
from rural24.app import create_app
from tests.conftest import PgDatabase, make_settings, service_unavailable
from tests.harness.postgres import ClusterPair, PostgresUnavailable, ReplicaCluster

READS = 20
RECOVERY_TIMEOUT = 30.0  # seconds a stopped-and-started replica may take to serve again


@pytest.fixture(scope="module")
def second_replica(pg_cluster: ClusterPair) -> Iterator[ReplicaCluster]:
    missing: str | None = None
    replica = ReplicaCluster(pg_cluster.primary, "replica-b")
    try:
        replica.start()
    except PostgresUnavailable as exc:
        missing = str(exc)
    if missing is not None:
        service_unavailable(f"no PostgreSQL: {missing}")
    try:
        yield replica
    finally:
        replica.stop()


@pytest.fixture
async def two(database: PgDatabase, second_replica: ReplicaCluster) -> tuple[str, str]:
    """The test database's URLs on the shared replica and on the second one, both caught up."""
    second_replica.start()  # no-op unless a test left it stopped
    await second_replica.wait_caught_up()
    return database.replica_url, second_replica.dsn(database.name)


def _port(url: str) -> int:
    return int(replica_name(url).split(":")[1].split("/")[0])


async def _ports(reads: ReadSide, count: int, after_lsn: int | None = None) -> Counter[int]:
    return Counter([await reads.fetchval("SELECT inet_server_port()", after_lsn=after_lsn) for _ in range(count)])


async def test_reads_are_spread_over_both_replicas(database: PgDatabase, two: tuple[str, str]) -> None:
    reads = ReadSide(database.primary_url, two)
    await reads.start()
    try:
        seen = await _ports(reads, READS)
    finally:
        await reads.close()
    assert set(seen) == {_port(two[0]), _port(two[1])}  # never the primary
    assert min(seen.values()) >= READS // 4, seen  # one at a time: the least busy is each in turn


async def test_an_unreachable_replica_is_passed_over_for_the_other(database: PgDatabase) -> None:
    dead = "postgresql://postgres:hunter2@127.0.0.1:1/nowhere"
    reads = ReadSide(database.primary_url, [dead, database.replica_url])
    await reads.start()
    try:
        seen = await _ports(reads, READS // 2)
        statuses = dict(await reads.replica_statuses())
    finally:
        await reads.close()
    assert set(seen) == {_port(database.replica_url)}
    assert statuses["127.0.0.1:1/nowhere"].state == "down"  # named without its credentials
    assert statuses[replica_name(database.replica_url)].state == "ok"


async def test_a_write_only_one_replica_has_replayed_reads_from_that_one(
    database: PgDatabase, two: tuple[str, str], second_replica: ReplicaCluster, pg_cluster: ClusterPair
) -> None:
    reads = ReadSide(database.primary_url, two, max_lag=3600)  # paused, the second is behind, not lagging
    await reads.start()
    await second_replica.execute("SELECT pg_wal_replay_pause()")
    try:
        await pg_cluster.primary.execute("CREATE TABLE written_after_the_pause (id int)", dbname=database.name)
        lsn = await pg_cluster.replica.wait_caught_up()
        seen = await _ports(reads, READS // 2, after_lsn=lsn_to_int(lsn))
    finally:
        await second_replica.execute("SELECT pg_wal_replay_resume()")
        await reads.close()
    assert set(seen) == {_port(two[0])}


async def test_a_replica_stopped_under_reads_costs_no_read_and_serves_again_once_started(
    database: PgDatabase, two: tuple[str, str], second_replica: ReplicaCluster
) -> None:
    reads = ReadSide(database.primary_url, two)
    await reads.start()
    try:
        assert set(await _ports(reads, 4)) == {_port(two[0]), _port(two[1])}  # both pools hold connections
        second_replica.shutdown("fast")  # its sessions are terminated: the next query on one fails
        seen = await _ports(reads, READS)  # any failure would raise here
        assert set(seen) == {_port(two[0])}
        assert dict(await reads.replica_statuses())[replica_name(two[1])].state == "down"

        second_replica.start()
        await second_replica.wait_caught_up()
        deadline = time.monotonic() + RECOVERY_TIMEOUT
        while _port(two[1]) not in await _ports(reads, 2):
            assert time.monotonic() < deadline, "the restarted replica never served again"
    finally:
        await reads.close()


async def test_readiness_and_metrics_show_each_replica(database: PgDatabase, two: tuple[str, str]) -> None:
    settings = make_settings(database, DATABASE_READ_URL=",".join(two))
    async with AsyncTestClient(app=create_app(settings)) as client:
        ready = (await client.get("/api/health/ready")).json()
        assert (await client.get("/api/provinces")).status_code == 200
        text = (await client.get("/metrics")).text
    names = [replica_name(url) for url in two]
    assert [check["name"] for check in ready["checks"]["replicas"]] == names
    assert all(check["status"] == "ok" for check in ready["checks"]["replicas"])
    assert ready["checks"]["replica"]["status"] == "ok"
    assert ready["checks"]["replica"]["detail"] == "2 of 2 ok"
    samples = [s for family in text_string_to_metric_families(text) for s in family.samples]
    lags = {s.labels["replica"] for s in samples if s.name == "rural24_replica_lag_seconds"}
    pools = {s.labels["replica"] for s in samples if s.name == "rural24_db_pool_size" and s.labels["pool"] == "replica"}
    assert lags == set(names)
    assert pools == set(names)
