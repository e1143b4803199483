"""The public-ad rule against a real PostgreSQL: the SQL fragment and the Python predicate agree on
every case, every read that shows ads to the public applies it, and so do the saved-search alerts
(daily ones used to include the ads of blocked sellers)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.accounts.queries import GetSellerProfile, get_seller_profile
from domain.ads.queries import CategoryTree, SearchAds, get_ad, list_favorites, normalise_search, search_ads
from domain.ads.rules import PUBLIC_AD_SQL, is_public
from domain.ads.saved_searches import daily_matches, match_new_ad
from domain.catalog.queries import ListCategories, list_categories
from domain.catalog.reference import PROVINCE_CODES
from domain.shared.ports import Row
from tests.unit.test_ad_rules import PUBLIC_CASES, PublicCase


class Primary:
    """The test's asyncpg connection as the read side the queries take (one database, no replica)."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self._connection = connection

    async def fetch(self, query: str, *args: Any, after_lsn: int | None = None) -> Sequence[Row]:
        rows: Sequence[Row] = await self._connection.fetch(query, *args)
        return rows

    async def fetchrow(self, query: str, *args: Any, after_lsn: int | None = None) -> Row | None:
        row: Row | None = await self._connection.fetchrow(query, *args)
        return row

    async def fetchval(self, query: str, *args: Any, after_lsn: int | None = None) -> Any:
        return await self._connection.fetchval(query, *args)


def _no_media(key: str) -> str:
    return key


async def _user(db: asyncpg.Connection, *, blocked: bool = False) -> UUID:
    user_id: UUID = await db.fetchval(
        "INSERT INTO users (id, email, password_hash, name, blocked_at, created_at, updated_at) "
        "VALUES (gen_random_uuid(), $1, 'x', 'Ana', CASE WHEN $2 THEN now() END, now(), now()) RETURNING id",
        f"{uuid.uuid4().hex[:12]}@campo.com",
        blocked,
    )
    return user_id


async def _ad(
    db: asyncpg.Connection,
    owner_id: UUID,
    *,
    status: str = "active",
    deleted: bool = False,
    suspended: bool = False,
    expires_in: timedelta = timedelta(days=30),
    created_at: datetime | None = None,
) -> UUID:
    ad_id: UUID = await db.fetchval(
        "INSERT INTO ads (id, owner_id, category_id, title, description, province_code, locality, status, "
        "expires_at, deleted_at, suspended_at, created_at, updated_at) "
        "VALUES (gen_random_uuid(), $1, (SELECT id FROM categories WHERE slug = 'tractores'), "
        "'Tractor Deutz en Córdoba', 'Muy buen estado', 'cordoba', 'Marcos Juárez', $2, now() + $3::interval, "
        "CASE WHEN $4 THEN now() END, CASE WHEN $5 THEN now() END, COALESCE($6, now()), now()) RETURNING id",
        owner_id,
        status,
        expires_in,
        deleted,
        suspended,
        created_at,
    )
    return ad_id


async def _case_ad(db: asyncpg.Connection, case: PublicCase) -> tuple[UUID, UUID]:
    seller = await _user(db, blocked=case.seller_blocked)
    ad_id = await _ad(
        db,
        seller,
        status=case.status,
        deleted=case.deleted,
        suspended=case.suspended,
        expires_in=case.expires_in,
    )
    return seller, ad_id


@pytest.mark.parametrize("case", PUBLIC_CASES, ids=[c.name for c in PUBLIC_CASES])
async def test_the_sql_rule_and_the_predicate_agree(db: asyncpg.Connection, case: PublicCase) -> None:
    _, ad_id = await _case_ad(db, case)
    row = await db.fetchrow(
        f"SELECT {PUBLIC_AD_SQL} AS public, now() AS now, a.expires_at "
        "FROM ads a JOIN users u ON u.id = a.owner_id WHERE a.id = $1",
        ad_id,
    )
    assert row is not None
    assert row["public"] is case.public
    predicate = is_public(
        status=case.status,
        deleted=case.deleted,
        suspended=case.suspended,
        expires_at=row["expires_at"],
        seller_blocked=case.seller_blocked,
        now=row["now"],
    )
    assert predicate is row["public"]


async def test_every_public_read_applies_the_rule(db: asyncpg.Connection) -> None:
    reads = Primary(db)
    buyer = await _user(db)
    made = [(case, *await _case_ad(db, case)) for case in PUBLIC_CASES]
    for _, _, ad_id in made:
        await db.execute("INSERT INTO favorites (user_id, ad_id, created_at) VALUES ($1, $2, now())", buyer, ad_id)
    tree = CategoryTree(await list_categories(ListCategories(), reads))

    found = await search_ads(normalise_search(SearchAds(), tree, PROVINCE_CODES), reads, tree, _no_media)
    favorites = await list_favorites(buyer, 1, 50, reads, _no_media)
    public_ids = {ad_id for case, _, ad_id in made if case.public}
    assert public_ids
    assert {ad.id for ad in found.results} == public_ids
    assert {ad.id for ad in favorites} == public_ids

    for case, seller, ad_id in made:
        detail = await get_ad(ad_id, reads, _no_media)
        assert detail is not None
        assert detail.public is case.public, case.name
        profile = await get_seller_profile(GetSellerProfile(seller), reads)
        if case.seller_blocked:
            assert profile is None, case.name
        else:
            assert profile is not None
            assert profile.active_ads == int(case.public), case.name


async def _saved_search(db: asyncpg.Connection, user_id: UUID, frequency: str, last_alerted_at: datetime) -> UUID:
    search_id: UUID = await db.fetchval(
        "INSERT INTO saved_searches (id, user_id, name, filters, frequency, last_alerted_at, created_at, updated_at) "
        """VALUES (gen_random_uuid(), $1, 'Tractores', '{"shown": {"q": "tractor"}, "q": "tractor"}', $2, $3, """
        "now(), now()) RETURNING id",
        user_id,
        frequency,
        last_alerted_at,
    )
    return search_id


async def test_daily_alerts_leave_out_the_ads_of_blocked_sellers(db: asyncpg.Connection, engine: AsyncEngine) -> None:
    now = datetime.now(UTC)
    buyer, seller, blocked_seller = await _user(db), await _user(db), await _user(db, blocked=True)
    search_id = await _saved_search(db, buyer, "daily", now - timedelta(days=1, hours=1))
    fresh = now - timedelta(hours=2)  # published since the last alert
    kept = await _ad(db, seller, created_at=fresh)
    await _ad(db, blocked_seller, created_at=fresh)

    async with engine.begin() as connection:
        due = await daily_matches(now, connection)
    assert [m.search_id for m in due] == [search_id]
    assert due[0].ad_ids == [kept]


async def test_instant_alerts_leave_out_the_ads_of_blocked_sellers(db: asyncpg.Connection, engine: AsyncEngine) -> None:
    buyer, seller, blocked_seller = await _user(db), await _user(db), await _user(db, blocked=True)
    search_id = await _saved_search(db, buyer, "instant", datetime.now(UTC))
    kept = await _ad(db, seller)
    left_out = await _ad(db, blocked_seller)

    async with engine.begin() as connection:
        assert [m.search_id for m in await match_new_ad(kept, connection)] == [search_id]
        assert await match_new_ad(left_out, connection) == []
        # the seller's block is what leaves the ad out: unblocked, it matches
        await connection.execute(text("UPDATE users SET blocked_at = NULL WHERE id = :id"), {"id": blocked_seller})
        assert [m.search_id for m in await match_new_ad(left_out, connection)] == [search_id]
