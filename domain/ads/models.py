"""The ``ads`` table and what hangs from it: images, favorites, reports, saved searches."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from advanced_alchemy.base import DefaultBase, UUIDv7AuditBase
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from domain.ads.rules import LIVE_AD_SQL
from domain.ads.vocabulary import (
    AD_STATUSES,
    ALERT_FREQUENCIES,
    CONDITIONS,
    CURRENCIES,
    IMAGE_STATUSES,
    REPORT_REASONS,
)
from domain.shared.text import sql_fold

# Spanish stemming on accent-folded text: "Córdoba" and "cordoba", "tractores" and "Tractor" meet.
SEARCH_DOCUMENT = (
    f"setweight(to_tsvector('spanish'::regconfig, {sql_fold('title')}), 'A') || "
    f"setweight(to_tsvector('spanish'::regconfig, {sql_fold('locality')}), 'B') || "
    f"setweight(to_tsvector('spanish'::regconfig, {sql_fold('description')}), 'C')"
)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Ad(UUIDv7AuditBase):
    __tablename__ = "ads"
    # The ix_ads_live_* indexes are partial on LIVE_AD_SQL: the part of the public-ad rule
    # (domain.ads.rules) an index can hold.
    __table_args__ = (
        CheckConstraint(_in("status", AD_STATUSES), name="status_known"),
        CheckConstraint(_in("currency", CURRENCIES), name="currency_known"),
        CheckConstraint(f"condition IS NULL OR {_in('condition', CONDITIONS)}", name="condition_known"),
        CheckConstraint("price IS NULL OR price >= 0", name="price_not_negative"),
        # search, sort=recent, no filter: featured first, then newest
        Index(
            "ix_ads_live_recent",
            text("is_featured DESC"),
            text("created_at DESC"),
            text("id DESC"),
            postgresql_where=text(LIVE_AD_SQL),
        ),
        # search by category (and its sub-categories), sort=recent
        Index(
            "ix_ads_live_category_recent",
            "category_id",
            text("is_featured DESC"),
            text("created_at DESC"),
            text("id DESC"),
            postgresql_where=text(LIVE_AD_SQL),
        ),
        # search by province, sort=recent
        Index(
            "ix_ads_live_province_recent",
            "province_code",
            text("is_featured DESC"),
            text("created_at DESC"),
            text("id DESC"),
            postgresql_where=text(LIVE_AD_SQL),
        ),
        # search by category and province together, sort=recent (the commonest filter pair)
        Index(
            "ix_ads_live_category_province_recent",
            "category_id",
            "province_code",
            text("is_featured DESC"),
            text("created_at DESC"),
            text("id DESC"),
            postgresql_where=text(LIVE_AD_SQL),
        ),
        # search without category or province, sort=price_asc; a currency (a third of the live ads
        # or more) and minPrice/maxPrice are a filter and a range on it
        Index("ix_ads_live_price", "price", "id", postgresql_where=text(LIVE_AD_SQL)),
        # the same, sort=price_desc: "a convenir" (NULL) last, which a backward scan cannot give
        Index(
            "ix_ads_live_price_desc",
            text("price DESC NULLS LAST"),
            text("id DESC"),
            postgresql_where=text(LIVE_AD_SQL),
        ),
        # search by category (a leaf, or each sub-category of a parent: one range each),
        # sort=price_asc/price_desc; a currency, condition or price floor is a filter or a range on it
        Index("ix_ads_live_category_price", "category_id", "price", "id", postgresql_where=text(LIVE_AD_SQL)),
        Index(
            "ix_ads_live_category_price_desc",
            "category_id",
            text("price DESC NULLS LAST"),
            text("id DESC"),
            postgresql_where=text(LIVE_AD_SQL),
        ),
        # search by province, sort=price_asc/price_desc
        Index("ix_ads_live_province_price", "province_code", "price", "id", postgresql_where=text(LIVE_AD_SQL)),
        Index(
            "ix_ads_live_province_price_desc",
            "province_code",
            text("price DESC NULLS LAST"),
            text("id DESC"),
            postgresql_where=text(LIVE_AD_SQL),
        ),
        # search by category and province together, sort=price_asc/price_desc
        Index(
            "ix_ads_live_category_province_price",
            "category_id",
            "province_code",
            "price",
            "id",
            postgresql_where=text(LIVE_AD_SQL),
        ),
        Index(
            "ix_ads_live_category_province_price_desc",
            "category_id",
            "province_code",
            text("price DESC NULLS LAST"),
            text("id DESC"),
            postgresql_where=text(LIVE_AD_SQL),
        ),
        # search with q: Spanish full text over title, locality and description
        Index(
            "ix_ads_live_search_document",
            "search_document",
            postgresql_using="gin",
            postgresql_where=text(LIVE_AD_SQL),
        ),
        # GET /api/me/ads and a seller's public profile: one owner's ads, newest first
        Index("ix_ads_owner_created", "owner_id", text("created_at DESC")),
        # the expiry job: active ads by expiry date
        Index(
            "ix_ads_active_expires_at",
            "expires_at",
            postgresql_where=text("status = 'active' AND deleted_at IS NULL"),
        ),
    )

    owner_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    category_id: Mapped[UUID] = mapped_column(ForeignKey("categories.id", ondelete="RESTRICT"))
    title: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="", server_default=text("''"))
    price: Mapped[Decimal | None] = mapped_column(Numeric(15, 2), default=None)
    """A decimal amount in ``currency``; ``None`` means "a convenir" (price on request)."""
    currency: Mapped[str] = mapped_column(String(3), default="ARS", server_default=text("'ARS'"))
    province_code: Mapped[str] = mapped_column(ForeignKey("provinces.code", ondelete="RESTRICT"))
    locality: Mapped[str] = mapped_column(String(120))
    condition: Mapped[str | None] = mapped_column(String(8), default=None)
    status: Mapped[str] = mapped_column(String(16), default="active", server_default=text("'active'"))
    is_featured: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    expires_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True))
    expiry_warned_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    suspended_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    revision: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))
    """Bumped by every change; the ``ETag`` and ``If-Match`` compare it."""
    search_document: Mapped[Any] = mapped_column(TSVECTOR, Computed(SEARCH_DOCUMENT, persisted=True))


class AdImage(UUIDv7AuditBase):
    __tablename__ = "ad_images"
    __table_args__ = (
        CheckConstraint(_in("status", IMAGE_STATUSES), name="status_known"),
        # ad detail: an ad's images in order; the upload limit counts them
        Index("ix_ad_images_ad_position", "ad_id", "position"),
    )

    ad_id: Mapped[UUID] = mapped_column(ForeignKey("ads.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="processing", server_default=text("'processing'"))
    original_key: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(32))
    byte_size: Mapped[int] = mapped_column(BigInteger)
    sizes: Mapped[dict[str, str]] = mapped_column(JSONB, default=dict, server_default=text("'{}'::jsonb"))
    """Width → media key of each optimized WebP, filled by the image job."""
    error: Mapped[str | None] = mapped_column(String(255), default=None)


class Favorite(DefaultBase):
    __tablename__ = "favorites"
    __table_args__ = (
        # GET /api/me/favorites: a user's saved ads, newest first (the primary key serves lookups)
        Index("ix_favorites_user_created", "user_id", text("created_at DESC")),
        # deleting an ad cascades to its favorites
        Index("ix_favorites_ad_id", "ad_id"),
    )

    user_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    ad_id: Mapped[UUID] = mapped_column(ForeignKey("ads.id", ondelete="CASCADE"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTimeUTC(timezone=True), server_default=text("now()"))


class Report(UUIDv7AuditBase):
    __tablename__ = "reports"
    __table_args__ = (
        CheckConstraint(_in("reason", REPORT_REASONS), name="reason_known"),
        # one report per user and ad
        UniqueConstraint("ad_id", "reporter_id", name="uq_reports_ad_reporter"),
        # GET /api/admin/reports: open reports, newest first
        Index("ix_reports_open_created", text("created_at DESC"), postgresql_where=text("resolved_at IS NULL")),
    )

    ad_id: Mapped[UUID] = mapped_column(ForeignKey("ads.id", ondelete="CASCADE"))
    reporter_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(String(1000), default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)


class SavedSearch(UUIDv7AuditBase):
    __tablename__ = "saved_searches"
    __table_args__ = (
        CheckConstraint(_in("frequency", ALERT_FREQUENCIES), name="frequency_known"),
        # GET /api/me/saved-searches
        Index("ix_saved_searches_user", "user_id", text("created_at DESC")),
        # the alert jobs: saved searches of one frequency
        Index("ix_saved_searches_frequency", "frequency", "last_alerted_at"),
    )

    user_id: Mapped[UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(120))
    filters: Mapped[dict[str, Any]] = mapped_column(JSONB)
    frequency: Mapped[str] = mapped_column(String(16))
    last_alerted_at: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    # why the alert jobs cannot evaluate this search (legacy or corrupt filters), and since when;
    # the jobs skip it and its owner sees the reason
    error: Mapped[str | None] = mapped_column(String(500), default=None)
    failing_since: Mapped[datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
