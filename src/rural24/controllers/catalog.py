"""Catalog (API.md: Catalog): the category tree and the provinces, through the query cache."""

from __future__ import annotations

import msgspec
from litestar import Controller, Response, get
from litestar.datastructures import CacheControlHeader
from litestar.di import NamedDependency
from litestar.enums import MediaType

from domain.catalog.queries import (
    CategoryRead,
    ListCategories,
    ListProvinces,
    ProvinceRead,
    list_categories,
    list_provinces,
)
from rural24.auth import PUBLIC
from rural24.openapi import X_CACHE, documented
from rural24.state import Services

_encoder = msgspec.json.Encoder()


def _cached_json(body: bytes, cached: bool) -> Response[bytes]:
    return Response(body, media_type=MediaType.JSON, headers={"X-Cache": "hit" if cached else "miss"})


class CatalogController(Controller):
    tags = ["catalog"]
    opt = PUBLIC

    @get(
        "/api/categories",
        summary="Active categories",
        **documented("listCategories", "public", headers=(X_CACHE,)),
        description=(
            "The active category tree in display order: each root followed by its children "
            "(`parentId` links a child to its root). Cached for `CACHE_TTL_CATEGORIES` (1 h); "
            "`X-Cache` says whether this answer came from the cache."
        ),
        cache_control=CacheControlHeader(public=True, max_age=300, s_maxage=3600),
    )
    async def categories(self, services: NamedDependency[Services]) -> Response[list[CategoryRead]]:
        async def load() -> bytes:
            return _encoder.encode(await list_categories(ListCategories(), services.read_side))

        body, cached = await services.query_cache.get_or_load(
            "categories:all", services.settings.cache.categories_ttl, load
        )
        return _cached_json(body, cached)  # type: ignore[return-value]  # pre-encoded list[CategoryRead]

    @get(
        "/api/provinces",
        summary="Argentine provinces",
        **documented("listProvinces", "public", headers=(X_CACHE,)),
        description="The 24 jurisdictions (23 provinces and CABA). `code` is the value the `province` filters take.",
        cache_control=CacheControlHeader(public=True, max_age=86400, s_maxage=86400),
    )
    async def provinces(self, services: NamedDependency[Services]) -> Response[list[ProvinceRead]]:
        async def load() -> bytes:
            return _encoder.encode(await list_provinces(ListProvinces(), services.read_side))

        body, cached = await services.query_cache.get_or_load(
            "provinces:all", services.settings.cache.categories_ttl, load
        )
        return _cached_json(body, cached)  # type: ignore[return-value]
