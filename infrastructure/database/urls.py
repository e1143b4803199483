"""One database URL, spelled for each client that needs it."""

from __future__ import annotations

_PREFIXES = ("postgresql+asyncpg://", "postgresql://", "postgres://")


def _rest(url: str) -> str:
    for prefix in _PREFIXES:
        if url.startswith(prefix):
            return url[len(prefix) :]
    msg = f"not a PostgreSQL URL: {redact(url)}"
    raise ValueError(msg)


def sqlalchemy_url(url: str) -> str:
    """``postgres://…`` (Render) or ``postgresql://…`` → ``postgresql+asyncpg://…``."""
    return "postgresql+asyncpg://" + _rest(url)


def asyncpg_dsn(url: str) -> str:
    """Any of our spellings → the plain ``postgresql://…`` DSN asyncpg and libpq take."""
    return "postgresql://" + _rest(url)


def redact(url: str) -> str:
    """The URL with its password hidden, for logs and error messages."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    credentials, at, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***{at}{host}" if ":" in credentials else url
