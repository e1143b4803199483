"""The app factory: ``create_app()`` is what granian, the tests and ``litestar`` load."""

from __future__ import annotations

from litestar import Litestar

from infrastructure.settings import Settings
from rural24.plugin import AppPlugin


def create_app(settings: Settings | None = None) -> Litestar:
    return Litestar(plugins=[AppPlugin(settings)])
