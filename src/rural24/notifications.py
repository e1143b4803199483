"""Push notifications to users: the events, and the notifier the controllers publish them with.

Events are JSON objects with a ``type`` (the WebSocket protocol is documented in
``rural24.controllers.notifications``). They are published to the user's channel after the
change they announce is committed; publishing never fails the request that caused it (a lost
notification is a hint the client misses, the data is in the database).
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

from domain.shared.structs import CamelStruct
from infrastructure.pubsub import user_channel

logger = logging.getLogger("rural24.notifications")

PUBLISHED = Counter(
    "rural24_notifications_published_total", "Push events published, by type and result.", ["type", "result"]
)

PUBLISH_TIMEOUT = 2.0


class Sender(CamelStruct):
    id: UUID
    name: str


class MessageNew(CamelStruct, tag_field="type", tag="message.new"):
    """A message to the user was committed."""

    message_id: UUID
    conversation_id: UUID
    sender: Sender = msgspec.field(name="from")
    preview: str
    """At most 50 characters, one line."""


class SessionEnded(CamelStruct, tag_field="type", tag="session.ended"):
    """Some session of the user ended (logout, logout-all-devices, block): every socket of the
    user re-checks its own token and closes with 4401 when that token is dead. Never forwarded."""


class Ready(CamelStruct, tag_field="type", tag="ready"):
    """Sent once, when the socket is subscribed: events published from now on are delivered."""


class Pong(CamelStruct, tag_field="type", tag="pong"):
    """The answer to a client's ``ping`` text frame (keep-alive through proxies)."""


Event = MessageNew | SessionEnded

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
        """``True`` when handed to the backend; a failure is logged (at most once a minute), never raised."""
        kind = event.__struct_config__.tag
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
        """Ask every open socket of the user to re-check its token (after a logout, logout-all or block)."""
        return await self.publish(user_id, SessionEnded())
