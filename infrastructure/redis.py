"""One Redis client per process, created on first use (never at import)."""

from __future__ import annotations

from redis.asyncio import Redis

from infrastructure.settings import RedisSettings


class RedisConnection:
    """Owns the process's client; ``client`` connects lazily, ``close`` at shutdown."""

    def __init__(self, settings: RedisSettings) -> None:
        self._url = settings.url
        self._client: Redis | None = None

    @property
    def client(self) -> Redis:
        if self._client is None:
            # Short timeouts: a Redis that stops answering must degrade a request, not hang it.
            self._client = Redis.from_url(
                self._url,
                socket_timeout=2.0,
                socket_connect_timeout=2.0,
                health_check_interval=30,
                retry_on_timeout=False,
            )
        return self._client

    async def ping(self) -> bool:
        return bool(await self.client.ping())

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
