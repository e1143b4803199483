"""The embedded development PostgreSQL: the ``pgserver`` wheel bundles the server binaries.

With no ``DATABASE_URL`` outside production the app starts its own server, keeps the data in a
project-local folder (``.data/postgres``, git-ignored), reuses it on the next start and stops it
when the last process using it exits (pgserver counts the processes holding it).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

DATABASE_NAME = "rural24"

_servers: dict[Path, Any] = {}


class EmbeddedDatabaseUnavailable(RuntimeError):
    """The pgserver wheel is missing or the server did not start."""


def start_embedded_postgres(data_dir: Path) -> str:
    """Start (or join) the embedded server; return a URL to the ``rural24`` database."""
    try:
        from pgserver.postgres_server import get_server  # the "embedded" extra; not in production images
    except ImportError as exc:  # pragma: no cover - depends on the install
        msg = "DATABASE_URL is unset and the embedded PostgreSQL is not installed (pip install 'rural24[embedded]')"
        raise EmbeddedDatabaseUnavailable(msg) from exc

    data_dir = data_dir.resolve()
    server = _servers.get(data_dir)
    if server is None:
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        reused = (data_dir / "PG_VERSION").exists()
        try:
            # cleanup_mode="stop": pgserver stops the server once no process holds it any more.
            server = get_server(data_dir, cleanup_mode="stop")
        except Exception as exc:
            msg = f"the embedded PostgreSQL did not start in {data_dir}: {exc}"
            raise EmbeddedDatabaseUnavailable(msg) from exc
        _servers[data_dir] = server
        logger.info("embedded PostgreSQL %s in %s", "reused" if reused else "created", data_dir)
        exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';")
        if "(1 row)" not in exists:
            server.psql(f"CREATE DATABASE {DATABASE_NAME};")
    socket_dir = Path(str(server.get_postmaster_info().socket_dir))
    return f"postgresql+asyncpg://postgres@/{DATABASE_NAME}?host={socket_dir}"


def ensure_primary(url: str | None, data_dir: Path, *, allow_embedded: bool) -> str:
    """The primary's URL: ``DATABASE_URL`` as it is; without one (not in production), *starts* the
    embedded PostgreSQL, migrates it, loads the reference data, and returns its URL."""
    if url is not None:
        return url
    if not allow_embedded:
        msg = "DATABASE_URL is required when APP_ENV=production"
        raise EmbeddedDatabaseUnavailable(msg)
    embedded_url = start_embedded_postgres(data_dir)
    from infrastructure.database.migrations import migrate  # migrations import the domain: only when needed

    migrate(embedded_url)
    return embedded_url
