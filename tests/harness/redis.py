"""A Redis for the tests.

In order of preference:

1. ``$REDIS_URL`` when set: it must answer PING; it is used as is and never flushed (it may be
   shared), so tests should use unique keys.
2. ``redis-server`` on ``PATH``: a private, non-persistent server on a free port on 127.0.0.1,
   started as a subprocess and stopped at the end (or at interpreter exit). It is flushed once
   when acquired. :meth:`RedisServer.kill` and :meth:`RedisServer.restart` support fault tests.
3. Nothing: :func:`redis_unavailable_reason` says why, :func:`start_redis` raises
   :class:`RedisUnavailable`.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import redis

__all__ = [
    "HOST",
    "REDIS_URL_ENV",
    "RedisServer",
    "RedisServerError",
    "RedisService",
    "RedisUnavailable",
    "SentinelSet",
    "redis_unavailable_reason",
    "start_redis",
]

REDIS_URL_ENV: Final = "REDIS_URL"
HOST: Final = "127.0.0.1"
POLL_INTERVAL: Final = 0.05  # seconds between polls in every bounded wait
_LOG_TAIL_LINES: Final = 30


class RedisUnavailable(RuntimeError):
    """No Redis can be had: no ``REDIS_URL`` (or it does not answer) and no ``redis-server``."""


class RedisServerError(RuntimeError):
    """The ``redis-server`` we start did not come up (or would not go away)."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _ping_url(url: str, timeout: float = 2.0) -> str | None:
    """``None`` when ``url`` answers PING, else why not."""
    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        client.close()  # type: ignore[no-untyped-call]  # redis-py 5.2 leaves close() unannotated
    return None


_live: dict[int, RedisServer] = {}
_live_lock = threading.Lock()


@atexit.register
def _stop_all_servers() -> None:
    """A crashed or interrupted test run must not leave servers behind."""
    with _live_lock:
        servers = list(_live.values())
    for server in servers:
        with contextlib.suppress(Exception):
            server.stop()


class RedisServer:
    """A private ``redis-server`` subprocess: no persistence, 127.0.0.1 only.

    The port is chosen on the first :meth:`start` and kept afterwards, so :meth:`restart` brings
    the server back where clients expect it (empty: nothing is persisted).
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        binary: str | Path | None = None,
        config: str | None = None,
        args: tuple[str, ...] = (),
    ) -> None:
        """``config``: the text of a configuration file (a Sentinel's must be a writable file:
        it rewrites it); ``args``: more command-line options, e.g. ``("--replicaof", host, port)``
        or ``("--sentinel",)``."""
        found = str(binary) if binary is not None else shutil.which("redis-server")
        if found is None:
            msg = "redis-server is not on PATH"
            raise RedisUnavailable(msg)
        self.binary = found
        self.config = config
        self.args = args
        self.port = port or _free_port()
        self._port_is_fixed = port is not None
        self.tmp_dir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<RedisServer {HOST}:{self.port} {state}>"

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    @property
    def running(self) -> bool:
        return self.pid is not None

    @property
    def log_file(self) -> Path | None:
        return None if self.tmp_dir is None else self.tmp_dir / "redis.log"

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        if self.log_file is None:
            return "(no log)"
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError as exc:
            return f"(no log: {exc})"
        return "\n".join(text.splitlines()[-lines:])

    def ping(self, timeout: float = 0.5) -> bool:
        """One inline ``PING`` over a raw socket: ``True`` on ``+PONG``."""
        try:
            with socket.create_connection((HOST, self.port), timeout=timeout) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def start(self, timeout: float = 10.0) -> None:
        """Start the server and wait until it answers PING. No-op when running."""
        if self.running:
            return
        if self.tmp_dir is None:
            self.tmp_dir = Path(tempfile.mkdtemp(prefix="rural24-redis-"))
        with _live_lock:
            _live[id(self)] = self
        for attempt in range(3):
            self._spawn()
            try:
                self._wait_ready(timeout)
            except RedisServerError:
                self.kill()
                if not self._port_is_fixed and "in use" in self.log_tail() and attempt < 2:
                    self.port = _free_port()  # somebody took the port meanwhile
                    continue
                raise
            self._port_is_fixed = True  # restart() must come back on this port
            return

    def kill(self) -> None:
        """SIGKILL the server (a crash, for fault tests); :meth:`restart` brings it back."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        self._proc = None

    def restart(self, timeout: float = 10.0) -> None:
        """Kill the server if it is running, then start it again on the same port (empty)."""
        self.kill()
        self.start(timeout)

    def stop(self) -> None:
        """Terminate the server (SIGTERM, then SIGKILL) and remove its directory. Idempotent."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        self._proc = None
        if self.tmp_dir is not None:
            shutil.rmtree(self.tmp_dir, ignore_errors=True)
            self.tmp_dir = None
        with _live_lock:
            _live.pop(id(self), None)

    def _spawn(self) -> None:
        assert self.tmp_dir is not None
        assert self.log_file is not None
        argv = [self.binary]
        if self.config is not None:
            config = self.tmp_dir / "redis.conf"
            if not config.exists():  # a restart keeps what the server rewrote into it
                config.write_text(self.config)
            argv.append(str(config))
        argv += [
            "--port",
            str(self.port),
            "--bind",
            HOST,
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--dir",
            str(self.tmp_dir),
            "--logfile",
            "",  # log to stdout, which goes to the log file below
            *self.args,
        ]
        with self.log_file.open("ab") as log:
            self._proc = subprocess.Popen(
                argv, cwd=self.tmp_dir, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            proc = self._proc
            if proc is None or proc.poll() is not None:
                code = None if proc is None else proc.returncode
                msg = f"redis-server on port {self.port} exited with {code}\n{self.log_tail()}"
                raise RedisServerError(msg)
            if self.ping():
                return
            if time.monotonic() >= deadline:
                msg = f"redis-server on port {self.port} did not answer PING within {timeout:.1f}s\n{self.log_tail()}"
                raise RedisServerError(msg)
            time.sleep(POLL_INTERVAL)


@dataclass(frozen=True)
class RedisService:
    """The Redis of a test session: ``url``, and ``server`` when we started it ourselves."""

    url: str
    server: RedisServer | None = None

    @property
    def started_by_us(self) -> bool:
        return self.server is not None

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


def redis_unavailable_reason() -> str | None:
    """``None`` when :func:`start_redis` can provide a Redis, else the reason it cannot (cheap)."""
    url = os.environ.get(REDIS_URL_ENV)
    if url:
        problem = _ping_url(url)
        return None if problem is None else f"{REDIS_URL_ENV}={url} does not answer PING ({problem})"
    if shutil.which("redis-server") is None:
        return f"{REDIS_URL_ENV} is not set and redis-server is not on PATH"
    return None


def start_redis(timeout: float = 10.0) -> RedisService:
    """``$REDIS_URL`` (checked with PING) or a fresh ``redis-server``.

    Raises :class:`RedisUnavailable` when there is neither, :class:`RedisServerError` when our
    ``redis-server`` does not come up.
    """
    reason = redis_unavailable_reason()
    if reason is not None:
        raise RedisUnavailable(reason)
    url = os.environ.get(REDIS_URL_ENV)
    if url:
        return RedisService(url)
    server = RedisServer()
    try:
        server.start(timeout)  # a server that fails to start is an error, not a reason to skip
    except BaseException:
        server.stop()
        raise
    client = redis.Redis.from_url(server.url)
    try:
        client.flushall()  # ours alone: start from nothing
    finally:
        client.close()  # type: ignore[no-untyped-call]
    return RedisService(server.url, server)


class SentinelSet:
    """Redis high availability on loopback, for failover tests: a master, one replica and three
    Sentinels (``redis-server --sentinel``, as Debian's ``redis-sentinel`` runs it) monitoring
    them as ``service``, quorum 2, the master judged down after ``down_after_ms``.

    :meth:`start` returns once the replica is in sync and every Sentinel knows the replica and
    the two other Sentinels (without which no failover can be agreed); :meth:`kill_master` and
    :meth:`wait_failover` drive the failover.
    """

    def __init__(self, service: str = "rural24", down_after_ms: int = 1000) -> None:
        # no 5 s wait before a replica's first (diskless) sync
        self.master = RedisServer(args=("--repl-diskless-sync-delay", "0"))
        self.service = service
        self.down_after_ms = down_after_ms
        self.replica: RedisServer | None = None
        self.sentinels: list[RedisServer] = []

    @property
    def url(self) -> str:
        hosts = ",".join(f"{HOST}:{sentinel.port}" for sentinel in self.sentinels)
        return f"redis+sentinel://{hosts}/{self.service}/0"

    def start(self, timeout: float = 30.0) -> None:
        self.master.start()
        self.replica = RedisServer(args=("--replicaof", HOST, str(self.master.port), "--repl-diskless-sync-delay", "0"))
        self.replica.start()
        config = (
            f"sentinel monitor {self.service} {HOST} {self.master.port} 2\n"
            f"sentinel down-after-milliseconds {self.service} {self.down_after_ms}\n"
            f"sentinel failover-timeout {self.service} 10000\n"
        )
        self.sentinels = [RedisServer(config=config, args=("--sentinel",)) for _ in range(3)]
        for sentinel in self.sentinels:
            sentinel.start()
        deadline = time.monotonic() + timeout
        replica = redis.Redis(host=HOST, port=self.replica.port, socket_timeout=2)
        try:
            while replica.info("replication").get("master_link_status") != "up":
                self._before(deadline, "the replica did not sync with the master")
        finally:
            replica.close()
        for sentinel in self.sentinels:
            client = redis.Redis(host=HOST, port=sentinel.port, socket_timeout=2)
            try:
                while True:
                    state = client.sentinel_master(self.service)
                    if int(state["num-slaves"]) >= 1 and int(state["num-other-sentinels"]) >= 2:
                        break
                    self._before(deadline, f"Sentinel {sentinel.port} does not see the replica and its peers")
            finally:
                client.close()

    def master_port(self) -> int:
        """The master's port as the first Sentinel that answers names it."""
        for sentinel in self.sentinels:
            client = redis.Redis(host=HOST, port=sentinel.port, socket_timeout=2)
            try:
                _, port = client.sentinel_get_master_addr_by_name(self.service)
                return int(port)
            except redis.RedisError:
                continue
            finally:
                client.close()
        msg = "no Sentinel answers"
        raise RedisServerError(msg)

    def wait_replicated(self) -> None:
        """Block until the replica has everything written to the master so far (``WAIT``)."""
        client = redis.Redis(host=HOST, port=self.master.port, socket_timeout=10)
        try:
            acknowledged = client.wait(1, 5000)
        finally:
            client.close()
        if acknowledged < 1:
            msg = "the replica did not acknowledge the master's writes within 5 s"
            raise RedisServerError(msg)

    def kill_master(self) -> None:
        self.master.kill()

    def wait_failover(self, timeout: float = 30.0) -> int:
        """Block until the Sentinels name the replica as master; its port."""
        assert self.replica is not None
        deadline = time.monotonic() + timeout
        while self.master_port() != self.replica.port:
            self._before(deadline, "the Sentinels did not promote the replica")
        return self.replica.port

    def _before(self, deadline: float, what: str) -> None:
        if time.monotonic() >= deadline:
            logs = "\n".join(server.log_tail(10) for server in (*self.sentinels, self.master))
            raise RedisServerError(f"{what}\n{logs}")
        time.sleep(POLL_INTERVAL)

    def stop(self) -> None:
        for server in (*self.sentinels, self.replica, self.master):
            if server is not None:
                server.stop()
