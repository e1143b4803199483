"""Every named store (cache, idempotency, deny-list, rate limits …) from one factory.

Stage 1: a ``MemoryStore`` per name. Stage 2: a ``RedisStore`` per name, namespaced
``<app>:<name>`` on the shared client. Switching is the ``REDIS_ENABLED`` setting alone.
"""

from __future__ import annotations

from litestar.stores.base import Store
from litestar.stores.memory import MemoryStore
from litestar.stores.redis import RedisStore
from litestar.stores.registry import StoreRegistry

from infrastructure.redis import RedisConnection


def build_store_registry(app_name: str, redis: RedisConnection | None) -> StoreRegistry:
    if redis is None:

        def memory_store(name: str) -> Store:
            return MemoryStore()

        return StoreRegistry(default_factory=memory_store)

    def redis_store(name: str) -> Store:
        # The client is shared and closed by the app's shutdown, not by each store.
        return RedisStore(redis.client, namespace=f"{app_name}:{name}", handle_client_shutdown=False)

    return StoreRegistry(default_factory=redis_store)
