"""The ``provinces`` and ``categories`` tables (reference data)."""

from __future__ import annotations

from uuid import UUID

from advanced_alchemy.base import DefaultBase, UUIDv7AuditBase
from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column


class Province(DefaultBase):
    __tablename__ = "provinces"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    """A stable slug (``cordoba``, ``caba``): readable in URLs and filters."""
    iso_code: Mapped[str] = mapped_column(String(8), unique=True)
    """ISO 3166-2 (``AR-X``)."""
    name: Mapped[str] = mapped_column(String(80))


class Category(UUIDv7AuditBase):
    __tablename__ = "categories"
    __table_args__ = (
        # GET /api/categories: active categories in display order
        Index("ix_categories_active_order", "display_order", "name", postgresql_where=text("is_active")),
        # search by category: a parent's sub-categories
        Index("ix_categories_parent_id", "parent_id"),
    )

    slug: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    parent_id: Mapped[UUID | None] = mapped_column(ForeignKey("categories.id", ondelete="RESTRICT"), default=None)
    display_order: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
