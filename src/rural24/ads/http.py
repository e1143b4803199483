"""Ads over HTTP (API.md: Ads): parse, run the command (``commands``), shape the response.

Reads go through :class:`rural24.reading.Reads`: search pages and public details are cached under
their generations (which every write moves on, after its commit) and loaded from a copy at least
as fresh as those generations; the caller's own lists are fresh for the caller's own writes.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.openapi.spec import Example
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT
from litestar.types import Scope

from domain.ads.commands import (
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
    UnsaveFavorite,
    UpdateAd,
    change_ad_status,
    delete_ad,
    publish_ad,
    renew_ad,
    report_ad,
    save_favorite,
    suspend_ad,
    unsave_favorite,
    update_ad,
)
from domain.ads.queries import (
    MAX_CATEGORY_LENGTH,
    MAX_PAGE,
    MAX_PAGE_SIZE,
    MAX_PROVINCE_LENGTH,
    MAX_QUERY_LENGTH,
    AdDetail,
    AdSummary,
    CategoryTree,
    OpenReport,
    OwnAdSummary,
    SearchAds,
    SortOrder,
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
    DeleteSavedSearch,
    NewSavedSearch,
    SavedSearchRead,
    delete_saved_search,
    list_saved_searches,
    save_search,
)
from domain.ads.vocabulary import Condition, Currency
from domain.catalog.queries import ListCategories, list_categories
from domain.catalog.reference import PROVINCE_CODES
from domain.shared.fields import AMOUNT_PATTERN, CURSOR_PATTERN, LINE_PATTERN
from domain.shared.ports import ReadConnection
from domain.shared.structs import CamelStruct, ReadModel
from domain.shared.unit_of_work import SEARCH, Command, ad_key
from infrastructure.cache import CachedBody
from infrastructure.idempotency import IdempotencyStore
from infrastructure.media import MediaStorage
from infrastructure.settings import Settings
from rural24.accounts.gate import requires_verified_email
from rural24.auth import AUTH_OPTIONAL, current_actor, current_user, optional_user, requires_admin
from rural24.dependencies import Commands
from rural24.hot_reads import HotReads
from rural24.idempotency import IdempotencyKeyHeader, idempotent
from rural24.openapi import (
    CACHE_CONTROL,
    CDN_CACHE_CONTROL,
    CONTENT_ENCODING,
    ETAG,
    LOCATION,
    REPLAYED,
    VARY,
    X_CACHE,
    IfMatch,
    IfNoneMatch,
    documented,
)
from rural24.ratelimit import READS_GENERATIONS, ROUTE_LIMIT, Limits, prefetched_generations
from rural24.reading import (
    ANY_REPLICA,
    PRIMARY,
    PRIVATE,
    PUBLIC_CACHE,
    Reads,
    answer,
    content_etag,
    if_match_revision,
    make_private,
    respond,
    revision_etag,
)

_encoder = msgspec.json.Encoder()
_HIT = b',"cached":true}'
_MISS = b',"cached":false}'

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


class CategoryTrees:
    """The category tree search filters resolve categories against: read from any replica, rebuilt
    at most once every ``max_age`` seconds (categories change with a deployment, not with writes).
    One per process, in :class:`AdsPorts`."""

    def __init__(self, reads: Reads, max_age: float = 60.0) -> None:
        self._reads = reads
        self._max_age = max_age
        self._tree: CategoryTree | None = None
        self._built_at = 0.0

    async def get(self) -> CategoryTree:
        if self._tree is not None and time.monotonic() - self._built_at < self._max_age:
            return self._tree
        tree = CategoryTree(await list_categories(ListCategories(), self._reads.at(ANY_REPLICA)))
        self._tree, self._built_at = tree, time.monotonic()
        return tree

    def is_current(self, tree: CategoryTree) -> bool:
        """Whether ``tree`` is still the one :meth:`get` returns (no rebuild due): a hot read's
        recipe resolved its categories with it (``rural24.hot_reads``)."""
        return tree is self._tree and time.monotonic() - self._built_at < self._max_age


@dataclass(frozen=True, slots=True)
class AdsPorts:
    """What the ads routes use: the ``ads`` dependency, built once by ``rural24.ads.ads_plugin``.

    One dependency per route on purpose: Litestar resolves a route's sibling dependencies
    concurrently, in an anyio task group per request (measured ~25 µs each on the cached search),
    so the context's pieces travel together. ``commands`` (writes) is the only other one."""

    reads: Reads
    media: MediaStorage
    settings: Settings
    limits: Limits
    idempotency: IdempotencyStore
    category_trees: CategoryTrees
    hot_reads: HotReads


# -- helpers shared by the handlers ------------------------------------------------------------


def _detail_generation(scope: Scope) -> tuple[str]:
    """The generation a detail's cache key names: its ad's (the path's ``id``)."""
    return (ad_key(scope["path_params"]["id"]),)


async def _detail_response(
    request: Request[Any, Any, Any], ads: AdsPorts, ad_id: UUID, status_code: int = HTTP_200_OK
) -> Response[bytes]:
    """The ad as the caller may see it: public and cached, private for its owner/admin, else 404.

    The cache key follows the ad's generation only (the entry is shared by everyone); the load is
    also fresh for the viewer's own writes."""
    viewer = optional_user(request)
    reads = ads.reads
    snapshot = await reads.snapshot(
        "ad",
        ad_key(ad_id),
        suffix=str(ad_id),
        writer=viewer.id if viewer else None,
        known=prefetched_generations(request),  # the detail route's, read with its limits (Redis mode)
    )
    if status_code == HTTP_200_OK:
        cached = await reads.peek(snapshot)  # public details only; the ETag is the revision's
        if cached is not None:
            ads.hot_reads.remember(request, "ad", (ad_key(ad_id),), str(ad_id))
            return respond(request, cached, PUBLIC_CACHE, extra_headers={"X-Cache": "hit"})

    visible = await get_ad(ad_id, reads.at(snapshot.freshness), ads.media.url)
    if visible is None:
        raise NotFoundException("ad not found")
    body = _encoder.encode(visible.detail)
    etag = revision_etag(visible.revision)
    if visible.public:
        entry = CachedBody.build(body, etag)
        await reads.put(snapshot, entry, ads.settings.cache.ad_ttl)
        if snapshot.key is not None and status_code == HTTP_200_OK:
            ads.hot_reads.remember(request, "ad", (ad_key(ad_id),), str(ad_id))
        return respond(request, entry, PUBLIC_CACHE, status_code, {"X-Cache": "miss"})
    if viewer is None or (viewer.id != visible.owner_id and not viewer.is_admin):
        raise NotFoundException("ad not found")
    return respond(request, CachedBody(body, etag), PRIVATE, status_code)  # private: never compressed


async def _private_detail(request: Request[Any, Any, Any], ads: AdsPorts, ad_id: UUID) -> Response[AdDetail]:
    """After a change: the caller's fresh view of the ad, never stored by shared caches."""
    response = await _detail_response(request, ads, ad_id)
    make_private(response)
    return response  # type: ignore[return-value]  # pre-encoded AdDetail


# -- controllers --------------------------------------------------------------------------------


class AdsController(Controller):
    path = "/api/ads"
    tags = ["ads"]

    @post(
        "/",
        status_code=HTTP_201_CREATED,
        summary="Publish an ad",
        guards=[requires_verified_email],
        **documented(
            "publishAd", "user", body=True, errors=(403, 409), headers=(LOCATION, ETAG, CACHE_CONTROL, REPLAYED)
        ),
        description=(
            "The owner is the caller. `status`, `isFeatured`, owner and timestamps cannot be set (422). "
            "The ad expires after `AD_TTL_DAYS` (30). Prices are decimal strings in `currency`. "
            "`Idempotency-Key`: a retry with the same key and body returns the first response "
            "(`Idempotent-Replayed: true`) and creates nothing; same key, other body → 422; "
            "while the first is still running → 409. Keys are kept 24 h, per user. "
            "With `REQUIRE_EMAIL_VERIFICATION`, 403 until the user has verified their email."
        ),
    )
    async def publish(
        self,
        data: JSONBody[NewAd],
        request: Request[Any, Any, Any],
        commands: NamedDependency[Commands],
        ads: NamedDependency[AdsPorts],
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[AdDetail]:
        actor = current_actor(request)

        async def handle() -> Response[AdDetail]:
            payload = PublishAd(ad=data, ttl_days=ads.settings.app.ad_ttl_days)
            changed = await commands.handle(publish_ad, Command(actor, payload))
            response = await _detail_response(request, ads, changed.ad_id, HTTP_201_CREATED)
            response.headers["Location"] = f"/api/ads/{changed.ad_id}"
            make_private(response)
            return response  # type: ignore[return-value]  # pre-encoded AdDetail

        return await idempotent(
            request, scope="ads.create", user_id=str(actor.user_id), store=ads.idempotency, handle=handle
        )

    @get(
        "/search",
        # the search limit is counted with the global one, and the search generation read with
        # them: one Redis round trip before the cache (rural24/ratelimit.py)
        opt={**AUTH_OPTIONAL, ROUTE_LIMIT: "search", READS_GENERATIONS: (SEARCH,)},
        summary="Search ads",
        **documented(
            "searchAds",
            "optional",
            errors=(422,),
            not_modified=True,
            headers=(ETAG, CACHE_CONTROL, CDN_CACHE_CONTROL, X_CACHE, CONTENT_ENCODING, VARY),
        ),
        description=(
            "Only active, unexpired, non-suspended ads of non-blocked sellers. `q` is Spanish full text, "
            "accent- and plural-insensitive. `category` is a slug or id and includes sub-categories. "
            "`minPrice`/`maxPrice` need `currency`. `sort`: `recent` (featured first, then newest), "
            "`price_asc`, `price_desc`, `relevance` (needs `q`; ranks the first 1 000 matches in the "
            "`recent` order, so its pages end there). Page with `page` or with `cursor` "
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
        ads: NamedDependency[AdsPorts],
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
        currency: FromQuery[Currency | None] = None,
        condition: FromQuery[Condition | None] = None,
        sort: FromQuery[SortOrder] = "recent",
        page: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE)] = 1,
        page_size: Annotated[int, QueryParameter(name="pageSize", ge=1, le=MAX_PAGE_SIZE)] = MAX_PAGE_SIZE,
        cursor: Annotated[str | None, QueryParameter(max_length=512, pattern=CURSOR_PATTERN)] = None,
        if_none_match: IfNoneMatch = None,  # documents the header; respond() reads it
    ) -> Response[SearchResponse]:
        tree = await ads.category_trees.get()
        query = normalise_search(
            SearchAds(
                q=q,
                category=category,
                province=province,
                min_price=min_price,
                max_price=max_price,
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
        digest = hashlib.blake2b(cache_key(query), digest_size=16).hexdigest()
        snapshot = await ads.reads.snapshot("search", SEARCH, suffix=digest, known=prefetched_generations(request))

        async def load(db: ReadConnection) -> CachedBody:
            """The page as a hit sends it (``"cached":true``), its ETag and gzip copy made once, here."""
            fragment = _encoder.encode(await search_ads(query, db, tree, ads.media.url))
            return CachedBody.build(fragment[:-1] + _HIT, content_etag(fragment))

        entry, cached = await ads.reads.cached(snapshot, ads.settings.cache.search_ttl, load)
        if snapshot.key is not None:  # stored: the next anonymous ask is a hot read
            ads.hot_reads.remember(request, "search", (SEARCH,), digest, partial(ads.category_trees.is_current, tree))
        if not cached:  # the same page and ETag, saying it was loaded
            entry = answer(request, entry.body[: -len(_HIT)] + _MISS, entry.etag)
        return respond(  # type: ignore[return-value]  # pre-encoded SearchResponse
            request, entry, PUBLIC_CACHE, extra_headers={"X-Cache": "hit" if cached else "miss"}
        )

    @get(
        "/{id:uuid}",
        # the ad's generation is read with the limits, one Redis round trip (rural24/ratelimit.py)
        opt={**AUTH_OPTIONAL, READS_GENERATIONS: _detail_generation},
        summary="Ad detail",
        **documented(
            "getAd",
            "optional",
            errors=(404,),
            not_modified=True,
            headers=(ETAG, CACHE_CONTROL, CDN_CACHE_CONTROL, X_CACHE, CONTENT_ENCODING, VARY),
        ),
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
        ads: NamedDependency[AdsPorts],
        if_none_match: IfNoneMatch = None,  # documents the header; respond() reads it
    ) -> Response[AdDetail]:
        return await _detail_response(request, ads, id)  # type: ignore[return-value]

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
        commands: NamedDependency[Commands],
        ads: NamedDependency[AdsPorts],
        if_match: IfMatch = None,  # documents the header; if_match_revision() reads it
    ) -> Response[AdDetail]:
        payload = UpdateAd(ad_id=id, changes=data, expected_revision=if_match_revision(request))
        await commands.handle(update_ad, Command(current_actor(request), payload))
        return await _private_detail(request, ads, id)

    @delete(
        "/{id:uuid}",
        status_code=HTTP_204_NO_CONTENT,
        summary="Delete an ad (soft)",
        **documented("deleteAd", "user", errors=(403, 404)),
    )
    async def remove(
        self, id: FromPath[UUID], request: Request[Any, Any, Any], commands: NamedDependency[Commands]
    ) -> None:
        await commands.handle(delete_ad, Command(current_actor(request), DeleteAd(ad_id=id)))

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
        commands: NamedDependency[Commands],
        ads: NamedDependency[AdsPorts],
    ) -> Response[AdDetail]:
        await commands.handle(
            change_ad_status, Command(current_actor(request), ChangeAdStatus(ad_id=id, status=data.status))
        )
        return await _private_detail(request, ads, id)

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
        commands: NamedDependency[Commands],
        ads: NamedDependency[AdsPorts],
    ) -> Response[AdDetail]:
        payload = RenewAd(ad_id=id, ttl_days=ads.settings.app.ad_ttl_days)
        await commands.handle(renew_ad, Command(current_actor(request), payload))
        return await _private_detail(request, ads, id)

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
        commands: NamedDependency[Commands],
    ) -> ReportAccepted:
        report_id = await commands.handle(report_ad, Command(current_actor(request), ReportAd(ad_id=id, report=data)))
        return ReportAccepted(report_id)

    @put(
        "/{id:uuid}/favorite",
        status_code=HTTP_204_NO_CONTENT,
        summary="Save an ad",
        **documented("favoriteAd", "user", errors=(404,)),
    )
    async def favorite(
        self, id: FromPath[UUID], request: Request[Any, Any, Any], commands: NamedDependency[Commands]
    ) -> None:
        await commands.handle(save_favorite, Command(current_actor(request), SaveFavorite(ad_id=id)))

    @delete(
        "/{id:uuid}/favorite",
        status_code=HTTP_204_NO_CONTENT,
        summary="Unsave an ad",
        **documented("unfavoriteAd", "user", errors=(404,)),
    )
    async def unfavorite(
        self, id: FromPath[UUID], request: Request[Any, Any, Any], commands: NamedDependency[Commands]
    ) -> None:
        await commands.handle(unsave_favorite, Command(current_actor(request), UnsaveFavorite(ad_id=id)))


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
        ads: NamedDependency[AdsPorts],
        page: Annotated[int, QueryParameter(ge=1, le=1000)] = 1,
        page_size: Annotated[int, QueryParameter(name="pageSize", ge=1, le=MAX_PAGE_SIZE)] = MAX_PAGE_SIZE,
    ) -> Response[list[OwnAdSummary]]:
        user = current_user(request)
        db = ads.reads.at(await ads.reads.for_writer(user.id))
        found = await list_own_ads(user.id, page, page_size, db, ads.media.url)
        return Response(found, headers={"Cache-Control": PRIVATE})

    @get(
        "/favorites",
        summary="Saved ads",
        description="Saved ads that are still live, newest saved first.",
        **documented("listMyFavorites", "user", errors=(422,), headers=(CACHE_CONTROL,)),
    )
    async def favorites(
        self,
        request: Request[Any, Any, Any],
        ads: NamedDependency[AdsPorts],
        page: Annotated[int, QueryParameter(ge=1, le=1000)] = 1,
        page_size: Annotated[int, QueryParameter(name="pageSize", ge=1, le=MAX_PAGE_SIZE)] = MAX_PAGE_SIZE,
    ) -> Response[list[AdSummary]]:
        user = current_user(request)
        db = ads.reads.at(await ads.reads.for_writer(user.id))
        found = await list_favorites(user.id, page, page_size, db, ads.media.url)
        return Response(found, headers={"Cache-Control": PRIVATE})


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
        commands: NamedDependency[Commands],
        ads: NamedDependency[AdsPorts],
    ) -> Response[SavedSearchRead]:
        actor = current_actor(request)
        search_id = await commands.handle(save_search, Command(actor, data))
        saved = await list_saved_searches(actor.user_id, ads.reads.at(PRIMARY))
        created = next(s for s in saved if s.id == search_id)
        return Response(created, status_code=HTTP_201_CREATED, headers={"Cache-Control": PRIVATE})

    @get("/", summary="Own saved searches", **documented("listSavedSearches", "user", headers=(CACHE_CONTROL,)))
    async def list_mine(
        self, request: Request[Any, Any, Any], ads: NamedDependency[AdsPorts]
    ) -> Response[list[SavedSearchRead]]:
        user = current_user(request)
        saved = await list_saved_searches(user.id, ads.reads.at(await ads.reads.for_writer(user.id)))
        return Response(saved, headers={"Cache-Control": PRIVATE})

    @delete(
        "/{id:uuid}",
        status_code=HTTP_204_NO_CONTENT,
        summary="Delete a saved search",
        **documented("deleteSavedSearch", "user", errors=(404,)),
    )
    async def remove(
        self, id: FromPath[UUID], request: Request[Any, Any, Any], commands: NamedDependency[Commands]
    ) -> None:
        if not await commands.handle(delete_saved_search, Command(current_actor(request), DeleteSavedSearch(id))):
            raise NotFoundException("saved search not found")


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
        self, id: FromPath[UUID], request: Request[Any, Any, Any], commands: NamedDependency[Commands]
    ) -> None:
        await commands.handle(suspend_ad, Command(current_actor(request), SuspendAd(ad_id=id)))

    @get(
        "/reports",
        summary="Open reports, newest first",
        **documented("listReports", "admin", errors=(422,), headers=(CACHE_CONTROL,)),
    )
    async def reports(
        self,
        ads: NamedDependency[AdsPorts],
        page: Annotated[int, QueryParameter(ge=1, le=1000)] = 1,
        page_size: Annotated[int, QueryParameter(name="pageSize", ge=1, le=MAX_PAGE_SIZE)] = MAX_PAGE_SIZE,
    ) -> Response[list[OpenReport]]:
        reports = await list_open_reports(page, page_size, ads.reads.at(PRIMARY))
        return Response(reports, headers={"Cache-Control": PRIVATE})
