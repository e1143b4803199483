"""Catalog (API.md: Catalog): the category tree and the provinces, through the query cache."""

from __future__ import annotations

from dataclasses import dataclass

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
from domain.shared.ports import ReadConnection
from infrastructure.settings import Settings
from rural24.auth import PUBLIC
from rural24.openapi import X_CACHE, documented
from rural24.reading import ANY_REPLICA, Reads, Snapshot

_encoder = msgspec.json.Encoder()
# Reference data changes with a deployment (migrations), not with writes: no generation, any replica.
_CATEGORIES = Snapshot("categories:all", ANY_REPLICA)
_PROVINCES = Snapshot("provinces:all", ANY_REPLICA)


@dataclass(frozen=True, slots=True)
class CatalogPorts:
    """What the catalog routes use: the ``catalog`` dependency (one per route: see ``AdsPorts``)."""

    reads: Reads
    settings: Settings


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
    async def categories(
        self,
        catalog: NamedDependency[CatalogPorts],
    ) -> Response[list[CategoryRead]]:
        async def load(db: ReadConnection) -> bytes:
            return _encoder.encode(await list_categories(ListCategories(), db))

        body, cached = await catalog.reads.cached(_CATEGORIES, catalog.settings.cache.categories_ttl, load)
        return _cached_json(body, cached)  # type: ignore[return-value]  # pre-encoded list[CategoryRead]

    @get(
        "/api/provinces",
        summary="Argentine provinces",
        **documented("listProvinces", "public", headers=(X_CACHE,)),
        description="The 24 jurisdictions (23 provinces and CABA). `code` is the value the `province` filters take.",
        cache_control=CacheControlHeader(public=True, max_age=86400, s_maxage=86400),
    )
    async def provinces(
        self,
        catalog: NamedDependency[CatalogPorts],
    ) -> Response[list[ProvinceRead]]:
        async def load(db: ReadConnection) -> bytes:
            return _encoder.encode(await list_provinces(ListProvinces(), db))

        body, cached = await catalog.reads.cached(_PROVINCES, catalog.settings.cache.categories_ttl, load)
        return _cached_json(body, cached)  # type: ignore[return-value]
