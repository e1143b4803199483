"""Ads (API.md: Ads): commands on the primary, queries through the cache and the read side.

Writes commit, then bump the cache generations to the commit's WAL position (LSN): the next
search or detail misses and loads rows at least that fresh. Reads put the generation in the cache
key and read with ``after_lsn`` = generation, so a lagging replica never refills a key with rows
from before the write.
"""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.di import NamedDependency
from litestar.enums import MediaType
from litestar.exceptions import NotFoundException
from litestar.openapi.spec import Example
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from domain.ads.commands import (
    Actor,
    AdChanged,
    AdChanges,
    ChangeAdStatus,
    DeleteAd,
    NewAd,
    NewReport,
    PublishAd,
    RenewAd,
    ReportAd,
    SaveFavorite,
    StatusChange,
    SuspendAd,
    UpdateAd,
    change_ad_status,
    delete_ad,
    publish_ad,
    renew_ad,
    report_ad,
    save_favorite,
    suspend_ad,
    update_ad,
)
from domain.ads.queries import (
    MAX_CATEGORY_LENGTH,
    MAX_PAGE_SIZE,
    MAX_PROVINCE_LENGTH,
    MAX_QUERY_LENGTH,
    AdDetail,
    AdSummary,
    CategoryTree,
    OpenReport,
    OwnAdSummary,
    SearchAds,
    cache_key,
    get_ad,
    list_favorites,
    list_open_reports,
    list_own_ads,
    normalise_search,
    search_ads,
)
from domain.ads.saved_searches import (
    MAX_SAVED_SEARCHES,
    NewSavedSearch,
    SavedSearchRead,
    delete_saved_search,
    list_saved_searches,
    save_search,
)
from domain.catalog.queries import ListCategories, list_categories
from domain.catalog.reference import PROVINCE_CODES
from domain.messaging.outbox import EmailDeliveryRead, list_deliveries
from domain.shared.fields import AMOUNT_PATTERN, CURSOR_PATTERN, LINE_PATTERN, to_amount
from domain.shared.job_outbox import record_job
from domain.shared.structs import CamelStruct, ReadModel
from infrastructure.database.reads import lsn_to_int
from infrastructure.generations import SEARCH, ad_generation, user_writes
from rural24.auth import AUTH_OPTIONAL, CurrentUser, current_user, requires_admin
from rural24.idempotency import IdempotencyKeyHeader, idempotent
from rural24.openapi import CACHE_CONTROL, ETAG, LOCATION, REPLAYED, X_CACHE, IfMatch, IfNoneMatch, documented
from rural24.ratelimit import limit_search
from rural24.state import Services

PUBLIC_CACHE = "public, s-maxage=300, stale-while-revalidate=600"
PRIVATE = "private, no-store"

_encoder = msgspec.json.Encoder()

_AMOUNT_DOC: dict[str, Any] = {
    "description": 'A decimal, 0 to 9999999999999.99, at most 2 decimals ("45000.00"); needs `currency`.',
    "examples": [Example(value="45000.00")],
}


class SearchResponse(ReadModel):
    """The search page as sent (``cached``: whether it came from the cache)."""

    results: list[AdSummary]
    page: int
    page_size: int
    next_cursor: str | None
    cached: bool


class ReportAccepted(CamelStruct):
    report_id: UUID


# -- helpers shared by the handlers ------------------------------------------------------------


def _actor(request: Request[Any, Any, Any]) -> Actor:
    user = current_user(request)
    return Actor(user_id=user.id, is_admin=user.is_admin)


def _viewer(request: Request[Any, Any, Any]) -> CurrentUser | None:
    user = request.scope.get("user")
    return user if isinstance(user, CurrentUser) else None


def _not_modified(request: Request[Any, Any, Any], etag: str) -> bool:
    header = request.headers.get("if-none-match")
    if not header:
        return False
    return header.strip() == "*" or etag in {tag.strip().removeprefix("W/") for tag in header.split(",")}


def _respond(
    request: Request[Any, Any, Any],
    body: bytes,
    etag: str,
    cache_control: str,
    status_code: int = HTTP_200_OK,
    extra_headers: dict[str, str] | None = None,
) -> Response[bytes]:
    headers = {"ETag": etag, "Cache-Control": cache_control, **(extra_headers or {})}
    if status_code == HTTP_200_OK and _not_modified(request, etag):
        return Response(b"", status_code=304, headers=headers)
    return Response(body, status_code=status_code, media_type=MediaType.JSON, headers=headers)


def _revision_etag(revision: int) -> str:
    return f'"r{revision}"'


_MAX_REVISION_DIGITS = 18
"""Revisions are ``bigint``; a longer tag was not ours (and ``int()`` of thousands of digits is
refused by Python's int-string limit)."""


def _if_match_revision(request: Request[Any, Any, Any]) -> int | None:
    """The revision an ``If-Match`` names; an unparseable or absurd one can never match (412)."""
    header = request.headers.get("if-match")
    if header is None or header.strip() == "*":
        return None
    tag = header.split(",", 1)[0].strip().removeprefix("W/").strip('"')
    digits = tag[1:]
    if tag.startswith("r") and 0 < len(digits) <= _MAX_REVISION_DIGITS and digits.isascii() and digits.isdigit():
        return int(digits)
    return -1


async def _commit_and_invalidate(
    session: AsyncSession, services: Services, changed: AdChanged, actor_id: UUID | None = None
) -> int:
    """Commit, then move the caches past this write; returns the commit's LSN."""
    await session.commit()
    lsn_text = await session.scalar(text("SELECT pg_current_wal_insert_lsn()::text"))
    await session.commit()
    lsn = lsn_to_int(str(lsn_text))
    names = {SEARCH, ad_generation(changed.ad_id), user_writes(changed.owner_id)}
    if actor_id is not None:
        names.add(user_writes(actor_id))
    await services.generations.bump(lsn, *names)
    return lsn


_trees: dict[int, tuple[float, CategoryTree]] = {}


async def _category_tree(services: Services) -> CategoryTree:
    """The category tree for search filters, rebuilt at most once a minute per process."""
    cached = _trees.get(id(services))
    if cached is not None and time.monotonic() - cached[0] < 60:
        return cached[1]
    tree = CategoryTree(await list_categories(ListCategories(), services.read_side))
    _trees[id(services)] = (time.monotonic(), tree)
    return tree


async def _detail_response(
    request: Request[Any, Any, Any], services: Services, ad_id: UUID, status_code: int = HTTP_200_OK
) -> Response[bytes]:
    """The ad as the caller may see it: public and cached, private for its owner/admin, else 404."""
    viewer = _viewer(request)
    ad_gen, own_gen = await services.generations.get(
        ad_generation(ad_id), user_writes(viewer.id) if viewer else "anonymous"
    )
    after_lsn = max(ad_gen, own_gen) if min(ad_gen, own_gen) >= 0 else None
    store_ok = ad_gen >= 0
    key = f"ad:{ad_id}:{ad_gen}"

    if store_ok and status_code == HTTP_200_OK:
        # cached value: b"<revision>\n<encoded detail>" (public details only)
        raw = await services.query_cache.peek(key)
        if raw is not None:
            revision, _, body = raw.partition(b"\n")
            etag = _revision_etag(int(revision))
            return _respond(request, body, etag, PUBLIC_CACHE, extra_headers={"X-Cache": "hit"})

    visible = await get_ad(ad_id, services.read_side, services.media.url, after_lsn=after_lsn or None)
    if visible is None:
        raise NotFoundException("ad not found")
    body = _encoder.encode(visible.detail)
    etag = _revision_etag(visible.revision)
    if visible.public:
        if store_ok:
            await services.query_cache.put(
                key, str(visible.revision).encode() + b"\n" + body, services.settings.cache.ad_ttl
            )
        return _respond(request, body, etag, PUBLIC_CACHE, status_code, {"X-Cache": "miss"})
    if viewer is None or (viewer.id != visible.owner_id and not viewer.is_admin):
        raise NotFoundException("ad not found")
    return _respond(request, body, etag, PRIVATE, status_code)


# -- controllers --------------------------------------------------------------------------------


class AdsController(Controller):
    path = "/api/ads"
    tags = ["ads"]

    @post(
        "/",
        status_code=HTTP_201_CREATED,
        summary="Publish an ad",
        **documented("publishAd", "user", body=True, errors=(409,), headers=(LOCATION, ETAG, CACHE_CONTROL, REPLAYED)),
        description=(
            "The owner is the caller. `status`, `isFeatured`, owner and timestamps cannot be set (422). "
            "The ad expires after `AD_TTL_DAYS` (30). Prices are decimal strings in `currency`. "
            "`Idempotency-Key`: a retry with the same key and body returns the first response "
            "(`Idempotent-Replayed: true`) and creates nothing; same key, other body → 422; "
            "while the first is still running → 409. Keys are kept 24 h, per user."
        ),
    )
    async def publish(
        self,
        data: JSONBody[NewAd],
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        services: NamedDependency[Services],
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[AdDetail]:
        actor = _actor(request)

        async def handle() -> Response[AdDetail]:
            command = PublishAd(actor=actor, ad=data, ttl_days=services.settings.app.ad_ttl_days, now=datetime.now(UTC))
            changed = await publish_ad(command, db_session)
            # instant saved-search alerts, in the background: recorded with the ad, so never lost
            alerts = await record_job(
                db_session, "alert_saved_searches", key=f"alert:{changed.ad_id}", ad_id=str(changed.ad_id)
            )
            await _commit_and_invalidate(db_session, services, changed)
            await services.jobs.dispatch(alerts, db_session)
            response = await _detail_response(request, services, changed.ad_id, HTTP_201_CREATED)
            response.headers["Location"] = f"/api/ads/{changed.ad_id}"
            response.headers["Cache-Control"] = PRIVATE
            return response  # type: ignore[return-value]  # pre-encoded AdDetail

        return await idempotent(
            request, scope="ads.create", user_id=str(actor.user_id), store=services.idempotency, handle=handle
        )

    @get(
        "/search",
        opt=AUTH_OPTIONAL,
        summary="Search ads",
        **documented("searchAds", "optional", errors=(422,), not_modified=True, headers=(ETAG, CACHE_CONTROL, X_CACHE)),
        description=(
            "Only active, unexpired, non-suspended ads of non-blocked sellers. `q` is Spanish full text, "
            "accent- and plural-insensitive. `category` is a slug or id and includes sub-categories. "
            "`minPrice`/`maxPrice` need `currency`. `sort`: `recent` (featured first, then newest), "
            "`price_asc`, `price_desc`, `relevance` (needs `q`). Page with `page` or with `cursor` "
            "(`nextCursor` of the previous page; keyset, stable while ads are added). "
            "`cached` tells whether the page came from the cache; a publish, edit or removal shows in "
            "the next search at the origin. `If-None-Match` → 304. Limited per client address "
            "(`RATE_LIMIT_SEARCH`): 429 with `Retry-After` beyond."
        ),
        cache_control=None,
    )
    async def search(
        self,
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        q: Annotated[str | None, QueryParameter(max_length=MAX_QUERY_LENGTH, pattern=LINE_PATTERN)] = None,
        category: Annotated[
            str | None,
            QueryParameter(max_length=MAX_CATEGORY_LENGTH, pattern=LINE_PATTERN, description="A slug or an id."),
        ] = None,
        province: Annotated[
            str | None,
            QueryParameter(
                max_length=MAX_PROVINCE_LENGTH, pattern=LINE_PATTERN, description="A code from GET /api/provinces."
            ),
        ] = None,
        min_price: Annotated[str | None, QueryParameter(name="minPrice", pattern=AMOUNT_PATTERN, **_AMOUNT_DOC)] = None,
        max_price: Annotated[str | None, QueryParameter(name="maxPrice", pattern=AMOUNT_PATTERN, **_AMOUNT_DOC)] = None,
        currency: FromQuery[Literal["ARS", "USD"] | None] = None,
        condition: FromQuery[Literal["new", "used"] | None] = None,
        sort: FromQuery[Literal["recent", "price_asc", "price_desc", "relevance"]] = "recent",
        page: Annotated[int, QueryParameter(ge=1, le=200)] = 1,
        page_size: Annotated[int, QueryParameter(name="pageSize", ge=1, le=MAX_PAGE_SIZE)] = MAX_PAGE_SIZE,
        cursor: Annotated[str | None, QueryParameter(max_length=512, pattern=CURSOR_PATTERN)] = None,
        if_none_match: IfNoneMatch = None,  # documents the header; _respond reads it
    ) -> Response[SearchResponse]:
        await limit_search(services, request)
        tree = await _category_tree(services)
        query = normalise_search(
            SearchAds(
                q=q,
                category=category,
                province=province,
                min_price=None if min_price is None else to_amount(min_price),
                max_price=None if max_price is None else to_amount(max_price),
                currency=currency,
                condition=condition,
                sort=sort,
                page=page,
                page_size=page_size,
                cursor=cursor,
            ),
            tree,
            PROVINCE_CODES,
        )
        (generation,) = await services.generations.get(SEARCH)

        async def load() -> bytes:
            """``<etag>\n<encoded page>``: the ETag is computed once, when the page is built."""
            found = await search_ads(query, services.read_side, tree, services.media.url, after_lsn=generation or None)
            fragment = _encoder.encode(found)
            return b'"s' + hashlib.blake2b(fragment, digest_size=12).hexdigest().encode() + b'"\n' + fragment

        if generation < 0:  # generations unknown (Redis down): no cache entry can be trusted
            entry, cached = await load(), False
        else:
            digest = hashlib.blake2b(cache_key(query), digest_size=16).hexdigest()
            entry, cached = await services.query_cache.get_or_load(
                f"search:{generation}:{digest}", services.settings.cache.search_ttl, load
            )
        etag_bytes, _, fragment = entry.partition(b"\n")
        etag = etag_bytes.decode()
        body = fragment[:-1] + (b',"cached":true}' if cached else b',"cached":false}')
        return _respond(request, body, etag, PUBLIC_CACHE, extra_headers={"X-Cache": "hit" if cached else "miss"})  # type: ignore[return-value]

    @get(
        "/{id:uuid}",
        opt=AUTH_OPTIONAL,
        summary="Ad detail",
        **documented("getAd", "optional", errors=(404,), not_modified=True, headers=(ETAG, CACHE_CONTROL, X_CACHE)),
        description=(
            "With images and a seller summary. Deleted, suspended or non-active ads are 404 except to "
            "their owner and admins (who get `private, no-store`). `ETag` (the ad's revision) and "
            "`If-None-Match` → 304; the same ETag serves `If-Match` on PATCH."
        ),
    )
    async def detail(
        self,
        id: FromPath[UUID],
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        if_none_match: IfNoneMatch = None,  # documents the header; _respond reads it
    ) -> Response[AdDetail]:
        return await _detail_response(request, services, id)  # type: ignore[return-value]

    @patch(
        "/{id:uuid}",
        summary="Change an ad",
        **documented("updateAd", "user", body=True, errors=(403, 404, 412), headers=(ETAG, CACHE_CONTROL)),
        description=(
            "Owner or admin. Partial: only what is sent changes. `If-Match: <ETag>` → 412 when the ad "
            "changed since (lost updates are refused). Fields that cannot be set (`status`, `isFeatured` …) → 422."
        ),
    )
    async def update(
        self,
        id: FromPath[UUID],
        data: JSONBody[AdChanges],
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        services: NamedDependency[Services],
        if_match: IfMatch = None,  # documents the header; _if_match_revision reads it
    ) -> Response[AdDetail]:
        actor = _actor(request)
        command = UpdateAd(actor=actor, ad_id=id, changes=data, expected_revision=_if_match_revision(request))
        changed = await update_ad(command, db_session)
        await _commit_and_invalidate(db_session, services, changed, actor.user_id)
        return await _private_detail(request, services, id)

    @delete(
        "/{id:uuid}",
        status_code=HTTP_204_NO_CONTENT,
        summary="Delete an ad (soft)",
        **documented("deleteAd", "user", errors=(403, 404)),
    )
    async def remove(
        self,
        id: FromPath[UUID],
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        services: NamedDependency[Services],
    ) -> None:
        actor = _actor(request)
        changed = await delete_ad(DeleteAd(actor=actor, ad_id=id, now=datetime.now(UTC)), db_session)
        await _commit_and_invalidate(db_session, services, changed, actor.user_id)

    @post(
        "/{id:uuid}/status",
        status_code=HTTP_200_OK,
        summary="Pause, reactivate or mark sold",
        **documented("changeAdStatus", "user", body=True, errors=(403, 404, 409), headers=(ETAG, CACHE_CONTROL)),
    )
    async def change_status(
        self,
        id: FromPath[UUID],
        data: JSONBody[StatusChange],
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        services: NamedDependency[Services],
    ) -> Response[AdDetail]:
        actor = _actor(request)
        changed = await change_ad_status(ChangeAdStatus(actor=actor, ad_id=id, status=data.status), db_session)
        await _commit_and_invalidate(db_session, services, changed, actor.user_id)
        return await _private_detail(request, services, id)

    @post(
        "/{id:uuid}/renew",
        status_code=HTTP_200_OK,
        summary="Renew an expired or expiring ad",
        **documented("renewAd", "user", errors=(403, 404, 409), headers=(ETAG, CACHE_CONTROL)),
        description="Owner only; an ad that has expired or expires within 3 days gets a new `expiresAt`.",
    )
    async def renew(
        self,
        id: FromPath[UUID],
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        services: NamedDependency[Services],
    ) -> Response[AdDetail]:
        actor = _actor(request)
        command = RenewAd(actor=actor, ad_id=id, ttl_days=services.settings.app.ad_ttl_days, now=datetime.now(UTC))
        changed = await renew_ad(command, db_session)
        await _commit_and_invalidate(db_session, services, changed, actor.user_id)
        return await _private_detail(request, services, id)

    @post(
        "/{id:uuid}/report",
        status_code=HTTP_202_ACCEPTED,
        summary="Report an ad to the moderators",
        **documented("reportAd", "user", body=True, errors=(404, 409)),
        description="One report per user and ad (409 for a second one).",
    )
    async def report(
        self,
        id: FromPath[UUID],
        data: JSONBody[NewReport],
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
    ) -> ReportAccepted:
        report_id = await report_ad(ReportAd(actor=_actor(request), ad_id=id, report=data), db_session)
        await db_session.commit()
        return ReportAccepted(report_id)

    @put(
        "/{id:uuid}/favorite",
        status_code=HTTP_204_NO_CONTENT,
        summary="Save an ad",
        **documented("favoriteAd", "user", errors=(404,)),
    )
    async def favorite(
        self,
        id: FromPath[UUID],
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        services: NamedDependency[Services],
    ) -> None:
        await self._favorite(id, request, db_session, services, saved=True)

    @delete(
        "/{id:uuid}/favorite",
        status_code=HTTP_204_NO_CONTENT,
        summary="Unsave an ad",
        **documented("unfavoriteAd", "user", errors=(404,)),
    )
    async def unfavorite(
        self,
        id: FromPath[UUID],
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        services: NamedDependency[Services],
    ) -> None:
        await self._favorite(id, request, db_session, services, saved=False)

    @staticmethod
    async def _favorite(
        ad_id: UUID, request: Request[Any, Any, Any], session: AsyncSession, services: Services, *, saved: bool
    ) -> None:
        user = current_user(request)
        await save_favorite(SaveFavorite(user_id=user.id, ad_id=ad_id, saved=saved), session)
        await _commit_user_write(session, services, user.id)


async def _private_detail(request: Request[Any, Any, Any], services: Services, ad_id: UUID) -> Response[AdDetail]:
    """After a change: the caller's fresh view of the ad, never stored by shared caches."""
    response = await _detail_response(request, services, ad_id)
    response.headers["Cache-Control"] = PRIVATE
    return response  # type: ignore[return-value]


class MyAdsController(Controller):
    path = "/api/me"
    tags = ["ads"]

    @get(
        "/ads",
        summary="Own ads, every status",
        **documented("listMyAds", "user", errors=(422,), headers=(CACHE_CONTROL,)),
        description="Always fresh: the primary, or a replica that has replayed the caller's last write.",
    )
    async def own_ads(
        self,
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        page: Annotated[int, QueryParameter(ge=1, le=1000)] = 1,
        page_size: Annotated[int, QueryParameter(name="pageSize", ge=1, le=MAX_PAGE_SIZE)] = MAX_PAGE_SIZE,
    ) -> Response[list[OwnAdSummary]]:
        user = current_user(request)
        after_lsn = await _own_position(services, user.id)
        ads = await list_own_ads(user.id, page, page_size, services.read_side, services.media.url, after_lsn=after_lsn)
        return Response(ads, headers={"Cache-Control": PRIVATE})

    @get(
        "/favorites",
        summary="Saved ads",
        description="Saved ads that are still live, newest saved first.",
        **documented("listMyFavorites", "user", errors=(422,), headers=(CACHE_CONTROL,)),
    )
    async def favorites(
        self,
        request: Request[Any, Any, Any],
        services: NamedDependency[Services],
        page: Annotated[int, QueryParameter(ge=1, le=1000)] = 1,
        page_size: Annotated[int, QueryParameter(name="pageSize", ge=1, le=MAX_PAGE_SIZE)] = MAX_PAGE_SIZE,
    ) -> Response[list[AdSummary]]:
        user = current_user(request)
        after_lsn = await _own_position(services, user.id)
        ads = await list_favorites(
            user.id, page, page_size, services.read_side, services.media.url, after_lsn=after_lsn
        )
        return Response(ads, headers={"Cache-Control": PRIVATE})


class SavedSearchesController(Controller):
    path = "/api/me/saved-searches"
    tags = ["ads"]

    @post(
        "/",
        status_code=HTTP_201_CREATED,
        summary="Save a search",
        **documented("createSavedSearch", "user", body=True, errors=(409,), headers=(CACHE_CONTROL,)),
        description=(
            "The search's filters (the same as `GET /api/ads/search` takes) and `frequency`: `instant` "
            "(an email as each matching ad is published) or `daily` (one email a day listing them). "
            f"At most {MAX_SAVED_SEARCHES} per user (409 beyond)."
        ),
    )
    async def create(
        self,
        data: JSONBody[NewSavedSearch],
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        services: NamedDependency[Services],
    ) -> Response[SavedSearchRead]:
        user = current_user(request)
        tree = await _category_tree(services)
        search_id = await save_search(user.id, data, db_session, tree, PROVINCE_CODES)
        await _commit_user_write(db_session, services, user.id)
        saved = await list_saved_searches(user.id, services.read_side.on_primary(), after_lsn=None)
        created = next(s for s in saved if s.id == search_id)
        return Response(created, status_code=HTTP_201_CREATED, headers={"Cache-Control": PRIVATE})

    @get("/", summary="Own saved searches", **documented("listSavedSearches", "user", headers=(CACHE_CONTROL,)))
    async def list_mine(
        self, request: Request[Any, Any, Any], services: NamedDependency[Services]
    ) -> Response[list[SavedSearchRead]]:
        user = current_user(request)
        after_lsn = await _own_position(services, user.id)
        saved = await list_saved_searches(user.id, services.read_side, after_lsn=after_lsn)
        return Response(saved, headers={"Cache-Control": PRIVATE})

    @delete(
        "/{id:uuid}",
        status_code=HTTP_204_NO_CONTENT,
        summary="Delete a saved search",
        **documented("deleteSavedSearch", "user", errors=(404,)),
    )
    async def remove(
        self,
        id: FromPath[UUID],
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        services: NamedDependency[Services],
    ) -> None:
        user = current_user(request)
        if not await delete_saved_search(user.id, id, db_session):
            raise NotFoundException("saved search not found")
        await _commit_user_write(db_session, services, user.id)


async def _commit_user_write(session: AsyncSession, services: Services, user_id: UUID) -> None:
    """Commit a write only its author reads back, and remember its position for their next reads."""
    await session.commit()
    lsn_text = await session.scalar(text("SELECT pg_current_wal_insert_lsn()::text"))
    await session.commit()
    await services.generations.bump(lsn_to_int(str(lsn_text)), user_writes(user_id))


async def _own_position(services: Services, user_id: UUID) -> int | None:
    (position,) = await services.generations.get(user_writes(user_id))
    if position < 0:  # unknown (Redis down): only the primary is surely fresh
        return 1 << 62
    return position or None


class AdminAdsController(Controller):
    path = "/api/admin"
    tags = ["admin"]
    guards = [requires_admin]

    @post(
        "/ads/{id:uuid}/suspend",
        status_code=HTTP_204_NO_CONTENT,
        summary="Suspend an ad (moderation)",
        **documented("suspendAd", "admin", errors=(404,)),
        description="The ad leaves search and detail at once (404 to everyone but its owner and admins).",
    )
    async def suspend(
        self,
        id: FromPath[UUID],
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        services: NamedDependency[Services],
    ) -> None:
        changed = await suspend_ad(SuspendAd(ad_id=id, now=datetime.now(UTC)), db_session)
        await _commit_and_invalidate(db_session, services, changed, current_user(request).id)

    @get(
        "/emails",
        summary="Emails by delivery state",
        **documented("listEmails", "admin", errors=(422,), headers=(CACHE_CONTROL,)),
        description="`failed`: gave up after 3 attempts (the last error is kept); `pending`: not sent yet.",
    )
    async def emails(
        self,
        services: NamedDependency[Services],
        status: FromQuery[Literal["failed", "pending", "sent"]] = "failed",
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
    ) -> Response[list[EmailDeliveryRead]]:
        deliveries = await list_deliveries(status, limit, services.read_side.on_primary())
        return Response(deliveries, headers={"Cache-Control": PRIVATE})

    @get(
        "/reports",
        summary="Open reports, newest first",
        **documented("listReports", "admin", errors=(422,), headers=(CACHE_CONTROL,)),
    )
    async def reports(
        self,
        services: NamedDependency[Services],
        page: Annotated[int, QueryParameter(ge=1, le=1000)] = 1,
        page_size: Annotated[int, QueryParameter(name="pageSize", ge=1, le=MAX_PAGE_SIZE)] = MAX_PAGE_SIZE,
    ) -> Response[list[OpenReport]]:
        reports = await list_open_reports(page, page_size, services.read_side.on_primary())
        return Response(reports, headers={"Cache-Control": PRIVATE})
