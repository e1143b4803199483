"""The app factory: ``create_app()`` is what granian, the tests and ``litestar`` load."""

from __future__ import annotations

from litestar import Litestar

from infrastructure.settings import Settings, get_settings
from rural24.plugin import AppPlugin


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or get_settings()
    # The body limit is a constructor argument: Litestar ignores it when a plugin sets it in
    # on_app_init (the router is built from the constructor's value). Uploads raise it per route.
    return Litestar(plugins=[AppPlugin(settings)], request_max_body_size=settings.server.max_json_body)
