"""The read side: raw asyncpg pools on the replica (when configured) and the primary.

Queries go to the replica when it is up, not lagging more than ``DB_REPLICA_MAX_LAG`` seconds,
and — for a caller that wrote recently — has replayed the caller's write position (WAL LSN).
Otherwise they go to the primary. advanced-alchemy's routing keeps read-your-writes only inside
one request and knows nothing of lag or health, hence this small router of our own.

Rows go straight into read-model Structs: no ORM hydration on the hot path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import Any, Literal

import asyncpg
import msgspec

from infrastructure.database.errors import DatabaseUnavailable
from infrastructure.database.urls import asyncpg_dsn

logger = logging.getLogger(__name__)

HealthState = Literal["ok", "degraded", "down"]

READ_SESSION_SETTINGS = {"random_page_cost": "1.1"}
"""Planner costs for SSD storage (every managed PostgreSQL, Render's included): with the default
4.0 the planner may sort a frequent full-text term's matches from a parallel sequential scan of
``ads`` instead of its GIN index; the search-plan test explains under the same settings."""

# How long a replica probe is trusted before the next request probes again.
_PROBE_INTERVAL = 1.0
_PROBE_TIMEOUT = 2.0
_CONNECTION_ERRORS = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
)
# An argument the driver cannot encode is the caller's, not the server's: never "down".
_ARGUMENT_ERROR = asyncpg.exceptions._base.DataError


def lsn_to_int(lsn: str) -> int:
    """``'16/B374D848'`` → a comparable integer."""
    high, _, low = lsn.partition("/")
    return (int(high, 16) << 32) | int(low, 16)


class ReplicaStatus(msgspec.Struct, frozen=True):
    state: HealthState
    lag_seconds: float | None
    replay_lsn: int | None
    checked_at: float
    error: str | None = None


_REPLICA_PROBE = """
SELECT pg_is_in_recovery(),
       pg_last_wal_replay_lsn()::text,
       CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
            ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0)
       END::float8
"""


class ReadSide:
    """Routes read queries; satisfies ``domain.shared.ports.ReadConnection``."""

    def __init__(
        self,
        primary_url: str,
        replica_url: str | None = None,
        *,
        pool_size: int = 10,
        pool_timeout: float = 30.0,
        max_lag: float = 5.0,
    ) -> None:
        self._primary_dsn = asyncpg_dsn(primary_url)
        self._replica_dsn = asyncpg_dsn(replica_url) if replica_url else None
        self._pool_size = pool_size
        self._timeout = pool_timeout
        self.max_lag = max_lag
        self._primary: asyncpg.Pool | None = None
        self._replica: asyncpg.Pool | None = None
        self._replica_status: ReplicaStatus | None = None
        self._probe_lock = asyncio.Lock()

    @property
    def last_replica_lag(self) -> float | None:
        """The lag seen by the last probe, without probing (for metrics)."""
        status = self._replica_status
        return None if status is None else status.lag_seconds

    async def start(self) -> None:
        # min_size=0: creating a pool never fails; a database that is down is reported by
        # readiness and by the query that needs it, not by a crash at start-up.
        self._primary = await self._create_pool(self._primary_dsn)
        if self._replica_dsn:
            self._replica = await self._create_pool(self._replica_dsn)

    async def _create_pool(self, dsn: str) -> asyncpg.Pool:
        pool = await asyncpg.create_pool(
            dsn,
            min_size=0,
            max_size=self._pool_size,
            max_inactive_connection_lifetime=300,
            command_timeout=self._timeout,
            timeout=min(self._timeout, 10.0),
            server_settings=READ_SESSION_SETTINGS,
        )
        assert pool is not None
        return pool

    async def close(self) -> None:
        for pool in (self._replica, self._primary):
            if pool is not None:
                await pool.close()
        self._primary = self._replica = None

    # -- routing -------------------------------------------------------------------------------

    async def replica_status(self, *, fresh: bool = False) -> ReplicaStatus | None:
        """The replica's last probe (at most ``_PROBE_INTERVAL`` old), or ``None`` without one."""
        if self._replica is None:
            return None
        status = self._replica_status
        if not fresh and status is not None and time.monotonic() - status.checked_at < _PROBE_INTERVAL:
            return status
        async with self._probe_lock:
            status = self._replica_status
            if fresh or status is None or time.monotonic() - status.checked_at >= _PROBE_INTERVAL:
                status = self._replica_status = await self._probe_replica()
        return status

    async def _probe_replica(self) -> ReplicaStatus:
        assert self._replica is not None
        now = time.monotonic()
        try:
            async with asyncio.timeout(_PROBE_TIMEOUT):
                row = await self._replica.fetchrow(_REPLICA_PROBE)
        except (*_CONNECTION_ERRORS, asyncpg.PostgresError) as exc:
            return ReplicaStatus("down", None, None, now, error=type(exc).__name__)
        assert row is not None
        in_recovery, replay_lsn, lag = row[0], row[1], float(row[2])
        if not in_recovery:
            # A promoted replica is a primary of its own: reading from it could show a fork.
            return ReplicaStatus("degraded", lag, None, now, error="not in recovery")
        state: HealthState = "ok" if lag <= self.max_lag else "degraded"
        return ReplicaStatus(state, lag, lsn_to_int(replay_lsn) if replay_lsn else None, now)

    async def _pool_for(self, after_lsn: int | None) -> asyncpg.Pool:
        if self._replica is not None:
            status = await self.replica_status()
            if status is not None and status.state == "ok":
                if after_lsn is None or (status.replay_lsn is not None and status.replay_lsn >= after_lsn):
                    return self._replica
                # The caller wrote after our last probe: ask the replica again before giving up on it.
                status = await self.replica_status(fresh=True)
                if status is not None and status.state == "ok" and (status.replay_lsn or 0) >= after_lsn:
                    return self._replica
        if self._primary is None:
            msg = "the read side is not started"
            raise RuntimeError(msg)
        return self._primary

    def _mark_replica_down(self, exc: BaseException) -> None:
        logger.warning("replica query failed (%s); reading from the primary", type(exc).__name__)
        self._replica_status = ReplicaStatus("down", None, None, time.monotonic(), error=type(exc).__name__)

    async def _query(self, pool: asyncpg.Pool, method: str, query: str, args: tuple[Any, ...]) -> Any:
        # asyncpg's Pool.fetch* wait for a free connection without a limit: bound the wait.
        connection = await pool.acquire(timeout=self._timeout)
        try:
            return await getattr(connection, method)(query, *args)
        finally:
            # A server going away can fail the connection's reset after the answer arrived;
            # asyncpg then drops the connection, and the answer we have stands.
            with contextlib.suppress(Exception):
                await pool.release(connection)

    async def _run(self, method: str, query: str, args: tuple[Any, ...], after_lsn: int | None) -> Any:
        pool = await self._pool_for(after_lsn)
        try:
            return await self._query(pool, method, query, args)
        except _ARGUMENT_ERROR:
            raise
        except _CONNECTION_ERRORS as exc:
            if pool is not self._replica or self._primary is None:
                raise DatabaseUnavailable(f"the database did not answer ({type(exc).__name__})") from exc
            self._mark_replica_down(exc)
        return await self._on_primary(method, query, args)

    async def _on_primary(self, method: str, query: str, args: tuple[Any, ...]) -> Any:
        try:
            return await self._query(self._primary_pool(), method, query, args)
        except _ARGUMENT_ERROR:
            raise
        except _CONNECTION_ERRORS as exc:
            raise DatabaseUnavailable(f"the primary did not answer ({type(exc).__name__})") from exc

    async def fetch(self, query: str, *args: Any, after_lsn: int | None = None) -> Sequence[asyncpg.Record]:
        result: Sequence[asyncpg.Record] = await self._run("fetch", query, args, after_lsn)
        return result

    async def fetchrow(self, query: str, *args: Any, after_lsn: int | None = None) -> asyncpg.Record | None:
        result: asyncpg.Record | None = await self._run("fetchrow", query, args, after_lsn)
        return result

    async def fetchval(self, query: str, *args: Any, after_lsn: int | None = None) -> Any:
        return await self._run("fetchval", query, args, after_lsn)

    def on_primary(self) -> PrimaryReads:
        """The same interface, always on the primary: for reads that must see the latest write
        (a user's own data right after changing it, authentication state)."""
        return PrimaryReads(self)

    # -- the primary, for readiness and the write position ------------------------------------

    def _primary_pool(self) -> asyncpg.Pool:
        if self._primary is None:
            msg = "the read side is not started"
            raise RuntimeError(msg)
        return self._primary

    async def primary_ping(self) -> float:
        """Round trip to the primary in milliseconds; raises when it is unreachable."""
        if self._primary is None:
            msg = "the read side is not started"
            raise RuntimeError(msg)
        started = time.perf_counter()
        async with asyncio.timeout(_PROBE_TIMEOUT):
            await self._primary.fetchval("SELECT 1")
        return (time.perf_counter() - started) * 1000

    def pool_usage(self) -> dict[str, tuple[int, int]]:
        """``{"primary": (in use, size), "replica": ...}`` for metrics."""
        usage: dict[str, tuple[int, int]] = {}
        for name, pool in (("primary", self._primary), ("replica", self._replica)):
            if pool is not None:
                size = pool.get_size()
                usage[name] = (size - pool.get_idle_size(), size)
        return usage


class PrimaryReads:
    """``ReadConnection`` on the primary only (see :meth:`ReadSide.on_primary`)."""

    __slots__ = ("_reads",)

    def __init__(self, reads: ReadSide) -> None:
        self._reads = reads

    async def fetch(self, query: str, *args: Any, after_lsn: int | None = None) -> Sequence[asyncpg.Record]:
        result: Sequence[asyncpg.Record] = await self._reads._on_primary("fetch", query, args)
        return result

    async def fetchrow(self, query: str, *args: Any, after_lsn: int | None = None) -> asyncpg.Record | None:
        result: asyncpg.Record | None = await self._reads._on_primary("fetchrow", query, args)
        return result

    async def fetchval(self, query: str, *args: Any, after_lsn: int | None = None) -> Any:
        return await self._reads._on_primary("fetchval", query, args)
