"""The app factory: ``create_app()`` is what granian, the tests and ``litestar`` load.

The app is the infrastructure plugin plus one plugin per context; the worker runs the jobs the
same context plugins declare (``rural24.worker``).
"""

from __future__ import annotations

from litestar import Litestar

from infrastructure.settings import Settings, get_settings
from rural24.accounts import accounts_plugin
from rural24.ads import ads_plugin
from rural24.catalog import catalog_plugin
from rural24.contexts import ContextPlugin
from rural24.emails import emails_plugin
from rural24.health import LIVENESS_BODY, LIVENESS_PATH
from rural24.messaging import messaging_plugin
from rural24.plugin import InfrastructurePlugin
from rural24.queues import queues_plugin
from rural24.services import Services, build_services


def context_plugins(services: Services) -> list[ContextPlugin]:
    """Every context, in the order their routes are registered. Adding a context is one line here."""
    return [
        catalog_plugin(services),
        accounts_plugin(services),
        ads_plugin(services),
        messaging_plugin(services),
        emails_plugin(services),
        queues_plugin(services),  # the queue dashboard (SAQ's web UI), admins only
    ]


def create_app(settings: Settings | None = None) -> Litestar:
    services = build_services(settings or get_settings())
    # The body limit is a constructor argument: Litestar ignores it when a plugin sets it in
    # on_app_init (the router is built from the constructor's value). Uploads raise it per route.
    app = Litestar(
        plugins=[InfrastructurePlugin(services), *context_plugins(services)],
        request_max_body_size=services.settings.server.max_json_body,
    )
    settings = services.settings
    # Repeat anonymous cached GETs, and the liveness probe, answered before routing
    # (rural24/hot_reads.py); not with tracing, whose spans are made by route middleware
    if settings.cache.hot_reads and settings.app.otlp_endpoint is None:
        services.hot_reads.fixed(LIVENESS_PATH, LIVENESS_BODY)
        services.hot_reads.install(app)
    return app
