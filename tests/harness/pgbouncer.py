"""A throwaway PgBouncer (Debian's ``pgbouncer``) in transaction mode in front of a test cluster.

Every database name is forwarded (``* = host=… port=…``), so one bouncer serves every copy of
the template database the tests make. ``trust`` authentication, like the clusters; under root it
runs as the clusters' server user (PgBouncer refuses to run as root). ``default_pool_size`` is
small on purpose: clients outnumber server connections, so consecutive transactions of one
client land on different server sessions and several clients share each one, which is what
breaks code that relies on session state (prepared statements, ``SET``, ``LISTEN``).

Typical use::

    bouncer = PgBouncer(primary.port)
    bouncer.start()
    url = bouncer.dsn("rural24")  # postgresql+asyncpg://postgres@127.0.0.1:PORT/rural24
    ...
    bouncer.stats()["rural24"]["total_xact_count"]
    bouncer.stop()
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
import time
from pathlib import Path

from tests.harness.postgres import HOST, SUPERUSER, HarnessError, PostgresUnavailable, free_port, server_user

__all__ = ["PgBouncer", "PgBouncerUnavailable"]

_RUNNING: set[PgBouncer] = set()


class PgBouncerUnavailable(PostgresUnavailable):
    """No ``pgbouncer`` binary (Debian: ``apt-get install pgbouncer``)."""


def _binary() -> str:
    found = shutil.which("pgbouncer") or next(
        (p for p in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer") if os.access(p, os.X_OK)), None
    )
    if found is None:
        msg = "pgbouncer is not installed (apt-get install pgbouncer)"
        raise PgBouncerUnavailable(msg)
    return found


class PgBouncer:
    def __init__(self, upstream_port: int, *, pool_size: int = 3, max_clients: int = 400) -> None:
        self.upstream_port = upstream_port
        self.pool_size = pool_size
        self.max_clients = max_clients
        self.port = free_port()
        self._dir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None

    def dsn(self, dbname: str) -> str:
        return f"postgresql+asyncpg://{SUPERUSER}@{HOST}:{self.port}/{dbname}"

    @property
    def log_file(self) -> Path:
        assert self._dir is not None
        return self._dir / "pgbouncer.log"

    def _config(self, directory: Path) -> str:
        return "\n".join(
            [
                "[databases]",
                f"* = host={HOST} port={self.upstream_port}",
                "[pgbouncer]",
                f"listen_addr = {HOST}",
                f"listen_port = {self.port}",
                "unix_socket_dir =",
                "auth_type = trust",
                f"auth_file = {directory / 'userlist.txt'}",
                f"admin_users = {SUPERUSER}",
                "pool_mode = transaction",
                f"default_pool_size = {self.pool_size}",
                "min_pool_size = 0",
                "reserve_pool_size = 0",
                f"max_client_conn = {self.max_clients}",
                "server_reset_query =",  # transaction mode: no reset between clients
                f"logfile = {directory / 'pgbouncer.log'}",
                "log_connections = 0",
                "log_disconnections = 0",
                "",
            ]
        )

    def start(self, timeout: float = 15.0) -> None:
        binary = _binary()
        directory = Path(tempfile.mkdtemp(prefix="rural24-pgbouncer-"))
        self._dir = directory
        (directory / "userlist.txt").write_text(f'"{SUPERUSER}" ""\n')
        (directory / "pgbouncer.ini").write_text(self._config(directory))
        argv = [binary, str(directory / "pgbouncer.ini")]
        user = server_user()
        if user is not None:  # root: PgBouncer refuses to run as root
            os.chmod(directory, 0o755)
            for path in (directory, *directory.iterdir()):
                os.chown(path, user.uid, user.gid)
            runuser = shutil.which("runuser") or "/usr/sbin/runuser"
            argv = [runuser, "-u", user.name, "--", *argv]
        self._process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        _RUNNING.add(self)
        deadline = time.monotonic() + timeout
        while True:
            if self._process.poll() is not None:
                msg = f"pgbouncer exited with {self._process.returncode}:\n{self._log_tail()}"
                self.stop()
                raise HarnessError(msg)
            try:
                with socket.create_connection((HOST, self.port), timeout=0.5):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    msg = f"pgbouncer did not listen on {HOST}:{self.port} within {timeout:.0f} s:\n{self._log_tail()}"
                    self.stop()
                    raise HarnessError(msg) from None
                time.sleep(0.05)  # polling the port, bounded by the deadline

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def show(self, what: str) -> list[dict[str, str]]:
        """``SHOW <what>`` on the admin console (simple protocol only: psql, not asyncpg)."""
        psql = shutil.which("psql")
        if psql is None:
            msg = "psql is needed to read PgBouncer's admin console"
            raise HarnessError(msg)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        connect = ["-h", HOST, "-p", str(self.port), "-U", SUPERUSER, "-d", "pgbouncer"]
        proc = subprocess.run(
            [psql, *connect, "-A", "-F", "\t", "-P", "footer=off", "-c", f"SHOW {what}"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
            env=env,
        )
        if proc.returncode != 0:
            msg = f"SHOW {what} failed: {proc.stderr.strip()}"
            raise HarnessError(msg)
        header, *rows = proc.stdout.splitlines()
        names = header.split("\t")
        return [dict(zip(names, row.split("\t"), strict=False)) for row in rows]

    def stats(self) -> dict[str, dict[str, str]]:
        """``SHOW STATS`` by database name."""
        return {row["database"]: row for row in self.show("STATS")}

    def stop(self) -> None:
        _RUNNING.discard(self)
        if self._process is not None and self._process.poll() is None:
            # the whole group: under root the child of runuser is the bouncer itself
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGTERM)
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait(timeout=10)
        self._process = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None


@atexit.register
def _stop_all() -> None:
    for bouncer in list(_RUNNING):
        bouncer.stop()
