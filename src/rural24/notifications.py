"""Push notifications to users: the notifier that publishes events, and the socket's own frames.

Events are tagged msgspec structs (``{"type": ...}`` on the wire; the WebSocket protocol is
documented in ``rural24.messaging.socket``), declared by the contexts that raise them
(``domain.messaging.events.MessageNew``, ``domain.accounts.events.SessionEnded``). The unit of
work (``infrastructure.unit_of_work``) publishes them after the change they announce is committed;
publishing never fails the write that caused it (a lost notification is a hint the client misses,
the data is in the database).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Final
from uuid import UUID

import msgspec
from litestar.channels import ChannelsPlugin
from prometheus_client import Counter

from domain.accounts.events import SessionEnded
from domain.shared.structs import CamelStruct
from domain.shared.unit_of_work import Event
from infrastructure.pubsub import user_channel

logger = logging.getLogger("rural24.notifications")

PUBLISHED = Counter(
    "rural24_notifications_published_total", "Push events published, by type and result.", ["type", "result"]
)

PUBLISH_TIMEOUT = 2.0


class Ready(CamelStruct, tag_field="type", tag="ready"):
    """Sent once, when the socket is subscribed: events published from now on are delivered."""


class Pong(CamelStruct, tag_field="type", tag="pong"):
    """The answer to a client's ``ping`` text frame (keep-alive through proxies)."""


_encode = msgspec.json.Encoder().encode

SESSION_ENDED: Final = _encode(SessionEnded())
READY: Final = _encode(Ready()).decode()
PONG: Final = _encode(Pong()).decode()


class Notifier:
    """Publishes events to users' channels (``{APP_NAME}:user:{id}``) through the channels plugin."""

    def __init__(self, channels: ChannelsPlugin, prefix: str, *, timeout: float = PUBLISH_TIMEOUT) -> None:
        self.channels = channels
        self._prefix = prefix
        self._timeout = timeout
        self._last_warning = 0.0

    def channel(self, user_id: UUID | str) -> str:
        return user_channel(self._prefix, user_id)

    async def publish(self, user_id: UUID | str, event: Event) -> bool:
        """Publish any tagged event; ``True`` when handed to the backend. A failure is logged (at
        most once a minute), never raised."""
        kind = str(event.__struct_config__.tag)
        try:
            await asyncio.wait_for(self.channels.wait_published(_encode(event), self.channel(user_id)), self._timeout)
        except Exception as exc:  # an after-commit side effect: never fail the request
            PUBLISHED.labels(kind, "failed").inc()
            now = time.monotonic()
            if now - self._last_warning > 60:
                self._last_warning = now
                logger.warning("could not publish %s: %s: %s", kind, type(exc).__name__, exc)
            return False
        PUBLISHED.labels(kind, "ok").inc()
        return True

    async def session_ended(self, user_id: UUID | str) -> bool:
        """Ask every open socket of the user to re-check its token (after a logout, logout-all,
        block or role change)."""
        return await self.publish(user_id, SessionEnded())
