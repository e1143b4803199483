"""The read side routes to the replica, falls back to the primary, and honours a write position."""

from __future__ import annotations

from typing import Any

import asyncpg

from infrastructure.database.reads import ReadSide, lsn_to_int


async def test_reads_go_to_the_replica_when_it_is_healthy(database: Any) -> None:
    reads = ReadSide(database.primary_url, database.replica_url)
    await reads.start()
    try:
        assert await reads.fetchval("SELECT pg_is_in_recovery()") is True
        status = await reads.replica_status(fresh=True)
        assert status is not None
        assert status.state == "ok"
    finally:
        await reads.close()


async def test_without_a_replica_reads_go_to_the_primary(database: Any) -> None:
    reads = ReadSide(database.primary_url)
    await reads.start()
    try:
        assert await reads.fetchval("SELECT pg_is_in_recovery()") is False
        assert await reads.replica_status() is None
    finally:
        await reads.close()


async def test_an_unreachable_replica_degrades_to_the_primary(database: Any) -> None:
    dead = "postgresql://postgres@127.0.0.1:1/nowhere"
    reads = ReadSide(database.primary_url, dead)
    await reads.start()
    try:
        assert await reads.fetchval("SELECT pg_is_in_recovery()") is False
        status = await reads.replica_status()
        assert status is not None
        assert status.state == "down"
    finally:
        await reads.close()


async def test_a_write_position_ahead_of_the_replica_reads_the_primary(database: Any) -> None:
    reads = ReadSide(database.primary_url, database.replica_url)
    await reads.start()
    try:
        connection = await asyncpg.connect(database.primary_url.replace("+asyncpg", ""))
        try:
            lsn = lsn_to_int(await connection.fetchval("SELECT pg_current_wal_lsn()::text"))
        finally:
            await connection.close()
        # A position far in the future can never be replayed: the read must go to the primary.
        assert await reads.fetchval("SELECT pg_is_in_recovery()", after_lsn=lsn + (1 << 40)) is False
    finally:
        await reads.close()


def test_lsn_ordering() -> None:
    assert lsn_to_int("0/16B3748") < lsn_to_int("1/0")
    assert lsn_to_int("16/B374D848") == (0x16 << 32) | 0xB374D848


async def test_a_released_read_connection_is_not_reset_with_another_round_trip(database: Any) -> None:
    """The read pools skip asyncpg's reset query on release (``_keep_session``): the backend's last
    statement is the read itself, not ``… RESET ALL``. A transaction left open is still rolled back."""
    from infrastructure.database.urls import asyncpg_dsn

    reads = ReadSide(database.primary_url)
    await reads.start()
    observer = await asyncpg.connect(asyncpg_dsn(database.primary_url))
    try:
        pid = await reads.fetchval("SELECT pg_backend_pid() /* the read */")
        last = await observer.fetchrow("SELECT query, state FROM pg_stat_activity WHERE pid = $1", pid)
        assert last is not None
        assert last["state"] == "idle"
        assert last["query"] == "SELECT pg_backend_pid() /* the read */"
        pool = reads._primary
        assert pool is not None
        connection = await pool.acquire()
        assert await connection.fetchval("SELECT pg_backend_pid()") == pid  # the same session
        await connection.execute("BEGIN")
        await pool.release(connection)  # asyncpg logs "Resetting connection with an active transaction"
        idle_in_transaction = await observer.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND state <> 'idle'", pid
        )
        assert idle_in_transaction == 0
    finally:
        await observer.close()
        await reads.close()
