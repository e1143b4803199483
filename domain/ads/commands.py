"""Write side of ads: one handler per command, ``handler(Command[payload], uow)``.

Handlers change rows through ``uow.session`` (the primary, one transaction), take the time from
``uow.now`` and declare what follows: the cache generations a change moves (search pages, the ad's
detail, the owner's and the actor's own reads) and the jobs it sets off. The unit of work commits
and does the rest (``domain.shared.unit_of_work``).

Every change to an ad bumps ``revision``: the ``ETag`` is built from it, and ``If-Match`` is
checked against it, so a lost update is refused with 412 instead of overwriting silently.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated
from uuid import UUID

from msgspec import UNSET, Meta, UnsetType
from sqlalchemy import delete, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from domain.ads.emails import expiring_email
from domain.ads.errors import AdNotFound, AlreadyReported, ForbiddenTransition, InvalidAd, NotYourAd, StaleAd
from domain.ads.models import Ad, Favorite, Report
from domain.ads.rules import EXPIRY_WARNING, PUBLIC_AD_SQL, can_renew, check_price, check_transition
from domain.ads.vocabulary import Condition, Currency, OwnerStatus, ReportReason
from domain.catalog.provinces import ProvinceCode, province_problem
from domain.shared.emails import QueueEmail
from domain.shared.fields import Amount, Line, Prose, to_amount
from domain.shared.job_outbox import PURGE_MEDIA_JOB
from domain.shared.structs import CamelStruct
from domain.shared.unit_of_work import SEARCH, Actor, Command, UnitOfWork, ad_key, user_key

Title = Annotated[Line, Meta(min_length=3, max_length=120)]
Description = Annotated[Prose, Meta(max_length=5000)]
Price = Amount
Locality = Annotated[Line, Meta(min_length=1, max_length=120)]

ALERT_JOB = "alert_saved_searches"
"""The job a publish sets off: the instant saved-search alerts (``rural24.ads.jobs``)."""


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
    status: OwnerStatus


class NewReport(CamelStruct, forbid_unknown_fields=True):
    reason: ReportReason
    detail: Annotated[Prose, Meta(max_length=1000)] | None = None


# -- payloads (the actor comes with the command, the time from the unit of work) ----------------


class PublishAd(CamelStruct):
    ad: NewAd
    ttl_days: int


class UpdateAd(CamelStruct):
    ad_id: UUID
    changes: AdChanges
    expected_revision: int | None = None
    """From ``If-Match``; ``None`` when the header is absent."""


class ChangeAdStatus(CamelStruct):
    ad_id: UUID
    status: OwnerStatus


class RenewAd(CamelStruct):
    ad_id: UUID
    ttl_days: int


class DeleteAd(CamelStruct):
    ad_id: UUID


class SuspendAd(CamelStruct):
    """Moderation (the route is for admins only)."""

    ad_id: UUID


class SaveFavorite(CamelStruct):
    ad_id: UUID


class UnsaveFavorite(CamelStruct):
    ad_id: UUID


class ReportAd(CamelStruct):
    ad_id: UUID
    report: NewReport


class AdChanged(CamelStruct):
    """The ad a handler changed, as it is now."""

    ad_id: UUID
    owner_id: UUID
    revision: int


# -- helpers ------------------------------------------------------------------------------------


async def _check_category(session: AsyncSession, category_id: UUID) -> None:
    active = await session.scalar(text("SELECT is_active FROM categories WHERE id = :id"), {"id": category_id})
    if not active:
        raise InvalidAd("categoryId", "unknown or inactive category")


def _check_province(province: str) -> None:
    if problem := province_problem(province):
        raise InvalidAd("province", problem)


def _title(title: str) -> str:
    """Whitespace collapsed; still at least 3 characters."""
    collapsed = " ".join(title.split())
    if len(collapsed) < 3:
        raise InvalidAd("title", "the title needs at least 3 characters")
    return collapsed


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


def _changed(uow: UnitOfWork, ad: Ad, actor: Actor) -> AdChanged:
    """Declare what a change of ``ad`` moves on: every search page, the ad's detail, and the own
    reads of its owner and of the actor (an admin acting on someone else's ad)."""
    uow.touch(SEARCH, ad_key(ad.id), user_key(ad.owner_id), user_key(actor.user_id))
    return AdChanged(ad_id=ad.id, owner_id=ad.owner_id, revision=ad.revision)


# -- handlers -----------------------------------------------------------------------------------


async def publish_ad(command: Command[PublishAd], uow: UnitOfWork) -> AdChanged:
    """A new active ad of the actor's, expiring after ``ttl_days``; its instant saved-search alerts
    are recorded with it (a queue that is down delays them, never loses them)."""
    new = command.payload.ad
    _check_province(new.province)
    await _check_category(uow.session, new.category_id)
    ad = Ad(
        owner_id=command.actor.user_id,
        category_id=new.category_id,
        title=_title(new.title),
        description=new.description.strip(),
        price=None if new.price is None else check_price(to_amount(new.price)),
        currency=new.currency,
        province_code=new.province,
        locality=" ".join(new.locality.split()),
        condition=new.condition,
        status="active",
        is_featured=False,
        expires_at=uow.now + timedelta(days=command.payload.ttl_days),
        revision=1,
    )
    uow.session.add(ad)
    await uow.session.flush()
    await uow.add_job(ALERT_JOB, key=f"alert:{ad.id}", ad_id=str(ad.id))
    return _changed(uow, ad, command.actor)


async def update_ad(command: Command[UpdateAd], uow: UnitOfWork) -> AdChanged:
    update = command.payload
    ad = await _load_for_change(uow.session, command.actor, update.ad_id)
    if update.expected_revision is not None and update.expected_revision != ad.revision:
        raise StaleAd
    changes = update.changes
    if changes.title is not UNSET:
        ad.title = _title(changes.title)
    if changes.description is not UNSET:
        ad.description = changes.description.strip()
    if changes.price is not UNSET:
        ad.price = None if changes.price is None else check_price(to_amount(changes.price))
    if changes.currency is not UNSET:
        ad.currency = changes.currency
    if changes.category_id is not UNSET:
        await _check_category(uow.session, changes.category_id)
        ad.category_id = changes.category_id
    if changes.province is not UNSET:
        _check_province(changes.province)
        ad.province_code = changes.province
    if changes.locality is not UNSET:
        ad.locality = " ".join(changes.locality.split())
    if changes.condition is not UNSET:
        ad.condition = changes.condition
    ad.revision += 1
    await uow.session.flush()
    return _changed(uow, ad, command.actor)


async def change_ad_status(command: Command[ChangeAdStatus], uow: UnitOfWork) -> AdChanged:
    """Pause, reactivate or mark sold; asking for the current status changes nothing."""
    wanted = command.payload.status
    ad = await _load_for_change(uow.session, command.actor, command.payload.ad_id)
    if ad.suspended_at is not None and not command.actor.is_admin:
        raise ForbiddenTransition("a suspended ad cannot change status")
    check_transition(ad.status, wanted)
    if ad.status != wanted:
        ad.status = wanted
        ad.revision += 1
        await uow.session.flush()
    return _changed(uow, ad, command.actor)


async def renew_ad(command: Command[RenewAd], uow: UnitOfWork) -> AdChanged:
    ad = await _load_for_change(uow.session, command.actor, command.payload.ad_id)
    if ad.owner_id != command.actor.user_id:
        raise NotYourAd("only the owner can renew this ad")
    if not can_renew(ad.status, ad.expires_at, uow.now):
        raise ForbiddenTransition("only an expired ad, or one expiring within 3 days, can be renewed")
    ad.status = "active"
    ad.expires_at = uow.now + timedelta(days=command.payload.ttl_days)
    ad.expiry_warned_at = None
    ad.revision += 1
    await uow.session.flush()
    return _changed(uow, ad, command.actor)


_DELETE_IMAGES = text("DELETE FROM ad_images WHERE ad_id = :id RETURNING original_key, sizes")


async def delete_ad(command: Command[DeleteAd], uow: UnitOfWork) -> AdChanged:
    """Soft: the row stays, marked deleted (404 to everyone from then on). Its images go: the rows
    now, the files (original and sizes, on disk or in the bucket behind the CDN) by a job recorded
    in this transaction."""
    ad = await _load_for_change(uow.session, command.actor, command.payload.ad_id)
    ad.deleted_at = uow.now
    ad.revision += 1
    media: list[str] = []
    for original, sizes in (await uow.session.execute(_DELETE_IMAGES, {"id": ad.id})).all():
        media.append(original)
        media.extend((sizes or {}).values())
    await uow.session.flush()
    if media:
        await uow.add_job(PURGE_MEDIA_JOB, key=f"purge-media:ad:{ad.id}", keys="\n".join(media))
    return _changed(uow, ad, command.actor)


async def suspend_ad(command: Command[SuspendAd], uow: UnitOfWork) -> AdChanged:
    """The ad leaves search and detail (but for its owner and admins); suspending twice is a no-op."""
    query = select(Ad).where(Ad.id == command.payload.ad_id, Ad.deleted_at.is_(None)).with_for_update()
    ad = await uow.session.scalar(query)
    if ad is None:
        raise AdNotFound
    if ad.suspended_at is None:
        ad.suspended_at = uow.now
        ad.revision += 1
        await uow.session.flush()
    return _changed(uow, ad, command.actor)


_PUBLIC_AD = text(f"SELECT 1 FROM ads a JOIN users u ON u.id = a.owner_id WHERE a.id = :id AND {PUBLIC_AD_SQL}")


async def save_favorite(command: Command[SaveFavorite], uow: UnitOfWork) -> None:
    """Idempotent; only an ad anyone can see can be saved."""
    ad_id, user_id = command.payload.ad_id, command.actor.user_id
    if await uow.session.scalar(_PUBLIC_AD, {"id": ad_id}) is None:
        raise AdNotFound
    await uow.session.execute(
        insert(Favorite).values(user_id=user_id, ad_id=ad_id, created_at=uow.now).on_conflict_do_nothing()
    )
    uow.touch(user_key(user_id))


async def unsave_favorite(command: Command[UnsaveFavorite], uow: UnitOfWork) -> None:
    """Idempotent: unsaving an ad that is not saved (or gone) is fine."""
    user_id = command.actor.user_id
    await uow.session.execute(
        delete(Favorite).where(Favorite.user_id == user_id, Favorite.ad_id == command.payload.ad_id)
    )
    uow.touch(user_key(user_id))


async def report_ad(command: Command[ReportAd], uow: UnitOfWork) -> UUID:
    """One report per user and ad, of an ad anyone can see; returns the report's id."""
    payload = command.payload
    if await uow.session.scalar(_PUBLIC_AD, {"id": payload.ad_id}) is None:
        raise AdNotFound
    report = Report(
        ad_id=payload.ad_id,
        reporter_id=command.actor.user_id,
        reason=payload.report.reason,
        detail=payload.report.detail.strip() if payload.report.detail else None,
    )
    try:
        async with uow.session.begin_nested():
            uow.session.add(report)
            await uow.session.flush()
    except IntegrityError as exc:
        raise AlreadyReported from exc
    return report.id


# -- the expiry job's commands ------------------------------------------------------------------

EXPIRE_BATCH = 1000
"""Ads one expiry statement marks; the job repeats it, in its one transaction, until fewer come back."""

_EXPIRE = text(
    f"""
    UPDATE ads
    SET status = 'expired', updated_at = :now, revision = revision + 1
    WHERE id IN (
        SELECT id FROM ads
        WHERE status = 'active' AND deleted_at IS NULL AND expires_at <= :now
        ORDER BY expires_at LIMIT {EXPIRE_BATCH}
    )
    RETURNING id
    """
)
"""In batches, oldest expiry first, with the batch size written into the statement: under a generic
plan (asyncpg prepares it; PostgreSQL may stop re-planning after five runs) ``expires_at <= $1`` is
estimated at a third of the table, and at 1 000 000 ads that plan scanned ``ads`` sequentially;
``ORDER BY expires_at LIMIT 1000`` walks ``ix_ads_active_expires_at`` whatever the time."""


class ExpireAds(CamelStruct):
    """Mark every active ad whose ``expiresAt`` has passed as ``expired`` (it leaves search)."""


class AdsExpired(CamelStruct):
    ad_ids: list[UUID]

    @property
    def count(self) -> int:
        return len(self.ad_ids)


async def expire_ads(command: Command[ExpireAds], uow: UnitOfWork) -> AdsExpired:
    """Idempotent: a second run finds nothing left to expire. Served by ``ix_ads_active_expires_at``.
    Search pages and the expired ads' details move on (search filters on ``expiresAt`` anyway:
    cached pages only held them until then)."""
    expired = AdsExpired(ad_ids=[])
    while True:
        batch = [row[0] for row in (await uow.session.execute(_EXPIRE, {"now": uow.now})).all()]
        expired.ad_ids.extend(batch)
        if len(batch) < EXPIRE_BATCH:
            break
    if expired.ad_ids:
        uow.touch(SEARCH, *(ad_key(ad_id) for ad_id in expired.ad_ids))
    return expired


class WarnExpiringAds(CamelStruct):
    """Owners of active ads expiring within 3 days get one email per ad and expiry date."""


_WARN = text(
    f"""
    UPDATE ads a SET expiry_warned_at = :now
    FROM users u
    WHERE u.id = a.owner_id AND {PUBLIC_AD_SQL}
      AND a.expires_at <= :until AND a.expiry_warned_at IS NULL
    RETURNING a.id, a.title, a.expires_at, u.email, u.name
    """
)
"""Public ads (only what anyone can see is worth renewing) expiring within the warning window."""


async def warn_expiring_ads(command: Command[WarnExpiringAds], uow: UnitOfWork) -> int:
    """Marks the ads warned (a renew clears the mark) and queues their owners' emails with the
    marks; returns how many ads were warned. Served by ``ix_ads_active_expires_at``."""
    now = uow.now
    rows = (await uow.session.execute(_WARN, {"now": now, "until": now + EXPIRY_WARNING})).all()
    for ad_id, title, expires_at, email, name in rows:
        subject, body = expiring_email(name, title, expires_at)
        await uow.add_email(
            QueueEmail(
                kind="ad_expiring",
                dedupe_key=f"expiring:{ad_id}:{expires_at:%Y%m%d}",
                to=email,
                subject=subject,
                body=body,
            )
        )
    return len(rows)
