"""Ceilings for the cached paths: bare Litestar routes on granian (a benchmark fixture).

Never part of the product: ``bench/wrk_bench.py`` serves it next to ``rural24 serve`` and divides
the API's figures by these::

    GET /bytes/<name>   the file ``$BENCH_BYTES_DIR/<name>.json`` (a body the API served, fetched once
                        by the benchmark), returned as a constant: the cached-read ceiling
    GET /redis/<name>   one ``redis.asyncio`` GET of ``$BENCH_REDIS_PREFIX:<name>`` at
                        ``$BENCH_REDIS_URL``, returned as is: the Redis-mode cached-read ceiling
                        (only when ``BENCH_REDIS_URL`` is set)
    GET /struct         a small msgspec Struct encoded per request: the ``/api/health`` ceiling

No middleware, no dependency injection, no OpenAPI::

    BENCH_BYTES_DIR=… granian --interface asgi bench.ceilings_app:app
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Literal

import msgspec
from litestar import Litestar, Response, get
from litestar.handlers import HTTPRouteHandler
from redis.asyncio import Redis


class Liveness(msgspec.Struct):
    """The shape of the API's liveness answer: ``{"status": "ok"}``."""

    status: Literal["ok"]


@get("/struct")
async def small_struct() -> Liveness:
    return Liveness("ok")


def _constant_route(name: str, body: bytes) -> HTTPRouteHandler:
    async def constant() -> Response[bytes]:
        return Response(body, media_type="application/json")

    constant.__name__ = f"bytes_{name}"
    return get(f"/bytes/{name}")(constant)


class _Redis:
    client: Redis | None = None


_redis = _Redis()


def _redis_route(name: str, key: str) -> HTTPRouteHandler:
    async def one_get() -> Response[bytes]:
        assert _redis.client is not None
        body = await _redis.client.get(key)
        if body is None:
            return Response(b"", status_code=404)
        return Response(body, media_type="application/json")

    one_get.__name__ = f"redis_{name}"
    return get(f"/redis/{name}")(one_get)


@asynccontextmanager
async def lifespan(app: Litestar) -> AsyncIterator[None]:
    url = os.environ.get("BENCH_REDIS_URL")
    if not url:
        yield
        return
    _redis.client = Redis.from_url(url)
    try:
        yield
    finally:
        await _redis.client.aclose()


def _routes() -> list[HTTPRouteHandler]:
    bodies = sorted(Path(os.environ["BENCH_BYTES_DIR"]).glob("*.json"))
    routes: list[HTTPRouteHandler] = [small_struct]
    routes += [_constant_route(path.stem, path.read_bytes()) for path in bodies]
    if os.environ.get("BENCH_REDIS_URL"):
        prefix = os.environ["BENCH_REDIS_PREFIX"]
        routes += [_redis_route(path.stem, f"{prefix}:{path.stem}") for path in bodies]
    return routes


app = Litestar(_routes(), lifespan=[lifespan], openapi_config=None, debug=False)
