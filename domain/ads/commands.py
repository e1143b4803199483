"""Write side of ads: commands and their handlers, run on the primary inside the caller's
transaction (the caller commits, then invalidates caches with the commit's WAL position).

Every change to an ad bumps ``revision``: the ``ETag`` is built from it, and ``If-Match`` is
checked against it, so a lost update is refused with 412 instead of overwriting silently.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal
from uuid import UUID

from msgspec import UNSET, Meta, UnsetType
from sqlalchemy import delete, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from domain.ads.errors import AdNotFound, AlreadyReported, ForbiddenTransition, InvalidAd, NotYourAd, StaleAd
from domain.ads.models import Ad, Favorite, Report
from domain.ads.rules import EXPIRY_WARNING, can_renew, check_price, check_transition
from domain.catalog.reference import PROVINCE_CODES
from domain.shared.fields import Amount, Line, Prose, to_amount
from domain.shared.structs import CamelStruct

Title = Annotated[Line, Meta(min_length=3, max_length=120)]
Description = Annotated[Prose, Meta(max_length=5000)]
Price = Amount
Currency = Literal["ARS", "USD"]
Condition = Literal["new", "used"]
Locality = Annotated[Line, Meta(min_length=1, max_length=120)]
ProvinceCode = Annotated[Line, Meta(max_length=32, description="A code from GET /api/provinces.")]


class Actor(CamelStruct):
    """Who is acting: the logged-in user and whether they are an admin."""

    user_id: UUID
    is_admin: bool = False


class NewAd(CamelStruct, forbid_unknown_fields=True):
    """``POST /api/ads``. The owner is the caller; ``status``, ``isFeatured``, owner and timestamps
    cannot be set (422)."""

    title: Title
    category_id: UUID
    province: ProvinceCode
    locality: Locality
    description: Description = ""
    price: Price | None = None
    currency: Currency = "ARS"
    condition: Condition | None = None


class AdChanges(CamelStruct, forbid_unknown_fields=True):
    """``PATCH /api/ads/{id}``: only what is sent changes; ``null`` clears ``price``/``condition``."""

    title: Title | UnsetType = UNSET
    description: Description | UnsetType = UNSET
    price: Price | UnsetType | None = UNSET
    currency: Currency | UnsetType = UNSET
    category_id: UUID | UnsetType = UNSET
    province: ProvinceCode | UnsetType = UNSET
    locality: Locality | UnsetType = UNSET
    condition: Condition | UnsetType | None = UNSET


class StatusChange(CamelStruct, forbid_unknown_fields=True):
    status: Literal["active", "paused", "sold"]


class NewReport(CamelStruct, forbid_unknown_fields=True):
    reason: Literal["spam", "prohibited", "fraud", "duplicate", "miscategorized", "other"]
    detail: Annotated[Prose, Meta(max_length=1000)] | None = None


class PublishAd(CamelStruct):
    actor: Actor
    ad: NewAd
    ttl_days: int
    now: datetime


class UpdateAd(CamelStruct):
    actor: Actor
    ad_id: UUID
    changes: AdChanges
    expected_revision: int | None = None
    """From ``If-Match``; ``None`` when the header is absent."""


class ChangeAdStatus(CamelStruct):
    actor: Actor
    ad_id: UUID
    status: Literal["active", "paused", "sold"]


class RenewAd(CamelStruct):
    actor: Actor
    ad_id: UUID
    ttl_days: int
    now: datetime


class DeleteAd(CamelStruct):
    actor: Actor
    ad_id: UUID
    now: datetime


class SuspendAd(CamelStruct):
    ad_id: UUID
    now: datetime


class SaveFavorite(CamelStruct):
    user_id: UUID
    ad_id: UUID
    saved: bool


class ReportAd(CamelStruct):
    actor: Actor
    ad_id: UUID
    report: NewReport


class AdChanged(CamelStruct):
    """What a handler changed: the app invalidates caches for it after commit."""

    ad_id: UUID
    owner_id: UUID
    revision: int


async def _check_category(session: AsyncSession, category_id: UUID) -> None:
    active = await session.scalar(text("SELECT is_active FROM categories WHERE id = :id"), {"id": category_id})
    if not active:
        raise InvalidAd("categoryId", "unknown or inactive category")


def _check_province(province: str) -> None:
    if province not in PROVINCE_CODES:
        raise InvalidAd("province", f"unknown province code {province!r}")


async def _load_for_change(session: AsyncSession, actor: Actor, ad_id: UUID) -> Ad:
    """The ad, locked for this transaction, if the actor may change it; else 404/403."""
    ad = await session.scalar(select(Ad).where(Ad.id == ad_id, Ad.deleted_at.is_(None)).with_for_update())
    if ad is None:
        raise AdNotFound
    if ad.owner_id != actor.user_id and not actor.is_admin:
        # An ad the caller cannot see at all looks missing; a public one says who may change it.
        if ad.status != "active" or ad.suspended_at is not None:
            raise AdNotFound
        raise NotYourAd
    return ad


def _changed(ad: Ad) -> AdChanged:
    return AdChanged(ad_id=ad.id, owner_id=ad.owner_id, revision=ad.revision)


async def publish_ad(command: PublishAd, session: AsyncSession) -> AdChanged:
    new = command.ad
    _check_province(new.province)
    await _check_category(session, new.category_id)
    title = " ".join(new.title.split())
    if len(title) < 3:
        raise InvalidAd("title", "the title needs at least 3 characters")
    ad = Ad(
        owner_id=command.actor.user_id,
        category_id=new.category_id,
        title=title,
        description=new.description.strip(),
        price=None if new.price is None else check_price(to_amount(new.price)),
        currency=new.currency,
        province_code=new.province,
        locality=" ".join(new.locality.split()),
        condition=new.condition,
        status="active",
        is_featured=False,
        expires_at=command.now + timedelta(days=command.ttl_days),
        revision=1,
    )
    session.add(ad)
    await session.flush()
    return _changed(ad)


async def update_ad(command: UpdateAd, session: AsyncSession) -> AdChanged:
    ad = await _load_for_change(session, command.actor, command.ad_id)
    if command.expected_revision is not None and command.expected_revision != ad.revision:
        raise StaleAd
    changes = command.changes
    if changes.title is not UNSET:
        title = " ".join(changes.title.split())
        if len(title) < 3:
            raise InvalidAd("title", "the title needs at least 3 characters")
        ad.title = title
    if changes.description is not UNSET:
        ad.description = changes.description.strip()
    if changes.price is not UNSET:
        ad.price = None if changes.price is None else check_price(to_amount(changes.price))
    if changes.currency is not UNSET:
        ad.currency = changes.currency
    if changes.category_id is not UNSET:
        await _check_category(session, changes.category_id)
        ad.category_id = changes.category_id
    if changes.province is not UNSET:
        _check_province(changes.province)
        ad.province_code = changes.province
    if changes.locality is not UNSET:
        ad.locality = " ".join(changes.locality.split())
    if changes.condition is not UNSET:
        ad.condition = changes.condition
    ad.revision += 1
    await session.flush()
    return _changed(ad)


async def change_ad_status(command: ChangeAdStatus, session: AsyncSession) -> AdChanged:
    ad = await _load_for_change(session, command.actor, command.ad_id)
    if ad.suspended_at is not None and not command.actor.is_admin:
        raise ForbiddenTransition("a suspended ad cannot change status")
    check_transition(ad.status, command.status)
    if ad.status != command.status:
        ad.status = command.status
        ad.revision += 1
        await session.flush()
    return _changed(ad)


async def renew_ad(command: RenewAd, session: AsyncSession) -> AdChanged:
    ad = await _load_for_change(session, command.actor, command.ad_id)
    if ad.owner_id != command.actor.user_id:
        raise NotYourAd("only the owner can renew this ad")
    if not can_renew(ad.status, ad.expires_at, command.now):
        raise ForbiddenTransition("only an expired ad, or one expiring within 3 days, can be renewed")
    ad.status = "active"
    ad.expires_at = command.now + timedelta(days=command.ttl_days)
    ad.expiry_warned_at = None
    ad.revision += 1
    await session.flush()
    return _changed(ad)


async def delete_ad(command: DeleteAd, session: AsyncSession) -> AdChanged:
    ad = await _load_for_change(session, command.actor, command.ad_id)
    ad.deleted_at = command.now
    ad.revision += 1
    await session.flush()
    return _changed(ad)


async def suspend_ad(command: SuspendAd, session: AsyncSession) -> AdChanged:
    ad = await session.scalar(select(Ad).where(Ad.id == command.ad_id, Ad.deleted_at.is_(None)).with_for_update())
    if ad is None:
        raise AdNotFound
    if ad.suspended_at is None:
        ad.suspended_at = command.now
        ad.revision += 1
        await session.flush()
    return _changed(ad)


_LIVE_AD = text(
    "SELECT 1 FROM ads a JOIN users u ON u.id = a.owner_id WHERE a.id = :id AND a.status = 'active' "
    "AND a.deleted_at IS NULL AND a.suspended_at IS NULL AND a.expires_at > now() AND u.blocked_at IS NULL"
)


async def save_favorite(command: SaveFavorite, session: AsyncSession) -> None:
    """Idempotent both ways; only an ad anyone can see can be saved."""
    if not command.saved:
        await session.execute(
            delete(Favorite).where(Favorite.user_id == command.user_id, Favorite.ad_id == command.ad_id)
        )
        return
    if await session.scalar(_LIVE_AD, {"id": command.ad_id}) is None:
        raise AdNotFound
    await session.execute(
        insert(Favorite)
        .values(user_id=command.user_id, ad_id=command.ad_id, created_at=datetime.now(UTC))
        .on_conflict_do_nothing()
    )


async def report_ad(command: ReportAd, session: AsyncSession) -> UUID:
    if await session.scalar(_LIVE_AD, {"id": command.ad_id}) is None:
        raise AdNotFound
    report = Report(
        ad_id=command.ad_id,
        reporter_id=command.actor.user_id,
        reason=command.report.reason,
        detail=command.report.detail.strip() if command.report.detail else None,
    )
    try:
        async with session.begin_nested():
            session.add(report)
            await session.flush()
    except IntegrityError as exc:
        raise AlreadyReported from exc
    return report.id


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
    ad_ids: list[UUID]

    @property
    def count(self) -> int:
        return len(self.ad_ids)


async def expire_ads(command: ExpireAds, connection: AsyncConnection) -> AdsExpired:
    """Idempotent: a second run finds nothing left to expire. Served by ``ix_ads_active_expires_at``."""
    result = await connection.execute(_EXPIRE, {"now": command.now})
    return AdsExpired(ad_ids=[row[0] for row in result.fetchall()])


class WarnExpiringAds(CamelStruct):
    """Owners of active ads expiring within 3 days get one email per expiry date."""

    now: datetime


class ExpiringAd(CamelStruct):
    ad_id: UUID
    title: str
    expires_at: datetime
    owner_email: str
    owner_name: str


_WARN = text(
    """
    UPDATE ads a SET expiry_warned_at = :now
    FROM users u
    WHERE u.id = a.owner_id AND u.blocked_at IS NULL
      AND a.status = 'active' AND a.deleted_at IS NULL AND a.suspended_at IS NULL
      AND a.expires_at > :now AND a.expires_at <= :until AND a.expiry_warned_at IS NULL
    RETURNING a.id, a.title, a.expires_at, u.email, u.name
    """
)


async def warn_expiring_ads(command: WarnExpiringAds, connection: AsyncConnection) -> list[ExpiringAd]:
    """Marks the ads warned (a renew clears the mark) and returns whom to email; served by
    ``ix_ads_active_expires_at``. The caller queues the emails in the same transaction."""
    rows = (await connection.execute(_WARN, {"now": command.now, "until": command.now + EXPIRY_WARNING})).all()
    return [ExpiringAd(ad_id=r[0], title=r[1], expires_at=r[2], owner_email=r[3], owner_name=r[4]) for r in rows]
