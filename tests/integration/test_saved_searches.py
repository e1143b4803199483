"""Saved searches: the API (memory and Redis modes) and the matching behind their alerts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from domain.ads.saved_searches import daily_matches, match_new_ad
from rural24.state import Services
from tests.integration.test_ads import Client, auth, publish, user


async def test_save_list_and_delete(client: Client) -> None:
    buyer, other = await user(client), await user(client)
    body = {"filters": {"q": "tractor", "category": "maquinaria-agricola", "currency": "USD", "maxPrice": "60000"},
            "frequency": "instant"}  # fmt: skip
    created = await client.post("/api/me/saved-searches", json=body, headers=auth(buyer))
    assert created.status_code == 201, created.text
    saved = created.json()
    assert saved["frequency"] == "instant"
    assert saved["filters"]["maxPrice"] == "60000"
    assert saved["name"]
    listed = await client.get("/api/me/saved-searches", headers=auth(buyer))
    assert [s["id"] for s in listed.json()] == [saved["id"]]
    assert listed.headers["cache-control"] == "private, no-store"
    assert (await client.get("/api/me/saved-searches", headers=auth(other))).json() == []
    assert (await client.delete(f"/api/me/saved-searches/{saved['id']}", headers=auth(other))).status_code == 404
    assert (await client.delete(f"/api/me/saved-searches/{saved['id']}", headers=auth(buyer))).status_code == 204
    assert (await client.get("/api/me/saved-searches", headers=auth(buyer))).json() == []


async def test_bad_saved_searches_are_refused(client: Client) -> None:
    buyer = await user(client)
    cases = [
        {"filters": {"province": "narnia"}},
        {"filters": {"minPrice": "5"}},  # a price bound needs a currency
        {"filters": {}, "frequency": "hourly"},
        {"filters": {}, "userId": buyer["id"]},
    ]
    for body in cases:
        response = await client.post("/api/me/saved-searches", json=body, headers=auth(buyer))
        assert 400 <= response.status_code < 500, body
        assert response.headers["content-type"].startswith("application/problem+json")
    for n in range(20):
        ok = await client.post("/api/me/saved-searches", json={"filters": {"q": f"vaca {n}"}}, headers=auth(buyer))
        assert ok.status_code == 201
    too_many = await client.post("/api/me/saved-searches", json={"filters": {}}, headers=auth(buyer))
    assert too_many.status_code == 409


async def test_new_ads_match_instant_and_daily_searches(client: Client) -> None:
    seller, buyer = await user(client), await user(client)
    instant = {"filters": {"q": "tractores", "category": "maquinaria-agricola", "province": "cordoba"},
               "frequency": "instant", "name": "Tractores en Córdoba"}  # fmt: skip
    daily = {"filters": {"q": "tractor", "currency": "USD", "maxPrice": "50000"}, "frequency": "daily"}
    instant_id = (await client.post("/api/me/saved-searches", json=instant, headers=auth(buyer))).json()["id"]
    daily_id = (await client.post("/api/me/saved-searches", json=daily, headers=auth(buyer))).json()["id"]

    match = await publish(client, seller)  # "Tractor Deutz … en Córdoba", USD 45000, cordoba, tractores
    elsewhere = await publish(client, seller, province="salta")
    too_dear = await publish(client, seller, price="90000")
    own = await publish(client, buyer)  # a user's own ad alerts nobody about it

    url = Services.of(client.app.state).settings.db.url
    assert url is not None
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            hits = {ad["id"]: [str(m.search_id) for m in await match_new_ad(ad["id"], connection)]
                    for ad in (match, elsewhere, too_dear, own)}  # fmt: skip
        assert hits[match["id"]] == [instant_id]
        assert hits[elsewhere["id"]] == []
        assert hits[too_dear["id"]] == [instant_id]  # the instant search has no price bound
        assert hits[own["id"]] == []

        async with engine.begin() as connection:
            await connection.execute(
                text("UPDATE saved_searches SET last_alerted_at = :t WHERE id = :id"),
                {"t": datetime.now(UTC) - timedelta(days=1, hours=1), "id": daily_id},
            )
            due = await daily_matches(datetime.now(UTC), connection)
        assert [str(m.search_id) for m in due] == [daily_id]
        assert set(map(str, due[0].ad_ids)) == {match["id"], elsewhere["id"]}
        async with engine.begin() as connection:  # alerted: not due again today
            assert await daily_matches(datetime.now(UTC), connection) == []
    finally:
        await engine.dispose()
