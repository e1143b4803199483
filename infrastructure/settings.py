"""Settings, read only from the environment, validated once at start-up.

One small frozen Struct per concern, plain values only: the adapters and library configs are built
from them in one place, ``rural24.services.build_services``. A malformed value names its variable
in one line (``SettingsError``). Every variable is optional in development; production refuses to
start without ``DATABASE_URL`` and a real ``JWT_SECRET`` (no fallback secret: several workers
signing with different random keys would reject each other's tokens).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Literal, TypeVar, cast

import msgspec

__all__ = (
    "KNOWN_VARIABLES",
    "AppSettings",
    "CacheSettings",
    "DatabaseSettings",
    "RateLimit",
    "RateLimitSettings",
    "RedisSettings",
    "ServerSettings",
    "SessionSettings",
    "Settings",
    "SettingsError",
    "get_settings",
    "load_settings",
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MIN_SECRET_LENGTH = 32

AppEnv = Literal["development", "production", "test"]
SessionStrategy = Literal["jwt", "redis"]


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable in one line."""


class RateLimit(msgspec.Struct, frozen=True):
    """``N/unit``: at most ``requests`` per ``unit`` (second, minute, hour, day)."""

    requests: int
    unit: Literal["second", "minute", "hour", "day"]

    @property
    def seconds(self) -> int:
        return {"second": 1, "minute": 60, "hour": 3600, "day": 86400}[self.unit]

    def __str__(self) -> str:
        return f"{self.requests}/{self.unit}"


class AppSettings(msgspec.Struct, frozen=True):
    env: AppEnv
    name: str
    log_level: str
    frontend_urls: tuple[str, ...]
    trusted_proxy_hops: int
    ad_ttl_days: int
    email_url: str
    media_storage_url: str
    api_docs: bool
    """Serve the API reference UI at ``/schema`` (the document itself is always served)."""
    metrics_token: str | None = None
    """``METRICS_TOKEN``: when set, ``/metrics`` and ``/api/metrics`` need ``Authorization: Bearer <it>``."""
    require_email_verification: bool = False
    """``REQUIRE_EMAIL_VERIFICATION``: unverified users may browse and log in, not publish or message."""

    @property
    def frontend_base(self) -> str:
        """Where the links in account emails point: the first ``FRONTEND_URL`` origin (development:
        the frontend's usual local address)."""
        return self.frontend_urls[0] if self.frontend_urls else "http://localhost:3000"

    @property
    def is_production(self) -> bool:
        return self.env == "production"


class DatabaseSettings(msgspec.Struct, frozen=True):
    url: str | None
    """Primary (writes). ``None`` outside production means: start the embedded PostgreSQL."""
    read_url: str | None
    """Read replica. ``None``: reads go to the primary."""
    pool_size: int
    pool_timeout: float
    replica_max_lag: float
    """Seconds of replay lag above which reads leave the replica for the primary."""
    embedded_dir: Path
    echo: bool

    @property
    def embedded(self) -> bool:
        return self.url is None


class RedisSettings(msgspec.Struct, frozen=True):
    enabled: bool
    url: str


class SessionSettings(msgspec.Struct, frozen=True):
    strategy: SessionStrategy
    ttl: int
    """Seconds a session (token) lives."""
    jwt_secret: str
    jwt_secret_is_ephemeral: bool


class RateLimitSettings(msgspec.Struct, frozen=True):
    api: RateLimit
    search: RateLimit
    messages: RateLimit
    login: RateLimit
    account_email: RateLimit = RateLimit(5, "hour")
    """Account emails (password reset, verification) asked for one email address."""
    account_email_ip: RateLimit = RateLimit(30, "hour")
    """Account emails asked from one client address."""


class CacheSettings(msgspec.Struct, frozen=True):
    categories_ttl: int
    search_ttl: int
    ad_ttl: int


class ServerSettings(msgspec.Struct, frozen=True):
    host: str
    port: int
    workers: int
    max_json_body: int
    max_upload_body: int


class QueueSettings(msgspec.Struct, frozen=True):
    url: str | None
    """Where SAQ keeps its jobs; ``None``: Redis when enabled, else the primary database."""


class Settings(msgspec.Struct, frozen=True):
    app: AppSettings
    db: DatabaseSettings
    redis: RedisSettings
    session: SessionSettings
    rate_limits: RateLimitSettings
    cache: CacheSettings
    server: ServerSettings
    queue: QueueSettings


# Every variable the service reads, with a one-line meaning. The README table and the
# render.yaml test are checked against this list.
KNOWN_VARIABLES: dict[str, str] = {
    "APP_ENV": "development (default), production or test",
    "APP_NAME": "service name in logs and metrics (rural24)",
    "LOG_LEVEL": "DEBUG, INFO (default), WARNING, ERROR",
    "DATABASE_URL": "primary PostgreSQL URL; unset outside production = embedded PostgreSQL",
    "DATABASE_READ_URL": "read replica URL; unset = reads go to the primary",
    "DB_POOL_SIZE": "connections per process and engine (10)",
    "DB_POOL_TIMEOUT": "seconds to wait for a pooled connection (30)",
    "DB_REPLICA_MAX_LAG": "seconds of replica lag before reads fall back to the primary (5)",
    "DB_ECHO": "log every SQL statement (false)",
    "EMBEDDED_PG_DIR": "data folder of the embedded PostgreSQL (.data/postgres)",
    "JWT_SECRET": "HS256 signing key, at least 32 characters; required in production",
    "SESSION_STRATEGY": "jwt (default) or redis",
    "SESSION_TTL": "session lifetime (7d)",
    "REDIS_ENABLED": "move stores, rate limits, sessions, pub/sub and jobs to Redis (false)",
    "REDIS_URL": "Redis URL (redis://127.0.0.1:6379/0)",
    "QUEUE_URL": "SAQ queue URL; unset = Redis when enabled, else the primary database",
    "FRONTEND_URL": "allowed CORS origins, comma-separated; the first is where account emails link (required in production)",
    "API_DOCS": "the API reference UI at /schema: on or off (on, except off when APP_ENV=production)",
    "METRICS_TOKEN": "when set, /metrics and /api/metrics need `Authorization: Bearer <token>` (unset: open)",
    "HOST": "address the server binds (127.0.0.1; 0.0.0.0 when APP_ENV=production)",
    "PORT": "HTTP port (8000)",
    "WEB_CONCURRENCY": "granian worker processes (1)",
    "TRUSTED_PROXY_HOPS": "proxies in front of the app whose X-Forwarded-For is trusted (0; Render: 1)",
    "RATE_LIMIT_API": "requests per IP on the whole API (120/minute)",
    "RATE_LIMIT_SEARCH": "searches per IP (60/minute)",
    "RATE_LIMIT_MESSAGES": "messages per user (30/minute)",
    "RATE_LIMIT_LOGIN": "login attempts per IP and per email (10/minute); also uses of emailed tokens per IP",
    "RATE_LIMIT_ACCOUNT_EMAIL": "password-reset and verification emails asked per email address (5/hour)",
    "RATE_LIMIT_ACCOUNT_EMAIL_IP": "password-reset and verification emails asked per IP (30/hour)",
    "REQUIRE_EMAIL_VERIFICATION": "unverified users cannot publish or send messages (true in production, else false)",
    "CACHE_TTL_CATEGORIES": "categories cache lifetime (1h)",
    "CACHE_TTL_SEARCH": "search results cache lifetime (5m)",
    "CACHE_TTL_AD": "ad detail cache lifetime (5m)",
    "AD_TTL_DAYS": "days an ad stays published before it expires (30)",
    "EMAIL_URL": "smtp://user:pass@host:port or console:// (default)",
    "MEDIA_STORAGE_URL": "where images go: file://<folder> (file://./media, default) or s3://bucket/prefix",
    "MAX_JSON_BODY": "largest JSON request body in bytes (65536)",
    "MAX_UPLOAD_BODY": "largest upload in bytes (10485760)",
}

_T = TypeVar("_T")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d)?\s*$")
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(second|minute|hour|day|s|m|h|d|sec|min)\s*$")
_RATE_UNITS = {"s": "second", "sec": "second", "m": "minute", "min": "minute", "h": "hour", "d": "day"}


class _Env:
    """Typed reads of one environment mapping; every error names its variable."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def raw(self, name: str) -> str | None:
        value = self._environ.get(name)
        if value is None or value.strip() == "":
            return None
        return value.strip()

    def _parse(self, name: str, default: _T, parse: Callable[[str], _T], expected: str) -> _T:
        value = self.raw(name)
        if value is None:
            return default
        try:
            return parse(value)
        except (ValueError, KeyError):
            msg = f"{name}={value!r} is not valid: expected {expected}"
            raise SettingsError(msg) from None

    def text(self, name: str, default: str) -> str:
        return self.raw(name) or default

    def integer(self, name: str, default: int, minimum: int = 0) -> int:
        def parse(value: str) -> int:
            number = int(value)
            if number < minimum:
                raise ValueError
            return number

        return self._parse(name, default, parse, f"an integer >= {minimum}")

    def number(self, name: str, default: float) -> float:
        def parse(value: str) -> float:
            number = float(value)
            if number < 0:
                raise ValueError
            return number

        return self._parse(name, default, parse, "a non-negative number")

    def flag(self, name: str, default: bool) -> bool:
        def parse(value: str) -> bool:
            lowered = value.lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            raise ValueError

        return self._parse(name, default, parse, "true or false")

    def duration(self, name: str, default: int) -> int:
        def parse(value: str) -> int:
            match = _DURATION.match(value.lower())
            if not match:
                raise ValueError
            amount, unit = int(match.group(1)), match.group(2) or "s"
            seconds = amount * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit]
            if seconds <= 0:
                raise ValueError
            return seconds

        return self._parse(name, default, parse, "seconds or a duration such as 300, 5m, 1h, 7d")

    def rate(self, name: str, default: RateLimit) -> RateLimit:
        def parse(value: str) -> RateLimit:
            match = _RATE.match(value.lower())
            if not match or int(match.group(1)) <= 0:
                raise ValueError
            unit = _RATE_UNITS.get(match.group(2), match.group(2))
            return RateLimit(int(match.group(1)), cast("Literal['second', 'minute', 'hour', 'day']", unit))

        return self._parse(name, default, parse, "N/unit such as 120/minute")

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        def parse(value: str) -> str:
            lowered = value.lower()
            if lowered not in choices:
                raise ValueError
            return lowered

        return self._parse(name, default, parse, " or ".join(choices))

    def url(self, name: str, schemes: tuple[str, ...]) -> str | None:
        value = self.raw(name)
        if value is None:
            return None
        scheme = value.split("://", 1)[0].lower() if "://" in value else ""
        if scheme not in schemes:
            msg = f"{name} is not valid: expected a URL starting with {' or '.join(s + '://' for s in schemes)}"
            raise SettingsError(msg)
        return value


_PG_SCHEMES = ("postgres", "postgresql", "postgresql+asyncpg")


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate every setting; raise :class:`SettingsError` naming the first bad variable."""
    env = _Env(os.environ if environ is None else environ)
    app_env = cast("AppEnv", env.choice("APP_ENV", "development", ("development", "production", "test")))
    production = app_env == "production"

    database_url = env.url("DATABASE_URL", _PG_SCHEMES)
    if production and database_url is None:
        msg = "DATABASE_URL is required when APP_ENV=production"
        raise SettingsError(msg)

    secret = env.raw("JWT_SECRET")
    if secret is not None and len(secret) < MIN_SECRET_LENGTH and production:
        msg = f"JWT_SECRET is too short: at least {MIN_SECRET_LENGTH} characters when APP_ENV=production"
        raise SettingsError(msg)
    if secret is None and production:
        msg = "JWT_SECRET is required when APP_ENV=production"
        raise SettingsError(msg)
    ephemeral = secret is None
    if secret is None:
        # Development only: a fixed, clearly-marked key so that several local workers agree.
        secret = "development-only-secret-never-use-in-production!"  # noqa: S105 - refused in production above

    redis_enabled = env.flag("REDIS_ENABLED", False)
    redis_url = env.url("REDIS_URL", ("redis", "rediss", "unix")) or "redis://127.0.0.1:6379/0"
    if production and redis_enabled and env.raw("REDIS_URL") is None:
        msg = "REDIS_URL is required when REDIS_ENABLED=true and APP_ENV=production"
        raise SettingsError(msg)
    strategy = cast("SessionStrategy", env.choice("SESSION_STRATEGY", "jwt", ("jwt", "redis")))
    if strategy == "redis" and not redis_enabled:
        msg = "SESSION_STRATEGY=redis needs REDIS_ENABLED=true"
        raise SettingsError(msg)

    workers = env.integer("WEB_CONCURRENCY", 1, minimum=1)
    if production and workers > 1 and not redis_enabled:
        # Memory stores are per process: caches, rate limits and revocations would diverge.
        msg = "WEB_CONCURRENCY>1 needs REDIS_ENABLED=true when APP_ENV=production (memory adapters are per process)"
        raise SettingsError(msg)

    frontend = tuple(
        origin.strip().rstrip("/") for origin in (env.raw("FRONTEND_URL") or "").split(",") if origin.strip()
    )
    for origin in frontend:
        if not origin.startswith(("http://", "https://")):
            msg = f"FRONTEND_URL is not valid: {origin!r} is not an http:// or https:// origin"
            raise SettingsError(msg)
    if production and not frontend:
        msg = "FRONTEND_URL is required when APP_ENV=production (CORS, and the links in account emails)"
        raise SettingsError(msg)

    return Settings(
        app=AppSettings(
            env=app_env,
            name=env.text("APP_NAME", "rural24"),
            log_level=env.choice("LOG_LEVEL", "info", ("debug", "info", "warning", "error")).upper(),
            frontend_urls=frontend,
            trusted_proxy_hops=env.integer("TRUSTED_PROXY_HOPS", 0),
            ad_ttl_days=env.integer("AD_TTL_DAYS", 30, minimum=1),
            email_url=env.url("EMAIL_URL", ("smtp", "smtps", "console")) or "console://",
            media_storage_url=env.text("MEDIA_STORAGE_URL", "file://./media"),
            api_docs=env.choice("API_DOCS", "off" if production else "on", ("on", "off")) == "on",
            metrics_token=env.raw("METRICS_TOKEN"),
            require_email_verification=env.flag("REQUIRE_EMAIL_VERIFICATION", production),
        ),
        db=DatabaseSettings(
            url=database_url,
            read_url=env.url("DATABASE_READ_URL", _PG_SCHEMES),
            pool_size=env.integer("DB_POOL_SIZE", 10, minimum=1),
            pool_timeout=env.number("DB_POOL_TIMEOUT", 30.0),
            replica_max_lag=env.number("DB_REPLICA_MAX_LAG", 5.0),
            embedded_dir=Path(env.text("EMBEDDED_PG_DIR", str(PROJECT_ROOT / ".data" / "postgres"))).resolve(),
            echo=env.flag("DB_ECHO", False),
        ),
        redis=RedisSettings(enabled=redis_enabled, url=redis_url),
        session=SessionSettings(
            strategy=strategy,
            ttl=env.duration("SESSION_TTL", 7 * 86400),
            jwt_secret=secret,
            jwt_secret_is_ephemeral=ephemeral,
        ),
        rate_limits=RateLimitSettings(
            api=env.rate("RATE_LIMIT_API", RateLimit(120, "minute")),
            search=env.rate("RATE_LIMIT_SEARCH", RateLimit(60, "minute")),
            messages=env.rate("RATE_LIMIT_MESSAGES", RateLimit(30, "minute")),
            login=env.rate("RATE_LIMIT_LOGIN", RateLimit(10, "minute")),
            account_email=env.rate("RATE_LIMIT_ACCOUNT_EMAIL", RateLimit(5, "hour")),
            account_email_ip=env.rate("RATE_LIMIT_ACCOUNT_EMAIL_IP", RateLimit(30, "hour")),
        ),
        cache=CacheSettings(
            categories_ttl=env.duration("CACHE_TTL_CATEGORIES", 3600),
            search_ttl=env.duration("CACHE_TTL_SEARCH", 300),
            ad_ttl=env.duration("CACHE_TTL_AD", 300),
        ),
        server=ServerSettings(
            # production (a container) listens on every interface; a development box only on itself
            host=env.text("HOST", "0.0.0.0" if production else "127.0.0.1"),  # noqa: S104
            port=env.integer("PORT", 8000, minimum=1),
            workers=workers,
            max_json_body=env.integer("MAX_JSON_BODY", 64 * 1024, minimum=1024),
            max_upload_body=env.integer("MAX_UPLOAD_BODY", 10 * 1024 * 1024, minimum=1024),
        ),
        queue=QueueSettings(url=env.url("QUEUE_URL", (*_PG_SCHEMES, "redis", "rediss"))),
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, loaded once."""
    return load_settings()
