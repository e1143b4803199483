"""The one composition root: what a process builds once, for the API, the worker and the CLI alike.

``build_services(settings)`` makes every adapter and takes every memory-or-Redis decision, in one
``if`` (stage 1: memory, one process; stage 2+: Redis, shared by every instance). It does no I/O,
except that without ``DATABASE_URL`` (outside production) it starts the embedded PostgreSQL.
``async with running_services(services)`` opens what needs opening (pools, the session-event
listener) and closes it all on the way out. The app plugin, ``rural24 worker`` and the CLI's
operator commands (``promote-admin``, ``emails``) go through these two, and nothing else builds an
adapter; the CLI's database commands need only :func:`primary_url`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from advanced_alchemy.extensions.litestar import SQLAlchemyAsyncConfig
from litestar.channels import ChannelsPlugin
from litestar.channels.backends.base import ChannelsBackend
from litestar.channels.backends.memory import MemoryChannelsBackend
from litestar.datastructures import State
from litestar.stores.registry import StoreRegistry
from litestar.types import Receive, Scope, Send

import domain.models  # noqa: F401 - every table in the ORM metadata, so foreign keys resolve
from infrastructure.account_tokens import AccountTokens
from infrastructure.cache import LocalEntries, QueryCache
from infrastructure.database.embedded import ensure_primary
from infrastructure.database.primary import primary_config
from infrastructure.database.reads import ReadSide, lsn_to_int
from infrastructure.database.urls import asyncpg_dsn
from infrastructure.email import Mailer, build_mailer
from infrastructure.generations import Generations, MemoryGenerations, RedisGenerations
from infrastructure.idempotency import IdempotencyStore, MemoryIdempotencyStore, RedisIdempotencyStore
from infrastructure.jobs import JobQueue, build_queue
from infrastructure.media import MediaStorage, build_media_storage
from infrastructure.metrics import count_cache_lookup
from infrastructure.pubsub import ResilientRedisPubSubBackend, build_channels
from infrastructure.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from infrastructure.redis import REDIS_TIMEOUT, RedisConnection
from infrastructure.sessions import (
    DenyListSessions,
    Marks,
    MemoryMarks,
    RedisMarks,
    RedisSessions,
    SessionEvents,
    SessionRecords,
    SessionRegistry,
)
from infrastructure.settings import Settings
from infrastructure.stores import CACHE_STORE, memory_stores, redis_stores
from infrastructure.unit_of_work import Writes
from rural24.auth import Authenticator
from rural24.hot_reads import HotReads
from rural24.notifications import Notifier
from rural24.ratelimit import ApiRateLimitConfig, EdgeLimits, Limits, api_rate_limit_config
from rural24.reading import Reads
from rural24.request_metrics import RequestMetricsMiddleware, prometheus_config

_LSN = "SELECT pg_current_wal_insert_lsn()::text"


@dataclass(frozen=True, slots=True, kw_only=True)
class Services:
    """Everything built once per process. Handlers never take the whole: ``commands`` and
    ``reads`` are shared dependencies (``rural24.dependencies``), the rest reaches a route through
    its context's one "ports" object (``rural24.contexts.provide``)."""

    settings: Settings
    database: SQLAlchemyAsyncConfig
    """The write side (advanced-alchemy): the app's SQLAlchemy plugin and every unit of work."""
    redis: RedisConnection | None
    stores: StoreRegistry
    read_side: ReadSide
    reads: Reads
    generations: Generations
    writes: Writes
    jobs: JobQueue
    idempotency: IdempotencyStore
    limits: Limits
    authenticator: Authenticator
    channels: ChannelsPlugin
    notifier: Notifier
    media: MediaStorage
    mailer: Mailer
    account_tokens: AccountTokens
    """Mints the tokens account emails carry, and derives them again when sending."""
    edge_limits: ApiRateLimitConfig
    """The per-address limits counted when a request arrives (``rural24.ratelimit``)."""
    hot_reads: HotReads
    """Repeat anonymous cached GETs answered before routing (``rural24.hot_reads``; installed by
    ``rural24.app.create_app`` unless ``CACHE_HOT_READS=false``)."""

    @classmethod
    def of(cls, state: State) -> Services:
        services: Services = state["services"]
        return services


def primary_url(settings: Settings) -> str:
    """``DATABASE_URL``, or (outside production) the embedded PostgreSQL's, started and migrated.
    The CLI's database commands (``serve``, ``migrate``, ``seed``, ``database``) need only this."""
    return ensure_primary(settings.db.url, settings.db.embedded_dir, allow_embedded=not settings.app.is_production)


def build_services(settings: Settings) -> Services:
    primary = primary_url(settings)
    # LISTEN and the PostgreSQL queue need a connection of their own: behind a transaction
    # pooler (DATABASE_POOLER=transaction) they go to DATABASE_DIRECT_URL, never through it
    direct = settings.db.direct_url or primary
    prefix = settings.app.name
    read_side = ReadSide(
        primary,
        settings.db.read_urls,
        pool_size=settings.db.pool_size,
        pool_timeout=settings.db.pool_timeout,
        max_lag=settings.db.replica_max_lag,
        pooled=settings.db.pooler == "transaction",
    )
    sessions: SessionRegistry
    generations: Generations
    idempotency: IdempotencyStore
    limiter: RateLimiter
    channels_backend: ChannelsBackend
    marks: Marks
    # -- the one memory-or-Redis decision ------------------------------------------------------
    redis = RedisConnection(settings.redis) if settings.redis.enabled else None
    local_entries: LocalEntries | None = None  # the query cache's first level, in front of Redis only
    if redis is None:  # stage 1: one process; settings refuse WEB_CONCURRENCY > 1 in production
        stores = memory_stores()
        generations = MemoryGenerations()
        idempotency = MemoryIdempotencyStore()
        limiter = MemoryRateLimiter()
        channels_backend = MemoryChannelsBackend()
        marks = MemoryMarks()
    else:  # stage 2+: every instance shares one Redis
        stores = redis_stores(redis, prefix)
        local_entries = LocalEntries()
        generations = RedisGenerations(redis.client, prefix)
        idempotency = RedisIdempotencyStore(redis.client, f"{prefix}:idempotency")
        # the one Redis call of a cached read: a client without socket_timeout, bounded per call
        limiter = RedisRateLimiter(redis.hot_client, prefix, timeout=REDIS_TIMEOUT)
        channels_backend = ResilientRedisPubSubBackend(settings.redis.url)
        marks = RedisMarks(redis.client, f"{prefix}:sessions")
    if settings.session.strategy == "redis":
        assert redis is not None  # settings refuse SESSION_STRATEGY=redis without Redis
        sessions = RedisSessions(redis.client, prefix, settings.session.ttl)
    else:
        # Events keep the marks current; the TTL only bounds a change no instance heard.
        records = SessionRecords(read_side.on_primary().fetch)
        sessions = DenyListSessions(marks, records, mark_ttl=min(settings.session.ttl, 3600))
    # ------------------------------------------------------------------------------------------
    database = primary_config(settings.db, primary)
    jobs = JobQueue(build_queue(settings, direct))
    channels = build_channels(channels_backend)
    notifier = Notifier(channels, prefix)

    async def current_lsn() -> int:
        return lsn_to_int(str(await read_side.on_primary().fetchval(_LSN)))

    reads = Reads(read_side, QueryCache(stores.get(CACHE_STORE), count_cache_lookup, local_entries), generations)
    # The global per-address limit and the routes' (opt={ROUTE_LIMIT: …}); in Redis mode a
    # route's READS_GENERATIONS are read with them (rural24/ratelimit.py)
    edge_limits = api_rate_limit_config(
        limiter,
        settings.rate_limits.api,
        settings.app.trusted_proxy_hops,
        route_limits={"search": settings.rate_limits.search},
        generations=generations,
    )
    return Services(
        settings=settings,
        database=database,
        redis=redis,
        stores=stores,
        read_side=read_side,
        reads=reads,
        generations=generations,
        writes=Writes(
            session_maker=database.create_session_maker(),
            generations=generations,
            jobs=jobs,
            current_lsn=current_lsn,
            sessions=sessions,
            publisher=notifier,
        ),
        jobs=jobs,
        idempotency=idempotency,
        limits=Limits(limiter, settings),
        authenticator=Authenticator(
            settings.session.jwt_secret,
            settings.session.ttl,
            sessions,
            SessionEvents(asyncpg_dsn(direct), sessions),
        ),
        channels=channels,
        notifier=notifier,
        media=build_media_storage(settings.app.media_storage_url, public_url=settings.app.media_public_url),
        mailer=build_mailer(settings.app.email_url),
        account_tokens=AccountTokens(settings.session.jwt_secret),
        edge_limits=edge_limits,
        hot_reads=HotReads(
            reads, EdgeLimits(edge_limits), RequestMetricsMiddleware(_no_app, prometheus_config(settings))
        ),
    )


async def _no_app(scope: Scope, receive: Receive, send: Send) -> None:
    """What the hot reads' metrics recorder wraps: Litestar's middleware class needs an app, but
    the hot reads only call its ``record``/``in_progress``, never the middleware itself."""
    msg = "the hot reads' request metrics recorder is not a middleware in any stack"
    raise RuntimeError(msg)


@contextlib.asynccontextmanager
async def running_services(services: Services, *, session_events: bool = False) -> AsyncIterator[Services]:
    """Open the read side (and, for an API process, the session-event listener: one connection
    that keeps this process's session marks current); close everything on the way out.

    Outside the API (the worker, the CLI's admin commands) the channels are started here too, so
    that what they publish (``session.ended`` after ``promote-admin``, say) reaches the API
    instances' sockets through Redis; the API's own are started by its app, as a plugin."""
    publisher = not session_events
    try:
        await services.read_side.start()
        if session_events:
            await services.authenticator.start()
        if publisher:
            await services.channels.__aenter__()
        yield services
    finally:
        if publisher:
            await services.channels.__aexit__(None, None, None)
        await services.jobs.disconnect()
        if session_events:
            await services.authenticator.close()
        await services.read_side.close()
        await services.database.get_engine().dispose()
        if services.redis is not None:
            await services.redis.close()
