"""Saved searches: the API (memory and Redis modes) and the matching behind their alerts."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from domain.ads.saved_searches import daily_matches, match_new_ad
from rural24.services import Services
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


# Legacy rows, as stored before prices were bounded: one overflowing bound used to fail the alert
# statement of every user ("value overflows numeric format").
_POISONED = [
    ('{"shown": {"minPrice": "1e999999", "currency": "USD"}, "minPrice": "1e999999", "currency": "USD"}',
     "minPrice is out of range"),
    ('{"shown": {}, "maxPrice": "99999999999999999999999999999999999999999"}', "maxPrice is out of range"),
    ('["not", "an", "object"]', "not an object"),
]  # fmt: skip


async def test_a_saved_search_that_cannot_be_evaluated_is_marked_and_skipped(client: Client) -> None:
    seller, buyer, victim = await user(client), await user(client), await user(client)
    instant = {"filters": {"q": "tractor", "currency": "USD", "minPrice": "1000"}, "frequency": "instant"}
    daily = {"filters": {"q": "tractor"}, "frequency": "daily"}
    instant_id = (await client.post("/api/me/saved-searches", json=instant, headers=auth(buyer))).json()["id"]
    daily_id = (await client.post("/api/me/saved-searches", json=daily, headers=auth(buyer))).json()["id"]

    url = Services.of(client.app.state).settings.db.url
    assert url is not None
    engine = create_async_engine(url)
    try:
        poisoned: dict[str, str] = {}
        async with engine.begin() as connection:
            for frequency in ("instant", "daily"):
                for filters, reason in _POISONED:
                    search_id = await connection.scalar(
                        text(
                            "INSERT INTO saved_searches (id, user_id, name, filters, frequency, created_at, "
                            "updated_at) VALUES (gen_random_uuid(), :u, 'legado', CAST(:f AS jsonb), :freq, now(), "
                            "now()) RETURNING id"
                        ),
                        {"u": victim["id"], "f": filters, "freq": frequency},
                    )
                    poisoned[str(search_id)] = reason

        ad = await publish(client, seller)
        async with engine.begin() as connection:
            instant_hits = await match_new_ad(ad["id"], connection)
        assert [str(m.search_id) for m in instant_hits] == [instant_id]  # the healthy search still alerts

        async with engine.begin() as connection:
            await connection.execute(
                text("UPDATE saved_searches SET last_alerted_at = now() - interval '2 days' WHERE frequency = 'daily'")
            )
            due = await daily_matches(datetime.now(UTC), connection)
        assert [(str(m.search_id), [str(a) for a in m.ad_ids]) for m in due] == [(daily_id, [ad["id"]])]

        async with engine.connect() as connection:
            marked = {str(r[0]): r[1] for r in await connection.execute(
                text("SELECT id, error FROM saved_searches WHERE error IS NOT NULL AND failing_since IS NOT NULL")
            )}  # fmt: skip
        assert marked.keys() == poisoned.keys()
        for search_id, reason in poisoned.items():
            assert reason in marked[search_id]

        async with engine.begin() as connection:  # marked: skipped at once, not evaluated again
            assert [str(m.search_id) for m in await match_new_ad(ad["id"], connection)] == [instant_id]
    finally:
        await engine.dispose()

    # written behind the API's back: the replica shows them once it has replayed them
    deadline = time.monotonic() + 10
    while not (listed := (await client.get("/api/me/saved-searches", headers=auth(victim))).json()) or not all(
        saved["failingSince"] for saved in listed
    ):
        assert time.monotonic() < deadline, listed
        await asyncio.sleep(0.05)
    assert len(listed) == len(poisoned)
    for saved in listed:
        assert poisoned[saved["id"]] in saved["error"]
        assert saved["failingSince"]
    healthy = (await client.get("/api/me/saved-searches", headers=auth(buyer))).json()
    assert [(s["error"], s["failingSince"]) for s in healthy] == [(None, None), (None, None)]
