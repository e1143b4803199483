"""Loading the reference data (provinces, categories) into the database: part of a deployment,
not a command of the marketplace (nobody changes the catalog through the API).

``rural24 migrate`` and the development start-up call :func:`load_reference_data` inside
``async with engine.begin() as connection`` after every migration, so it must be idempotent and
cheap when nothing changed: it upserts, and an unchanged row is neither rewritten nor re-stamped.
"""

from __future__ import annotations

import msgspec
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.catalog.reference import CATEGORIES, PROVINCES


class ReferenceDataLoaded(msgspec.Struct, frozen=True, kw_only=True):
    provinces: int
    """Provinces in the reference set (all present after the load)."""
    categories: int
    """Categories in the reference set (all present after the load)."""
    provinces_changed: int = 0
    """Of those, rows inserted or updated by this load (0 when the database was already current)."""
    categories_changed: int = 0


# One statement per table: the rows travel as parallel arrays and ``unnest`` turns them back into
# rows, so a reload is two round trips whatever the size of the tree. ``WHERE … IS DISTINCT FROM``
# skips unchanged rows: no dead tuples, no moved ``updated_at``, and ``RETURNING`` counts changes.
_UPSERT_PROVINCES = text(
    """
    INSERT INTO provinces (code, iso_code, name)
    SELECT * FROM unnest(CAST(:codes AS varchar[]), CAST(:iso_codes AS varchar[]), CAST(:names AS varchar[]))
    ON CONFLICT (code) DO UPDATE
       SET iso_code = EXCLUDED.iso_code,
           name = EXCLUDED.name
     WHERE provinces.iso_code IS DISTINCT FROM EXCLUDED.iso_code
        OR provinces.name IS DISTINCT FROM EXCLUDED.name
    RETURNING code
    """
)

# created_at and updated_at have no server default: the insert stamps both with the transaction's
# now(); an update moves updated_at only (created_at keeps the first load's instant).
# Parents and children go in one statement: PostgreSQL checks the parent_id foreign key at the end
# of the statement, so the order of the rows within it does not matter.
_UPSERT_CATEGORIES = text(
    """
    INSERT INTO categories (id, slug, name, parent_id, display_order, is_active, created_at, updated_at)
    SELECT id, slug, name, parent_id, display_order, is_active, now(), now()
      FROM unnest(
               CAST(:ids AS uuid[]),
               CAST(:slugs AS varchar[]),
               CAST(:names AS varchar[]),
               CAST(:parent_ids AS uuid[]),
               CAST(:display_orders AS integer[]),
               CAST(:is_actives AS boolean[])
           ) AS r(id, slug, name, parent_id, display_order, is_active)
    ON CONFLICT (id) DO UPDATE
       SET slug = EXCLUDED.slug,
           name = EXCLUDED.name,
           parent_id = EXCLUDED.parent_id,
           display_order = EXCLUDED.display_order,
           is_active = EXCLUDED.is_active,
           updated_at = now()
     WHERE categories.slug IS DISTINCT FROM EXCLUDED.slug
        OR categories.name IS DISTINCT FROM EXCLUDED.name
        OR categories.parent_id IS DISTINCT FROM EXCLUDED.parent_id
        OR categories.display_order IS DISTINCT FROM EXCLUDED.display_order
        OR categories.is_active IS DISTINCT FROM EXCLUDED.is_active
    RETURNING id
    """
)


async def load_reference_data(connection: AsyncConnection) -> ReferenceDataLoaded:
    """Insert or update the 24 provinces and the category tree; safe to run any number of times.

    Runs in the caller's transaction (it does not commit). The reference tree is the source of
    truth for its categories, ``is_active`` included. A category no longer in the tree is left
    alone: deleting it could strand its ads.
    """
    provinces = await connection.execute(
        _UPSERT_PROVINCES,
        {
            "codes": [p.code for p in PROVINCES],
            "iso_codes": [p.iso_code for p in PROVINCES],
            "names": [p.name for p in PROVINCES],
        },
    )
    provinces_changed = len(provinces.all())
    categories = await connection.execute(
        _UPSERT_CATEGORIES,
        {
            "ids": [c.id for c in CATEGORIES],
            "slugs": [c.slug for c in CATEGORIES],
            "names": [c.name for c in CATEGORIES],
            "parent_ids": [c.parent_id for c in CATEGORIES],
            "display_orders": [c.display_order for c in CATEGORIES],
            "is_actives": [c.is_active for c in CATEGORIES],
        },
    )
    categories_changed = len(categories.all())
    return ReferenceDataLoaded(
        provinces=len(PROVINCES),
        categories=len(CATEGORIES),
        provinces_changed=provinces_changed,
        categories_changed=categories_changed,
    )
