"""The tokens account emails carry (verify an address, reset a password, confirm a new address).

A token is never stored. It is ``HMAC-SHA256(key, row id)``, base64url: minted with a new row id
when the command runs, and derived again from the id by the worker when it sends the email. The
database keeps only ``SHA-256(token)`` (``account_tokens.digest``), which is how a posted token is
found. A copy of the database alone cannot produce a valid token, and the email outbox holds a slot
where the link goes, filled in at delivery.

The key is derived from ``JWT_SECRET`` (a separate purpose label, so the two uses never share a
key): every API instance and worker agree without another secret to deploy.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from uuid import UUID

from uuid_utils.compat import uuid7

from domain.accounts.tokens import NewToken

_LABEL = b"rural24 account email tokens v1"
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{43}$")
"""What a token looks like: 32 bytes, base64url without padding."""


def digest(token: str) -> bytes:
    """What the database stores and looks up: SHA-256 of the token's text."""
    return hashlib.sha256(token.encode()).digest()


class AccountTokens:
    """Mints tokens (a row id and its digest) and derives a token from its row id."""

    def __init__(self, secret: str) -> None:
        self._key = hmac.new(secret.encode(), _LABEL, hashlib.sha256).digest()

    def token_for(self, token_id: UUID) -> str:
        mac = hmac.new(self._key, token_id.bytes, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def mint(self) -> NewToken:
        """A fresh row id (time-ordered, like every id here) and the digest of its token."""
        token_id = UUID(str(uuid7()))
        return NewToken(id=token_id, digest=digest(self.token_for(token_id)))
