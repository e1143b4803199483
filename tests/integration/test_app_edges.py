"""The app's edges: OpenAPI, problem+json errors, body limits, health and metrics."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient


async def test_openapi_is_a_3_1_document_with_real_schemas(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.1")
    paths = document["paths"]
    for path in ("/api/health", "/api/health/ready", "/api/categories", "/api/provinces"):
        assert path in paths, path
    ok = paths["/api/categories"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok["type"] == "array"
    schemas = document["components"]["schemas"]
    category = next(schema for name, schema in schemas.items() if name.endswith("CategoryRead"))
    assert {"id", "slug", "name", "parentId", "displayOrder"} <= set(category["properties"])


async def test_unknown_route_is_problem_json(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/api/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == 404
    assert body["title"] == "Not Found"
    assert body["detail"]


async def test_options_lists_every_method_of_the_path_and_carries_the_request_id(
    client: AsyncTestClient[Litestar],
) -> None:
    """Litestar 2 answers OPTIONS with the first handler's methods only (GET /api/me without PATCH or DELETE)."""
    response = await client.options("/api/me", headers={"X-Request-ID": "edge-options-1"})
    assert response.status_code == 204, response.text
    assert {m.strip() for m in response.headers["allow"].split(",")} == {"GET", "PATCH", "DELETE", "OPTIONS"}
    assert response.headers["x-request-id"] == "edge-options-1"
    unrouted = await client.get("/api/nothing-here")
    assert len(unrouted.headers["x-request-id"]) == 24  # generated: 96 random bits in hex


async def test_oversized_json_body_is_413_problem_json(client: AsyncTestClient[Litestar]) -> None:
    body = b'{"email": "a@b.com.ar", "password": "' + b"x" * (70 * 1024) + b'", "name": "A"}'
    response = await client.post("/api/auth/register", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_liveness_touches_nothing(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/api/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readiness_reports_primary_and_replica(client: AsyncTestClient[Litestar], mode: str) -> None:
    response = await client.get("/api/health/ready")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["primary"]["status"] == "ok"
    assert body["checks"]["replica"]["status"] == "ok"
    assert body["checks"]["replica"]["lagSeconds"] is not None
    assert body["checks"]["queue"]["status"] == "ok"
    assert body["checks"]["queue"]["detail"].endswith("queued")
    if mode == "redis":
        assert body["checks"]["redis"]["status"] == "ok"
    else:
        assert body["checks"]["redis"] is None


async def test_metrics_count_requests_and_cache_lookups(client: AsyncTestClient[Litestar]) -> None:
    await client.get("/api/categories")
    await client.get("/api/categories")
    response = await client.get("/metrics")
    assert response.status_code == 200
    text = response.text
    assert 'rural24_cache_lookups_total{cache="categories",result="hit"}' in text
    assert "rural24_db_pool_size" in text
    assert "rural24_queue_depth" in text
    assert "/api/categories" in text
    assert (await client.get("/api/metrics")).status_code == 200
