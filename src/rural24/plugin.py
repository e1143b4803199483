"""The one app plugin: the whole stack, one line a piece."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from advanced_alchemy.exceptions import RepositoryError
from advanced_alchemy.extensions.litestar import SQLAlchemyPlugin
from litestar import Litestar
from litestar.config.app import AppConfig
from litestar.config.cors import CORSConfig
from litestar.di import Provide
from litestar.exceptions import ValidationException
from litestar.openapi.config import OpenAPIConfig
from litestar.plugins import InitPluginProtocol
from litestar.plugins.problem_details import ProblemDetailsPlugin
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController
from litestar.plugins.structlog import StructlogConfig, StructlogPlugin
from litestar.types import HTTPResponseStartEvent, Message, Scope

import domain.models  # noqa: F401 - every table in the ORM metadata, so foreign keys resolve
from domain.shared.errors import DomainError
from infrastructure.cache import QueryCache
from infrastructure.database.embedded import resolve_primary_url
from infrastructure.database.primary import primary_config
from infrastructure.database.reads import ReadSide
from infrastructure.database.urls import asyncpg_dsn
from infrastructure.generations import MemoryGenerations, RedisGenerations
from infrastructure.idempotency import MemoryIdempotencyStore, RedisIdempotencyStore
from infrastructure.jobs import JobQueue, build_queue
from infrastructure.media import LocalMediaStorage, build_media_storage
from infrastructure.metrics import QUEUE_DEPTH, ReadSideCollector, count_cache_lookup, register_collector
from infrastructure.pubsub import build_channels
from infrastructure.redis import RedisConnection
from infrastructure.sessions import (
    DenyListSessions,
    MemoryMarks,
    RedisMarks,
    RedisSessions,
    SessionEvents,
    SessionRecords,
    SessionRegistry,
    SessionStoreUnavailable,
)
from infrastructure.settings import Settings, get_settings
from infrastructure.stores import CACHE_STORE, build_store_registry
from rural24 import __version__
from rural24.auth import Authenticator
from rural24.controllers.accounts import AdminUsersController, AuthController, MeController, UsersController
from rural24.controllers.ads import AdminAdsController, AdsController, MyAdsController, SavedSearchesController
from rural24.controllers.catalog import CatalogController
from rural24.controllers.health import HealthController
from rural24.controllers.images import images_controller, media_files_router
from rural24.controllers.messaging import MessagesController
from rural24.controllers.notifications import notifications_socket
from rural24.docs_ui import docs_render_plugins
from rural24.errors import (
    domain_error_handler,
    internal_error_handler,
    problem_details_config,
    repository_error_handler,
    session_store_down_handler,
    validation_error_handler,
)
from rural24.logs import structlog_config
from rural24.notifications import Notifier
from rural24.openapi import COMPONENTS, close_struct_schemas
from rural24.ratelimit import api_rate_limit_config, build_rate_limiter
from rural24.request_id import RequestIdMiddleware, echo_request_id
from rural24.state import Services, provide_services
from rural24.validation import ApiRequest

logger = logging.getLogger("rural24.app")

API_DESCRIPTION = """
The API of Rural24, the classifieds marketplace for rural Argentina (machinery, livestock, land).

* JSON keys are camelCase; ids are UUID strings (time-ordered v7); times are ISO-8601 UTC.
* Errors are RFC 9457 `application/problem+json` with `status`, `title`, `detail`; validation
  errors add `errors: [{field, message, source}]`.
* JSON request bodies are limited to 64 KiB (413 beyond), must be sent as `application/json`
  in UTF-8 (415 otherwise) and may nest at most 32 levels; a body that cannot be read (malformed
  JSON, invalid UTF-8, too deep, missing) is 400.
* Values that break a field's rules are 422 with every offending field at once:
  `errors: [{field, message, source}]`, `field` as the JSON or parameter name (`pageSize`,
  `filters.minPrice`), `source` one of `body`, `query`, `header`, `path`. Text fields refuse
  control characters (single-line fields all of them, prose keeps line breaks and tabs); amounts
  are decimal strings (`"45000.00"`, 0 to 9999999999999.99, at most 2 decimals).
* Rate limits (per client address, per email on login, per user on messages) answer 429 with
  `Retry-After`, `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` (seconds) and a
  body with `resetAt` (epoch seconds).
* The database unavailable (down, restarting, out of connections) is 503 with `Retry-After`;
  a value the database refuses is 422, a uniqueness conflict 409.
* `X-Request-ID`: sent back on every response, taken from the request when it is at most 128
  characters of `A-Z a-z 0-9 . _ : -`, else generated; the server's logs carry it.
"""


class MetricsController(PrometheusController):
    """Prometheus text at ``/metrics`` (the scrapers' convention)."""

    path = "/metrics"
    include_in_schema = False  # operational, not part of the API contract


class ApiMetricsController(PrometheusController):
    """The same figures under the API's base path."""

    path = "/api/metrics"
    include_in_schema = False


class AppPlugin(InitPluginProtocol):
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        settings = self.settings
        primary_url = resolve_primary_url(
            settings.db.url, settings.db.embedded_dir, allow_embedded=not settings.app.is_production
        )
        redis = RedisConnection(settings.redis) if settings.redis.enabled else None
        stores = build_store_registry(settings.app.name, redis)
        read_side = ReadSide(
            primary_url,
            settings.db.read_url,
            pool_size=settings.db.pool_size,
            pool_timeout=settings.db.pool_timeout,
            max_lag=settings.db.replica_max_lag,
        )
        channels = build_channels(settings)
        services = Services(
            settings=settings,
            read_side=read_side,
            query_cache=QueryCache(stores.get(CACHE_STORE), on_lookup=count_cache_lookup),
            redis=redis,
            authenticator=Authenticator(
                settings.session.jwt_secret,
                settings.session.ttl,
                *_session_registry(settings, redis, read_side, primary_url),
            ),
            jobs=JobQueue(build_queue(settings, primary_url)),
            generations=RedisGenerations(redis.client, settings.app.name) if redis else MemoryGenerations(),
            idempotency=(
                RedisIdempotencyStore(redis.client, f"{settings.app.name}:idempotency")
                if redis
                else MemoryIdempotencyStore()
            ),
            media=build_media_storage(settings.app.media_storage_url),
            notifications=Notifier(channels, settings.app.name),
        )
        prometheus = PrometheusConfig(app_name=settings.app.name, prefix=settings.app.name, group_path=True)

        app_config.debug = False
        app_config.state["services"] = services
        app_config.stores = stores
        app_config.route_handlers.extend(
            [
                HealthController,
                CatalogController,
                AuthController,
                MeController,
                UsersController,
                AdminUsersController,
                AdsController,
                MyAdsController,
                SavedSearchesController,
                AdminAdsController,
                images_controller(settings.server.max_upload_body),
                MessagesController,
                notifications_socket,
                MetricsController,
                ApiMetricsController,
            ]
        )
        if isinstance(services.media, LocalMediaStorage):
            app_config.route_handlers.append(media_files_router(services.media))  # GET /media/ads/…
        app_config.dependencies["services"] = Provide(provide_services, sync_to_thread=False)
        app_config.plugins.extend(
            [
                SQLAlchemyPlugin(config=primary_config(settings.db, primary_url)),
                ProblemDetailsPlugin(problem_details_config()),
                channels,  # pub/sub for WS /api/ws/notifications: memory, or Redis when enabled
                StructlogPlugin(
                    StructlogConfig(
                        # JSON lines that render any exception; 500s are logged by our own handler
                        structlog_logging_config=structlog_config(settings.app.log_level),
                        enable_middleware_logging=False,  # granian's access log covers requests, cheaper
                    )
                ),
            ]
        )
        close_struct_schemas(app_config.plugins)  # request bodies: `additionalProperties: false`
        app_config.before_send.append(_response_start)  # on every response, unrouted 404s included
        app_config.middleware.append(prometheus.middleware)
        # --- rate limiting (wired here) ---
        # Litestar's RateLimitConfig with our atomic middleware class (rural24/ratelimit.py).
        services.rate_limiter = build_rate_limiter(settings, redis)
        limits = api_rate_limit_config(services.rate_limiter, settings.rate_limits.api, settings.app.trusted_proxy_hops)
        app_config.middleware.append(limits.middleware)
        app_config.exception_handlers[Exception] = internal_error_handler
        app_config.exception_handlers[DomainError] = domain_error_handler
        app_config.exception_handlers[RepositoryError] = repository_error_handler
        app_config.exception_handlers[SessionStoreUnavailable] = session_store_down_handler
        # the validation boundary: JSON bodies through ApiRequest.json(), every bad field named
        app_config.request_class = ApiRequest
        app_config.exception_handlers[ValidationException] = validation_error_handler
        if settings.app.frontend_urls:
            app_config.cors_config = CORSConfig(
                allow_origins=list(settings.app.frontend_urls),
                allow_credentials=True,
                allow_headers=[
                    "Authorization",
                    "Content-Type",
                    "Idempotency-Key",
                    "If-Match",
                    "If-None-Match",
                    "X-Request-ID",
                ],
                expose_headers=[
                    "ETag",
                    "Retry-After",
                    "RateLimit-Limit",
                    "RateLimit-Remaining",
                    "RateLimit-Reset",
                    "RateLimit-Policy",
                    "X-Cache",
                    "Idempotent-Replayed",
                    "X-Request-ID",
                ],
                max_age=600,
            )
        app_config.openapi_config = OpenAPIConfig(
            title="Rural24 API",
            version=__version__,
            description=API_DESCRIPTION.strip(),
            path="/schema",
            render_plugins=docs_render_plugins(settings.app.api_docs, "/schema"),  # self-hosted, never a CDN
            use_handler_docstrings=True,
        )
        app_config.lifespan.append(_lifespan)
        # JWT auth last: it adds its middleware and its security scheme to the OpenAPI config above.
        app_config = services.authenticator.jwt.on_app_init(app_config)
        # ... but security is declared per operation (rural24/openapi.py: public routes have none), and
        # the JWT auth's scheme carries a `name` the OpenAPI validators refuse: ours replaces it.
        if app_config.openapi_config is not None:  # the auth's own copy (it copies the config before adding)
            app_config.openapi_config.security = None
            app_config.openapi_config.components = COMPONENTS
        # Outermost, around the authentication (which puts itself first) and the rate limiter:
        # what they log carries the request id.
        app_config.middleware.insert(0, RequestIdMiddleware)
        return app_config


async def _response_start(message: Message, scope: Scope) -> None:
    """The app's one ``before_send`` hook. Litestar awaits every hook for every message of every
    response, so there is one, and it returns at once for body messages (a second hook cost ~4 µs a
    request on the cached search)."""
    if message["type"] != "http.response.start":
        return
    echo_request_id(message, scope)
    if scope.get("method") == "OPTIONS":
        _complete_allow(message, scope)


def _complete_allow(message: HTTPResponseStartEvent, scope: Scope) -> None:
    """``Allow`` of the automatic ``OPTIONS`` answers lists every method of the path.

    Litestar 2 builds that answer for the first handler registered on a path and never updates it
    (GET /api/me answered ``Allow: GET, OPTIONS``, without PATCH; litestar#4169, fixed in 3.0)."""
    template = scope.get("path_template")
    methods = {m for r in scope["app"].routes if r.path_format == template for m in getattr(r, "methods", ())}
    if methods:
        allow = ", ".join(sorted({*methods, "OPTIONS"}))
        headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != b"allow"]
        message["headers"] = [*headers, (b"allow", allow.encode())]


@asynccontextmanager
async def _lifespan(app: Litestar) -> AsyncIterator[None]:
    services = Services.of(app.state)
    await services.read_side.start()
    await services.authenticator.start()  # session events: needs the primary
    read_side = services.read_side
    register_collector(ReadSideCollector(read_side.pool_usage, lambda: read_side.last_replica_lag))
    sampler = asyncio.create_task(_sample_queue_depth(services), name="queue-depth")
    try:
        yield
    finally:
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
        await services.jobs.disconnect()
        await services.authenticator.close()
        await services.read_side.close()
        if services.redis is not None:
            await services.redis.close()


def _session_registry(
    settings: Settings, redis: RedisConnection | None, read_side: ReadSide, primary_url: str
) -> tuple[SessionRegistry, SessionEvents]:
    """The session registry of the strategy, and the listener of the database's session events."""
    registry: SessionRegistry
    if settings.session.strategy == "redis":
        assert redis is not None  # settings refuse SESSION_STRATEGY=redis without Redis
        registry = RedisSessions(redis.client, settings.app.name, settings.session.ttl)
    else:
        marks = RedisMarks(redis.client, f"{settings.app.name}:sessions") if redis else MemoryMarks()
        records = SessionRecords(read_side.on_primary().fetch)
        # Events keep the marks current; the TTL only bounds a change no instance heard.
        registry = DenyListSessions(marks, records, mark_ttl=min(settings.session.ttl, 3600))
    return registry, SessionEvents(asyncpg_dsn(primary_url), registry)


async def _sample_queue_depth(services: Services) -> None:
    """Feeds the queue-depth gauge; a queue that cannot be read leaves the last value."""
    while True:
        try:
            async with asyncio.timeout(5):
                QUEUE_DEPTH.set(await services.jobs.depth())
        except Exception as exc:  # readiness reports the queue's state; this is only a gauge
            logger.debug("queue depth unavailable: %s", exc)
        await asyncio.sleep(15)
