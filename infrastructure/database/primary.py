"""The write side: advanced-alchemy's config for the primary (sessions, services, migrations)."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Any

from advanced_alchemy.extensions.litestar import (
    AlembicAsyncConfig,
    AsyncSessionConfig,
    EngineConfig,
    SQLAlchemyAsyncConfig,
)
from sqlalchemy.pool import NullPool

import migrations
from infrastructure.database.urls import sqlalchemy_url
from infrastructure.settings import DatabaseSettings

MIGRATIONS_DIR = Path(migrations.__file__).resolve().parent
VERSION_TABLE = "alembic_version"


def _alembic_config() -> AlembicAsyncConfig:
    # script_config="" : no alembic.ini; everything is configured here and in migrations/env.py.
    return AlembicAsyncConfig(
        script_location=str(MIGRATIONS_DIR),
        script_config="",
        version_table_name=VERSION_TABLE,
        render_as_batch=False,
        compare_type=True,
    )


def _pooler_connect_args(settings: DatabaseSettings) -> dict[str, Any]:
    """Behind PgBouncer in transaction mode (``DATABASE_POOLER=transaction``), consecutive
    transactions of one connection may run on different server connections, and several clients
    share one: no statement cache (asyncpg's or SQLAlchemy's), and every prepared statement gets a
    unique name, so two clients never collide on ``__asyncpg_stmt_1__`` in one server session.
    A statement is prepared and run inside its transaction, which PgBouncer keeps on one server
    connection (SQLAlchemy's asyncpg dialect always opens one)."""
    if settings.pooler != "transaction":
        return {}
    return {
        "statement_cache_size": 0,
        "prepared_statement_cache_size": 0,
        "prepared_statement_name_func": _unique_statement_name,
    }


def _unique_statement_name() -> str:
    return f"__asyncpg_{uuid.uuid4().hex}__"


def primary_config(settings: DatabaseSettings, url: str) -> SQLAlchemyAsyncConfig:
    """advanced-alchemy's config for the write side: a pooled engine on the primary.

    Nothing commits on its own: a write commits in its unit of work (``infrastructure.unit_of_work``),
    and the plugin's default ``before_send`` handler closes the request's session (rolling back
    whatever no unit of work committed).
    """
    if settings.echo:
        logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO)
    return SQLAlchemyAsyncConfig(
        connection_string=sqlalchemy_url(url),
        engine_config=EngineConfig(
            pool_size=settings.pool_size,
            max_overflow=settings.pool_size,
            pool_timeout=max(1, round(settings.pool_timeout)),
            pool_pre_ping=True,
            pool_recycle=1800,
            # asyncpg's connect waits 60 s by default: a host that drops packets must become a
            # 503 (``rural24.errors``) as soon as a refused one does, like the read side's pools.
            connect_args={"timeout": min(settings.pool_timeout, 10.0), **_pooler_connect_args(settings)},
            # DB_ECHO: never SQLAlchemy's ``echo``, which adds a handler of its own (plain text,
            # each statement twice); its logger at INFO instead, through our one JSON chain
            echo=False,
            # statement values (emails, password hashes, message text) never reach an error's
            # text, and so never a log line or a CLI error
            hide_parameters=True,
        ),
        session_config=AsyncSessionConfig(expire_on_commit=False),
        alembic_config=_alembic_config(),
        create_all=False,
        # our problem+json handler maps repository errors (rural24.errors), not the plugin's
        set_default_exception_handler=False,
    )


def migration_config(url: str) -> SQLAlchemyAsyncConfig:
    """A pool-less config for Alembic: migrations run in their own event loop and must not share
    pooled connections with the application's loop."""
    return SQLAlchemyAsyncConfig(
        connection_string=sqlalchemy_url(url),
        engine_config=EngineConfig(poolclass=NullPool),
        alembic_config=_alembic_config(),
        create_all=False,
    )
