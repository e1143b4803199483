"""The validation boundary over HTTP: text without control characters, bounded numbers and
cursors, readable bodies only, and every bad field named at once. Each refusal is asserted to
have written nothing."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import asyncpg
import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.conftest import PgDatabase, assert_problem

PASSWORD = "trigo-maiz-2026"
Client = AsyncTestClient[Litestar]
JSON = {"content-type": "application/json"}
TABLES = ("users", "ads", "saved_searches", "messages", "reports")


@pytest.fixture
def mode() -> str:
    """The boundary does not touch Redis: stage 1 only."""
    return "memory"


async def counts(database: PgDatabase) -> dict[str, int]:
    connection = await asyncpg.connect(database.primary_url.replace("+asyncpg", ""))
    try:
        return {table: int(await connection.fetchval(f"SELECT count(*) FROM {table}")) for table in TABLES}
    finally:
        await connection.close()


async def user(client: Client) -> dict[str, str]:
    email = f"{uuid.uuid4().hex[:10]}@campo.com.ar"
    response = await client.post("/api/auth/register", json={"email": email, "password": PASSWORD, "name": "Marta"})
    assert response.status_code == 201, response.text
    body = response.json()
    return {"id": body["user"]["id"], "Authorization": f"Bearer {body['token']}"}


def auth(who: dict[str, str]) -> dict[str, str]:
    return {"Authorization": who["Authorization"]}


async def ad_body(client: Client) -> dict[str, Any]:
    categories = (await client.get("/api/categories")).json()
    return {
        "title": "Tractor Deutz AX",
        "categoryId": next(c["id"] for c in categories if c["slug"] == "tractores"),
        "province": "cordoba",
        "locality": "Oncativo",
        "price": "45000.00",
        "currency": "USD",
    }


def fields(body: dict[str, Any]) -> dict[str, str]:
    """``field`` → ``source`` of every listed error."""
    return {error["field"]: error["source"] for error in body.get("errors", [])}


def cursor(*values: Any) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(list(values))).decode().rstrip("=")


# -- class 1: control characters -------------------------------------------------------------------


async def test_control_characters_are_refused_in_every_text_field(client: Client, database: PgDatabase) -> None:
    seller = await user(client)
    base = await ad_body(client)
    before = await counts(database)

    register = await client.post(
        "/api/auth/register",
        json={"email": "a\x00@campo.com.ar", "password": PASSWORD, "name": "Ana\x00", "phone": "1\x1b"},
    )
    assert fields(assert_problem(register, 422)) == {"email": "body", "name": "body", "phone": "body"}
    login = await client.post("/api/auth/login", json={"email": "x\x00@campo.com.ar", "password": PASSWORD})
    assert fields(assert_problem(login, 422)) == {"email": "body"}
    me = await client.patch("/api/me", json={"name": "Ana\u0085"}, headers=auth(seller))
    assert fields(assert_problem(me, 422)) == {"name": "body"}

    ad = base | {"title": "Tractor\x00", "locality": "Once\nativo", "description": "bien\x07"}
    created = await client.post("/api/ads", json=ad, headers=auth(seller))
    body = assert_problem(created, 422)
    assert fields(body) == {"title": "body", "locality": "body", "description": "body"}
    assert all("control characters" in error["message"] for error in body["errors"])

    saved = await client.post(
        "/api/me/saved-searches",
        json={"filters": {"q": "vaca\x00", "province": "\x7f"}, "name": "mi\tbúsqueda"},
        headers=auth(seller),
    )
    assert fields(assert_problem(saved, 422)) == {"filters.q": "body", "filters.province": "body", "name": "body"}

    for params in ({"q": "tractor\x00"}, {"category": "a\x00"}, {"province": "\x00"}, {"cursor": "ab\x00"}):
        search = await client.get("/api/ads/search", params=params)
        assert fields(assert_problem(search, 422)) == {next(iter(params)): "query"}

    sent = await client.post(
        "/api/messages/send", json={"recipientId": str(uuid.uuid4()), "content": "hola\x00"}, headers=auth(seller)
    )
    assert fields(assert_problem(sent, 422)) == {"content": "body"}
    assert await counts(database) == before


async def test_prose_keeps_line_breaks_and_tabs(client: Client) -> None:
    seller = await user(client)
    body = await ad_body(client) | {"description": "Línea uno\r\n\tLínea dos — Córdoba"}
    created = await client.post("/api/ads", json=body, headers=auth(seller))
    assert created.status_code == 201, created.text
    assert created.json()["description"] == "Línea uno\r\n\tLínea dos — Córdoba"


# -- class 2: numbers, cursors and ETags ----------------------------------------------------------


async def test_prices_are_bounded_decimal_strings(client: Client, database: PgDatabase) -> None:
    seller = await user(client)
    base = await ad_body(client)
    before = await counts(database)
    for price in ("1e999999", "10000000000000", "-5", "10.123", "NaN", 45000, 1e308):
        created = await client.post("/api/ads", json=base | {"price": price}, headers=auth(seller))
        error = assert_problem(created, 422)["errors"]
        assert [e["field"] for e in error] == ["price"], price
        assert "decimal string" in error[0]["message"]
    for number in (b"1e999999", b"9" * 5000):  # JSON numbers no float or int can hold
        raw = msgspec.json.encode(base | {"price": "__PRICE__"}).replace(b'"__PRICE__"', number)
        created = await client.post("/api/ads", content=raw, headers=auth(seller) | JSON)
        assert fields(assert_problem(created, 422)) == {"price": "body"}
    top = await client.post("/api/ads", json=base | {"price": "9999999999999.99"}, headers=auth(seller))
    assert top.status_code == 201, top.text
    assert top.json()["price"] == "9999999999999.99"
    after = await counts(database)
    assert after == before | {"ads": before["ads"] + 1}


async def test_price_filters_and_cursors_out_of_range_are_422_not_500(client: Client, database: PgDatabase) -> None:
    buyer = await user(client)
    for params in (
        {"minPrice": "1e131072", "currency": "USD"},
        {"maxPrice": "1e999999", "currency": "USD"},
        {"minPrice": "-1", "currency": "USD"},
        {"maxPrice": "99999999999999", "currency": "USD"},
    ):
        response = await client.get("/api/ads/search", params=params)
        assert fields(assert_problem(response, 422)) == {next(iter(params)): "query"}, params

    bad_cursors = [
        ({"sort": "relevance", "q": "tractor"}, cursor("relevance", 1e308, str(uuid.uuid4()))),
        ({"sort": "relevance", "q": "tractor"}, cursor("relevance", "0.5", str(uuid.uuid4()))),
        ({"sort": "price_asc"}, cursor("price_asc", "1e999999", str(uuid.uuid4()))),
        ({"sort": "price_desc"}, cursor("price_desc", 45000, str(uuid.uuid4()))),
        ({"sort": "recent"}, cursor("recent", False, "2026-01-01T00:00:00", str(uuid.uuid4()))),
        ({"sort": "recent"}, cursor("recent", False, "0001-01-01T00:00:00+14:00", str(uuid.uuid4()))),
        ({"sort": "recent"}, cursor("recent", 1, "2026-01-01T00:00:00+00:00", 7)),
        ({}, "not+base64/"),
    ]
    for params, value in bad_cursors:
        response = await client.get("/api/ads/search", params=params | {"cursor": value})
        body = assert_problem(response, 422)
        assert fields(body) == {"cursor": "query"}, (params, value)

    conversation = f"/api/messages/conversations/{uuid.uuid4()}"
    for value in (cursor("0001-01-01T00:00:00+14:00", str(uuid.uuid4())), cursor("2026-01-01T00:00:00+00:00", 1)):
        response = await client.get(conversation, params={"cursor": value}, headers=auth(buyer))
        assert fields(assert_problem(response, 422)) == {"cursor": "query"}

    before = await counts(database)
    saved = await client.post(
        "/api/me/saved-searches",
        json={"filters": {"currency": "USD", "minPrice": "1e999999", "maxPrice": 5}},
        headers=auth(buyer),
    )
    assert fields(assert_problem(saved, 422)) == {"filters.minPrice": "body", "filters.maxPrice": "body"}
    assert await counts(database) == before


async def test_an_absurd_if_match_never_matches(client: Client) -> None:
    seller = await user(client)
    created = await client.post("/api/ads", json=await ad_body(client), headers=auth(seller))
    assert created.status_code == 201, created.text
    ad = created.json()
    for tag in ('"r' + "9" * 5000 + '"', '"r\u0661\u0662"', '"r"', '"r-1"'):
        response = await client.patch(
            f"/api/ads/{ad['id']}", json={"title": "Otro título"}, headers=auth(seller) | {"If-Match": tag.encode()}
        )
        assert_problem(response, 412)
    detail = (await client.get(f"/api/ads/{ad['id']}")).json()
    assert detail["title"] == ad["title"]


async def test_integer_parameters_are_bounded_and_named_as_sent(client: Client) -> None:
    response = await client.get("/api/ads/search", params={"pageSize": "51", "page": "0", "sort": "cheapest"})
    body = assert_problem(response, 422)
    assert fields(body) == {"pageSize": "query", "page": "query", "sort": "query"}
    messages = {error["field"]: error["message"] for error in body["errors"]}
    assert messages["pageSize"] == "must be at most 50"
    assert messages["sort"].startswith("must be one of: recent")
    huge = await client.get("/api/ads/search", params={"page": "9" * 5000})
    assert fields(assert_problem(huge, 422)) == {"page": "query"}


# -- class 3: bodies ------------------------------------------------------------------------------


async def test_a_json_body_sent_as_anything_else_is_415(client: Client, database: PgDatabase) -> None:
    seller = await user(client)
    raw = msgspec.json.encode(await ad_body(client))
    before = await counts(database)
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin-1"):
        response = await client.post("/api/ads", content=raw, headers=auth(seller) | {"content-type": content_type})
        assert_problem(response, 415)
    untyped = await client.post("/api/ads", content=raw, headers=auth(seller) | {"content-type": ""})
    assert_problem(untyped, 415)
    assert await counts(database) == before
    ok = await client.post(
        "/api/ads", content=raw, headers=auth(seller) | {"content-type": "application/json; charset=UTF-8"}
    )
    assert ok.status_code == 201, ok.text


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        pytest.param(b'{"email": "\xff\xfe@campo.com.ar", "password": "x", "name": "A"}', "UTF-8", id="invalid-utf8"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, "nests deeper", id="deep-array"),
        pytest.param(b'{"a":' * 5000 + b"1" + b"}" * 5000, "nests deeper", id="deep-object"),
        pytest.param(b'{"email": ', "not valid JSON", id="truncated"),
        pytest.param(b'{"name": "\\ud800"}', "not valid JSON", id="lone-surrogate"),
    ],
)
async def test_unreadable_bodies_are_400(client: Client, database: PgDatabase, raw: bytes, words: str) -> None:
    before = await counts(database)
    response = await client.post("/api/auth/register", content=raw[: 60 * 1024], headers=JSON)
    assert words in assert_problem(response, 400)["detail"]
    assert await counts(database) == before


async def test_a_missing_body_says_so(client: Client) -> None:
    seller = await user(client)
    response = await client.post("/api/ads", headers=auth(seller) | JSON)
    body = assert_problem(response, 400)
    assert "needs a JSON body" in body["detail"]
    assert "'data'" not in response.text
    ad = (await client.post("/api/ads", json=await ad_body(client), headers=auth(seller))).json()
    upload = await client.post(f"/api/ads/{ad['id']}/images", headers=auth(seller))
    assert "multipart/form-data" in assert_problem(upload, 400)["detail"]


async def test_a_media_path_with_nul_is_404(client: Client) -> None:
    assert_problem(await client.get("/media/ads/a%00b.webp"), 404)


async def test_brackets_inside_strings_do_not_count_as_nesting(client: Client) -> None:
    seller = await user(client)
    body = await ad_body(client) | {"description": "[[[{{{" * 200}
    response = await client.post("/api/ads", json=body, headers=auth(seller))
    assert response.status_code == 201, response.text


# -- class 4: every bad field at once -------------------------------------------------------------


async def test_every_bad_field_is_listed_at_once_by_its_json_name(client: Client, database: PgDatabase) -> None:
    seller = await user(client)
    before = await counts(database)
    response = await client.post(
        "/api/ads",
        json={"title": "ab", "categoryId": "nope", "price": "1.234", "currency": "EUR", "condition": 3},
        headers=auth(seller),
    )
    body = assert_problem(response, 422)
    assert fields(body) == {
        "title": "body",
        "categoryId": "body",
        "price": "body",
        "currency": "body",
        "condition": "body",
        "province": "body",
        "locality": "body",
    }
    messages = {error["field"]: error["message"] for error in body["errors"]}
    assert messages["province"] == "is required"
    assert messages["title"] == "needs at least 3 characters"
    assert messages["currency"] == "must be one of: ARS, USD"
    assert messages["categoryId"] == "must be a UUID"
    assert not any("regex" in error["message"] or "`" in error["message"] for error in body["errors"])
    assert await counts(database) == before


async def test_fields_that_cannot_be_set_keep_their_own_answer(client: Client, database: PgDatabase) -> None:
    seller = await user(client)
    before = await counts(database)
    body = await ad_body(client) | {"status": "sold", "isFeatured": True, "title": "x"}
    response = await client.post("/api/ads", json=body, headers=auth(seller))
    problem_body = assert_problem(response, 422)
    assert problem_body["detail"] == "The body sets fields that cannot be set here."
    assert {"status", "isFeatured", "title"} <= set(fields(problem_body))
    assert "unknown" not in response.text
    assert await counts(database) == before


async def test_the_openapi_document_carries_the_rules(client: Client) -> None:
    document = (await client.get("/schema/openapi.json")).json()
    schemas = document["components"]["schemas"]
    new_ad = next(schema for name, schema in schemas.items() if name.endswith("NewAd"))
    assert "pattern" in new_ad["properties"]["title"]
    price = new_ad["properties"]["price"]
    assert "9999999999999.99" in msgspec.json.encode(price).decode()
    parameters = {p["name"]: p for p in document["paths"]["/api/ads/search"]["get"]["parameters"]}
    for name in ("q", "category", "province", "minPrice", "maxPrice", "cursor"):
        assert "pattern" in msgspec.json.encode(parameters[name]["schema"]).decode(), name
    assert "415" in document["info"]["description"]


async def test_a_bad_field_before_unreadable_bytes_is_still_400(client: Client, database: PgDatabase) -> None:
    before = await counts(database)
    raw = b'{"email": 5, "password": "\xff\xfe", "name": "A"}'  # the typed pass stops at email
    response = await client.post("/api/auth/register", content=raw, headers=JSON)
    assert "UTF-8" in assert_problem(response, 400)["detail"]
    truncated = await client.post("/api/auth/register", content=b'{"email": 5, "name": ', headers=JSON)
    assert_problem(truncated, 400)
    assert await counts(database) == before
