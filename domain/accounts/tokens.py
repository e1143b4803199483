"""Emailed account tokens as the domain sees them: a row id and a digest, never the token.

The token is minted and derived outside (``infrastructure.account_tokens``, which holds the key);
a command carries a :class:`NewToken` to store, or the :func:`digest` of a token a user posted.
"""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

import msgspec

from domain.accounts.models import TokenPurpose

LIFETIMES: dict[TokenPurpose, timedelta] = {
    "reset_password": timedelta(hours=1),
    "verify_email": timedelta(days=2),
    "change_email": timedelta(days=1),
}
"""How long each kind of link works."""

LINK_PATHS: dict[TokenPurpose, str] = {
    "verify_email": "/verificar-email",
    "reset_password": "/restablecer-clave",
    "change_email": "/confirmar-email",
}
"""Where each link points in the frontend (``FRONTEND_URL`` + path + ``?token=…``)."""


class NewToken(msgspec.Struct, frozen=True):
    """A token to store: its row id (from which the sender derives the token) and its digest."""

    id: UUID
    digest: bytes
