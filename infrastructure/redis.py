"""One Redis client per process, created on first use (never at import), on one server or through
Sentinel.

``REDIS_URL`` takes redis-py's own forms (``redis://``, ``rediss://``, ``unix://``) for one server,
and one more for high availability (stage 3)::

    redis+sentinel://[[user]:password@]host:26379[,host2:26379,...]/service[/db][?sentinel_password=...]

``service`` is the name the Sentinels monitor (``sentinel monitor <service> ...``); the password in
the URL is the Redis servers' own (``requirepass``/ACL), ``sentinel_password`` the Sentinels' when
they have one. Every client the service makes (stores, cache, generations, limiter scripts,
sessions, pub/sub, the SAQ queue) comes from :func:`redis_client`, so all of them ask the Sentinels
where the master is whenever they open a connection: after a failover the next connection goes to
the promoted replica, without a restart (redis-py's ``SentinelConnectionPool``). Connections to the
old master fail (and are dropped) in the meantime, which the service treats like any Redis outage.

Redis Cluster is not supported: the limiter's and the generations' scripts touch several keys
per call, which Cluster allows only within one hash slot, and Litestar's stores and channels
assume one keyspace. Sentinel gives what stage 3 asks of Redis (surviving the loss of a server);
the data set (caches, counters, sessions) fits one server by orders of magnitude.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qs, unquote, urlsplit

from redis.asyncio import Redis
from redis.asyncio.sentinel import Sentinel
from redis.exceptions import NoScriptError

if TYPE_CHECKING:
    from infrastructure.settings import RedisSettings

SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")


class RedisUrlError(ValueError):
    """A ``REDIS_URL`` that names Sentinels but cannot be read; ``str()`` says what is wrong."""


@dataclass(frozen=True)
class SentinelAddress:
    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_password: str | None = None
    ssl: bool = False


def is_sentinel_url(url: str) -> bool:
    return url.split("://", 1)[0].lower() in SENTINEL_SCHEMES


def parse_sentinel_url(url: str) -> SentinelAddress:
    parts = urlsplit(url)
    if parts.scheme.lower() not in SENTINEL_SCHEMES:
        raise RedisUrlError(f"not a Sentinel URL (scheme {parts.scheme!r}; expected redis+sentinel://)")
    userinfo, _, hosts = parts.netloc.rpartition("@")
    sentinels: list[tuple[str, int]] = []
    for item in hosts.split(","):
        host, colon, port = item.strip().rpartition(":")
        if not colon:
            host, port = item.strip(), "26379"
        host = host.strip("[]")  # an IPv6 address in brackets
        if not host or not port.isdigit():
            raise RedisUrlError(f"REDIS_URL: Sentinel address {item!r} is not host:port")
        sentinels.append((host, int(port)))
    path = [segment for segment in parts.path.split("/") if segment]
    if not path or len(path) > 2:
        raise RedisUrlError("REDIS_URL: a Sentinel URL ends in /<service>[/<db>] (the name the Sentinels monitor)")
    if len(path) == 2 and not path[1].isdigit():
        raise RedisUrlError(f"REDIS_URL: database {path[1]!r} is not a number")
    username = password = None
    if userinfo:
        user, colon, secret = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if colon else None
    query = parse_qs(parts.query)
    unknown = sorted(set(query) - {"sentinel_password"})
    if unknown:
        raise RedisUrlError(f"REDIS_URL: unknown Sentinel option(s) {', '.join(unknown)}")
    sentinel_password = query.get("sentinel_password", [None])[-1]
    return SentinelAddress(
        sentinels=tuple(sentinels),
        service=unquote(path[0]),
        db=int(path[1]) if len(path) == 2 else 0,
        username=username,
        password=password,
        sentinel_password=sentinel_password,
        ssl=parts.scheme.lower().startswith("rediss"),
    )


def redis_client(url: str, **options: Any) -> Redis:
    """A client of the Redis at ``url`` (one server, or the master the Sentinels name).

    ``options`` are redis-py connection options (timeouts, health checks); through Sentinel they
    apply to the connections to the master, and the Sentinels are asked with the same timeouts.
    """
    if not is_sentinel_url(url):
        return cast("Redis", Redis.from_url(url, **options))
    address = parse_sentinel_url(url)
    timeouts = {key: options[key] for key in ("socket_timeout", "socket_connect_timeout") if key in options}
    sentinel = Sentinel(  # type: ignore[no-untyped-call]
        list(address.sentinels),
        sentinel_kwargs={**timeouts, "password": address.sentinel_password},
        db=address.db,
        username=address.username,
        password=address.password,
        ssl=address.ssl,
        **options,
    )
    client = cast("Redis", sentinel.master_for(address.service))
    # the client owns its pool (closed by aclose); the Sentinels' clients are closed with it
    _SENTINELS[id(client)] = sentinel
    return client


_SENTINELS: dict[int, Sentinel] = {}


class PackedScript:
    """``EVALSHA`` of one Lua script whose calls repeat, each distinct call packed once.

    Our own where redis-py falls short on the hot path: its ``Script`` goes through
    ``execute_command``, which packs the command anew on every call (``pack_command`` encodes each
    argument), runs it inside its retry wrapper and looks up a response callback. The limiter
    sends the same few commands again and again (one per client address and route), so this keeps
    the packed bytes of the last ``max_packed`` distinct calls. A call takes a connection from
    the client's pool (Sentinel's pool too: after a failover it connects to the new master), sends
    the bytes and reads the one reply, loading the script first if the server answers
    ``NOSCRIPT``. There are no retries: a failure is the caller's (the limiter fails open), and a
    connection that fails or is cancelled mid-reply is dropped by redis-py, never reused."""

    def __init__(self, client: Redis, script: str, max_packed: int = 4096) -> None:
        self._client = client
        self._script = script
        self._sha = hashlib.sha1(script.encode(), usedforsecurity=False).hexdigest()  # what EVALSHA names
        self._packed: dict[tuple[tuple[str, ...], tuple[int | str, ...]], list[bytes]] = {}
        self._max_packed = max_packed

    async def __call__(self, keys: Sequence[str], args: Sequence[int | str]) -> Any:
        call = (tuple(keys), tuple(args))
        pool = self._client.connection_pool
        connection = await pool.get_connection("EVALSHA")  # type: ignore[no-untyped-call]
        try:
            packed = self._packed.get(call)
            if packed is None:
                if len(self._packed) >= self._max_packed:
                    self._packed.clear()  # many distinct callers: start over rather than grow
                packed = self._packed[call] = connection.pack_command("EVALSHA", self._sha, len(keys), *keys, *args)
            await connection.send_packed_command(packed)
            try:
                return await connection.read_response()
            except NoScriptError:  # a new or flushed server: load the script, then once more
                await connection.send_command("SCRIPT", "LOAD", self._script)
                await connection.read_response()
                await connection.send_packed_command(packed)
                return await connection.read_response()
        finally:
            await pool.release(connection)


async def close_client(client: Redis) -> None:
    """Close ``client`` and, when it came through Sentinel, its connections to the Sentinels."""
    try:
        await client.aclose()
    finally:
        sentinel = _SENTINELS.pop(id(client), None)
        if sentinel is not None:
            for one in sentinel.sentinels:
                await one.aclose()


REDIS_TIMEOUT = 2.0
"""Seconds a Redis call may take before the service treats Redis as down (connect, send, read)."""


class RedisConnection:
    """Owns the process's clients; each connects lazily, ``close`` at shutdown.

    ``client`` is for everything; ``hot_client`` only for the one call a cached read makes per
    request (the limiter's script), which bounds itself with ``asyncio.timeout(REDIS_TIMEOUT)``.
    Why two: with ``socket_timeout`` set, redis-py sends every command under ``asyncio.wait_for``,
    which makes a Task per command; without it a send is a plain write. One timer per call
    instead was ~10% of a cached search's cost in Redis mode (docs/performance.md), and a
    Redis that stops answering still costs a request at most ``REDIS_TIMEOUT`` there (tested with
    a stopped ``redis-server``)."""

    def __init__(self, settings: RedisSettings) -> None:
        self._url = settings.url
        self._client: Redis | None = None
        self._hot_client: Redis | None = None

    @property
    def client(self) -> Redis:
        if self._client is None:
            # Short timeouts: a Redis that stops answering must degrade a request, not hang it.
            self._client = redis_client(
                self._url,
                socket_timeout=REDIS_TIMEOUT,
                socket_connect_timeout=REDIS_TIMEOUT,
                health_check_interval=30,
                retry_on_timeout=False,
            )
        return self._client

    @property
    def hot_client(self) -> Redis:
        """No read or write timeout of its own: every caller wraps its call in ``asyncio.timeout``."""
        if self._hot_client is None:
            self._hot_client = redis_client(
                self._url, socket_connect_timeout=REDIS_TIMEOUT, health_check_interval=30, retry_on_timeout=False
            )
        return self._hot_client

    async def ping(self) -> bool:
        return bool(await self.client.ping())

    @property
    def master(self) -> str | None:
        """Through Sentinel, the master the last connection went to (``host:port``), else ``None``."""
        if self._client is None or not is_sentinel_url(self._url):
            return None
        address = getattr(self._client.connection_pool, "master_address", None)
        return f"{address[0]}:{address[1]}" if address else None

    async def close(self) -> None:
        hot, self._hot_client = self._hot_client, None
        try:
            if self._client is not None:
                await close_client(self._client)
                self._client = None
        finally:
            if hot is not None:
                await close_client(hot)
