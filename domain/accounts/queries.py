"""Read side of accounts: a user's own profile and the public seller profile."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from domain.shared.ports import ReadConnection
from domain.shared.structs import CamelStruct, ReadModel


class GetProfile(CamelStruct):
    user_id: UUID


class GetSellerProfile(CamelStruct):
    user_id: UUID


class UserSummary(ReadModel):
    """Who is logged in (login and register answers)."""

    id: UUID
    email: str
    name: str
    role: Literal["user", "admin"]


class Profile(ReadModel):
    """``GET /api/me``: everything the user may see about themselves."""

    id: UUID
    email: str
    name: str
    phone: str | None
    province: str | None
    role: Literal["user", "admin"]
    created_at: datetime


class SellerProfile(ReadModel):
    """``GET /api/users/{id}``: what anyone may see about a seller."""

    id: UUID
    name: str
    province: str | None
    member_since: datetime
    active_ads: int


_PROFILE_SQL = """
SELECT id, email, name, phone, province_code, role, created_at
FROM users WHERE id = $1
"""

# Live ads only: what a buyer would find in search.
_SELLER_SQL = """
SELECT u.id, u.name, u.province_code, u.created_at,
       (SELECT count(*) FROM ads a
        WHERE a.owner_id = u.id AND a.status = 'active' AND a.deleted_at IS NULL
          AND a.suspended_at IS NULL AND a.expires_at > now())
FROM users u WHERE u.id = $1 AND u.blocked_at IS NULL
"""


async def get_profile(query: GetProfile, db: ReadConnection) -> Profile | None:
    row = await db.fetchrow(_PROFILE_SQL, query.user_id)
    if row is None:
        return None
    return Profile(row[0], row[1], row[2], row[3], row[4], row[5], row[6])


async def get_seller_profile(query: GetSellerProfile, db: ReadConnection) -> SellerProfile | None:
    row = await db.fetchrow(_SELLER_SQL, query.user_id)
    if row is None:
        return None
    return SellerProfile(row[0], row[1], row[2], row[3], int(row[4]))
