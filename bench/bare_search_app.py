"""The ceiling for ``GET /api/ads/search``: a bare Litestar route on granian (a benchmark fixture).

The same SQL as the real handler (``normalise_search`` → ``build_search_sql``), one asyncpg pool,
the rows msgspec-encoded straight from the records. Nothing else: no middleware (rate limit,
metrics, auth, logging), no dependency injection, no cache, no read/replica routing, no read
models. ``bench/wrk_bench.py`` serves it next to ``rural24 serve`` and compares the two::

    BENCH_DATABASE_URL=postgresql://… granian --interface asgi bench.bare_search_app:app

``BENCH_DATABASE_URL``: the database (any spelling ``infrastructure.database.urls`` accepts);
``BENCH_POOL_SIZE``: pool connections (10, the API's ``DB_POOL_SIZE`` default).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import msgspec
from litestar import Litestar, Request, Response, get

from domain.ads.queries import CategoryTree, SearchAds, build_search_sql, normalise_search
from domain.catalog.queries import CategoryRead
from domain.catalog.reference import PROVINCE_CODES
from infrastructure.database.urls import asyncpg_dsn

_CATEGORIES_SQL = "SELECT id, slug, name, parent_id, display_order FROM categories WHERE is_active"

_encoder = msgspec.json.Encoder()


class _State:
    pool: asyncpg.Pool
    tree: CategoryTree


state = _State()


@asynccontextmanager
async def lifespan(app: Litestar) -> AsyncIterator[None]:
    pool = await asyncpg.create_pool(
        asyncpg_dsn(os.environ["BENCH_DATABASE_URL"]),
        min_size=1,
        max_size=int(os.environ.get("BENCH_POOL_SIZE", "10")),
    )
    assert pool is not None
    state.pool = pool
    rows = await pool.fetch(_CATEGORIES_SQL)
    state.tree = CategoryTree([CategoryRead(r[0], r[1], r[2], r[3], r[4]) for r in rows])
    try:
        yield
    finally:
        await pool.close()


@get("/api/ads/search")
async def search(request: Request[Any, Any, Any]) -> Response[bytes]:
    params = msgspec.convert(dict(request.query_params), SearchAds, strict=False)
    query = normalise_search(params, state.tree, PROVINCE_CODES)
    sql, args = build_search_sql(query, state.tree)
    rows = await state.pool.fetch(sql, *args)
    body = _encoder.encode(
        {"results": [dict(row) for row in rows[: query.page_size]], "page": query.page, "pageSize": query.page_size}
    )
    return Response(body, media_type="application/json")


app = Litestar([search], lifespan=[lifespan], openapi_config=None, debug=False)
