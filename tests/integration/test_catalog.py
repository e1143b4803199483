"""Categories and provinces: query → cache → read side → read model, in memory and Redis modes."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient


async def test_categories_come_as_a_tree_in_display_order(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/api/categories")
    assert response.status_code == 200
    categories = response.json()
    by_slug = {c["slug"]: c for c in categories}
    assert set(categories[0]) == {"id", "slug", "name", "parentId", "displayOrder"}
    roots = [c for c in categories if c["parentId"] is None]
    assert len(roots) >= 5
    assert [r["displayOrder"] for r in roots] == sorted(r["displayOrder"] for r in roots)
    tractores = by_slug["tractores"]
    assert tractores["name"] == "Tractores"
    assert by_slug[next(c["slug"] for c in roots if c["id"] == tractores["parentId"])]["name"] == "Maquinaria agrícola"
    # every child comes right after its root's block starts: no child before its parent
    seen: set[str] = set()
    for category in categories:
        assert category["parentId"] is None or category["parentId"] in seen
        seen.add(category["id"])


async def test_categories_are_served_from_the_cache_the_second_time(client: AsyncTestClient[Litestar]) -> None:
    first = await client.get("/api/categories")
    second = await client.get("/api/categories")
    assert first.headers["x-cache"] == "miss"
    assert second.headers["x-cache"] == "hit"
    assert first.content == second.content
    assert "s-maxage=3600" in second.headers["cache-control"]
    assert second.headers["cdn-cache-control"] == "max-age=3600"


async def test_provinces_are_the_24_jurisdictions(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/api/provinces")
    assert response.status_code == 200
    provinces = response.json()
    assert len(provinces) == 24
    names = {p["name"] for p in provinces}
    assert {"Córdoba", "Buenos Aires", "Ciudad Autónoma de Buenos Aires", "Tucumán"} <= names
    assert all(set(p) == {"code", "name"} for p in provinces)
    assert len({p["code"] for p in provinces}) == 24
