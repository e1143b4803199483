"""What the app builds once per process and hands to handlers as dependencies."""

from __future__ import annotations

from dataclasses import dataclass

from litestar.datastructures import State

from infrastructure.cache import QueryCache
from infrastructure.database.reads import ReadSide
from infrastructure.generations import Generations
from infrastructure.idempotency import IdempotencyStore
from infrastructure.jobs import JobQueue
from infrastructure.media import MediaStorage
from infrastructure.ratelimit import RateLimiter
from infrastructure.redis import RedisConnection
from infrastructure.settings import Settings
from rural24.auth import Authenticator
from rural24.notifications import Notifier


@dataclass(slots=True)
class Services:
    settings: Settings
    read_side: ReadSide
    query_cache: QueryCache
    redis: RedisConnection | None
    authenticator: Authenticator
    jobs: JobQueue
    generations: Generations
    idempotency: IdempotencyStore
    media: MediaStorage
    notifications: Notifier
    rate_limiter: RateLimiter | None = None
    """Set by ``AppPlugin`` right after construction (rate-limiting section); never ``None`` in a running app."""

    @classmethod
    def of(cls, state: State) -> Services:
        services: Services = state["services"]
        return services


def provide_services(state: State) -> Services:
    return Services.of(state)


def provide_read_side(state: State) -> ReadSide:
    return Services.of(state).read_side


def provide_query_cache(state: State) -> QueryCache:
    return Services.of(state).query_cache


def provide_settings(state: State) -> Settings:
    return Services.of(state).settings
