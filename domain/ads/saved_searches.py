"""Saved searches: a search's filters kept by a user, and the alerts about new matching ads.

Filters are stored normalised (category resolved to the ids it covers, query folded), so that
matching a new ad against every instant search is one SQL statement.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

import msgspec
from msgspec import Meta
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.ads.errors import AdError, InvalidAd
from domain.ads.queries import CategoryTree, SearchAds, SearchFilters, SearchRejected, normalise_search
from domain.ads.rules import PUBLIC_AD_SQL
from domain.ads.vocabulary import AlertFrequency
from domain.catalog.queries import active_categories
from domain.catalog.reference import PROVINCE_CODES
from domain.shared.errors import AccountGone
from domain.shared.fields import Line, to_amount
from domain.shared.ports import ReadConnection
from domain.shared.structs import CamelStruct, ReadModel
from domain.shared.unit_of_work import Command, UnitOfWork, user_key

MAX_SAVED_SEARCHES = 20


class NewSavedSearch(CamelStruct, forbid_unknown_fields=True):
    filters: SearchFilters
    frequency: AlertFrequency = "daily"
    name: Annotated[Line, Meta(min_length=1, max_length=120)] | None = None


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
    frequency: AlertFrequency
    created_at: datetime
    last_alerted_at: datetime | None
    error: Annotated[
        str | None,
        Meta(
            description="Why this search sends no alerts: its stored filters cannot be evaluated (for example "
            "a price bound out of range, kept from before the bounds were checked). `null` while it works. "
            "Delete it and save the search again."
        ),
    ] = None
    failing_since: Annotated[
        datetime | None, Meta(description="Since when `error` has held; `null` while the search works.")
    ] = None


class TooManySavedSearches(AdError):
    detail = f"at most {MAX_SAVED_SEARCHES} saved searches per user"
    status = 409


def _describe(filters: SearchFilters) -> str:
    parts = [filters.q, filters.category, filters.province]
    return " · ".join(p for p in parts if p) or "Todos los avisos"


_LOCK_USER = text("SELECT id FROM users WHERE id = :u FOR NO KEY UPDATE")


async def save_search(command: Command[NewSavedSearch], uow: UnitOfWork) -> UUID:
    """Keep the caller's search (normalised as search normalises it); 422 for filters search would
    refuse, 409 beyond :data:`MAX_SAVED_SEARCHES`. Returns the new saved search's id."""
    user_id, new, session = command.actor.user_id, command.payload, uow.session
    categories = CategoryTree(await active_categories(session))
    try:
        normal = normalise_search(SearchAds(**msgspec.structs.asdict(new.filters)), categories, PROVINCE_CODES)
    except SearchRejected as exc:
        raise InvalidAd(f"filters.{exc.field}", exc.detail) from None
    # The user's row is locked until commit: concurrent saves of one user count one after the other
    # (a count then an insert alone lets parallel requests all see 19). Inserting rows that refer to
    # the user takes only a KEY SHARE lock, so nothing else waits on this one.
    if await session.scalar(_LOCK_USER, {"u": user_id}) is None:
        raise AccountGone
    count = await session.scalar(text("SELECT count(*) FROM saved_searches WHERE user_id = :u"), {"u": user_id})
    if (count or 0) >= MAX_SAVED_SEARCHES:
        raise TooManySavedSearches
    stored = StoredFilters(
        shown=new.filters,
        q=normal.q,
        category_ids=[str(i) for i in categories.covering(normal.category) or []] if normal.category else None,
        province=normal.province,
        min_price=None if normal.min_price is None else to_amount(normal.min_price),
        max_price=None if normal.max_price is None else to_amount(normal.max_price),
        currency=normal.currency,
        condition=normal.condition,
    )
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
            "now": uow.now,
        },
    )
    uow.touch(user_key(user_id))
    return saved_id


class DeleteSavedSearch(CamelStruct):
    search_id: UUID


async def delete_saved_search(command: Command[DeleteSavedSearch], uow: UnitOfWork) -> bool:
    """Delete one of the caller's saved searches; ``False`` when the caller has none by that id
    (nothing changed)."""
    user_id = command.actor.user_id
    result = await uow.session.execute(
        text("DELETE FROM saved_searches WHERE id = :id AND user_id = :u RETURNING id"),
        {"id": command.payload.search_id, "u": user_id},
    )
    if result.first() is None:
        return False
    uow.touch(user_key(user_id))
    return True


UNREADABLE_FILTERS = "the stored filters cannot be read"


def _shown_filters(stored: str | bytes) -> tuple[SearchFilters, str | None]:
    """The filters as the owner saved them; a row written before today's checks may not pass
    them: shown as no filters, with the reason, rather than failing the whole list."""
    try:
        return msgspec.json.decode(stored, type=StoredFilters).shown, None
    except (msgspec.DecodeError, msgspec.ValidationError):
        return SearchFilters(), UNREADABLE_FILTERS


async def list_saved_searches(user_id: UUID, db: ReadConnection) -> list[SavedSearchRead]:
    rows = await db.fetch(
        "SELECT id, name, filters, frequency, created_at, last_alerted_at, error, failing_since FROM saved_searches "
        "WHERE user_id = $1 ORDER BY created_at DESC",
        user_id,
    )
    saved = []
    for r in rows:
        shown, unreadable = _shown_filters(r[2])
        saved.append(SavedSearchRead(r[0], r[1], shown, r[3], r[4], r[5], r[6] or unreadable, r[7]))
    return saved


logger = logging.getLogger(__name__)

# A stored price bound the SQL can compare: a plain decimal of bounded size. Anything else (legacy
# rows from before prices were bounded, hand-edited data) makes the search unusable, never the
# statement: ``'1e999999'::numeric`` fails with "value overflows numeric format", and one such row
# used to fail the alerts of every user.
_PRICE = r"'^-?[0-9]{1,20}(\.[0-9]{1,20})?([eE][-+]?[0-9]{1,2})?$'"
_MAX_STORED_QUERY = 1000

# Why a saved search ``s`` cannot be evaluated, or NULL when it can.
_UNUSABLE = f"""
  CASE
    WHEN jsonb_typeof(s.filters) IS DISTINCT FROM 'object' THEN 'the stored filters are not an object'
    WHEN s.filters->>'minPrice' !~ {_PRICE} THEN 'the price bound minPrice is out of range'
    WHEN s.filters->>'maxPrice' !~ {_PRICE} THEN 'the price bound maxPrice is out of range'
    WHEN length(s.filters->>'q') > {_MAX_STORED_QUERY} THEN 'the stored query is too long'
    WHEN jsonb_typeof(s.filters->'categoryIds') NOT IN ('array', 'null') THEN 'the stored categories are not a list'
  END
"""


def _price(key: str) -> str:
    """The stored bound as numeric, NULL when it is not a usable price (CASE: the cast never runs
    then; a plain AND would not guarantee the order)."""
    return f"CASE WHEN s.filters->>'{key}' ~ {_PRICE} THEN (s.filters->>'{key}')::numeric END"


# A saved search ``s``'s JSONB filters against an ad ``a`` of seller ``u``: the ad must be public
# (the rule search applies), the query is matched against the ad's search document (the same
# folding and stemming as search), the rest compared as search compares them. Nobody is alerted
# about their own ads.
_FILTERS = f"""
  s.error IS NULL
  AND (s.filters->>'q' IS NULL OR a.search_document @@ websearch_to_tsquery('spanish', s.filters->>'q'))
  AND (s.filters->'categoryIds' IS NULL OR s.filters->'categoryIds' ? a.category_id::text)
  AND (s.filters->>'province' IS NULL OR s.filters->>'province' = a.province_code)
  AND (s.filters->>'currency' IS NULL OR s.filters->>'currency' = a.currency)
  AND (s.filters->>'condition' IS NULL OR s.filters->>'condition' = a.condition)
  AND (s.filters->>'minPrice' IS NULL OR a.price >= {_price("minPrice")})
  AND (s.filters->>'maxPrice' IS NULL OR a.price <= {_price("maxPrice")})
  AND {PUBLIC_AD_SQL}
  AND a.owner_id <> s.user_id
"""

_INSTANT_SQL = f"""
    SELECT s.id, s.name, r.email, r.name, a.title
    FROM saved_searches s
    JOIN users r ON r.id = s.user_id AND r.blocked_at IS NULL
    JOIN ads a ON a.id = :ad_id
    JOIN users u ON u.id = a.owner_id
    WHERE s.frequency = 'instant' AND {_FILTERS}
"""
_INSTANT = text(_INSTANT_SQL)
_INSTANT_ONE = text(_INSTANT_SQL + " AND s.id = :search_id")
_INSTANT_IDS = text("SELECT id FROM saved_searches WHERE frequency = 'instant' AND error IS NULL ORDER BY id")

_DUE_DAILY = text(
    """
    SELECT s.id, s.name, r.email, r.name
    FROM saved_searches s JOIN users r ON r.id = s.user_id AND r.blocked_at IS NULL
    WHERE s.frequency = 'daily' AND s.error IS NULL AND (s.last_alerted_at IS NULL OR s.last_alerted_at < :cutoff)
    ORDER BY s.last_alerted_at NULLS FIRST
    LIMIT 500
    """
)

_DAILY_ADS = text(
    f"""
    SELECT a.id, a.title
    FROM saved_searches s
    JOIN ads a ON a.created_at > COALESCE(s.last_alerted_at, CAST(:now AS timestamptz) - interval '1 day')
    JOIN users u ON u.id = a.owner_id
    WHERE s.id = :search_id AND {_FILTERS}
    ORDER BY a.created_at DESC
    LIMIT 50
    """
)

_MARK_UNUSABLE = text(
    f"""
    UPDATE saved_searches t SET error = c.reason, failing_since = now(), updated_at = now()
    FROM (SELECT s.id, {_UNUSABLE} AS reason FROM saved_searches s
          WHERE s.frequency = :frequency AND s.error IS NULL) c
    WHERE t.id = c.id AND c.reason IS NOT NULL
    RETURNING t.id, t.user_id, c.reason
    """
)
_MARK_FAILING = text(
    "UPDATE saved_searches SET error = :reason, failing_since = now(), updated_at = now() "
    "WHERE id = :id AND error IS NULL"
)
EVALUATION_FAILED = "the stored filters cannot be evaluated"


class Match(CamelStruct):
    search_id: UUID
    search_name: str
    email: str
    user_name: str
    titles: list[str]
    ad_ids: list[UUID]


async def mark_unusable_searches(frequency: str, connection: AsyncConnection) -> int:
    """Mark (and log) the saved searches of ``frequency`` whose stored filters cannot be evaluated:
    the alert statements skip them, their owners see why. Returns how many were newly marked."""
    marked = (await connection.execute(_MARK_UNUSABLE, {"frequency": frequency})).all()
    for search_id, user_id, reason in marked:
        logger.warning("saved search %s of user %s skipped: %s", search_id, user_id, reason)
    return len(marked)


def _is_data_error(exc: DBAPIError) -> bool:
    """A data exception (SQLSTATE class 22: overflow, bad cast …) is about a row; anything else
    (connection lost, timeout) is about the database and must fail the job, to be retried."""
    return str(getattr(exc.orig, "sqlstate", "") or "").startswith("22")


async def _evaluate_one(connection: AsyncConnection, search_id: UUID, statement: Any, **params: Any) -> list[Any]:
    """One search's statement in a savepoint: a failure marks that search and yields no rows."""
    try:
        async with connection.begin_nested():
            return list((await connection.execute(statement, {"search_id": search_id, **params})).all())
    except DBAPIError as exc:
        if not _is_data_error(exc):
            raise
        logger.warning("saved search %s skipped: %s", search_id, exc.orig)
        await connection.execute(_MARK_FAILING, {"id": search_id, "reason": EVALUATION_FAILED})
        return []


async def match_new_ad(ad_id: UUID, connection: AsyncConnection) -> list[Match]:
    """Instant searches the newly published ad matches: one statement for all of them. Searches that
    cannot be evaluated are marked and skipped first; should the statement still fail on a row's
    data, each search is evaluated on its own, so one bad search never stops the others."""
    await mark_unusable_searches("instant", connection)
    try:
        async with connection.begin_nested():
            rows = list((await connection.execute(_INSTANT, {"ad_id": ad_id})).all())
    except DBAPIError as exc:
        if not _is_data_error(exc):
            raise
        logger.warning("instant alerts of ad %s: evaluating searches one by one (%s)", ad_id, exc.orig)
        rows = []
        for search_id in (await connection.scalars(_INSTANT_IDS)).all():
            rows += await _evaluate_one(connection, search_id, _INSTANT_ONE, ad_id=ad_id)
    return [
        Match(search_id=r[0], search_name=r[1], email=r[2], user_name=r[3], titles=[r[4]], ad_ids=[ad_id]) for r in rows
    ]


async def daily_matches(now: datetime, connection: AsyncConnection) -> list[Match]:
    """Daily searches due (last alert over ~a day ago), each with the new ads it matches (one query
    per search, served by ``ix_saved_searches_frequency``); marks them alerted. A search that
    cannot be evaluated is marked and skipped; the others go on."""
    await mark_unusable_searches("daily", connection)
    matches: list[Match] = []
    due = (await connection.execute(_DUE_DAILY, {"cutoff": now - timedelta(hours=23)})).all()
    for search_id, name, email, user_name in due:
        hits = await _evaluate_one(connection, search_id, _DAILY_ADS, now=now)
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
