"""Read side of accounts: a user's own profile and the public seller profile."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from domain.accounts.models import Role
from domain.ads.rules import PUBLIC_AD_SQL
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
    role: Role


class Profile(ReadModel):
    """``GET /api/me``: everything the user may see about themselves."""

    id: UUID
    email: str
    name: str
    phone: str | None
    province: str | None
    role: Role
    created_at: datetime
    email_verified: bool
    """Whether the email's link was used (with ``REQUIRE_EMAIL_VERIFICATION``, needed to publish
    and to send messages)."""


class SellerProfile(ReadModel):
    """``GET /api/users/{id}``: what anyone may see about a seller."""

    id: UUID
    name: str
    province: str | None
    member_since: datetime
    active_ads: int


_PROFILE_SQL = """
SELECT id, email, name, phone, province_code, role, created_at, email_verified_at IS NOT NULL
FROM users WHERE id = $1 AND deleted_at IS NULL
"""

_VERIFIED_SQL = "SELECT email_verified_at IS NOT NULL FROM users WHERE id = $1"

# Public ads only (the rule search applies): what a buyer would find. ``u`` is the seller.
_SELLER_SQL = f"""
SELECT u.id, u.name, u.province_code, u.created_at,
       (SELECT count(*) FROM ads a WHERE a.owner_id = u.id AND {PUBLIC_AD_SQL})
FROM users u WHERE u.id = $1 AND u.blocked_at IS NULL
"""


async def get_profile(query: GetProfile, db: ReadConnection) -> Profile | None:
    row = await db.fetchrow(_PROFILE_SQL, query.user_id)
    if row is None:
        return None
    return Profile(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7])


async def has_verified_email(user_id: UUID, db: ReadConnection) -> bool:
    """Whether the user verified their email (``False`` for an unknown user)."""
    return bool(await db.fetchval(_VERIFIED_SQL, user_id))


async def get_seller_profile(query: GetSellerProfile, db: ReadConnection) -> SellerProfile | None:
    row = await db.fetchrow(_SELLER_SQL, query.user_id)
    if row is None:
        return None
    return SellerProfile(row[0], row[1], row[2], row[3], int(row[4]))
