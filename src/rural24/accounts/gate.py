"""``REQUIRE_EMAIL_VERIFICATION``: the guard on the routes an unverified user may not use
(publishing an ad, sending a message). Browsing, favorites and login stay open to them."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from domain.accounts.errors import EmailNotVerified
from domain.accounts.queries import has_verified_email
from rural24.auth import current_user
from rural24.reading import PRIMARY
from rural24.services import Services


async def requires_verified_email(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """401 without a session; 403 problem when verification is required and the caller's email is
    not verified (read on the primary: a link used a moment ago counts at once)."""
    user = current_user(connection)
    services = Services.of(connection.app.state)
    if services.settings.app.require_email_verification and not await has_verified_email(
        user.id, services.reads.at(PRIMARY)
    ):
        raise EmailNotVerified
