"""Per-user caps under real concurrency: two granian processes on one database take parallel
requests (the in-process test client runs requests one at a time, so it cannot show a race)."""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from PIL import Image

from tests.e2e.processes import serving

PASSWORD = "maiz-y-trigo-2026"


@pytest.fixture
def instances(database: Any, tmp_path: Path) -> Iterator[list[str]]:
    env = {
        "APP_ENV": "test",
        "APP_NAME": f"rural24-caps-{uuid.uuid4().hex[:6]}",
        "DATABASE_URL": database.primary_url,
        "JWT_SECRET": "e2e-secret-" + "c" * 40,
        "MEDIA_STORAGE_URL": f"file://{tmp_path / 'media'}",
        "DB_POOL_SIZE": "8",
    }
    with serving(env, 2, tmp_path) as started:
        yield [url for _, url in started]


async def _register(client: httpx.AsyncClient, base: str) -> tuple[str, dict[str, str]]:
    email = f"{uuid.uuid4().hex[:8]}@chacra.com.ar"
    response = await client.post(
        f"{base}/api/auth/register", json={"email": email, "password": PASSWORD, "name": "Eva"}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return body["user"]["id"], {"Authorization": f"Bearer {body['token']}"}


async def _count(database: Any, query: str, *args: Any) -> int:
    connection = await asyncpg.connect(database.primary_url.replace("+asyncpg", ""))
    try:
        return int(await connection.fetchval(query, *args))
    finally:
        await connection.close()


def _assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


async def test_saved_search_cap_holds_under_parallel_creates(instances: list[str], database: Any) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        user_id, headers = await _register(client, instances[0])
        responses = await asyncio.gather(
            *(
                client.post(
                    f"{instances[n % 2]}/api/me/saved-searches",
                    json={"filters": {"q": f"ternero {n}"}},
                    headers=headers,
                )
                for n in range(26)
            )
        )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] * 20 + [409] * 6, statuses
    for refused in (r for r in responses if r.status_code == 409):
        assert "at most 20" in _assert_problem(refused, 409)["detail"]
    assert await _count(database, "SELECT count(*) FROM saved_searches WHERE user_id = $1::uuid", user_id) == 20


async def test_image_cap_holds_under_parallel_uploads(instances: list[str], database: Any) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (34, 139, 34)).save(buffer, "PNG")
    async with httpx.AsyncClient(timeout=30) as client:
        _, headers = await _register(client, instances[0])
        categories = (await client.get(f"{instances[0]}/api/categories")).json()
        ad = {
            "title": "Sembradora Agrometal 12 surcos",
            "description": "Lista para trabajar",
            "price": "30000.00",
            "currency": "USD",
            "categoryId": categories[0]["id"],
            "province": "cordoba",
            "locality": "Laboulaye",
        }
        published = await client.post(f"{instances[0]}/api/ads", json=ad, headers=headers)
        assert published.status_code == 201, published.text
        ad_id = published.json()["id"]
        responses = await asyncio.gather(
            *(
                client.post(
                    f"{instances[n % 2]}/api/ads/{ad_id}/images",
                    files={"file": ("foto.png", buffer.getvalue(), "image/png")},
                    headers=headers,
                )
                for n in range(14)
            )
        )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [202] * 10 + [422] * 4, statuses
    for refused in (r for r in responses if r.status_code == 422):
        assert "at most 10 images" in _assert_problem(refused, 422)["detail"]
    assert await _count(database, "SELECT count(*) FROM ad_images WHERE ad_id = $1::uuid", ad_id) == 10
