"""Apply the schema and the reference data: what ``rural24 migrate`` and the dev start-up run."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import TypeVar

from advanced_alchemy.alembic.commands import AlembicCommands
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from domain.catalog.reference_load import ReferenceDataLoaded, load_reference_data
from infrastructure.database.primary import migration_config
from infrastructure.database.urls import sqlalchemy_url

logger = logging.getLogger(__name__)
_T = TypeVar("_T")


def _in_own_thread(work: Callable[[], _T]) -> _T:
    """Alembic's env.py (and our loader) call ``asyncio.run``: give them a thread with no running
    loop, so the same functions serve the CLI, the dev start-up and async tests."""
    results: list[_T] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(work())
        except BaseException as exc:  # re-raised in the caller's thread
            errors.append(exc)

    thread = threading.Thread(target=run, name="migrations")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return results[0]


def upgrade_schema(url: str, revision: str = "head") -> None:
    _in_own_thread(lambda: AlembicCommands(sqlalchemy_config=migration_config(url)).upgrade(revision))


def downgrade_schema(url: str, revision: str) -> None:
    _in_own_thread(lambda: AlembicCommands(sqlalchemy_config=migration_config(url)).downgrade(revision))


async def _load_reference(url: str) -> ReferenceDataLoaded:
    engine = create_async_engine(sqlalchemy_url(url), poolclass=NullPool)
    try:
        async with engine.begin() as connection:
            return await load_reference_data(connection)
    finally:
        await engine.dispose()


def migrate(url: str) -> ReferenceDataLoaded:
    """Schema to head, then the provinces and categories; safe to run any number of times."""
    upgrade_schema(url)
    loaded = _in_own_thread(lambda: asyncio.run(_load_reference(url)))
    logger.info("migrated: %d provinces, %d categories", loaded.provinces, loaded.categories)
    return loaded
