"""Accounts' push events (a tagged msgspec struct: ``{"type": ...}`` on the wire)."""

from __future__ import annotations

from domain.shared.structs import CamelStruct


class SessionEnded(CamelStruct, tag_field="type", tag="session.ended"):
    """Some session of the user ended (logout, logout-all-devices, block, role change): every
    socket of the user re-checks its own token and closes with 4401 when that token is dead.
    Never forwarded to the client. The unit of work publishes it after every committed
    ``Revocation``."""
