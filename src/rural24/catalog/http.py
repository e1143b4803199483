"""Catalog (API.md: Catalog): the category tree and the provinces, through the query cache."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from litestar import Controller, Request, Response, get
from litestar.datastructures import CacheControlHeader
from litestar.di import NamedDependency

from domain.catalog.queries import (
    CategoryRead,
    ListCategories,
    ListProvinces,
    ProvinceRead,
    list_categories,
    list_provinces,
)
from domain.shared.ports import ReadConnection
from infrastructure.cache import CachedBody
from infrastructure.settings import Settings
from rural24.auth import PUBLIC
from rural24.hot_reads import HotReads
from rural24.openapi import CDN_CACHE_CONTROL, CONTENT_ENCODING, ETAG, VARY, X_CACHE, IfNoneMatch, documented
from rural24.reading import ANY_REPLICA, Reads, Snapshot, content_etag, respond

_encoder = msgspec.json.Encoder()
# Reference data changes with a deployment (migrations), not with writes: no generation, any replica.
_CATEGORIES = Snapshot("categories:all", ANY_REPLICA)
_PROVINCES = Snapshot("provinces:all", ANY_REPLICA)


@dataclass(frozen=True, slots=True)
class CatalogPorts:
    """What the catalog routes use: the ``catalog`` dependency (one per route: see ``AdsPorts``)."""

    reads: Reads
    settings: Settings
    hot_reads: HotReads


def _encoded(value: object) -> CachedBody:
    """The body, its ETag and its gzip copy, made once per cache entry."""
    body = _encoder.encode(value)
    return CachedBody.build(body, content_etag(body))


def _cached_json(
    request: Request[Any, Any, Any],
    catalog: CatalogPorts,
    snapshot: Snapshot,
    cached: tuple[CachedBody, bool],
    cdn: str,
) -> Response[bytes]:
    # Cache-Control: the route's own (cache_control=…); CDN-Cache-Control (RFC 9213): as long as s-maxage
    entry, hit = cached
    route_cache_control = request.route_handler.cache_control
    if route_cache_control is not None and snapshot.key is not None:  # the next anonymous ask is a hot read
        prefix, _, suffix = snapshot.key.partition(":")
        catalog.hot_reads.remember(
            request, prefix, (), suffix, cache_control=route_cache_control.to_header(), cdn_cache_control=cdn
        )
    headers = {"X-Cache": "hit" if hit else "miss", "CDN-Cache-Control": cdn}
    return respond(request, entry, None, extra_headers=headers)


class CatalogController(Controller):
    tags = ["catalog"]
    opt = PUBLIC

    @get(
        "/api/categories",
        summary="Active categories",
        **documented(
            "listCategories",
            "public",
            not_modified=True,
            headers=(ETAG, X_CACHE, CDN_CACHE_CONTROL, CONTENT_ENCODING, VARY),
        ),
        description=(
            "The active category tree in display order: each root followed by its children "
            "(`parentId` links a child to its root). Cached for `CACHE_TTL_CATEGORIES` (1 h); "
            "`X-Cache` says whether this answer came from the cache. `If-None-Match` → 304."
        ),
        cache_control=CacheControlHeader(public=True, max_age=300, s_maxage=3600),
    )
    async def categories(
        self,
        request: Request[Any, Any, Any],
        catalog: NamedDependency[CatalogPorts],
        if_none_match: IfNoneMatch = None,  # documents the header; respond() reads it
    ) -> Response[list[CategoryRead]]:
        async def load(db: ReadConnection) -> CachedBody:
            return _encoded(await list_categories(ListCategories(), db))

        cached = await catalog.reads.cached(_CATEGORIES, catalog.settings.cache.categories_ttl, load)
        return _cached_json(request, catalog, _CATEGORIES, cached, "max-age=3600")  # type: ignore[return-value]

    @get(
        "/api/provinces",
        summary="Argentine provinces",
        **documented(
            "listProvinces",
            "public",
            not_modified=True,
            headers=(ETAG, X_CACHE, CDN_CACHE_CONTROL, CONTENT_ENCODING, VARY),
        ),
        description=(
            "The 24 jurisdictions (23 provinces and CABA). `code` is the value the `province` filters take. "
            "`If-None-Match` → 304."
        ),
        cache_control=CacheControlHeader(public=True, max_age=86400, s_maxage=86400),
    )
    async def provinces(
        self,
        request: Request[Any, Any, Any],
        catalog: NamedDependency[CatalogPorts],
        if_none_match: IfNoneMatch = None,  # documents the header; respond() reads it
    ) -> Response[list[ProvinceRead]]:
        async def load(db: ReadConnection) -> CachedBody:
            return _encoded(await list_provinces(ListProvinces(), db))

        cached = await catalog.reads.cached(_PROVINCES, catalog.settings.cache.categories_ttl, load)
        return _cached_json(request, catalog, _PROVINCES, cached, "max-age=86400")  # type: ignore[return-value]
