"""Alembic migrations (advanced-alchemy). Shipped inside the wheel so ``rural24 migrate`` finds
them wherever the package is installed."""

from __future__ import annotations

from collections.abc import Mapping

FOREIGN_TABLE_PREFIXES = ("saq_",)
"""Tables other tools keep in the same database: SAQ's queue on PostgreSQL (``saq_jobs``,
``saq_stats``, ``saq_versions``). Not in our metadata, so autogenerate would drop them."""


def include_name(name: str | None, type_: str, parent_names: Mapping[str, str | None]) -> bool:
    """Alembic's ``include_name`` hook: everything but the foreign tables."""
    return not (type_ == "table" and name is not None and name.startswith(FOREIGN_TABLE_PREFIXES))
