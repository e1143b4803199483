"""Saved searches: a search's filters kept by a user, and the alerts about new matching ads.

Filters are stored normalised (category resolved to the ids it covers, query folded), so that
matching a new ad against every instant search is one SQL statement.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Literal
from uuid import UUID

import msgspec
from msgspec import Meta
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from domain.ads.errors import AdError, InvalidAd
from domain.ads.queries import CategoryTree, SearchAds, SearchRejected, normalise_search
from domain.shared.ports import ReadConnection
from domain.shared.structs import CamelStruct, ReadModel

MAX_SAVED_SEARCHES = 20


class SearchFilters(CamelStruct, forbid_unknown_fields=True, omit_defaults=True):
    q: Annotated[str, Meta(max_length=200)] | None = None
    category: str | None = None
    province: str | None = None
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    currency: Literal["ARS", "USD"] | None = None
    condition: Literal["new", "used"] | None = None


class NewSavedSearch(CamelStruct, forbid_unknown_fields=True):
    filters: SearchFilters
    frequency: Literal["instant", "daily"] = "daily"
    name: Annotated[str, Meta(min_length=1, max_length=120)] | None = None


class StoredFilters(msgspec.Struct, rename="camel", omit_defaults=True):
    """What is kept in ``saved_searches.filters`` (JSONB)."""

    shown: SearchFilters
    q: str | None = None
    category_ids: list[str] | None = None
    province: str | None = None
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    currency: str | None = None
    condition: str | None = None


class SavedSearchRead(ReadModel):
    id: UUID
    name: str
    filters: SearchFilters
    frequency: str
    created_at: datetime
    last_alerted_at: datetime | None


class TooManySavedSearches(AdError):
    detail = f"at most {MAX_SAVED_SEARCHES} saved searches per user"
    status = 409


def _describe(filters: SearchFilters) -> str:
    parts = [filters.q, filters.category, filters.province]
    return " · ".join(p for p in parts if p) or "Todos los avisos"


async def save_search(
    user_id: UUID, new: NewSavedSearch, session: AsyncSession, categories: CategoryTree, provinces: frozenset[str]
) -> UUID:
    try:
        normal = normalise_search(
            SearchAds(**{f: getattr(new.filters, f) for f in SearchFilters.__struct_fields__}), categories, provinces
        )
    except SearchRejected as exc:
        raise InvalidAd(f"filters.{exc.field}", exc.detail) from None
    count = await session.scalar(text("SELECT count(*) FROM saved_searches WHERE user_id = :u"), {"u": user_id})
    if (count or 0) >= MAX_SAVED_SEARCHES:
        raise TooManySavedSearches
    stored = StoredFilters(
        shown=new.filters,
        q=normal.q,
        category_ids=[str(i) for i in categories.covering(normal.category) or []] if normal.category else None,
        province=normal.province,
        min_price=normal.min_price,
        max_price=normal.max_price,
        currency=normal.currency,
        condition=normal.condition,
    )
    now = datetime.now(UTC)
    saved_id: UUID = await session.scalar(
        text(
            "INSERT INTO saved_searches (id, user_id, name, filters, frequency, last_alerted_at, created_at, "
            "updated_at) VALUES (gen_random_uuid(), :u, :name, CAST(:filters AS jsonb), :frequency, :now, :now, :now) "
            "RETURNING id"
        ),
        {
            "u": user_id,
            "name": new.name or _describe(new.filters),
            "filters": msgspec.json.encode(stored).decode(),
            "frequency": new.frequency,
            "now": now,
        },
    )
    return saved_id


async def delete_saved_search(user_id: UUID, search_id: UUID, session: AsyncSession) -> bool:
    result = await session.execute(
        text("DELETE FROM saved_searches WHERE id = :id AND user_id = :u RETURNING id"), {"id": search_id, "u": user_id}
    )
    return result.first() is not None


async def list_saved_searches(user_id: UUID, db: ReadConnection, *, after_lsn: int | None) -> list[SavedSearchRead]:
    rows = await db.fetch(
        "SELECT id, name, filters, frequency, created_at, last_alerted_at FROM saved_searches "
        "WHERE user_id = $1 ORDER BY created_at DESC",
        user_id,
        after_lsn=after_lsn,
    )
    return [
        SavedSearchRead(r[0], r[1], msgspec.json.decode(r[2], type=StoredFilters).shown, r[3], r[4], r[5]) for r in rows
    ]


# A saved search's JSONB filters against an ad ``a``: the query matched against the ad's search
# document (the same folding and stemming as search), the rest compared as search compares them.
_FILTERS = """
  (s.filters->>'q' IS NULL OR a.search_document @@ websearch_to_tsquery('spanish', s.filters->>'q'))
  AND (s.filters->'categoryIds' IS NULL OR s.filters->'categoryIds' ? a.category_id::text)
  AND (s.filters->>'province' IS NULL OR s.filters->>'province' = a.province_code)
  AND (s.filters->>'currency' IS NULL OR s.filters->>'currency' = a.currency)
  AND (s.filters->>'condition' IS NULL OR s.filters->>'condition' = a.condition)
  AND (s.filters->>'minPrice' IS NULL OR a.price >= (s.filters->>'minPrice')::numeric)
  AND (s.filters->>'maxPrice' IS NULL OR a.price <= (s.filters->>'maxPrice')::numeric)
  AND a.status = 'active' AND a.deleted_at IS NULL AND a.suspended_at IS NULL AND a.expires_at > now()
  AND a.owner_id <> s.user_id
"""

_INSTANT = text(
    f"""
    SELECT s.id, s.name, u.email, u.name, a.title
    FROM saved_searches s
    JOIN users u ON u.id = s.user_id AND u.blocked_at IS NULL
    JOIN ads a ON a.id = :ad_id
    WHERE s.frequency = 'instant' AND {_FILTERS}
    """
)

_DUE_DAILY = text(
    """
    SELECT s.id, s.name, u.email, u.name
    FROM saved_searches s JOIN users u ON u.id = s.user_id AND u.blocked_at IS NULL
    WHERE s.frequency = 'daily' AND (s.last_alerted_at IS NULL OR s.last_alerted_at < :cutoff)
    ORDER BY s.last_alerted_at NULLS FIRST
    LIMIT 500
    """
)

_DAILY_ADS = text(
    f"""
    SELECT a.id, a.title
    FROM saved_searches s
    JOIN ads a ON a.created_at > COALESCE(s.last_alerted_at, CAST(:now AS timestamptz) - interval '1 day')
    WHERE s.id = :search_id AND {_FILTERS}
    ORDER BY a.created_at DESC
    LIMIT 50
    """
)


class Match(CamelStruct):
    search_id: UUID
    search_name: str
    email: str
    user_name: str
    titles: list[str]
    ad_ids: list[UUID]


async def match_new_ad(ad_id: UUID, connection: AsyncConnection) -> list[Match]:
    """Instant searches the newly published ad matches (one statement for all of them)."""
    rows = (await connection.execute(_INSTANT, {"ad_id": ad_id})).all()
    return [
        Match(search_id=r[0], search_name=r[1], email=r[2], user_name=r[3], titles=[r[4]], ad_ids=[ad_id]) for r in rows
    ]


async def daily_matches(now: datetime, connection: AsyncConnection) -> list[Match]:
    """Daily searches due (last alert over ~a day ago), each with the new ads it matches (one query
    per search, served by ``ix_saved_searches_frequency``); marks them alerted."""
    matches: list[Match] = []
    due = (await connection.execute(_DUE_DAILY, {"cutoff": now - timedelta(hours=23)})).all()
    for search_id, name, email, user_name in due:
        hits = (await connection.execute(_DAILY_ADS, {"now": now, "search_id": search_id})).all()
        await connection.execute(
            text("UPDATE saved_searches SET last_alerted_at = :now, updated_at = :now WHERE id = :id"),
            {"now": now, "id": search_id},
        )
        if hits:
            matches.append(
                Match(
                    search_id=search_id,
                    search_name=name,
                    email=email,
                    user_name=user_name,
                    titles=[h[1] for h in hits],
                    ad_ids=[h[0] for h in hits],
                )
            )
    return matches


def dedupe_key(match: Match, day: datetime | None = None) -> str:
    if day is None:
        return f"saved-search:{match.search_id}:{match.ad_ids[0]}"
    return f"saved-search:{match.search_id}:{day:%Y%m%d}"
