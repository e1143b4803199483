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

    def __init__(self, *, port: int | None = None, binary: str | Path | None = None) -> None:
        found = str(binary) if binary is not None else shutil.which("redis-server")
        if found is None:
            msg = "redis-server is not on PATH"
            raise RedisUnavailable(msg)
        self.binary = found
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
        argv = [
            self.binary,
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
