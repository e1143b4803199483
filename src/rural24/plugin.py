"""The infrastructure plugin: the shared stack the context plugins (``rural24.contexts``) stand on."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hmac
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from advanced_alchemy.exceptions import RepositoryError
from advanced_alchemy.extensions.litestar import SQLAlchemyPlugin
from litestar import Litestar
from litestar.config.app import AppConfig
from litestar.config.cors import CORSConfig
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, ValidationException
from litestar.handlers import BaseRouteHandler
from litestar.openapi.config import OpenAPIConfig
from litestar.plugins import InitPluginProtocol
from litestar.plugins.problem_details import ProblemDetailsPlugin
from litestar.plugins.prometheus import PrometheusController
from litestar.plugins.structlog import StructlogConfig, StructlogPlugin
from litestar.types import HTTPResponseStartEvent, Message, Scope

from domain.shared.errors import DomainError
from infrastructure.metrics import QUEUE_DEPTH, pool_collector, process_metrics
from infrastructure.sessions import SessionStoreUnavailable
from rural24 import __version__
from rural24.dependencies import DEPENDENCIES
from rural24.docs_ui import docs_render_plugins
from rural24.errors import (
    domain_error_handler,
    internal_error_handler,
    problem_details_config,
    repository_error_handler,
    session_store_down_handler,
    validation_error_handler,
)
from rural24.health import HealthController
from rural24.logs import structlog_config
from rural24.openapi import COMPONENTS, close_struct_schemas
from rural24.reading import NEGOTIATED
from rural24.request_id import AccessLog, RequestIdMiddleware, echo_request_id
from rural24.request_metrics import InstanceMetricsController, prometheus_config
from rural24.services import Services, running_services
from rural24.tracing import install_tracing, tracing_middleware
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


class MetricsController(InstanceMetricsController):
    """Prometheus text at ``/metrics`` (the scrapers' convention)."""

    path = "/metrics"
    include_in_schema = False  # operational, not part of the API contract


class ApiMetricsController(InstanceMetricsController):
    """The same figures under the API's base path."""

    path = "/api/metrics"
    include_in_schema = False


def _metrics_controllers(token: str | None) -> list[type[PrometheusController]]:
    """The two metrics routes; behind ``Authorization: Bearer <METRICS_TOKEN>`` when one is set."""
    if token is None:
        return [MetricsController, ApiMetricsController]
    expected = f"Bearer {token}".encode()

    def bearer_only(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        sent = connection.headers.get("authorization", "").encode()
        if not hmac.compare_digest(sent, expected):
            raise NotAuthorizedException("the metrics need `Authorization: Bearer <METRICS_TOKEN>`")

    return [type(c.__name__, (c,), {"guards": [bearer_only]}) for c in (MetricsController, ApiMetricsController)]


class InfrastructurePlugin(InitPluginProtocol):
    """The stack every context stands on: the write side (advanced-alchemy), the stores, pub/sub,
    problem details, validation, logs, metrics, rate limits, CORS, OpenAPI and authentication.

    It only wires what ``rural24.services.build_services`` built; the contexts' routes come from
    their own plugins (``rural24.contexts``)."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        services = self.services
        settings = services.settings
        app_config.debug = False
        app_config.state["services"] = services
        app_config.stores = services.stores
        app_config.route_handlers.extend([HealthController, *_metrics_controllers(settings.app.metrics_token)])
        app_config.dependencies.update(DEPENDENCIES)
        app_config.plugins.extend(
            [
                SQLAlchemyPlugin(config=services.database),
                ProblemDetailsPlugin(problem_details_config()),
                services.channels,  # pub/sub for WS /api/ws/notifications: memory, or Redis when enabled
                StructlogPlugin(
                    StructlogConfig(
                        # rural24/logs.py: the one log configuration (JSON lines; readable text in development)
                        structlog_logging_config=structlog_config(
                            settings.app.log_level, pretty=settings.app.env == "development"
                        ),
                        enable_middleware_logging=False,  # the access line is ours: AccessLog, below
                    )
                ),
            ]
        )
        close_struct_schemas(app_config.plugins)  # request bodies: `additionalProperties: false`
        # on every response, unrouted 404s included: the request id and the access line
        app_config.before_send.append(functools.partial(_response_start, AccessLog(settings.app.trusted_proxy_hops)))
        prometheus = prometheus_config(settings)
        app_config.middleware.append(prometheus.middleware)
        if install_tracing(services):  # OTEL_EXPORTER_OTLP_ENDPOINT set; unset: no SDK, no middleware, no cost
            app_config.middleware.append(tracing_middleware())  # Litestar makes it the outermost layer
        # The global per-address limit: Litestar's RateLimitConfig with our atomic middleware class
        # (rural24/ratelimit.py: the stock one is not atomic across processes).
        app_config.middleware.append(services.edge_limits.middleware)
        app_config.exception_handlers[Exception] = internal_error_handler
        app_config.exception_handlers[DomainError] = domain_error_handler
        app_config.exception_handlers[RepositoryError] = repository_error_handler
        app_config.exception_handlers[SessionStoreUnavailable] = session_store_down_handler
        # the validation boundary: JSON bodies through ApiRequest.json(), every bad field named
        app_config.request_class = ApiRequest
        app_config.exception_handlers[ValidationException] = validation_error_handler
        if settings.app.frontend_urls:
            app_config.cors_config = _cors(settings.app.frontend_urls)
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


def _cors(origins: Sequence[str]) -> CORSConfig:
    return CORSConfig(
        allow_origins=list(origins),
        allow_credentials=True,
        allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "If-Match", "If-None-Match", "X-Request-ID"],
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


async def _response_start(access_log: AccessLog, message: Message, scope: Scope) -> None:
    """The app's one ``before_send`` hook. Litestar awaits every hook for every message of every
    response, so there is one, and it returns at once for body messages (a second hook cost ~4 µs a
    request on the cached search)."""
    if message["type"] != "http.response.start":
        return
    echo_request_id(message, scope)
    if scope["state"].get(NEGOTIATED):
        keep_vary(message)
    access_log(message, scope)
    if scope.get("method") == "OPTIONS":
        _complete_allow(message, scope)


def keep_vary(message: HTTPResponseStartEvent) -> None:
    """``Vary`` of a response negotiated on ``Accept-Encoding`` keeps it when CORS adds ``Origin``.

    Litestar's CORS middleware *sets* ``Vary: Origin`` on a response to an allowed origin, replacing
    the ``Vary: Accept-Encoding`` of a cached read (litestar 2.x, ``middleware/_internal/cors.py``):
    a shared cache would then hand a gzip body to a client that never asked for one. The hook runs
    after it (outermost ``send``) and puts both back in one field."""
    headers = message["headers"]
    assert isinstance(headers, list)  # echo_request_id made it one
    values = [value for name, value in headers if name.lower() == b"vary"]
    if any(b"accept-encoding" in value.lower() for value in values):
        return
    headers[:] = [(name, value) for name, value in headers if name.lower() != b"vary"]
    headers.append((b"vary", b", ".join([b"Accept-Encoding", *values])))


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
    async with (
        running_services(Services.of(app.state), session_events=True) as services,
        process_metrics(pool_collector(services.read_side, services.database.get_engine())),
    ):
        sampler = asyncio.create_task(_sample_queue_depth(services), name="queue-depth")
        try:
            yield
        finally:
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler


async def _sample_queue_depth(services: Services) -> None:
    """Feeds the queue-depth gauge; a queue that cannot be read leaves the last value."""
    while True:
        try:
            async with asyncio.timeout(5):
                QUEUE_DEPTH.set(await services.jobs.depth())
        except Exception as exc:  # readiness reports the queue's state; this is only a gauge
            logger.debug("queue depth unavailable: %s", exc)
        await asyncio.sleep(15)
