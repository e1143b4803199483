"""Throwaway PostgreSQL clusters for the tests: a primary and a streaming replica.

Each cluster lives in its own temporary directory (data directory, server log, Unix socket),
listens on a free TCP port on 127.0.0.1 with ``trust`` authentication for the ``postgres``
superuser, and is removed again by :meth:`PostgresCluster.stop` (or at interpreter exit).

Server binaries (PostgreSQL 13 or newer), first match wins:

1. ``$RURAL24_PG_BINDIR``;
2. the system's: ``pg_config --bindir`` when ``pg_config`` is on ``PATH``, else the highest
   ``/usr/lib/postgresql/*/bin``;
3. the ones the ``pgserver`` wheel ships (the ``embedded`` extra).

``initdb`` refuses to run as root. Under root every server command therefore runs as an
unprivileged user through ``runuser -u USER --``: ``postgres`` when that account exists, else
``pgserver`` (created with ``useradd --system --no-create-home`` when missing).

Typical use::

    primary = PostgresCluster("primary")
    primary.start()
    replica = ReplicaCluster(primary)
    replica.start()
    ...
    await primary.execute("INSERT ...")
    await replica.wait_caught_up()  # instead of sleeping
    ...
    replica.stop()
    primary.stop()

Set ``RURAL24_PG_KEEP_LOGS=/some/dir`` to keep copies of the server logs after the clusters
are removed.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import asyncpg

__all__ = [
    "BINDIR_ENV",
    "HOST",
    "KEEP_LOGS_ENV",
    "SUPERUSER",
    "ClusterPair",
    "HarnessError",
    "PgBinaries",
    "PostgresCluster",
    "PostgresUnavailable",
    "ReplicaCluster",
    "ServerUser",
    "find_binaries",
    "free_port",
    "server_user",
    "start_primary_and_replica",
]

BINDIR_ENV: Final = "RURAL24_PG_BINDIR"
KEEP_LOGS_ENV: Final = "RURAL24_PG_KEEP_LOGS"
HOST: Final = "127.0.0.1"
SUPERUSER: Final = "postgres"

POLL_INTERVAL: Final = 0.05  # seconds between polls in every bounded wait
START_TIMEOUT: Final = 60  # pg_ctl -t
_COMMAND_TIMEOUT: Final = 120.0  # hard cap on any single server command
_LOG_TAIL_LINES: Final = 40
_REQUIRED_TOOLS: Final = ("initdb", "pg_ctl", "postgres", "pg_basebackup")
_FALLBACK_USER: Final = "pgserver"

ShutdownMode = Literal["smart", "fast", "immediate"]
SettingValue = str | int | float | bool

# Settings of every primary (a replica inherits them through pg_basebackup).
PRIMARY_SETTINGS: Final[Mapping[str, SettingValue]] = {
    "listen_addresses": HOST,
    "wal_level": "replica",
    "max_wal_senders": 5,
    "wal_keep_size": "256MB",  # lets a stopped replica catch up again (fault tests)
    "hot_standby": True,
    "fsync": False,
    "synchronous_commit": False,
    "full_page_writes": False,
    "shared_buffers": "128MB",
    "max_connections": 200,
    # Parallel queries put dynamic shared memory in /dev/shm, which is 64 MB in a default
    # Docker container; files in the data directory cannot run out that way.
    "dynamic_shared_memory_type": "mmap",
    "timezone": "UTC",
    "log_timezone": "UTC",
}

PG_HBA: Final = """\
# Written by tests/harness/postgres.py: a throwaway test cluster, everything trusted.
local   all          all                 trust
local   replication  all                 trust
host    all          all   127.0.0.1/32  trust
host    replication  all   127.0.0.1/32  trust
"""


class HarnessError(RuntimeError):
    """A throwaway cluster could not be created, started, queried or stopped."""


class PostgresUnavailable(HarnessError):
    """No usable PostgreSQL server binaries on this machine (a reason to skip, not a bug)."""


# --------------------------------------------------------------------------- binaries


@dataclass(frozen=True)
class PgBinaries:
    """A directory holding ``initdb``, ``pg_ctl``, ``postgres`` and ``pg_basebackup``."""

    bindir: Path
    source: Literal["env", "pg_config", "system", "pgserver"]

    def tool(self, name: str) -> Path:
        return self.bindir / name

    @property
    def version(self) -> str:
        """``postgres --version`` output, e.g. ``postgres (PostgreSQL) 16.2``."""
        return _postgres_version(self.bindir)


@functools.cache
def _postgres_version(bindir: Path) -> str:
    proc = _run([bindir / "postgres", "--version"], cwd=Path("/"), as_server_user=False)
    return proc.stdout.strip()


def _missing_tools(bindir: Path) -> list[str]:
    return [t for t in _REQUIRED_TOOLS if not os.access(bindir / t, os.X_OK)]


def _version_key(path: Path) -> tuple[int, ...]:
    # /usr/lib/postgresql/<version>/bin -> numeric sort, so 16 beats 9.6.
    return tuple(int(part) for part in re.findall(r"\d+", path.parent.name)) or (-1,)


def _system_candidates() -> list[tuple[Path, Literal["pg_config", "system"]]]:
    found: list[tuple[Path, Literal["pg_config", "system"]]] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            proc = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True)
            found.append((Path(proc.stdout.strip()), "pg_config"))
    versioned = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key, reverse=True)
    found.extend((path, "system") for path in versioned)
    return found


def _pgserver_bindir() -> Path | None:
    try:
        import pgserver  # the "embedded" extra
    except ImportError:
        return None
    return Path(pgserver.__file__).parent / "pginstall" / "bin"


@functools.cache
def find_binaries() -> PgBinaries:
    """The server binaries to use (see the module docstring); raises :class:`PostgresUnavailable`."""
    override = os.environ.get(BINDIR_ENV)
    if override:
        bindir = Path(override).resolve()
        missing = _missing_tools(bindir)
        if missing:
            msg = f"{BINDIR_ENV}={override} lacks executable {', '.join(missing)}"
            raise HarnessError(msg)  # a misconfiguration, not a reason to skip
        return PgBinaries(bindir, "env")
    for bindir, source in _system_candidates():
        if not _missing_tools(bindir):
            return PgBinaries(bindir.resolve(), source)
    bundled = _pgserver_bindir()
    if bundled is not None and not _missing_tools(bundled):
        return PgBinaries(bundled.resolve(), "pgserver")
    msg = (
        "no PostgreSQL server binaries: install the system packages (initdb, pg_ctl, pg_basebackup), "
        f"the pgserver wheel (uv sync --extra embedded), or set {BINDIR_ENV}"
    )
    raise PostgresUnavailable(msg)


# --------------------------------------------------------------------------- running as a server user


@dataclass(frozen=True)
class ServerUser:
    """The unprivileged account that runs the server commands when we are root."""

    name: str
    uid: int
    gid: int
    groups: frozenset[int]


@functools.cache
def server_user() -> ServerUser | None:
    """``None`` when not root (commands run as ourselves); else ``postgres`` or ``pgserver``."""
    if os.geteuid() != 0:
        return None
    for name in (SUPERUSER, _FALLBACK_USER):
        with contextlib.suppress(KeyError):
            entry = pwd.getpwnam(name)
            break
    else:
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        proc = subprocess.run(
            [useradd, "--system", "--no-create-home", _FALLBACK_USER], capture_output=True, text=True, check=False
        )
        if proc.returncode not in (0, 9):  # 9: the user appeared meanwhile
            msg = f"running as root and could not create user {_FALLBACK_USER!r} for the server: {proc.stderr.strip()}"
            raise HarnessError(msg)
        entry = pwd.getpwnam(_FALLBACK_USER)
    groups = frozenset(os.getgrouplist(entry.pw_name, entry.pw_gid))
    return ServerUser(entry.pw_name, entry.pw_uid, entry.pw_gid, groups)


def _can_traverse(path: Path, user: ServerUser) -> bool:
    st = path.stat()
    if st.st_uid == user.uid:
        return bool(st.st_mode & stat.S_IXUSR)
    if st.st_gid in user.groups:
        return bool(st.st_mode & stat.S_IXGRP)
    return bool(st.st_mode & stat.S_IXOTH)


def _require_reachable(path: Path, user: ServerUser, what: str) -> None:
    """Fail early and clearly when ``user`` cannot reach ``path`` (e.g. a venv under /root)."""
    for directory in (path, *path.parents):
        if not _can_traverse(directory, user):
            msg = (
                f"{what} {path} is not reachable by the server user {user.name!r}: "
                f"{directory} is not traversable (mode {stat.filemode(directory.stat().st_mode)}); "
                f"use another TMPDIR or {BINDIR_ENV}"
            )
            raise HarnessError(msg)


def _server_env() -> dict[str, str]:
    # PGHOST, PGPORT, PGDATA, PGUSER, PGOPTIONS… of the caller must not leak into our servers.
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}


def _run(
    argv: Sequence[str | Path],
    *,
    cwd: Path,
    as_server_user: bool = True,
    check: bool = True,
    timeout: float = _COMMAND_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """Run a command (as the server user when we are root) and capture its output."""
    args = [str(a) for a in argv]
    user = server_user() if as_server_user else None
    kwargs: dict[str, Any] = {}
    if user is not None:
        runuser = shutil.which("runuser") or next(
            (p for p in ("/usr/sbin/runuser", "/sbin/runuser") if os.access(p, os.X_OK)), None
        )
        if runuser is not None:
            args = [runuser, "-u", user.name, "--", *args]
        else:  # no util-linux: let Python switch the user
            kwargs = {"user": user.uid, "group": user.gid, "extra_groups": sorted(user.groups)}
    try:
        proc = subprocess.run(
            args,
            cwd=cwd,
            env=_server_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            **kwargs,
        )
    except subprocess.TimeoutExpired as exc:
        msg = f"timed out after {timeout:.0f}s: {' '.join(args)}"
        raise HarnessError(msg) from exc
    if check and proc.returncode != 0:
        msg = f"exit {proc.returncode}: {' '.join(args)}\n{proc.stdout}{proc.stderr}".rstrip()
        raise HarnessError(msg)
    return proc


# --------------------------------------------------------------------------- helpers


_handed_out_ports: set[int] = set()
_port_lock = threading.Lock()


def free_port(host: str = HOST) -> int:
    """A TCP port that is free right now (and not handed out before by this process)."""
    with _port_lock:
        for _ in range(50):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind((host, 0))
                port = int(sock.getsockname()[1])
            if port not in _handed_out_ports:
                _handed_out_ports.add(port)
                return port
    msg = "could not find a free TCP port"
    raise HarnessError(msg)


def _conf_value(value: SettingValue) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, int | float):
        return str(value)
    return "'" + value.replace("'", "''") + "'"


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _tail(path: Path, lines: int = _LOG_TAIL_LINES, *, offset: int = 0) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except OSError as exc:
        return f"(no log: {exc})"
    return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])


# --------------------------------------------------------------------------- clusters

_live: dict[int, PostgresCluster] = {}
_live_lock = threading.Lock()


@atexit.register
def _stop_all_clusters() -> None:
    """A crashed or interrupted test run must not leave servers behind."""
    with _live_lock:
        clusters = list(_live.values())
    for cluster in reversed(clusters):  # replicas (started later) first
        with contextlib.suppress(Exception):
            cluster.stop()


class PostgresCluster:
    """A throwaway cluster in its own temporary directory; this class makes a primary.

    :meth:`start` initialises the cluster on first use (``initdb``) and starts the server with
    ``pg_ctl``; :meth:`shutdown` stops the server but keeps the data (``start`` again later);
    :meth:`stop` stops it for good and removes the temporary directory.
    """

    role: Literal["primary", "replica"] = "primary"

    def __init__(
        self,
        name: str = "primary",
        *,
        binaries: PgBinaries | None = None,
        port: int | None = None,
        settings: Mapping[str, SettingValue] | None = None,
    ) -> None:
        self.name = name
        self.binaries = binaries or find_binaries()
        self.port = port or free_port()
        self._port_is_fixed = port is not None
        self.settings: dict[str, SettingValue] = dict(settings or {})
        self.tmp_dir: Path | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {self.role} 127.0.0.1:{self.port} {self.tmp_dir}>"

    # -- paths

    def _require_tmp_dir(self) -> Path:
        if self.tmp_dir is None:
            msg = f"cluster {self.name} has not been started"
            raise HarnessError(msg)
        return self.tmp_dir

    @property
    def data_dir(self) -> Path:
        return self._require_tmp_dir() / "data"

    @property
    def log_file(self) -> Path:
        """The server log (``pg_ctl -l``); kept until :meth:`stop`."""
        return self._require_tmp_dir() / f"{self.name}.log"

    @property
    def socket_dir(self) -> Path:
        return self._require_tmp_dir()

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        return _tail(self.log_file, lines)

    # -- connection strings

    def dsn(self, dbname: str = "postgres") -> str:
        """SQLAlchemy URL: ``postgresql+asyncpg://postgres@127.0.0.1:PORT/dbname``."""
        return f"postgresql+asyncpg://{SUPERUSER}@{HOST}:{self.port}/{dbname}"

    def plain_dsn(self, dbname: str = "postgres") -> str:
        """libpq/asyncpg URL: ``postgresql://postgres@127.0.0.1:PORT/dbname``."""
        return f"postgresql://{SUPERUSER}@{HOST}:{self.port}/{dbname}"

    # -- lifecycle

    @property
    def postmaster_pid(self) -> int | None:
        """The running postmaster's pid (from ``postmaster.pid``), or ``None``."""
        if self.tmp_dir is None:
            return None
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
            os.kill(pid, 0)
        except (OSError, ValueError):
            return None
        return pid

    @property
    def running(self) -> bool:
        return self.postmaster_pid is not None

    def start(self) -> None:
        """Create the cluster on first use, then start the server (no-op when running)."""
        if self.running:
            return
        created = self.tmp_dir is None
        if created:
            self.tmp_dir = self._make_tmp_dir()
            with _live_lock:
                _live[id(self)] = self
        try:
            if created:
                self._initialise()
                self._write_instance_settings()
            self._pg_ctl_start()
        except BaseException:
            if created:  # a half-made cluster is of no use to anybody
                self.stop()
            raise

    def shutdown(self, mode: ShutdownMode = "fast") -> None:
        """Stop the server, keep the data directory (:meth:`start` brings it back)."""
        if self.tmp_dir is None or not self.running:
            return
        proc = self._pg_ctl("-m", mode, "-w", "-t", str(START_TIMEOUT), "stop", check=False)
        pid = self.postmaster_pid
        if pid is not None:  # pg_ctl failed: do not leave an orphan server behind
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
            if not self._wait_for_exit(pid):
                msg = f"{self.name}: pg_ctl stop failed and pid {pid} survived SIGKILL\n{proc.stdout}{proc.stderr}"
                raise HarnessError(msg)

    def stop(self) -> None:
        """``pg_ctl -m immediate stop`` and remove the temporary directory. Idempotent."""
        if self.tmp_dir is None:
            return
        try:
            self.shutdown("immediate")
        finally:
            self._keep_log()
            shutil.rmtree(self.tmp_dir, ignore_errors=True)
            self.tmp_dir = None
            with _live_lock:
                _live.pop(id(self), None)

    # -- async SQL helpers (asyncpg, superuser, TCP)

    @contextlib.asynccontextmanager
    async def connection(self, dbname: str = "postgres", **kwargs: Any) -> AsyncIterator[asyncpg.Connection]:
        """``async with cluster.connection() as conn: ...`` — an asyncpg connection, closed after."""
        conn = await asyncpg.connect(host=HOST, port=self.port, user=SUPERUSER, database=dbname, ssl=False, **kwargs)
        try:
            yield conn
        finally:
            await conn.close()

    async def execute(self, sql: str, *args: Any, dbname: str = "postgres") -> str:
        async with self.connection(dbname) as conn:
            return str(await conn.execute(sql, *args))

    async def fetchval(self, sql: str, *args: Any, dbname: str = "postgres") -> Any:
        async with self.connection(dbname) as conn:
            return await conn.fetchval(sql, *args)

    async def create_database(self, name: str, template: str | None = None) -> None:
        """``CREATE DATABASE name [TEMPLATE template]`` (the template must have no connections)."""
        sql = f"CREATE DATABASE {_quote_ident(name)}"
        if template is not None:
            sql += f" TEMPLATE {_quote_ident(template)}"
        await self.execute(sql)

    async def drop_database(self, name: str) -> None:
        """``DROP DATABASE IF EXISTS name WITH (FORCE)``: open connections are terminated."""
        await self.execute(f"DROP DATABASE IF EXISTS {_quote_ident(name)} WITH (FORCE)")

    async def is_in_recovery(self) -> bool:
        """``pg_is_in_recovery()``: true on a standby."""
        return bool(await self.fetchval("SELECT pg_is_in_recovery()"))

    async def flush_wal(self) -> str:
        """Make everything committed so far durable and streamable; return the flushed LSN.

        The clusters run with ``synchronous_commit=off``, so a commit may sit in the WAL buffers
        for a while and ``pg_current_wal_lsn()`` may not cover it yet. A synchronous commit of a
        transaction that wrote WAL flushes the WAL up to its commit record, and so everything
        before it. (A transaction that merely has an xid writes no WAL and commits asynchronously,
        hence the transactional, table-free ``pg_logical_emit_message``; replay ignores it.)
        """
        async with self.connection() as conn:
            async with conn.transaction():
                await conn.execute("SET LOCAL synchronous_commit = on")
                await conn.execute("SELECT pg_logical_emit_message(true, 'rural24-harness', 'flush')")
            return str(await conn.fetchval("SELECT pg_current_wal_flush_lsn()::text"))

    # -- internals

    def _make_tmp_dir(self) -> Path:
        tmp = Path(tempfile.mkdtemp(prefix=f"rural24-pg-{self.name}-")).resolve()
        user = server_user()
        if user is not None:
            os.chown(tmp, user.uid, user.gid)
            try:
                _require_reachable(tmp, user, "the cluster directory")
                _require_reachable(self.binaries.bindir, user, "the PostgreSQL binaries in")
            except HarnessError:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
        tmp.chmod(0o700)
        return tmp

    def _run(self, argv: Sequence[str | Path], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        return _run(argv, cwd=self._require_tmp_dir(), check=check)

    def _pg_ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self._run([self.binaries.tool("pg_ctl"), "-D", self.data_dir, *args], check=check)

    def _initialise(self) -> None:
        """``initdb`` and the primary's configuration."""
        attempts: list[str] = []
        for locale in ("C.UTF-8", "C"):
            proc = self._run(
                [
                    self.binaries.tool("initdb"),
                    "-D",
                    self.data_dir,
                    "-A",
                    "trust",
                    "-U",
                    SUPERUSER,
                    "-E",
                    "UTF8",
                    f"--locale={locale}",
                    "--no-sync",
                ],
                check=False,
            )
            if proc.returncode == 0:
                break
            attempts.append(f"--locale={locale}: exit {proc.returncode}\n{proc.stdout}{proc.stderr}".rstrip())
            shutil.rmtree(self.data_dir, ignore_errors=True)
        else:
            msg = f"{self.name}: initdb failed ({self.binaries.bindir})\n" + "\n".join(attempts)
            raise HarnessError(msg)
        self._append_conf("postgresql.conf", {**PRIMARY_SETTINGS, **self.settings})
        (self.data_dir / "pg_hba.conf").write_text(PG_HBA)

    def _append_conf(self, filename: str, settings: Mapping[str, SettingValue]) -> None:
        # Appending keeps the file's owner (the server user) even when we are root; later lines win.
        lines = [f"{key} = {_conf_value(value)}" for key, value in settings.items()]
        with (self.data_dir / filename).open("a") as fh:
            fh.write(f"\n# tests/harness/postgres.py ({self.name})\n" + "\n".join(lines) + "\n")

    def _write_instance_settings(self) -> None:
        # postgresql.auto.conf is read last, so this overrides what a base backup copied over.
        self._append_conf(
            "postgresql.auto.conf",
            {"port": self.port, "unix_socket_directories": str(self.socket_dir), "listen_addresses": HOST},
        )

    def _pg_ctl_start(self) -> None:
        for attempt in range(3):
            offset = self.log_file.stat().st_size if self.log_file.exists() else 0
            proc = self._pg_ctl("-w", "-t", str(START_TIMEOUT), "-l", str(self.log_file), "start", check=False)
            if proc.returncode == 0:
                return
            log = _tail(self.log_file, offset=offset)
            if self.running:  # e.g. the -t timeout expired with the server still coming up
                self.shutdown("immediate")
            if not self._port_is_fixed and "already in use" in log and attempt < 2:
                self.port = free_port()  # somebody took our port meanwhile
                self._write_instance_settings()
                continue
            msg = (
                f"{self.role} {self.name} did not start on port {self.port} (pg_ctl exit {proc.returncode}, "
                f"{self.binaries.version} from {self.binaries.bindir})\n{proc.stdout}{proc.stderr}\n"
                f"--- last lines of {self.log_file} ---\n{log}"
            )
            raise HarnessError(msg)

    def _wait_for_exit(self, pid: int, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except OSError:
                return True
            time.sleep(POLL_INTERVAL)
        return False

    def _keep_log(self) -> None:
        keep = os.environ.get(KEEP_LOGS_ENV)
        if keep and self.log_file.exists():
            with contextlib.suppress(OSError):
                Path(keep).mkdir(parents=True, exist_ok=True)
                shutil.copyfile(self.log_file, Path(keep) / f"{self.name}-{os.getpid()}-{self.port}.log")


class ReplicaCluster(PostgresCluster):
    """A hot standby streaming from ``primary``, made with ``pg_basebackup -R -X stream``."""

    role: Literal["primary", "replica"] = "replica"

    def __init__(
        self,
        primary: PostgresCluster,
        name: str = "replica",
        *,
        port: int | None = None,
        settings: Mapping[str, SettingValue] | None = None,
    ) -> None:
        super().__init__(name, binaries=primary.binaries, port=port, settings=settings)
        self.primary = primary

    def _initialise(self) -> None:
        if not self.primary.running:
            msg = f"replica {self.name}: the primary {self.primary.name} is not running"
            raise HarnessError(msg)
        self._run(
            [
                self.binaries.tool("pg_basebackup"),
                "-h",
                HOST,
                "-p",
                str(self.primary.port),
                "-U",
                SUPERUSER,
                "-D",
                self.data_dir,
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
                "--no-sync",
                "-w",
            ]
        )
        self._append_conf("postgresql.auto.conf", {"hot_standby": True, **self.settings})

    async def replay_lsn(self) -> str | None:
        """``pg_last_wal_replay_lsn()``; ``None`` before anything was replayed."""
        value = await self.fetchval("SELECT pg_last_wal_replay_lsn()::text")
        return None if value is None else str(value)

    async def wait_for_replay(self, lsn: str, timeout: float = 30.0) -> None:
        """Poll until ``pg_last_wal_replay_lsn() >= lsn`` here; :class:`HarnessError` after ``timeout``."""
        deadline = time.monotonic() + timeout
        replayed: str | None = None
        async with self.connection() as conn:
            while True:
                row = await conn.fetchrow(
                    "SELECT pg_last_wal_replay_lsn()::text AS replayed,"
                    " coalesce(pg_last_wal_replay_lsn() >= $1::text::pg_lsn, false) AS done",
                    lsn,
                )
                assert row is not None
                replayed = row["replayed"]
                if row["done"]:
                    return
                if time.monotonic() >= deadline:
                    break
                await asyncio.sleep(POLL_INTERVAL)
        msg = (
            f"replica {self.name} (port {self.port}) has not replayed the primary's WAL up to {lsn} "
            f"within {timeout:.1f}s (replayed: {replayed}); is it streaming?\n"
            f"--- last lines of {self.log_file} ---\n{self.log_tail()}"
        )
        raise HarnessError(msg)

    async def wait_caught_up(self, timeout: float = 30.0) -> str:
        """Wait until everything committed on the primary so far is visible here; return that LSN."""
        lsn = await self.primary.flush_wal()
        await self.wait_for_replay(lsn, timeout)
        return lsn


@dataclass(frozen=True)
class ClusterPair:
    """A running primary and its streaming replica (what the ``pg_cluster`` fixture yields)."""

    primary: PostgresCluster
    replica: ReplicaCluster

    def stop(self) -> None:
        try:
            self.replica.stop()
        finally:
            self.primary.stop()


def start_primary_and_replica(binaries: PgBinaries | None = None) -> ClusterPair:
    """Start a primary, then a streaming replica of it; stops what started if anything fails."""
    primary = PostgresCluster("primary", binaries=binaries)
    primary.start()
    try:
        replica = ReplicaCluster(primary, "replica")
        replica.start()
    except BaseException:
        primary.stop()
        raise
    return ClusterPair(primary, replica)
