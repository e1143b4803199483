"""``/metrics`` counts responses with the status they were sent with, refusals included."""

from __future__ import annotations

import re

from litestar.testing import AsyncTestClient

from rural24.app import create_app
from tests.conftest import PgDatabase, make_settings


def _count(metrics: str, app: str, path: str, status: int) -> float:
    """This app's count (the registry is the process's: other tests' apps are in it too)."""
    pattern = re.compile(r"^\S+_requests_total\{(.*)\} (\S+)$", re.MULTILINE)  # a path may hold braces
    total = 0.0
    for labels, value in pattern.findall(metrics):
        wanted = (f'app_name="{app}"', f'path="{path}"', f'status_code="{status}"')
        if all(label in labels for label in wanted):
            total += float(value)
    return total


async def test_rate_limited_requests_are_counted_as_429(database: PgDatabase) -> None:
    settings = make_settings(database, RATE_LIMIT_API="3/minute")
    app, name = create_app(settings), settings.app.name
    async with AsyncTestClient(app=app) as client:
        statuses = [(await client.get("/api/categories")).status_code for _ in range(5)]
        assert statuses == [200, 200, 200, 429, 429]
        metrics = (await client.get("/metrics")).text  # outside the API limit
    assert _count(metrics, name, "/api/categories", 200) == 3
    assert _count(metrics, name, "/api/categories", 429) == 2


async def test_an_unknown_ad_is_counted_as_404(database: PgDatabase) -> None:
    settings = make_settings(database)
    app, name = create_app(settings), settings.app.name
    async with AsyncTestClient(app=app) as client:
        response = await client.get("/api/ads/01890000-0000-7000-8000-000000000000")
        assert response.status_code == 404
        metrics = (await client.get("/metrics")).text
    assert _count(metrics, name, "/api/ads/{id}", 404) == 1
    assert _count(metrics, name, "/api/ads/{id}", 200) == 0


async def test_metrics_behind_a_token_when_one_is_set(database: PgDatabase) -> None:
    token = "metrics-" + "t" * 32
    app = create_app(make_settings(database, METRICS_TOKEN=token))
    async with AsyncTestClient(app=app) as client:
        for path in ("/metrics", "/api/metrics"):
            refused = await client.get(path)
            assert refused.status_code == 401, path
            assert refused.headers["content-type"].startswith("application/problem+json")
            wrong = await client.get(path, headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 401, path
            allowed = await client.get(path, headers={"Authorization": f"Bearer {token}"})
            assert allowed.status_code == 200, path
            assert "_requests_total" in allowed.text
