"""Read side of the catalog: queries, read models and their handlers (SQL straight into Structs)."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.shared.ports import ReadConnection
from domain.shared.structs import CamelStruct, ReadModel


class ListCategories(CamelStruct):
    """The active category tree, in display order."""


class ListProvinces(CamelStruct):
    """The 24 Argentine jurisdictions."""


class CategoryRead(ReadModel):
    id: UUID
    slug: str
    name: str
    parent_id: UUID | None
    display_order: int


class ProvinceRead(ReadModel):
    code: str
    """A stable slug (``cordoba``, ``caba``): the value the ``province`` filters take."""
    name: str


# Tree order: each root (by display order) followed by its children (by display order), so a
# client can render the list as it comes. A child of an inactive parent is hidden too.
_CATEGORIES_SQL = """
SELECT c.id, c.slug, c.name, c.parent_id, c.display_order
FROM categories c
LEFT JOIN categories p ON p.id = c.parent_id
WHERE c.is_active AND (p.id IS NULL OR p.is_active)
ORDER BY COALESCE(p.display_order, c.display_order), COALESCE(p.slug, c.slug),
         c.parent_id NULLS FIRST, c.display_order, c.name
"""

_PROVINCES_SQL = "SELECT code, name FROM provinces ORDER BY name"


async def list_categories(query: ListCategories, db: ReadConnection) -> list[CategoryRead]:
    rows = await db.fetch(_CATEGORIES_SQL)
    return [CategoryRead(row[0], row[1], row[2], row[3], row[4]) for row in rows]


async def active_categories(session: AsyncSession) -> list[CategoryRead]:
    """:func:`list_categories` inside a write's transaction (a handler checking categories)."""
    rows = (await session.execute(text(_CATEGORIES_SQL))).all()
    return [CategoryRead(row[0], row[1], row[2], row[3], row[4]) for row in rows]


async def list_provinces(query: ListProvinces, db: ReadConnection) -> list[ProvinceRead]:
    rows = await db.fetch(_PROVINCES_SQL)
    return [ProvinceRead(row[0], row[1]) for row in rows]
