"""Write side of ads: commands and their handlers (run on the primary)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.shared.structs import CamelStruct

_EXPIRE = text(
    """
    UPDATE ads
    SET status = 'expired', updated_at = :now, revision = revision + 1
    WHERE status = 'active' AND deleted_at IS NULL AND expires_at <= :now
    RETURNING id
    """
)


class ExpireAds(CamelStruct):
    """Mark every active ad whose ``expiresAt`` has passed as ``expired`` (it leaves search)."""

    now: datetime


class AdsExpired(CamelStruct):
    count: int


async def expire_ads(command: ExpireAds, connection: AsyncConnection) -> AdsExpired:
    """Idempotent: a second run finds nothing left to expire. Served by ``ix_ads_active_expires_at``."""
    result = await connection.execute(_EXPIRE, {"now": command.now})
    return AdsExpired(count=len(result.fetchall()))
