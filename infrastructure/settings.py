"""Settings, read only from the environment, validated once at start-up.

One small frozen Struct per concern, plain values only: the adapters and library configs are built
from them in one place, ``rural24.services.build_services``. A malformed value names its variable
in one line (``SettingsError``). Every variable is optional in development; production refuses to
start without ``DATABASE_URL`` and a real ``JWT_SECRET`` (no fallback secret: several workers
signing with different random keys would reject each other's tokens), and refuses the development
stand-ins for email (``console://``) and media (a local folder) unless told they are meant.

Without ``JWT_SECRET``, a development box signs with a random key generated once and kept next to
the embedded database's data (``.data/jwt-secret``, mode 0600): restarts keep sessions, and no key
lives in the source.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Literal, TypeVar, cast
from urllib.parse import parse_qs, urlsplit

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
    "development_jwt_secret",
    "get_settings",
    "load_settings",
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MIN_SECRET_LENGTH = 32
DEVELOPMENT_KEY_FILE = "jwt-secret"
"""The development signing key's file, in the folder that holds ``EMBEDDED_PG_DIR``."""

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
    otlp_endpoint: str | None = None
    """``OTEL_EXPORTER_OTLP_ENDPOINT``: traces go there by OTLP/HTTP (``rural24.tracing``); unset, no tracing."""
    media_public_url: str | None = None
    """``MEDIA_PUBLIC_URL``: where media keys are served (a CDN): an image's URL is ``<it>/<key>``."""

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
    read_urls: tuple[str, ...]
    """Read replicas (``DATABASE_READ_URL``, comma-separated). Empty: reads go to the primary."""
    pool_size: int
    pool_timeout: float
    replica_max_lag: float
    """Seconds of replay lag above which reads leave a replica (for another, or the primary)."""
    embedded_dir: Path
    echo: bool
    pooler: Literal["none", "transaction"] = "none"
    """``transaction``: ``DATABASE_URL`` is a PgBouncer in transaction mode (stage 3's pooling).
    Prepared-statement caches and connection-level settings are off, since consecutive
    transactions of one client may run on different server connections."""
    direct_url: str | None = None
    """The primary without the pooler (``DATABASE_DIRECT_URL``): LISTEN (session events), the
    PostgreSQL job queue (LISTEN and session locks) and migrations need one connection of their own."""

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
    """A random key of this process only (``APP_ENV=test`` without ``JWT_SECRET``): its tokens die
    with it and no other process accepts them."""


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
    hot_reads: bool = True
    """``CACHE_HOT_READS``: repeat anonymous cached GETs answered before routing (``rural24.hot_reads``)."""


class ServerSettings(msgspec.Struct, frozen=True):
    host: str
    port: int
    workers: int
    max_json_body: int
    max_upload_body: int
    worker_metrics_port: int = 0
    """``WORKER_METRICS_PORT``: where ``rural24 worker`` answers ``GET /metrics`` (0: it does not)."""


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
    "DATABASE_READ_URL": "read replica URLs, comma-separated; unset = reads go to the primary",
    "DB_POOL_SIZE": "connections per process and engine (10)",
    "DATABASE_POOLER": "none (default) or transaction: DATABASE_URL is a PgBouncer in transaction mode",
    "DATABASE_DIRECT_URL": (
        "the primary without the pooler, for LISTEN, the PostgreSQL job queue and migrations "
        "(required with DATABASE_POOLER=transaction)"
    ),
    "DB_POOL_TIMEOUT": "seconds to wait for a pooled connection (30)",
    "DB_REPLICA_MAX_LAG": "seconds of replica lag before reads fall back to the primary (5)",
    "DB_ECHO": "log every SQL statement (false)",
    "EMBEDDED_PG_DIR": "data folder of the embedded PostgreSQL (.data/postgres)",
    "JWT_SECRET": (
        "HS256 signing key, at least 32 characters; required in production "
        "(development: a random key kept in .data/jwt-secret)"
    ),
    "SESSION_STRATEGY": "jwt (default) or redis",
    "SESSION_TTL": "session lifetime (7d)",
    "REDIS_ENABLED": "move stores, rate limits, sessions, pub/sub and jobs to Redis (false)",
    "REDIS_URL": (
        "Redis URL (redis://127.0.0.1:6379/0); through Sentinel: redis+sentinel://host:26379,host2:26379/service[/db]"
    ),
    "QUEUE_URL": "SAQ queue URL; unset = Redis when enabled, else the primary database",
    "FRONTEND_URL": (
        "allowed CORS origins, comma-separated; the first is where account emails link (required in production)"
    ),
    "API_DOCS": "the API reference UI at /schema: on or off (on, except off when APP_ENV=production)",
    "METRICS_TOKEN": "when set, /metrics and /api/metrics need `Authorization: Bearer <token>` (unset: open)",
    "HOST": "address the server binds (127.0.0.1; 0.0.0.0 when APP_ENV=production)",
    "PORT": "HTTP port (8000)",
    "WEB_CONCURRENCY": "granian worker processes (1)",
    "WORKER_METRICS_PORT": "port of the worker's own GET /metrics, bound to HOST (9108 in production, else 0: off)",
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
    "CACHE_HOT_READS": "repeat anonymous cached reads (search, ad, categories…) answered before routing (true)",
    "AD_TTL_DAYS": "days an ad stays published before it expires (30)",
    "EMAIL_URL": "smtp://user:pass@host:port, smtps://… or console:// (default; refused in production)",
    "ALLOW_CONSOLE_EMAIL": "production accepts EMAIL_URL=console:// (never sent; recipient, subject logged) (false)",
    "MEDIA_STORAGE_URL": "where images go: file://<folder> (file://./media, default; refused in production) or s3://bucket/prefix",
    "MEDIA_PUBLIC_URL": "where image URLs point, a CDN: <it>/<key> (default: /media on the API, or the bucket)",
    "ALLOW_LOCAL_MEDIA": "production accepts a file:// MEDIA_STORAGE_URL (one machine, a persistent disk) (false)",
    "AWS_ACCESS_KEY_ID": "S3 media: access key id (read by obstore; unset = its other credential sources)",
    "AWS_SECRET_ACCESS_KEY": "S3 media: secret access key, with AWS_ACCESS_KEY_ID",
    "AWS_REGION": "S3 media: the bucket's region (us-east-1; or ?region= in MEDIA_STORAGE_URL)",
    "MAX_JSON_BODY": "largest JSON request body in bytes (65536)",
    "MAX_UPLOAD_BODY": "largest upload in bytes (10485760)",
    "OTEL_EXPORTER_OTLP_ENDPOINT": "OTLP/HTTP base URL traces are sent to (/v1/traces appended); unset = no tracing",
    "OTEL_EXPORTER_OTLP_HEADERS": "headers of every OTLP export, k=v,k2=v2 (read by the OpenTelemetry SDK)",
    "OTEL_SERVICE_NAME": "service name of the traces (APP_NAME; read by the OpenTelemetry SDK)",
}

_T = TypeVar("_T")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d)?\s*$")
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(second|minute|hour|day|s|m|h|d|sec|min)\s*$")
_RATE_UNITS = {"s": "second", "sec": "second", "m": "minute", "min": "minute", "h": "hour", "d": "day"}
_HOST = re.compile(r"^(\[[0-9A-Fa-f:.%\w]+\]|[0-9A-Fa-f:.]+|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?)$")


def parse_duration(value: str) -> int:
    """Seconds of ``300``, ``5m``, ``1h`` or ``7d``; ``ValueError`` for anything else or zero."""
    match = _DURATION.match(value.lower())
    if not match:
        raise ValueError(value)
    amount, unit = int(match.group(1)), match.group(2) or "s"
    seconds = amount * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit]
    if seconds <= 0:
        raise ValueError(value)
    return seconds


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

    def integer(self, name: str, default: int, minimum: int = 0, maximum: int | None = None) -> int:
        def parse(value: str) -> int:
            number = int(value)
            if number < minimum or (maximum is not None and number > maximum):
                raise ValueError
            return number

        expected = f"an integer >= {minimum}" if maximum is None else f"an integer from {minimum} to {maximum}"
        return self._parse(name, default, parse, expected)

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
        return self._parse(name, default, parse_duration, "seconds or a duration such as 300, 5m, 1h, 7d")

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

    def url(self, name: str, schemes: tuple[str, ...], *, host: tuple[str, ...] = ()) -> str | None:
        """A URL with one of ``schemes``, and a host when its scheme is one of ``host``. The message
        never repeats the value: URLs carry passwords."""
        value = self.raw(name)
        if value is None:
            return None
        return _checked_url(name, value, schemes, host)

    def urls(self, name: str, schemes: tuple[str, ...]) -> tuple[str, ...]:
        """Comma-separated URLs, each checked as :meth:`url` does; errors name the URL's position.
        A piece without ``://`` continues the previous URL (a libpq host list ``h1,h2:5433``, or
        a comma in a password)."""
        value = self.raw(name)
        if value is None:
            return ()
        pieces: list[str] = []
        for position, piece in enumerate(value.split(","), start=1):
            piece = piece.strip()
            if not piece:
                msg = f"{name} is not valid: URL {len(pieces) + 1} is empty (position {position} in the list)"
                raise SettingsError(msg)
            if "://" not in piece and pieces:
                pieces[-1] = f"{pieces[-1]},{piece}"
            else:
                pieces.append(piece)
        if len(pieces) == 1:
            return (_checked_url(name, pieces[0], schemes, ()),)
        return tuple(_checked_url(f"{name} (URL {i})", url, schemes, ()) for i, url in enumerate(pieces, start=1))

    def host(self, name: str, default: str) -> str:
        def parse(value: str) -> str:
            if not _HOST.match(value):
                raise ValueError
            return value

        return self._parse(name, default, parse, "an IP address or host name such as 127.0.0.1 or 0.0.0.0")


_REDIS_SCHEMES = ("redis", "rediss", "unix", "redis+sentinel", "rediss+sentinel")


def _sentinel_checked(name: str, url: str) -> str:
    """``url``, read as a Sentinel address when it is one (hosts, service, database): a mistake in
    it is a settings error at start, not a failure at the first Redis call."""
    from infrastructure.redis import RedisUrlError, is_sentinel_url, parse_sentinel_url

    if is_sentinel_url(url):
        try:
            parse_sentinel_url(url)
        except RedisUrlError as exc:
            raise SettingsError(str(exc).replace("REDIS_URL", name)) from None
    return url


def _checked_url(name: str, value: str, schemes: tuple[str, ...], host: tuple[str, ...]) -> str:
    """``value`` when it is a URL with one of ``schemes`` (and a host when its scheme is one of
    ``host``); the message never repeats the value: URLs carry passwords."""
    scheme = value.split("://", 1)[0].lower() if "://" in value else ""
    if scheme not in schemes:
        msg = f"{name} is not valid: expected a URL starting with {' or '.join(s + '://' for s in schemes)}"
        raise SettingsError(msg)
    try:
        parts = urlsplit(value)
        hosts = parts.netloc.rpartition("@")[2]
        if "," in hosts:  # a libpq host list, h1:5432,h2:5433: each port checked by hand
            for one in hosts.split(","):
                port = one.rpartition(":")[2] if ":" in one else "5432"
                if not port.isdigit() or int(port) > 65535:
                    raise ValueError(port)
        else:
            parts.port  # noqa: B018 - raises ValueError for a port that is not 0-65535
    except ValueError:
        msg = f"{name} is not valid: its host or port cannot be read"
        raise SettingsError(msg) from None
    if scheme in host and not parts.hostname:
        msg = f"{name} is not valid: {scheme}:// needs a host, e.g. {scheme}://host:port"
        raise SettingsError(msg)
    return value


def _media_storage_url(env: _Env) -> str:
    """``MEDIA_STORAGE_URL``: ``file://<folder>`` or ``s3://<bucket>[/<prefix>][?endpoint=…&region=…&public_url=…]``
    (parsed for real by ``infrastructure.media.build_media_storage``; refused here, at start-up)."""
    url = env.url("MEDIA_STORAGE_URL", ("file", "s3")) or "file://./media"
    scheme, _, rest = url.partition("://")
    location, _, query = rest.partition("?")
    if not location.strip("/"):
        local = scheme.lower() == "file"
        example = (
            "a folder, e.g. file://./media or file:///srv/media" if local else "a bucket, e.g. s3://rural24-media/ads"
        )
        msg = f"MEDIA_STORAGE_URL is not valid: {scheme}:// needs {example}"
        raise SettingsError(msg)
    for option, values in parse_qs(query).items():
        if option in {"endpoint", "public_url"} and not all(
            v.startswith(("http://", "https://")) and urlsplit(v).hostname for v in values
        ):
            msg = f"MEDIA_STORAGE_URL is not valid: {option} must be an http:// or https:// URL"
            raise SettingsError(msg)
    if scheme.lower() == "s3" and (env.raw("AWS_ACCESS_KEY_ID") is None) != (env.raw("AWS_SECRET_ACCESS_KEY") is None):
        msg = "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY go together: set both for s3:// media (or neither)"
        raise SettingsError(msg)
    return url


def development_jwt_secret(folder: Path) -> str:
    """The signing key of a development box: random, generated on the first start and kept in
    ``folder/jwt-secret`` (mode 0600, next to the embedded database's data), so restarts and the
    other local processes (worker, CLI) accept the same tokens, and no key is in the source.

    Several processes starting at once agree: each writes a candidate file and hard-links it into
    place; the first link wins and everyone reads that one."""
    path = folder / DEVELOPMENT_KEY_FILE
    try:
        if not path.exists():
            folder.mkdir(parents=True, exist_ok=True)
            candidate = folder / f".{DEVELOPMENT_KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
            descriptor = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                with os.fdopen(descriptor, "w", encoding="ascii") as file:
                    file.write(secrets.token_urlsafe(48) + "\n")
                    file.flush()
                    os.fsync(file.fileno())
                with contextlib.suppress(FileExistsError):
                    os.link(candidate, path)
            finally:
                candidate.unlink(missing_ok=True)
        key = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        msg = f"JWT_SECRET is unset and the development key {path} cannot be kept ({reason}): set JWT_SECRET"
        raise SettingsError(msg) from None
    if len(key) < MIN_SECRET_LENGTH:
        msg = f"JWT_SECRET is unset and the development key {path} is too short: delete the file to get a new one"
        raise SettingsError(msg)
    return key


_PG_SCHEMES = ("postgres", "postgresql", "postgresql+asyncpg")


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate every setting; raise :class:`SettingsError` naming the first bad variable."""
    env = _Env(os.environ if environ is None else environ)
    app_env = cast("AppEnv", env.choice("APP_ENV", "development", ("development", "production", "test")))
    production = app_env == "production"

    database_url = env.url("DATABASE_URL", _PG_SCHEMES)
    embedded_dir = Path(env.text("EMBEDDED_PG_DIR", str(PROJECT_ROOT / ".data" / "postgres"))).resolve()
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
    ephemeral = secret is None and app_env == "test"
    if secret is None:
        # test: this process only (tests that share tokens across processes set JWT_SECRET);
        # development: one key per data folder, kept across restarts (refused in production above)
        secret = secrets.token_urlsafe(48) if ephemeral else development_jwt_secret(embedded_dir.parent)

    redis_enabled = env.flag("REDIS_ENABLED", False)
    redis_url = env.url("REDIS_URL", _REDIS_SCHEMES, host=("redis", "rediss")) or "redis://127.0.0.1:6379/0"
    redis_url = _sentinel_checked("REDIS_URL", redis_url)
    queue_url = env.url("QUEUE_URL", (*_PG_SCHEMES, *_REDIS_SCHEMES), host=("redis", "rediss"))
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
        if not origin.startswith(("http://", "https://")) or not urlsplit(origin).hostname:
            msg = f"FRONTEND_URL is not valid: {origin!r} is not an http:// or https:// origin"
            raise SettingsError(msg)
    if production and not frontend:
        msg = "FRONTEND_URL is required when APP_ENV=production (CORS, and the links in account emails)"
        raise SettingsError(msg)

    email_url = env.url("EMAIL_URL", ("smtp", "smtps", "console"), host=("smtp", "smtps")) or "console://"
    allow_console_email = env.flag("ALLOW_CONSOLE_EMAIL", False)
    if production and email_url.lower().startswith("console:") and not allow_console_email:
        msg = (
            "EMAIL_URL must be smtp:// or smtps:// when APP_ENV=production (console:// sends nothing; "
            "ALLOW_CONSOLE_EMAIL=true accepts that)"
        )
        raise SettingsError(msg)
    media_storage_url = _media_storage_url(env)
    allow_local_media = env.flag("ALLOW_LOCAL_MEDIA", False)
    if production and media_storage_url.lower().startswith("file:") and not allow_local_media:
        msg = (
            "MEDIA_STORAGE_URL must be s3:// when APP_ENV=production (a local folder is neither shared with the "
            "worker nor kept across deploys; ALLOW_LOCAL_MEDIA=true accepts that)"
        )
        raise SettingsError(msg)

    pooler = cast("Literal['none', 'transaction']", env.choice("DATABASE_POOLER", "none", ("none", "transaction")))
    direct_url = env.url("DATABASE_DIRECT_URL", _PG_SCHEMES)
    if pooler == "transaction" and direct_url is None:
        msg = (
            "DATABASE_POOLER=transaction needs DATABASE_DIRECT_URL (the primary without the pooler): "
            "LISTEN, the PostgreSQL job queue and migrations cannot go through a transaction pooler"
        )
        raise SettingsError(msg)

    return Settings(
        app=AppSettings(
            env=app_env,
            name=env.text("APP_NAME", "rural24"),
            log_level=env.choice("LOG_LEVEL", "info", ("debug", "info", "warning", "error")).upper(),
            frontend_urls=frontend,
            trusted_proxy_hops=env.integer("TRUSTED_PROXY_HOPS", 0),
            ad_ttl_days=env.integer("AD_TTL_DAYS", 30, minimum=1),
            email_url=email_url,
            media_storage_url=media_storage_url,
            api_docs=env.choice("API_DOCS", "off" if production else "on", ("on", "off")) == "on",
            metrics_token=env.raw("METRICS_TOKEN"),
            require_email_verification=env.flag("REQUIRE_EMAIL_VERIFICATION", production),
            otlp_endpoint=env.url("OTEL_EXPORTER_OTLP_ENDPOINT", ("http", "https"), host=("http", "https")),
            media_public_url=env.url("MEDIA_PUBLIC_URL", ("http", "https"), host=("http", "https")),
        ),
        db=DatabaseSettings(
            url=database_url,
            read_urls=env.urls("DATABASE_READ_URL", _PG_SCHEMES),
            pool_size=env.integer("DB_POOL_SIZE", 10, minimum=1),
            pool_timeout=env.number("DB_POOL_TIMEOUT", 30.0),
            replica_max_lag=env.number("DB_REPLICA_MAX_LAG", 5.0),
            embedded_dir=embedded_dir,
            echo=env.flag("DB_ECHO", False),
            pooler=pooler,
            direct_url=direct_url,
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
            hot_reads=env.flag("CACHE_HOT_READS", True),
        ),
        server=ServerSettings(
            # production (a container) listens on every interface; a development box only on itself
            host=env.host("HOST", "0.0.0.0" if production else "127.0.0.1"),  # noqa: S104
            port=env.integer("PORT", 8000, minimum=1, maximum=65535),
            workers=workers,
            max_json_body=env.integer("MAX_JSON_BODY", 64 * 1024, minimum=1024),
            max_upload_body=env.integer("MAX_UPLOAD_BODY", 10 * 1024 * 1024, minimum=1024),
            worker_metrics_port=env.integer("WORKER_METRICS_PORT", 9108 if production else 0, maximum=65535),
        ),
        queue=QueueSettings(url=_sentinel_checked("QUEUE_URL", queue_url) if queue_url else None),
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, loaded once."""
    return load_settings()
