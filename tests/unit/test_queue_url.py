"""Which SAQ queue the settings give: Redis (a TCP or unix-socket URL) or the primary PostgreSQL.
Building a queue opens no connection, so these need no server."""

from __future__ import annotations

from saq.queue.postgres import PostgresQueue
from saq.queue.redis import RedisQueue

from infrastructure.jobs import build_queue
from infrastructure.settings import load_settings

PRIMARY = "postgresql+asyncpg://postgres@127.0.0.1:5432/rural24"


def test_a_redis_on_a_unix_socket_is_a_redis_queue() -> None:
    settings = load_settings({"REDIS_ENABLED": "true", "REDIS_URL": "unix:///run/redis/redis.sock?db=2"})
    queue = build_queue(settings, PRIMARY)
    assert isinstance(queue, RedisQueue)
    assert queue.redis.connection_pool.connection_kwargs["path"] == "/run/redis/redis.sock"


def test_a_tcp_redis_and_the_primary() -> None:
    assert isinstance(build_queue(load_settings({"REDIS_ENABLED": "true"}), PRIMARY), RedisQueue)
    assert isinstance(build_queue(load_settings({"REDIS_ENABLED": "false"}), PRIMARY), PostgresQueue)
