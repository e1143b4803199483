"""The read side: raw asyncpg pools on the replicas (when configured) and the primary.

Queries go to a replica when it is up, not lagging more than ``DB_REPLICA_MAX_LAG`` seconds,
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
from urllib.parse import parse_qs, urlsplit

import asyncpg
import msgspec

from infrastructure.database.errors import DatabaseUnavailable
from infrastructure.database.urls import asyncpg_dsn
from infrastructure.metrics import DB_READS

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


def replica_name(url: str) -> str:
    """``host:port/database`` of a replica URL: how readiness, metrics and logs name it — never
    its user or password."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    try:
        port = parts.port
    except ValueError:
        port = None
    host = parts.hostname or (query.get("host") or ["localhost"])[0]
    database = parts.path.lstrip("/") or (query.get("dbname") or [""])[0]
    return f"{host}:{port or (query.get('port') or ['5432'])[0]}/{database}"


class Replica:
    """One read replica: its pool, its last probe and the lock that keeps probes to one at a time."""

    __slots__ = ("answered", "dsn", "lock", "name", "pool", "status")

    def __init__(self, url: str, name: str) -> None:
        self.name = name
        self.answered = DB_READS.labels(name)
        self.dsn = asyncpg_dsn(url)
        self.pool: asyncpg.Pool | None = None
        self.status: ReplicaStatus | None = None
        self.lock = asyncio.Lock()

    def in_use(self) -> int:
        pool = self.pool
        return 0 if pool is None else pool.get_size() - pool.get_idle_size()

    def serves(self, after_lsn: int | None) -> bool:
        """Up, not lagging, and (for a caller that wrote) replayed up to ``after_lsn``."""
        status = self.status
        if status is None or status.state != "ok":
            return False
        return after_lsn is None or (status.replay_lsn is not None and status.replay_lsn >= after_lsn)

    def stale(self) -> bool:
        status = self.status
        return status is None or time.monotonic() - status.checked_at >= _PROBE_INTERVAL


def _replica_names(urls: Sequence[str]) -> list[str]:
    names: list[str] = []
    for url in urls:
        name = base = replica_name(url)
        count = 1
        while name in names:  # the same server twice (another user, say): still two names
            count += 1
            name = f"{base}#{count}"
        names.append(name)
    return names


async def _keep_session(connection: asyncpg.Connection) -> None:
    """The read pools' reset on release: nothing to send.

    asyncpg's default resets every connection it gets back with one more round trip
    (``pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL``). Reads here are single
    statements that change no session state: no ``SET``, cursors, ``LISTEN`` or advisory locks
    (LISTEN and the job queue have connections of their own). asyncpg still rolls back a
    transaction left open and drops listeners before calling this."""


class ReadSide:
    """Routes read queries; satisfies ``domain.shared.ports.ReadConnection``.

    **Several replicas.** Each read goes to a replica that is ``ok`` and, for a caller that wrote,
    has replayed the caller's position; among those, the one with the fewest connections in use
    (ties taken in turn). Least-busy rather than plain round-robin: a replica that answers slowly
    (a smaller machine, a long query, a backlog) holds its connections longer and so gets fewer of
    the next reads, where round-robin would keep handing it its full share. A query that fails on
    a replica for want of a connection marks that replica down and runs again on another eligible
    one, then on the primary: a replica going away costs no read.
    """

    def __init__(
        self,
        primary_url: str,
        replica_urls: str | Sequence[str] | None = None,
        *,
        pool_size: int = 10,
        pool_timeout: float = 30.0,
        max_lag: float = 5.0,
        pooled: bool = False,
    ) -> None:
        urls = [replica_urls] if isinstance(replica_urls, str) else list(replica_urls or ())
        self._primary_dsn = asyncpg_dsn(primary_url)
        self._pooled = pooled
        self.replicas = [Replica(url, name) for url, name in zip(urls, _replica_names(urls), strict=True)]
        self._pool_size = pool_size
        self._timeout = pool_timeout
        self.max_lag = max_lag
        self._primary: asyncpg.Pool | None = None
        self._primary_answered = DB_READS.labels("primary")
        self._turn = 0

    @property
    def last_replica_lag(self) -> float | None:
        """The largest lag seen by the last probes, without probing (for metrics)."""
        lags = [
            r.status.lag_seconds for r in self.replicas if r.status is not None and r.status.lag_seconds is not None
        ]
        return max(lags) if lags else None

    def replica_lags(self) -> dict[str, float]:
        """Each replica's lag at its last probe, by name, without probing (for metrics)."""
        return {
            r.name: r.status.lag_seconds
            for r in self.replicas
            if r.status is not None and r.status.lag_seconds is not None
        }

    async def start(self) -> None:
        # min_size=0: creating a pool never fails; a database that is down is reported by
        # readiness and by the query that needs it, not by a crash at start-up.
        self._primary = await self._create_pool(self._primary_dsn)
        for replica in self.replicas:
            replica.pool = await self._create_pool(replica.dsn)

    async def _create_pool(self, dsn: str) -> asyncpg.Pool:
        # Behind a transaction pooler (``pooled``) the primary's connections are shared server
        # sessions: no prepared-statement cache, and no session settings (PgBouncer refuses
        # unknown start-up parameters, and a SET would leak to other clients); the planner cost
        # then belongs to the role (ALTER ROLE ... SET random_page_cost = 1.1, see the README).
        # Replicas are reached directly (a pooler in front of them is not configured here).
        pooled = self._pooled and dsn == self._primary_dsn
        pool = await asyncpg.create_pool(
            dsn,
            min_size=0,
            max_size=self._pool_size,
            max_inactive_connection_lifetime=300,
            command_timeout=self._timeout,
            timeout=min(self._timeout, 10.0),
            server_settings=None if pooled else READ_SESSION_SETTINGS,
            statement_cache_size=0 if pooled else 100,
            reset=_keep_session,
        )
        assert pool is not None
        return pool

    async def close(self) -> None:
        for replica in self.replicas:
            if replica.pool is not None:
                await replica.pool.close()
                replica.pool = None
        if self._primary is not None:
            await self._primary.close()
        self._primary = None

    # -- routing -------------------------------------------------------------------------------

    async def replica_status(self, *, fresh: bool = False) -> ReplicaStatus | None:
        """The first replica's last probe (at most ``_PROBE_INTERVAL`` old), or ``None`` without
        one; :meth:`replica_statuses` gives every replica's."""
        if not self.replicas or self.replicas[0].pool is None:
            return None
        return await self._status_of(self.replicas[0], fresh=fresh)

    async def replica_statuses(self, *, fresh: bool = False) -> list[tuple[str, ReplicaStatus]]:
        """Every replica's name and last probe (probed together), in ``DATABASE_READ_URL`` order."""
        started = [r for r in self.replicas if r.pool is not None]
        statuses = await asyncio.gather(*(self._status_of(r, fresh=fresh) for r in started))
        return [(r.name, status) for r, status in zip(started, statuses, strict=True)]

    async def _status_of(self, replica: Replica, *, fresh: bool = False) -> ReplicaStatus:
        status = replica.status
        if not fresh and status is not None and not replica.stale():
            return status
        async with replica.lock:
            status = replica.status
            if fresh or status is None or replica.stale():
                status = replica.status = await self._probe(replica)
        return status

    async def _probe(self, replica: Replica) -> ReplicaStatus:
        assert replica.pool is not None
        now = time.monotonic()
        try:
            async with asyncio.timeout(_PROBE_TIMEOUT):
                row = await replica.pool.fetchrow(_REPLICA_PROBE)
        except (*_CONNECTION_ERRORS, asyncpg.PostgresError) as exc:
            return ReplicaStatus("down", None, None, now, error=type(exc).__name__)
        assert row is not None
        in_recovery, replay_lsn, lag = row[0], row[1], float(row[2])
        if not in_recovery:
            # A promoted replica is a primary of its own: reading from it could show a fork.
            return ReplicaStatus("degraded", lag, None, now, error="not in recovery")
        state: HealthState = "ok" if lag <= self.max_lag else "degraded"
        return ReplicaStatus(state, lag, lsn_to_int(replay_lsn) if replay_lsn else None, now)

    async def _eligible(self, after_lsn: int | None, tried: Sequence[Replica]) -> list[Replica]:
        candidates = [r for r in self.replicas if r.pool is not None and r not in tried]
        if not candidates:
            return []
        # Probes older than _PROBE_INTERVAL are renewed (together: one slow replica delays once).
        stale = [r for r in candidates if r.stale()]
        if stale:
            await asyncio.gather(*(self._status_of(r) for r in stale))
        eligible = [r for r in candidates if r.serves(after_lsn)]
        if eligible or after_lsn is None:
            return eligible
        # The caller wrote after our last probes: ask the healthy replicas again before giving up on them.
        behind = [r for r in candidates if r.serves(None)]
        if behind:
            await asyncio.gather(*(self._status_of(r, fresh=True) for r in behind))
        return [r for r in behind if r.serves(after_lsn)]

    def _least_busy(self, eligible: Sequence[Replica]) -> Replica:
        self._turn = (self._turn + 1) % len(eligible)
        rotated = [*eligible[self._turn :], *eligible[: self._turn]]  # ties: in turn
        return min(rotated, key=Replica.in_use)

    def _mark_down(self, replica: Replica, exc: BaseException) -> None:
        logger.warning("replica %s: query failed (%s); reading elsewhere", replica.name, type(exc).__name__)
        replica.status = ReplicaStatus("down", None, None, time.monotonic(), error=type(exc).__name__)

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
        tried: list[Replica] = []
        while eligible := await self._eligible(after_lsn, tried):
            replica = self._least_busy(eligible)
            tried.append(replica)
            pool = replica.pool
            if pool is None:  # closed meanwhile
                continue
            try:
                result = await self._query(pool, method, query, args)
            except _ARGUMENT_ERROR:
                raise
            except _CONNECTION_ERRORS as exc:
                if self._primary is None:
                    raise DatabaseUnavailable(f"the database did not answer ({type(exc).__name__})") from exc
                self._mark_down(replica, exc)
            else:
                replica.answered.inc()
                return result
        return await self._on_primary(method, query, args)

    async def _on_primary(self, method: str, query: str, args: tuple[Any, ...]) -> Any:
        try:
            result = await self._query(self._primary_pool(), method, query, args)
        except _ARGUMENT_ERROR:
            raise
        except _CONNECTION_ERRORS as exc:
            raise DatabaseUnavailable(f"the primary did not answer ({type(exc).__name__})") from exc
        self._primary_answered.inc()
        return result

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
        """``{"primary": (in use, size), <replica name>: ...}`` for metrics."""
        usage: dict[str, tuple[int, int]] = {}
        pools = [("primary", self._primary), *((r.name, r.pool) for r in self.replicas)]
        for name, pool in pools:
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
