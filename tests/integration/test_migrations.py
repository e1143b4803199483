"""Migrations on a real database: upgrade → downgrade → upgrade, models and migrations agree,
reference data loads idempotently."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from infrastructure.database.migrations import downgrade_schema, migrate, upgrade_schema

pytestmark = pytest.mark.postgres


async def _tables(url: str) -> set[str]:
    connection = await asyncpg.connect(url.replace("+asyncpg", ""))
    try:
        rows = await connection.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {row[0] for row in rows}
    finally:
        await connection.close()


async def _count(url: str, table: str) -> int:
    connection = await asyncpg.connect(url.replace("+asyncpg", ""))
    try:
        return int(await connection.fetchval(f"SELECT count(*) FROM {table}"))
    finally:
        await connection.close()


@pytest.fixture
async def empty_database(pg_cluster: Any) -> AsyncIterator[str]:
    name = f"m_{uuid.uuid4().hex[:12]}"
    await pg_cluster.primary.create_database(name)
    yield pg_cluster.primary.dsn(name)
    await pg_cluster.primary.drop_database(name)


async def test_upgrade_downgrade_upgrade(empty_database: str) -> None:
    expected = {
        "users",
        "provinces",
        "categories",
        "ads",
        "ad_images",
        "favorites",
        "reports",
        "saved_searches",
        "conversations",
        "messages",
    }
    await asyncio.to_thread(upgrade_schema, empty_database)
    assert expected <= await _tables(empty_database)
    await asyncio.to_thread(downgrade_schema, empty_database, "base")
    assert await _tables(empty_database) == {"alembic_version"}
    await asyncio.to_thread(upgrade_schema, empty_database)
    assert expected <= await _tables(empty_database)


async def test_migrate_twice_is_harmless(empty_database: str) -> None:
    first = await asyncio.to_thread(migrate, empty_database)
    second = await asyncio.to_thread(migrate, empty_database)
    assert first.provinces == second.provinces == 24
    assert first.categories == second.categories
    assert await _count(empty_database, "provinces") == 24
    assert await _count(empty_database, "categories") == first.categories


async def test_models_and_migrations_agree(empty_database: str) -> None:
    """Autogenerate against a migrated database finds nothing to do."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy.ext.asyncio import create_async_engine

    from domain.models import metadata

    await asyncio.to_thread(upgrade_schema, empty_database)
    engine = create_async_engine(empty_database)
    try:
        async with engine.connect() as connection:
            diff = await connection.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync, opts={"compare_type": True}), metadata)
            )
    finally:
        await engine.dispose()
    assert diff == []


async def test_search_document_folds_accents_and_stems(empty_database: str) -> None:
    await asyncio.to_thread(migrate, empty_database)
    connection = await asyncpg.connect(empty_database.replace("+asyncpg", ""))
    try:
        user = await connection.fetchval(
            "INSERT INTO users (id, email, password_hash, name, created_at, updated_at) "
            "VALUES (gen_random_uuid(), 'a@b.ar', 'x', 'Ana', now(), now()) RETURNING id"
        )
        category = await connection.fetchval("SELECT id FROM categories WHERE slug = 'tractores'")
        await connection.execute(
            "INSERT INTO ads (id, owner_id, category_id, title, description, province_code, locality, "
            "expires_at, created_at, updated_at) VALUES (gen_random_uuid(), $1, $2, 'Tractor Deutz en Córdoba', "
            "'Muy buen estado', 'cordoba', 'Marcos Juárez', now() + interval '30 days', now(), now())",
            user,
            category,
        )
        for words in ("cordoba", "Córdoba", "tractores", "TRACTOR", "juarez"):
            found = await connection.fetchval(
                "SELECT count(*) FROM ads WHERE search_document @@ "
                "plainto_tsquery('spanish', lower(translate($1, 'óÓáéíúÁÉÍÚ', 'oOaeiuAEIU')))",
                words,
            )
            assert found == 1, words
    finally:
        await connection.close()


async def test_autogenerate_leaves_the_queue_tables_alone(empty_database: str) -> None:
    """SAQ keeps its queue in the same database (stage 1): ``rural24 database check`` is clean and
    a generated migration would not drop ``saq_*`` (it would, without ``include_name``)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy.ext.asyncio import create_async_engine

    from domain.models import metadata
    from infrastructure.jobs import build_queue
    from infrastructure.settings import load_settings
    from migrations import include_name

    await asyncio.to_thread(upgrade_schema, empty_database)
    settings = load_settings({"APP_ENV": "test", "DATABASE_URL": empty_database, "JWT_SECRET": "x" * 48})
    queue = build_queue(settings, empty_database)
    await queue.connect()  # creates saq_jobs, saq_stats, saq_versions
    await queue.disconnect()
    assert {"saq_jobs", "saq_versions"} <= await _tables(empty_database)

    engine = create_async_engine(empty_database)
    try:
        async with engine.connect() as connection:
            unfiltered = await connection.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync, opts={"compare_type": True}), metadata)
            )
            filtered = await connection.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"compare_type": True, "include_name": include_name}),
                    metadata,
                )
            )
    finally:
        await engine.dispose()
    assert any(change[0] == "remove_table" for change in unfiltered)  # what the hook prevents
    assert filtered == []

    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS", "DATABASE", "APP_"))}
    env |= {"APP_ENV": "test", "DATABASE_URL": empty_database, "JWT_SECRET": "x" * 48}
    check = subprocess.run(
        [str(Path(sys.executable).parent / "rural24"), "database", "check"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
