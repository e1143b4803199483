"""Ads and search, the CQRS core: every test runs in memory and Redis modes (``client`` fixture),
on a primary with a streaming replica (reads go to the replica when it has caught up)."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from domain.ads import queries as ad_queries
from rural24.services import Services

PASSWORD = "trigo-maiz-2026"
Client = AsyncTestClient[Litestar]


async def user(client: Client, **extra: Any) -> dict[str, str]:
    email = f"{uuid.uuid4().hex[:10]}@campo.com.ar"
    response = await client.post(
        "/api/auth/register", json={"email": email, "password": PASSWORD, "name": "Marta Ríos"} | extra
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return {"id": body["user"]["id"], "Authorization": f"Bearer {body['token']}"}


def auth(who: dict[str, str]) -> dict[str, str]:
    return {"Authorization": who["Authorization"]}


async def category_id(client: Client, slug: str) -> str:
    categories = (await client.get("/api/categories")).json()
    return str(next(c["id"] for c in categories if c["slug"] == slug))


async def publish(client: Client, owner: dict[str, str], **fields: Any) -> dict[str, Any]:
    body = {
        "title": "Tractor Deutz AX 4.190 en Córdoba",
        "description": "Excelente estado, 4500 horas, cubiertas nuevas.",
        "price": "45000.00",
        "currency": "USD",
        "categoryId": await category_id(client, "tractores"),
        "province": "cordoba",
        "locality": "Marcos Juárez",
        "condition": "used",
    } | fields
    response = await client.post("/api/ads", json=body, headers=auth(owner))
    assert response.status_code == 201, response.text
    ad: dict[str, Any] = response.json()
    assert response.headers["location"] == f"/api/ads/{ad['id']}"
    return ad


async def search(client: Client, **params: Any) -> dict[str, Any]:
    response = await client.get("/api/ads/search", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "public, s-maxage=300, stale-while-revalidate=600"
    assert response.headers["cdn-cache-control"] == "max-age=600"
    body: dict[str, Any] = response.json()
    return body


def ids(page: dict[str, Any]) -> list[str]:
    return [result["id"] for result in page["results"]]


async def test_publish_then_search_finds_it_at_once_accent_and_plural_insensitive(client: Client) -> None:
    seller = await user(client)
    before = await search(client, q="tractores cordoba")  # fills the cache before the publish
    assert before["results"] == []
    assert (await search(client, q="tractores cordoba"))["cached"] is True

    ad = await publish(client, seller)
    for q in ("tractores cordoba", "TRACTOR Córdoba", "juarez", "cubierta"):
        page = await search(client, q=q)
        assert ids(page) == [ad["id"]], q
    found = (await search(client, q="tractores cordoba"))["results"][0]
    assert found["price"] == "45000.00"
    assert found["category"]["slug"] == "tractores"
    assert found["seller"] == {"id": seller["id"], "name": "Marta Ríos"}
    assert set(found) == {
        "id", "title", "price", "currency", "province", "locality", "category", "thumbnailUrl", "isFeatured",
        "createdAt", "seller",
    }  # fmt: skip
    # the parent category includes its sub-categories; other filters narrow
    assert ids(await search(client, category="maquinaria-agricola")) == [ad["id"]]
    assert ids(await search(client, category="hacienda")) == []
    assert ids(await search(client, province="cordoba", currency="USD", minPrice="40000", maxPrice="50000")) == [
        ad["id"]
    ]
    assert ids(await search(client, currency="ARS", minPrice="1")) == []
    assert ids(await search(client, condition="new")) == []


async def test_edits_status_and_delete_show_at_once_in_search_and_detail(client: Client) -> None:
    seller, buyer = await user(client), await user(client)
    ad = await publish(client, seller)
    detail = await client.get(f"/api/ads/{ad['id']}")
    assert detail.status_code == 200
    assert detail.headers["cdn-cache-control"] == "max-age=600"
    assert (await client.get(f"/api/ads/{ad['id']}")).headers["x-cache"] == "hit"
    assert (await search(client, q="deutz"))["results"][0]["title"] == "Tractor Deutz AX 4.190 en Córdoba"

    changed = await client.patch(f"/api/ads/{ad['id']}", json={"title": "Tractor Deutz AX 4.190 impecable"},
                                 headers=auth(seller))  # fmt: skip
    assert changed.status_code == 200, changed.text
    assert changed.headers["cache-control"] == "private, no-store"  # the writer's own view: no cache keeps it
    assert "cdn-cache-control" not in changed.headers
    assert (await search(client, q="deutz"))["results"][0]["title"] == "Tractor Deutz AX 4.190 impecable"
    assert (await client.get(f"/api/ads/{ad['id']}")).json()["title"] == "Tractor Deutz AX 4.190 impecable"

    paused = await client.post(f"/api/ads/{ad['id']}/status", json={"status": "paused"}, headers=auth(seller))
    assert paused.status_code == 200
    assert paused.json()["status"] == "paused"
    assert ids(await search(client, q="deutz")) == []
    assert (await client.get(f"/api/ads/{ad['id']}")).status_code == 404
    assert (await client.get(f"/api/ads/{ad['id']}", headers=auth(buyer))).status_code == 404
    own = await client.get(f"/api/ads/{ad['id']}", headers=auth(seller))
    assert own.status_code == 200
    assert own.headers["cache-control"] == "private, no-store"
    assert "cdn-cache-control" not in own.headers
    mine = await client.get("/api/me/ads", headers=auth(seller))
    assert [a["status"] for a in mine.json()] == ["paused"]

    reactivated = await client.post(f"/api/ads/{ad['id']}/status", json={"status": "active"}, headers=auth(seller))
    assert reactivated.status_code == 200
    assert ids(await search(client, q="deutz")) == [ad["id"]]
    assert (await client.delete(f"/api/ads/{ad['id']}", headers=auth(seller))).status_code == 204
    assert ids(await search(client, q="deutz")) == []
    assert (await client.get(f"/api/ads/{ad['id']}")).status_code == 404
    assert (await client.get(f"/api/ads/{ad['id']}", headers=auth(seller))).json()["deleted"] is True


async def test_other_users_cannot_change_an_ad(client: Client) -> None:
    seller, intruder = await user(client), await user(client)
    ad = await publish(client, seller)
    attempts = [
        client.patch(f"/api/ads/{ad['id']}", json={"title": "Robado"}, headers=auth(intruder)),
        client.delete(f"/api/ads/{ad['id']}", headers=auth(intruder)),
        client.post(f"/api/ads/{ad['id']}/status", json={"status": "paused"}, headers=auth(intruder)),
        client.post(f"/api/ads/{ad['id']}/renew", headers=auth(intruder)),
    ]
    for attempt in attempts:
        response = await attempt
        assert response.status_code in {403, 404}, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
    unchanged = (await client.get(f"/api/ads/{ad['id']}")).json()
    assert unchanged["title"] == ad["title"]
    assert unchanged["status"] == "active"
    # anonymous writes need a token
    assert (await client.patch(f"/api/ads/{ad['id']}", json={"title": "x" * 10})).status_code == 401


@pytest.mark.parametrize(
    "field", [{"status": "sold"}, {"isFeatured": True}, {"ownerId": str(uuid.uuid4())}, {"createdAt": "2020-01-01"}]
)
async def test_fields_the_caller_may_not_set_are_refused(client: Client, field: dict[str, Any]) -> None:
    seller = await user(client)
    body = {
        "title": "Sembradora Agrometal",
        "categoryId": await category_id(client, "sembradoras"),
        "province": "santa-fe",
        "locality": "Rafaela",
    }
    created = await client.post("/api/ads", json=body | field, headers=auth(seller))
    assert created.status_code == 422, created.text
    assert created.json()["errors"]
    ad = await publish(client, seller)
    changed = await client.patch(f"/api/ads/{ad['id']}", json=field, headers=auth(seller))
    assert changed.status_code == 422
    assert (await client.get(f"/api/ads/{ad['id']}")).json()["isFeatured"] is False


async def test_bad_ad_input_is_a_clear_4xx(client: Client) -> None:
    seller = await user(client)
    tractores = await category_id(client, "tractores")
    base = {"title": "Tractor", "categoryId": tractores, "province": "cordoba", "locality": "Oncativo"}
    cases = [
        base | {"province": "atlantida"},
        base | {"categoryId": str(uuid.uuid4())},
        base | {"price": "-5"},
        base | {"price": "10.123"},
        base | {"currency": "EUR"},
        base | {"title": "ab"},
        {k: v for k, v in base.items() if k != "locality"},
    ]
    for body in cases:
        response = await client.post("/api/ads", json=body, headers=auth(seller))
        assert 400 <= response.status_code < 500, (body, response.status_code)
        assert response.headers["content-type"].startswith("application/problem+json")
    assert (await client.get("/api/me/ads", headers=auth(seller))).json() == []


async def test_if_match_refuses_lost_updates_and_etags_revalidate(client: Client) -> None:
    seller = await user(client)
    ad = await publish(client, seller)
    first = await client.get(f"/api/ads/{ad['id']}")
    etag = first.headers["etag"]
    assert (await client.get(f"/api/ads/{ad['id']}", headers={"If-None-Match": etag})).status_code == 304

    ok = await client.patch(f"/api/ads/{ad['id']}", json={"price": "44000"}, headers=auth(seller) | {"If-Match": etag})
    assert ok.status_code == 200
    assert ok.headers["etag"] != etag
    stale = await client.patch(f"/api/ads/{ad['id']}", json={"price": "1"}, headers=auth(seller) | {"If-Match": etag})
    assert stale.status_code == 412
    assert stale.headers["content-type"].startswith("application/problem+json")
    assert (await client.get(f"/api/ads/{ad['id']}")).json()["price"] == "44000.00"
    assert (await client.get(f"/api/ads/{ad['id']}", headers={"If-None-Match": etag})).status_code == 200

    page = await client.get("/api/ads/search", params={"q": "deutz"})
    again = await client.get("/api/ads/search", params={"q": "deutz"}, headers={"If-None-Match": page.headers["etag"]})
    assert again.status_code == 304


async def test_search_pages_and_cursors_cover_everything_once(client: Client) -> None:
    seller = await user(client)
    published = [
        await publish(client, seller, title=f"Rollo de alfalfa lote {n}", price=str(100 + n)) for n in range(7)
    ]
    expected = {ad["id"] for ad in published}
    for sort in ("recent", "price_asc", "price_desc"):
        seen: list[str] = []
        page = await search(client, q="alfalfa", sort=sort, pageSize=3)
        seen += ids(page)
        while page["nextCursor"]:
            page = await search(client, q="alfalfa", sort=sort, pageSize=3, cursor=page["nextCursor"])
            seen += ids(page)
        assert len(seen) == len(set(seen)) == 7, sort
        assert set(seen) == expected
    prices = [r["price"] for r in (await search(client, q="alfalfa", sort="price_desc"))["results"]]
    assert prices == sorted(prices, key=float, reverse=True)
    by_page = ids(await search(client, q="alfalfa", pageSize=3, page=1)) + ids(
        await search(client, q="alfalfa", pageSize=3, page=2)
    )
    assert len(set(by_page)) == 6
    relevance = await search(client, q="alfalfa", sort="relevance")
    assert set(ids(relevance)) == expected


async def test_relevance_ranks_the_newest_matches_only(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    """``sort=relevance`` ranks the first ``RELEVANCE_CANDIDATES`` matches in the recent order: the
    two oldest ads say the word most often and would lead an unbounded ranking, but are not
    candidates; among the three newest the most mentions come first, and the cursor ends there."""
    monkeypatch.setattr(ad_queries, "RELEVANCE_CANDIDATES", 3)
    seller = await user(client)
    word = "girasol"
    mentions = [4, 4, 3, 2, 1]  # oldest first
    ads = [
        await publish(client, seller, title=f"Semilla de {word} lote {n}", description=" ".join([word] * count))
        for n, count in enumerate(mentions)
    ]
    newest_three = [ad["id"] for ad in ads[2:]]
    page = await search(client, q=word, sort="relevance")
    assert ids(page) == newest_three  # 3, 2 and 1 mentions: relevance, not recency
    assert page["nextCursor"] is None
    seen: list[str] = []
    page = await search(client, q=word, sort="relevance", pageSize=2)
    seen += ids(page)
    while page["nextCursor"]:
        page = await search(client, q=word, sort="relevance", pageSize=2, cursor=page["nextCursor"])
        seen += ids(page)
    assert seen == newest_three
    recent = await search(client, q=word)
    assert ids(recent) == [ad["id"] for ad in reversed(ads)]  # the other orders still see every match


async def test_search_parameters_are_checked(client: Client) -> None:
    bad = [
        {"pageSize": 51},
        {"q": "x" * 201},
        {"minPrice": "10"},
        {"category": "unicornios"},
        {"province": "narnia"},
        {"sort": "relevance"},
        {"cursor": "garbage!"},
        {"page": 0},
        {"sort": "cheapest"},
    ]
    for params in bad:
        response = await client.get("/api/ads/search", params=params)
        assert response.status_code in {400, 422}, params
        assert response.headers["content-type"].startswith("application/problem+json"), params


async def test_favorites_reports_and_moderation(client: Client, pg_cluster: Any) -> None:
    seller, buyer = await user(client), await user(client)
    ad = await publish(client, seller)
    assert (await client.put(f"/api/ads/{ad['id']}/favorite", headers=auth(buyer))).status_code == 204
    assert (await client.put(f"/api/ads/{ad['id']}/favorite", headers=auth(buyer))).status_code == 204
    favorites = await client.get("/api/me/favorites", headers=auth(buyer))
    assert [f["id"] for f in favorites.json()] == [ad["id"]]
    assert favorites.headers["cache-control"] == "private, no-store"
    assert (await client.delete(f"/api/ads/{ad['id']}/favorite", headers=auth(buyer))).status_code == 204
    assert (await client.get("/api/me/favorites", headers=auth(buyer))).json() == []
    assert (await client.put(f"/api/ads/{uuid.uuid4()}/favorite", headers=auth(buyer))).status_code == 404

    report = await client.post(f"/api/ads/{ad['id']}/report", json={"reason": "fraud"}, headers=auth(buyer))
    assert report.status_code == 202
    again = await client.post(f"/api/ads/{ad['id']}/report", json={"reason": "spam"}, headers=auth(buyer))
    assert again.status_code == 409
    bad_reason = await client.post(f"/api/ads/{ad['id']}/report", json={"reason": "ugly"}, headers=auth(seller))
    assert bad_reason.status_code == 422
    assert bad_reason.json()["errors"][0]["field"] == "reason"

    admin = await _admin(client)
    assert (await client.get("/api/admin/reports", headers=auth(buyer))).status_code == 403
    reports = (await client.get("/api/admin/reports", headers=auth(admin))).json()
    assert [r["adId"] for r in reports] == [ad["id"]]
    assert (await client.post(f"/api/admin/ads/{ad['id']}/suspend", headers=auth(admin))).status_code == 204
    assert (await client.get(f"/api/ads/{ad['id']}")).status_code == 404
    assert ids(await search(client, q="deutz")) == []
    assert (await client.get(f"/api/ads/{ad['id']}", headers=auth(admin))).json()["suspended"] is True


async def _admin(client: Client) -> dict[str, str]:
    admin = await user(client)
    url = Services.of(client.app.state).settings.db.url
    assert url is not None
    connection = await asyncpg.connect(url.replace("+asyncpg", ""))
    try:
        email = await connection.fetchval("UPDATE users SET role = 'admin' WHERE id = $1::uuid RETURNING email",
                                          admin["id"])  # fmt: skip
    finally:
        await connection.close()
    login = await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    return {"id": admin["id"], "Authorization": f"Bearer {login.json()['token']}"}


async def test_blocked_sellers_ads_leave_search_and_detail(client: Client) -> None:
    seller = await user(client)
    ad = await publish(client, seller)
    assert (await client.get(f"/api/ads/{ad['id']}")).status_code == 200  # cached now
    assert ids(await search(client, q="deutz")) == [ad["id"]]
    admin = await _admin(client)
    assert (await client.post(f"/api/admin/users/{seller['id']}/block", headers=auth(admin))).status_code == 204
    assert ids(await search(client, q="deutz")) == []
    assert (await client.get(f"/api/ads/{ad['id']}")).status_code == 404


async def test_expired_ads_leave_search_and_renew_brings_them_back(client: Client) -> None:
    seller = await user(client)
    ad = await publish(client, seller)
    too_early = await client.post(f"/api/ads/{ad['id']}/renew", headers=auth(seller))
    assert too_early.status_code == 409
    url = Services.of(client.app.state).settings.db.url
    assert url is not None
    connection = await asyncpg.connect(url.replace("+asyncpg", ""))
    try:  # an ad past its expiry, before the expiry job ran: search already hides it
        await connection.execute("UPDATE ads SET expires_at = now() - interval '1 hour' WHERE id = $1::uuid", ad["id"])
    finally:
        await connection.close()
    # the direct SQL write bypassed the app: its cache entries expire by TTL; a renew invalidates
    renewed = await client.post(f"/api/ads/{ad['id']}/renew", headers=auth(seller))
    assert renewed.status_code == 200, renewed.text
    assert renewed.json()["expiresAt"] > ad["expiresAt"]
    assert ids(await search(client, q="deutz")) == [ad["id"]]


async def test_idempotency_key_publishes_once(client: Client) -> None:
    seller = await user(client)
    body = {
        "title": "Camioneta Toyota Hilux 4x4 2019",
        "categoryId": await category_id(client, "camionetas"),
        "province": "la-pampa",
        "locality": "General Pico",
        "price": "28000",
        "currency": "USD",
    }
    headers = auth(seller) | {"Idempotency-Key": "hilux-2019-attempt-1"}
    first = await client.post("/api/ads", json=body, headers=headers)
    retry = await client.post("/api/ads", json=body, headers=headers)
    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert retry.headers["idempotent-replayed"] == "true"
    other_body = await client.post("/api/ads", json=body | {"price": "1"}, headers=headers)
    assert other_body.status_code == 422
    assert other_body.headers["content-type"].startswith("application/problem+json")
    # the same key of another user is another key
    other_user = await client.post("/api/ads", json=body, headers=auth(await user(client)) | headers)
    assert other_user.status_code == 201
    mine = (await client.get("/api/me/ads", headers=auth(seller))).json()
    assert [ad["id"] for ad in mine] == [first.json()["id"]]


async def test_search_is_limited_per_client_address(database: Any, mode: str, request: Any) -> None:
    from rural24.app import create_app
    from tests.conftest import make_settings

    redis_url = request.getfixturevalue("redis_url") if mode == "redis" else None
    settings = make_settings(database, redis_url, RATE_LIMIT_SEARCH="3/minute")
    async with AsyncTestClient(app=create_app(settings)) as api:
        statuses = [(await api.get("/api/ads/search", params={"q": f"vaca {n}"})).status_code for n in range(4)]
        assert statuses == [200, 200, 200, 429]
        # other routes are not part of the search budget
        assert (await api.get("/api/categories")).status_code == 200
