"""Pub/sub for push notifications: Litestar channels on memory (stage 1) or Redis (stage 2+).

One channel per user, ``{APP_NAME}:user:{id}``. With ``REDIS_ENABLED`` the channels go through
Redis pub/sub (``RedisChannelsPubSubBackend``), so an event published by the instance that took
a request reaches the sockets held by every other instance; without Redis they stay in the
process. Redis pub/sub channel names are not keys (the backend's ``key_prefix`` is not used for
them), hence the ``APP_NAME`` prefix in the names themselves: apps sharing a Redis stay apart.

Delivery is at most once: an event published while a socket is not connected, or while Redis is
unreachable, is lost. Clients treat events as hints and re-read the API (the truth) after a
reconnect.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Iterable
from typing import Any

from litestar.channels import ChannelsPlugin
from litestar.channels.backends.base import ChannelsBackend
from litestar.channels.backends.redis import RedisChannelsPubSubBackend
from litestar.channels.subscriber import Subscriber
from redis.exceptions import RedisError

from infrastructure.redis import close_client, redis_client

logger = logging.getLogger(__name__)

SUBSCRIBER_BACKLOG = 256
"""Events held per socket that is not reading fast enough; beyond, the oldest are dropped."""


def user_channel(prefix: str, user_id: object) -> str:
    return f"{prefix}:user:{user_id}"


class ResilientRedisPubSubBackend(RedisChannelsPubSubBackend):
    """Litestar's Redis pub/sub backend, with its own Redis client, surviving Redis outages.

    The stock ``stream_events`` ends on the first connection error, which ends the plugin's
    only reading task: the process would never deliver another event. Here the error is logged
    and reading resumes with a backoff; redis-py reconnects and re-subscribes every channel.
    Events published during the outage are lost (at most once, as documented above).
    """

    def __init__(self, url: str) -> None:
        # Its own client: the subscription holds one connection for good, and reads block on it
        # (with their own timeout, so no socket_timeout is needed for them).
        client = redis_client(url, socket_connect_timeout=2.0, socket_timeout=5.0, health_check_interval=30)
        super().__init__(redis=client)
        self.client = client

    async def subscribe(self, channels: Iterable[str]) -> None:
        """Never fails: with Redis down, the channels are remembered and subscribed on reconnect."""
        channels = list(channels)
        try:
            await super().subscribe(channels)
        except (RedisError, OSError) as exc:
            logger.warning("pub/sub: cannot subscribe now (%s); will on reconnect", type(exc).__name__)
            self._pub_sub.channels.update({channel.encode(): None for channel in channels})
            self._has_subscribed.set()

    async def unsubscribe(self, channels: Iterable[str]) -> None:
        """Never fails: with Redis down, the channels are forgotten (the reconnect skips them)."""
        channels = list(channels)
        try:
            await super().unsubscribe(channels)
        except (RedisError, OSError) as exc:
            logger.warning("pub/sub: cannot unsubscribe now (%s); dropped locally", type(exc).__name__)
            for channel in channels:
                self._pub_sub.channels.pop(channel.encode(), None)

    async def stream_events(self) -> AsyncGenerator[tuple[str, Any], None]:
        delay = 0.1
        while True:
            try:
                async for event in super().stream_events():
                    delay = 0.1
                    yield event
            except (RedisError, OSError, RuntimeError) as exc:
                # RuntimeError: redis-py's "pubsub connection not set" when the first subscribe failed
                logger.warning(
                    "pub/sub: Redis failed (%s: %s); resubscribing in %.1f s", type(exc).__name__, exc, delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                await self._resubscribe()

    async def _resubscribe(self) -> None:
        pubsub = self._pub_sub
        channels = [channel.decode() if isinstance(channel, bytes) else str(channel) for channel in pubsub.channels]
        if not channels:
            return
        try:  # connects if needed; SUBSCRIBE to a channel already subscribed is harmless
            await pubsub.subscribe(*channels)
        except (RedisError, OSError) as exc:
            logger.debug("pub/sub: resubscribe failed (%s)", type(exc).__name__)

    async def on_shutdown(self) -> None:
        try:
            await super().on_shutdown()
        finally:
            await close_client(self.client)


class UserChannelsPlugin(ChannelsPlugin):
    """Litestar's plugin, forgetting a channel once its last subscriber leaves.

    The stock plugin keeps an (empty) entry for every channel ever subscribed: with one channel
    per user, a long-running process would hold one per user who ever connected.
    """

    async def unsubscribe(self, subscriber: Subscriber, channels: str | Iterable[str] | None = None) -> None:
        names = (
            list(self._channels) if channels is None else [channels] if isinstance(channels, str) else list(channels)
        )
        await super().unsubscribe(subscriber, names)
        for name in names:
            if not self._channels.get(name, True):  # empty: nobody (re)subscribed meanwhile
                del self._channels[name]


def build_channels(backend: ChannelsBackend) -> ChannelsPlugin:
    """The channels plugin: any channel name (one per user), bounded per-socket backlog. The
    backend: ``MemoryChannelsBackend`` (one process) or :class:`ResilientRedisPubSubBackend`."""
    return UserChannelsPlugin(
        backend=backend,
        arbitrary_channels_allowed=True,
        subscriber_max_backlog=SUBSCRIBER_BACKLOG,
        subscriber_backlog_strategy="dropleft",
    )
