"""The hostile-input catalogue (issue 8): every route, every field, hundreds of bad inputs.

Each case is one request that the API must refuse. For every case the test asserts, against the
contract (API.md, issue 8) rather than today's behaviour:

* a 4xx status (the exact one where the contract fixes it: 401, 403, 404, 405, 412, 413, 415, 422);
* ``application/problem+json`` with ``status``, ``title`` and ``detail``, and no stack trace;
* for a refused field, ``errors: [{field, message}]`` naming it by its JSON name (``pageSize``,
  ``filters.minPrice``) with a human message (not a bare key such as ``'data'``);
* **no row changed**: a fingerprint of every table of the database is the same after the request.

All cases run against one app per mode (module-scoped: one database, one registered owner, another
user, an admin, an ad, a conversation and a saved search), every case in memory mode and a fixed
subset in Redis mode. With ``RURAL24_HOSTILE_RESULTS=<dir>`` each outcome is also written to
``<dir>/catalogue.json`` for ``docs/hostile-input.md`` (``make hostile-report``).
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.conftest import PgDatabase, make_settings

Client = AsyncTestClient[Litestar]
PASSWORD = "trigo-maiz-2026"
PROBLEM_JSON = "application/problem+json"
VALIDATION = frozenset({400, 422})  # the contract fixes "a clear 4xx" here; 422 where a rule is broken
NOT_FOUND_OR_BAD = frozenset({400, 404, 422})
ABSENT = object()  # no JSON body at all (``json=`` not sent)

UNKNOWN_ID = "0190f5a6-7b1c-7d2e-9f00-4a5b6c7d8e9f"
"""An id nothing has; fixed, so that the case ids are the same in every collection (pytest-xdist)."""


@dataclass(frozen=True)
class Case:
    """One bad request. ``path`` may hold ``{ad}``, ``{user}``, ``{conversation}``, ``{search}``,
    ``{missing}`` (a well-formed id of nothing); ``who`` is ``anon``, ``owner``, ``other``, ``admin`` or
    ``ghost`` (a valid token of a deleted user)."""

    id: str
    kind: str  # the class of issue 8 (or our own) it belongs to, for the report
    method: str
    path: str
    who: str = "owner"
    json: Any = ABSENT
    content: bytes | None = None
    content_type: str | None = None
    params: dict[str, str] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    status: frozenset[int] | None = None  # None: any 4xx
    field: str | None = None  # the JSON name the errors must name

    @property
    def route(self) -> str:
        return f"{self.method} {self.path}"


def _status(*codes: int) -> frozenset[int]:
    return frozenset(codes)


# -- valid bodies that each case spoils in one place -----------------------------------------------

CATEGORY = "{category}"  # replaced by a real category id


def register_body() -> dict[str, Any]:
    return {"email": f"{uuid.uuid4().hex[:10]}@campo.com.ar", "password": PASSWORD, "name": "Ana Paz",
            "phone": "+54 351 555 0000", "province": "cordoba"}  # fmt: skip


def ad_body() -> dict[str, Any]:
    return {"title": "Sembradora Agrometal 12 surcos", "description": "Lista para trabajar.", "price": "18000.00",
            "currency": "USD", "categoryId": CATEGORY, "province": "cordoba", "locality": "Río Cuarto",
            "condition": "used"}  # fmt: skip


FORGED_TOKEN = "q0N0mY3Q2gN4pKXh1kq8sB3lM2c5vXo9zT7rW1aYfEc"  # the shape of a real one, of nothing

BODIES: dict[str, tuple[str, str, Any, str]] = {
    # name: (method, path, a valid body, who)
    "register": ("POST", "/api/auth/register", register_body, "anon"),
    "login": ("POST", "/api/auth/login", lambda: {"email": "{owner_email}", "password": "wrong-password-1"}, "anon"),
    "me": ("PATCH", "/api/me", lambda: {"name": "Ana María Paz", "phone": "+54 9 11 5555", "province": "salta"},
           "owner"),
    "ads.create": ("POST", "/api/ads", ad_body, "owner"),
    "ads.edit": ("PATCH", "/api/ads/{ad}", lambda: {"title": "Sembradora Agrometal impecable"}, "owner"),
    "ads.status": ("POST", "/api/ads/{ad}/status", lambda: {"status": "paused"}, "owner"),
    "ads.report": ("POST", "/api/ads/{ad}/report", lambda: {"reason": "spam", "detail": "Repetido."}, "other"),
    "messages.send": ("POST", "/api/messages/send",
                      lambda: {"recipientId": "{owner_id}", "content": "¿Sigue disponible?", "adId": "{ad}"},
                      "other"),
    "saved-searches.create": ("POST", "/api/me/saved-searches",
                              lambda: {"filters": {"q": "tractor", "category": "tractores", "province": "cordoba",
                                                   "minPrice": "100", "maxPrice": "900000", "currency": "USD",
                                                   "condition": "used"},
                                       "frequency": "instant", "name": "Tractores usados"},
                              "owner"),
    # the account lifecycle: every base body is refused as it stands (a forged token, a wrong password),
    # so no spoiled case can change an account by accident
    "auth.forgot": ("POST", "/api/auth/forgot-password", lambda: {"email": "{owner_email}"}, "anon"),
    "auth.resend": ("POST", "/api/auth/resend-verification", lambda: {"email": "{owner_email}"}, "anon"),
    "auth.verify": ("POST", "/api/auth/verify-email", lambda: {"token": FORGED_TOKEN}, "anon"),
    "auth.reset": ("POST", "/api/auth/reset-password", lambda: {"token": FORGED_TOKEN, "password": "nueva-clave-2027"},
                   "anon"),
    "me.password": ("POST", "/api/me/password",
                    lambda: {"currentPassword": "wrong-password-1", "newPassword": "nueva-clave-2027"}, "owner"),
    "me.email": ("POST", "/api/me/email", lambda: {"password": "wrong-password-1", "newEmail": "nuevo@campo.com.ar"},
                 "owner"),
    "me.email.confirm": ("POST", "/api/me/email/confirm", lambda: {"token": FORGED_TOKEN}, "owner"),
    "me.delete": ("DELETE", "/api/me", lambda: {"password": "wrong-password-1"}, "owner"),
}  # fmt: skip


def _body(name: str, /, **changes: Any) -> dict[str, Any]:
    """A valid body of route ``name`` with ``changes`` (dotted keys reach into ``filters``; ABSENT drops)."""
    body = BODIES[name][2]()
    for key, value in changes.items():
        target = body
        *parents, leaf = key.split("__")
        for parent in parents:
            target = target[parent]
        if value is ABSENT:
            target.pop(leaf, None)
        else:
            target[leaf] = value
    return body


def _json_field(key: str) -> str:
    return key.replace("__", ".")


def body_case(
    name: str, case_id: str, kind: str, status: frozenset[int] | None, field_: str | None, /, **changes: Any
) -> Case:  # fmt: skip
    method, path, _, who = BODIES[name]
    return Case(f"{name}.{case_id}", kind, method, path, who, json=_body(name, **changes), status=status, field=field_)


def raw_case(name: str, case_id: str, kind: str, content: bytes, status: frozenset[int] | None,
             content_type: str = "application/json", field_: str | None = None) -> Case:  # fmt: skip
    method, path, _, who = BODIES[name]
    return Case(f"{name}.{case_id}", kind, method, path, who, content=content, content_type=content_type,
                status=status, field=field_)  # fmt: skip


# -- the catalogue ----------------------------------------------------------------------------------

TEXT_FIELDS: dict[str, list[str]] = {
    # every text field of every JSON body (nested ones with "__")
    "register": ["email", "password", "name", "phone", "province"],
    "login": ["email", "password"],
    "me": ["name", "phone", "province"],
    "ads.create": ["title", "description", "locality", "province"],
    "ads.edit": ["title", "description", "locality", "province"],
    "ads.report": ["detail"],
    "messages.send": ["content"],
    "saved-searches.create": ["name", "filters__q", "filters__category", "filters__province"],
    "auth.forgot": ["email"],
    "auth.resend": ["email"],
    "auth.verify": ["token"],
    "auth.reset": ["token", "password"],
    "me.password": ["currentPassword", "newPassword"],
    "me.email": ["password", "newEmail"],
    "me.email.confirm": ["token"],
    "me.delete": ["password"],
}
PROSE = {"description", "detail", "content"}  # newline and tab are allowed there, nowhere else


def control_character_cases() -> Iterator[Case]:
    for name, fields in TEXT_FIELDS.items():
        for key in fields:
            valid = _body(name)
            target = valid
            *parents, leaf = key.split("__")
            for parent in parents:
                target = target[parent]
            base = str(target.get(leaf) or "texto")
            if key == "email" or leaf == "email":
                base = "ana@campo.com.ar"
            yield body_case(name, f"{_json_field(key)}-nul", "control characters", _status(422), _json_field(key),
                            **{key: base[:3] + "\x00" + base[3:]})  # fmt: skip
            yield body_case(name, f"{_json_field(key)}-esc", "control characters", _status(422), _json_field(key),
                            **{key: base + "\x1b[31m"})  # fmt: skip
            if leaf not in PROSE and leaf not in {"password", "email", "q"}:
                yield body_case(name, f"{_json_field(key)}-newline", "control characters", _status(422),
                                _json_field(key), **{key: base[:3] + "\n" + base[3:]})  # fmt: skip
    # query parameters and path-like text
    for param in ("q", "category", "province"):
        yield Case(f"search.{param}-nul", "control characters", "GET", "/api/ads/search", "anon",
                   params={param: "trac\x00tor"}, status=_status(422), field=param)  # fmt: skip
        yield Case(f"search.{param}-bell", "control characters", "GET", "/api/ads/search", "anon",
                   params={param: "trac\x07tor"}, status=_status(422), field=param)  # fmt: skip
    yield Case("search.cursor-nul", "control characters", "GET", "/api/ads/search", "anon",
               params={"cursor": "abc\x00def"}, status=_status(422), field="cursor")  # fmt: skip
    yield Case("conversation.cursor-nul", "control characters", "GET", "/api/messages/conversations/{conversation}",
               "owner", params={"cursor": "abc\x00def"}, status=_status(422), field="cursor")  # fmt: skip
    yield Case("admin.emails.status-nul", "control characters", "GET", "/api/admin/emails", "admin",
               params={"status": "failed\x00"}, status=VALIDATION, field="status")  # fmt: skip


def _cursor(*values: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(values)).encode()).decode().rstrip("=")


def _raw_cursor(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def number_cases() -> Iterator[Case]:
    prices: list[tuple[str, Any]] = [
        ("string-1e999999", "1e999999"),
        ("negative-string", "-5.00"),
        ("negative-number", -5),
        ("three-decimals", "12.345"),
        ("nan", "NaN"),
        ("infinity", "Infinity"),
        ("thirty-digits", "9" * 30),
        ("not-a-number", "doce mil"),
        ("boolean", True),
        ("exponent-overflow", "1E+131072"),
    ]
    for name in ("ads.create", "ads.edit"):
        for case_id, value in prices:
            yield body_case(name, f"price-{case_id}", "numbers beyond range", VALIDATION, "price", price=value)
        valid = _body(name, price="__PRICE__")
        raw = json.dumps(valid).replace('"__PRICE__"', "1e999999").encode()
        yield raw_case(name, "price-number-1e999999", "numbers beyond range", raw, VALIDATION, field_="price")
        raw = json.dumps(valid).replace('"__PRICE__"', "1" + "0" * 5000).encode()
        yield raw_case(name, "price-5000-digit-integer", "numbers beyond range", raw, VALIDATION, field_="price")
    for bound in ("minPrice", "maxPrice"):
        for case_id, value in [("1e999999", "1e999999"), ("1e131072", "1e131072"), ("negative", "-1"),
                               ("nan", "NaN"), ("infinity", "Infinity"), ("text", "barato"),
                               ("sixty-digits", "9" * 60)]:  # fmt: skip
            yield Case(f"search.{bound}-{case_id}", "numbers beyond range", "GET", "/api/ads/search", "anon",
                       params={bound: value, "currency": "USD"}, status=VALIDATION, field=bound)  # fmt: skip
            yield body_case("saved-searches.create", f"filters.{bound}-{case_id}", "numbers beyond range",
                            VALIDATION, f"filters.{bound}", **{f"filters__{bound}": value})  # fmt: skip
        valid = _body("saved-searches.create", **{f"filters__{bound}": "__N__"})
        raw = json.dumps(valid).replace('"__N__"', "1e999999").encode()
        yield raw_case("saved-searches.create", f"filters.{bound}-number-1e999999", "numbers beyond range", raw,
                       VALIDATION, field_=f"filters.{bound}")  # fmt: skip
    ad_id = str(uuid.uuid4())
    cursors = {
        "relevance-1e308": ("relevance", {"q": "tractor", "sort": "relevance"}, _cursor("relevance", 1e308, ad_id)),
        "relevance-1e999": (
            "relevance",
            {"q": "tractor", "sort": "relevance"},
            _raw_cursor(b'["relevance", 1e999, "' + ad_id.encode() + b'"]'),
        ),
        "relevance-nan": (
            "relevance",
            {"q": "tractor", "sort": "relevance"},
            _raw_cursor(b'["relevance", NaN, "' + ad_id.encode() + b'"]'),
        ),
        "price-string-1e999999": ("price", {"sort": "price_asc"}, _cursor("price_asc", "1e999999", ad_id)),
        "price-string-nan": ("price", {"sort": "price_desc"}, _cursor("price_desc", "NaN", ad_id)),
        "price-negative-exponent": ("price", {"sort": "price_asc"}, _cursor("price_asc", "1e-999999", ad_id)),
        "recent-year-99999": ("recent", {}, _cursor("recent", False, "99999-01-01T00:00:00+00:00", ad_id)),
        "recent-not-a-date": ("recent", {}, _cursor("recent", False, "ayer", ad_id)),
        "recent-bad-uuid": ("recent", {}, _cursor("recent", False, "2026-01-01T00:00:00+00:00", "x")),
        "garbage": ("any", {}, "!!!not*base64!!!"),
        "base64-not-json": ("any", {}, _raw_cursor(b"\xff\xfe\x00garbage")),
        "base64-wrong-padding": ("any", {}, "YWJj="),
        "json-object": ("any", {}, _raw_cursor(b'{"sort": "recent"}')),
        "json-deep": ("any", {}, _raw_cursor(b"[" * 300 + b"]" * 300)),
        "other-sort": ("any", {"sort": "price_asc"}, _cursor("recent", False, "2026-01-01T00:00:00+00:00", ad_id)),
        "too-long": ("any", {}, "A" * 600),
    }
    for case_id, (_, params, cursor) in cursors.items():
        yield Case(f"search.cursor-{case_id}", "numbers beyond range", "GET", "/api/ads/search", "anon",
                   params=params | {"cursor": cursor}, status=VALIDATION, field="cursor")  # fmt: skip
    for case_id, cursor in {
        "garbage": "%%%",
        "year-99999": _cursor("99999-01-01T00:00:00+00:00", ad_id),
        "naive-date": _cursor("2026-01-01T00:00:00", ad_id),
        "number": _raw_cursor(b"1e999999"),
        "too-long": "A" * 600,
    }.items():
        yield Case(f"conversation.cursor-{case_id}", "numbers beyond range", "GET",
                   "/api/messages/conversations/{conversation}", "owner", params={"cursor": cursor},
                   status=VALIDATION, field="cursor")  # fmt: skip
    pages = [("/api/ads/search", "anon", 200), ("/api/me/ads", "owner", 1000), ("/api/me/favorites", "owner", 1000),
             ("/api/messages/conversations", "owner", None), ("/api/admin/reports", "admin", 1000)]  # fmt: skip
    for path, who, max_page in pages:
        route = path.removeprefix("/api/").replace("/", ".")
        for case_id, value in [("zero", "0"), ("negative", "-1"), ("huge", "9" * 30), ("text", "uno"),
                               ("fraction", "1.5")]:  # fmt: skip
            yield Case(f"{route}.page-{case_id}", "numbers beyond range", "GET", path, who, params={"page": value},
                       status=VALIDATION, field="page")  # fmt: skip
        if max_page is not None:
            yield Case(f"{route}.page-beyond-{max_page}", "numbers beyond range", "GET", path, who,
                       params={"page": str(max_page + 1)}, status=VALIDATION, field="page")  # fmt: skip
        for case_id, value in [("zero", "0"), ("51", "51"), ("negative", "-5"), ("huge", "1" + "0" * 40)]:
            yield Case(f"{route}.pageSize-{case_id}", "numbers beyond range", "GET", path, who,
                       params={"pageSize": value}, status=VALIDATION, field="pageSize")  # fmt: skip
    for case_id, value in [("zero", "0"), ("over-500", "501"), ("huge", "9" * 30)]:
        yield Case(f"admin.emails.limit-{case_id}", "numbers beyond range", "GET", "/api/admin/emails", "admin",
                   params={"limit": value}, status=VALIDATION, field="limit")  # fmt: skip
    yield Case("conversation.pageSize-51", "numbers beyond range", "GET", "/api/messages/conversations/{conversation}",
               "owner", params={"pageSize": "51"}, status=VALIDATION, field="pageSize")  # fmt: skip
    # If-Match: any tag but the current one is stale (412), however long or strange
    for case_id, tag in [("5000-digits", '"r' + "9" * 5000 + '"'), ("beyond-bigint", '"r99999999999999999999"'),
                         ("negative", '"r-1"'), ("garbage", '"zzz"'), ("weak-old", 'W/"r0"'),
                         ("unquoted-huge", "r" + "1" * 4400)]:  # fmt: skip
        yield Case(f"ads.edit.if-match-{case_id}", "numbers beyond range", "PATCH", "/api/ads/{ad}", "owner",
                   json={"title": "Sembradora editada"}, headers={"If-Match": tag},
                   status=_status(412) if case_id != "5000-digits" else _status(400, 412, 422))  # fmt: skip


JSON_ROUTES = list(BODIES)
DEEP = 60_000  # under the 64 KiB body cap, so the nesting itself is what is refused


def malformed_body_cases() -> Iterator[Case]:
    for name in JSON_ROUTES:
        method, path, _, who = BODIES[name]
        valid = json.dumps(_body(name)).encode()
        yield raw_case(name, "text-plain", "malformed bodies", valid, _status(415), content_type="text/plain")
        yield raw_case(name, "form-urlencoded", "malformed bodies", b"title=x&email=a%40b.com", _status(415),
                       content_type="application/x-www-form-urlencoded")  # fmt: skip
        yield raw_case(name, "deep-array", "malformed bodies", b"[" * DEEP, VALIDATION)
        yield raw_case(name, "deep-object", "malformed bodies", b'{"a":' * (DEEP // 5), VALIDATION)
        yield raw_case(name, "truncated", "malformed bodies", valid[: len(valid) // 2], VALIDATION)
        yield raw_case(name, "null", "malformed bodies", b"null", VALIDATION)
        yield raw_case(name, "array", "malformed bodies", b"[]", VALIDATION)
        # no body and no content type: refused (415 for the missing type is as right as 400/422)
        yield Case(f"{name}.missing-body", "malformed bodies", method, path, who, status=_status(400, 415, 422))
        first_text = next(iter(f for f in TEXT_FIELDS.get(name, []) if "__" not in f), None)
        if first_text is not None:
            marker = json.dumps(_body(name, **{first_text: "__BAD__"})).encode()
            yield raw_case(name, "invalid-utf8", "malformed bodies", marker.replace(b"__BAD__", b"ab\xff\xfecd"),
                           VALIDATION)  # fmt: skip
            yield raw_case(name, "lone-surrogate", "malformed bodies", marker.replace(b"__BAD__", b"ab\\ud800cd"),
                           VALIDATION)  # fmt: skip
        yield raw_case(name, "oversized", "oversized bodies", b'{"x": "' + b"a" * (70 * 1024) + b'"}', _status(413))
    yield raw_case("ads.create", "deep-array-100000", "malformed bodies", b"[" * 100_000, _status(400, 413, 422))
    yield Case("ads.images.json-body", "malformed bodies", "POST", "/api/ads/{ad}/images", "owner",
               json={"file": "aGVsbG8="}, status=_status(400, 415, 422))  # fmt: skip
    yield Case("ads.images.not-an-image", "malformed bodies", "POST", "/api/ads/{ad}/images", "owner",
               content=b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.jpg\"\r\n"
               b"Content-Type: image/jpeg\r\n\r\nhola\r\n--b--\r\n",
               content_type="multipart/form-data; boundary=b", status=_status(422))  # fmt: skip
    yield Case("ads.images.no-file-part", "malformed bodies", "POST", "/api/ads/{ad}/images", "owner",
               content=_upload(_png(), name="foto"), content_type=MULTIPART, status=VALIDATION)  # fmt: skip
    yield Case("ads.images.truncated-multipart", "malformed bodies", "POST", "/api/ads/{ad}/images", "owner",
               content=IMAGE[:40], content_type=MULTIPART, status=VALIDATION)  # fmt: skip
    yield Case("ads.images.no-boundary", "malformed bodies", "POST", "/api/ads/{ad}/images", "owner",
               content=IMAGE, content_type="multipart/form-data", status=_status(400, 415, 422))  # fmt: skip
    yield Case("ads.images.oversized", "oversized bodies", "POST", "/api/ads/{ad}/images", "owner",
               content=b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.png\"\r\n"
               b"Content-Type: image/png\r\n\r\n\x89PNG\r\n\x1a\n" + b"\0" * (10 * 1024 * 1024 + 1) + b"\r\n--b--\r\n",
               content_type="multipart/form-data; boundary=b", status=_status(413))  # fmt: skip


def type_and_field_cases() -> Iterator[Case]:
    wrong_types: list[tuple[str, str, Any]] = [
        ("register", "email", 1), ("register", "password", None), ("register", "name", {"first": "Ana"}),
        ("register", "phone", 5493515550000), ("register", "province", ["cordoba"]),
        ("login", "email", ["a@b.com"]), ("login", "password", 123456789012),
        ("me", "name", False), ("me", "phone", {"n": 1}), ("me", "province", 7),
        ("ads.create", "title", 123), ("ads.create", "title", None), ("ads.create", "categoryId", 5),
        ("ads.create", "categoryId", "not-a-uuid"), ("ads.create", "currency", 1), ("ads.create", "price", [1]),
        ("ads.create", "condition", True), ("ads.create", "description", {"es": "x"}),
        ("ads.edit", "title", 1), ("ads.edit", "categoryId", "x"), ("ads.edit", "locality", []),
        ("ads.status", "status", 1), ("ads.report", "reason", 5), ("ads.report", "detail", 5),
        ("messages.send", "recipientId", "x"), ("messages.send", "content", 5), ("messages.send", "adId", 12),
        ("messages.send", "content", None),
        ("saved-searches.create", "filters", "tractor"), ("saved-searches.create", "frequency", 3),
        ("saved-searches.create", "filters__q", 1), ("saved-searches.create", "filters__currency", 1),
    ]  # fmt: skip
    for name, key, value in wrong_types:
        kind = "wrong JSON types"
        yield body_case(name, f"{_json_field(key)}-{type(value).__name__}", kind, VALIDATION, _json_field(key),
                        **{key: value})  # fmt: skip
    missing = [("register", "email"), ("register", "password"), ("register", "name"), ("login", "password"),
               ("ads.create", "title"), ("ads.create", "categoryId"), ("ads.create", "province"),
               ("ads.create", "locality"), ("ads.status", "status"), ("ads.report", "reason"),
               ("messages.send", "recipientId"), ("messages.send", "content"),
               ("saved-searches.create", "filters")]  # fmt: skip
    for name, key in missing:
        yield body_case(name, f"{key}-missing", "missing fields", VALIDATION, key, **{key: ABSENT})
    forbidden = [("register", "role", "admin"), ("register", "id", UNKNOWN_ID),
                 ("register", "blockedAt", "2026-01-01T00:00:00Z"),
                 ("me", "role", "admin"), ("me", "email", "otra@campo.com.ar"), ("me", "id", UNKNOWN_ID),
                 ("ads.create", "status", "active"), ("ads.create", "isFeatured", True),
                 ("ads.create", "ownerId", "{user}"), ("ads.create", "createdAt", "2020-01-01T00:00:00Z"),
                 ("ads.create", "expiresAt", "2099-01-01T00:00:00Z"), ("ads.create", "revision", 99),
                 ("ads.create", "id", UNKNOWN_ID),
                 ("ads.edit", "status", "sold"), ("ads.edit", "isFeatured", True), ("ads.edit", "ownerId", "{user}"),
                 ("ads.edit", "deletedAt", None), ("ads.edit", "suspendedAt", None),
                 ("ads.status", "isFeatured", True), ("ads.report", "userId", "{user}"),
                 ("messages.send", "senderId", "{user}"), ("messages.send", "createdAt", "2020-01-01T00:00:00Z"),
                 ("saved-searches.create", "userId", "{user}"),
                 ("saved-searches.create", "lastAlertedAt", "2020-01-01T00:00:00Z"),
                 ("saved-searches.create", "filters__sort", "recent"), ("login", "role", "admin")]  # fmt: skip
    for name, key, value in forbidden:
        yield body_case(name, f"{_json_field(key)}-forbidden", "unknown or forbidden fields", _status(422),
                        _json_field(key), **{key: value})  # fmt: skip
    too_long = [("register", "email", "a" * 250 + "@b.com"), ("register", "password", "p" * 129),
                ("register", "name", "n" * 121), ("register", "phone", "1" * 41), ("register", "province", "p" * 33),
                ("login", "email", "a" * 300 + "@b.com"), ("login", "password", "p" * 129),
                ("me", "name", "n" * 121), ("me", "phone", "9" * 41),
                ("ads.create", "title", "t" * 121), ("ads.create", "description", "d" * 5001),
                ("ads.create", "locality", "l" * 121), ("ads.edit", "title", "t" * 121),
                ("ads.edit", "description", "d" * 5001), ("ads.report", "detail", "d" * 1001),
                ("messages.send", "content", "c" * 2001), ("saved-searches.create", "name", "n" * 121),
                ("saved-searches.create", "filters__q", "q" * 201)]  # fmt: skip
    for name, key, value in too_long:
        yield body_case(name, f"{_json_field(key)}-too-long", "too-long strings", VALIDATION, _json_field(key),
                        **{key: value})  # fmt: skip
    yield Case("search.q-too-long", "too-long strings", "GET", "/api/ads/search", "anon", params={"q": "q" * 201},
               status=VALIDATION, field="q")  # fmt: skip
    yield Case("ads.create.idempotency-key-too-long", "too-long strings", "POST", "/api/ads", "owner",
               json=_body("ads.create"), headers={"Idempotency-Key": "k" * 5000}, status=VALIDATION)  # fmt: skip
    blank = [("register", "email"), ("register", "name"), ("register", "password"), ("login", "email"),
             ("me", "name"), ("ads.create", "title"), ("ads.create", "locality"), ("ads.edit", "title"),
             ("ads.edit", "locality"), ("messages.send", "content"), ("saved-searches.create", "name")]  # fmt: skip
    for name, key in blank:
        yield body_case(name, f"{key}-empty", "empty or blank strings", VALIDATION, key, **{key: ""})
        yield body_case(name, f"{key}-whitespace", "empty or blank strings", VALIDATION, key, **{key: " \t  "})
    enums = [("register", "province", "atlantida"), ("me", "province", "atlantida"),
             ("ads.create", "province", "atlantida"), ("ads.create", "currency", "EUR"),
             ("ads.create", "condition", "roto"), ("ads.create", "categoryId", UNKNOWN_ID),
             ("ads.edit", "currency", "BTC"), ("ads.edit", "province", "xx"), ("ads.edit", "condition", "NEW"),
             ("ads.status", "status", "deleted"), ("ads.status", "status", "suspended"),
             ("ads.status", "status", "expired"), ("ads.report", "reason", "aburrido"),
             ("saved-searches.create", "frequency", "hourly"), ("saved-searches.create", "filters__currency", "EUR"),
             ("saved-searches.create", "filters__condition", "x"),
             ("saved-searches.create", "filters__province", "narnia"),
             ("saved-searches.create", "filters__category", "no-such-category")]  # fmt: skip
    for name, key, value in enums:
        yield body_case(name, f"{_json_field(key)}-{value[:12]}", "bad enums and references", VALIDATION,
                        _json_field(key), **{key: value})  # fmt: skip
    for param, value in [("sort", "random"), ("currency", "EUR"), ("condition", "broken"), ("province", "narnia"),
                         ("category", "no-such-category")]:  # fmt: skip
        yield Case(f"search.{param}-{value}", "bad enums and references", "GET", "/api/ads/search", "anon",
                   params={param: value}, status=VALIDATION, field=param)  # fmt: skip
    yield Case("search.relevance-without-q", "bad enums and references", "GET", "/api/ads/search", "anon",
               params={"sort": "relevance"}, status=VALIDATION, field="sort")  # fmt: skip
    yield Case("search.min-above-max", "bad enums and references", "GET", "/api/ads/search", "anon",
               params={"minPrice": "10", "maxPrice": "5", "currency": "ARS"}, status=VALIDATION,
               field="minPrice")  # fmt: skip
    yield Case("admin.emails.status-unknown", "bad enums and references", "GET", "/api/admin/emails", "admin",
               params={"status": "lost"}, status=VALIDATION, field="status")  # fmt: skip
    yield body_case("messages.send", "to-oneself", "bad enums and references", _status(422), None,
                    recipientId="{user}")  # fmt: skip
    yield body_case("messages.send", "unknown-recipient", "bad enums and references", _status(404), None,
                    recipientId="{missing}")  # fmt: skip
    yield body_case(
        "messages.send", "unknown-ad", "bad enums and references", _status(404, 422), None, adId="{missing}"
    )


ID_ROUTES = [
    ("GET", "/api/ads/{}", "anon"), ("PATCH", "/api/ads/{}", "owner"), ("DELETE", "/api/ads/{}", "owner"),
    ("POST", "/api/ads/{}/status", "owner"), ("POST", "/api/ads/{}/renew", "owner"),
    ("POST", "/api/ads/{}/report", "other"), ("PUT", "/api/ads/{}/favorite", "other"),
    ("DELETE", "/api/ads/{}/favorite", "other"), ("POST", "/api/ads/{}/images", "owner"),
    ("GET", "/api/users/{}", "anon"), ("GET", "/api/messages/conversations/{}", "owner"),
    ("POST", "/api/messages/conversations/{}/read", "owner"), ("DELETE", "/api/me/saved-searches/{}", "owner"),
    ("POST", "/api/admin/users/{}/block", "admin"), ("POST", "/api/admin/ads/{}/suspend", "admin"),
    ("DELETE", "/api/admin/users/{}", "admin"),
]  # fmt: skip
ID_BODIES = {"/api/ads/{}": {"title": "Otro título"}, "/api/ads/{}/status": {"status": "paused"},
             "/api/ads/{}/report": {"reason": "spam"}}  # fmt: skip


def _png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (40, 120, 40)).save(buffer, "PNG")
    return buffer.getvalue()


MULTIPART = "multipart/form-data; boundary=b"


def _upload(content: bytes, name: str = "file") -> bytes:
    """A multipart body with one part, as a browser sends an image."""
    head = (
        f'--b\r\nContent-Disposition: form-data; name="{name}"; filename="foto.png"\r\nContent-Type: image/png\r\n\r\n'
    )
    return head.encode() + content + b"\r\n--b--\r\n"


IMAGE = _upload(_png())


def path_cases() -> Iterator[Case]:
    for method, template, who in ID_ROUTES:
        body = ID_BODIES.get(template, ABSENT) if method in {"PATCH", "POST"} else ABSENT
        upload = {"content": IMAGE, "content_type": MULTIPART} if template.endswith("/images") else {}
        route = f"{method.lower()}:{template.format('id')}"
        for case_id, bad in [("not-uuid", "not-a-uuid"), ("sql", "1%27%20OR%201%3D1"), ("too-long", "a" * 2000)]:
            yield Case(f"{route}.{case_id}", "bad ids in paths", method, template.format(bad), who, json=body,
                       status=NOT_FOUND_OR_BAD, **upload)  # fmt: skip
        if (method, template) != ("DELETE", "/api/ads/{}/favorite"):  # unsaving what was never saved: 204 or 404
            yield Case(f"{route}.unknown", "bad ids in paths", method, template.format("{missing}"), who, json=body,
                       status=_status(404), **upload)  # fmt: skip
    yield Case("media.traversal", "bad ids in paths", "GET", "/media/ads/..%2F..%2F..%2Fpyproject.toml", "anon",
               status=_status(400, 404))  # fmt: skip
    yield Case("media.nul", "bad ids in paths", "GET", "/media/ads/a%00b.webp", "anon", status=_status(400, 404))


BEARER_ROUTES = [
    ("POST", "/api/auth/logout"), ("POST", "/api/auth/logout-all-devices"), ("GET", "/api/me"), ("PATCH", "/api/me"),
    ("POST", "/api/ads"), ("PATCH", "/api/ads/{ad}"), ("DELETE", "/api/ads/{ad}"), ("POST", "/api/ads/{ad}/status"),
    ("POST", "/api/ads/{ad}/renew"), ("POST", "/api/ads/{ad}/report"), ("PUT", "/api/ads/{ad}/favorite"),
    ("DELETE", "/api/ads/{ad}/favorite"), ("POST", "/api/ads/{ad}/images"), ("GET", "/api/me/ads"),
    ("GET", "/api/me/favorites"), ("POST", "/api/me/saved-searches"), ("GET", "/api/me/saved-searches"),
    ("DELETE", "/api/me/saved-searches/{search}"), ("POST", "/api/messages/send"),
    ("GET", "/api/messages/conversations"), ("GET", "/api/messages/conversations/{conversation}"),
    ("POST", "/api/messages/conversations/{conversation}/read"), ("POST", "/api/admin/users/{user}/block"),
    ("POST", "/api/admin/ads/{ad}/suspend"), ("GET", "/api/admin/reports"), ("GET", "/api/admin/emails"),
    ("DELETE", "/api/me"), ("POST", "/api/me/password"), ("POST", "/api/me/email"), ("POST", "/api/me/email/confirm"),
    ("DELETE", "/api/admin/users/{user}"),
]  # fmt: skip


def _unsigned_token(user: str) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part({'sub': user, 'exp': 4102444800, 'role': 'admin'})}."


def auth_cases() -> Iterator[Case]:
    for method, path in BEARER_ROUTES:
        route = f"{method.lower()}:{path}"
        yield Case(f"{route}.no-token", "authentication", method, path, "anon", status=_status(401))
        yield Case(f"{route}.garbage-token", "authentication", method, path, "anon",
                   headers={"Authorization": "Bearer garbage.not-a.jwt"}, status=_status(401))  # fmt: skip
        if path.startswith("/api/admin/"):
            yield Case(f"{route}.user-token", "authentication", method, path, "other", status=_status(403))
    for method, path in [("GET", "/api/me"), ("POST", "/api/ads"), ("GET", "/api/admin/reports")]:
        yield Case(f"{method.lower()}:{path}.alg-none", "authentication", method, path, "anon",
                   headers={"Authorization": "Bearer {unsigned}"}, status=_status(401))  # fmt: skip
        yield Case(f"{method.lower()}:{path}.huge-token", "authentication", method, path, "anon",
                   headers={"Authorization": "Bearer " + "a" * 8000}, status=_status(401, 431))  # fmt: skip
    # a valid token of a user who no longer exists: 401 everywhere, at once (never 404 or a 500)
    for method, path in [("GET", "/api/me"), ("PATCH", "/api/me"), ("POST", "/api/ads"),
                         ("PUT", "/api/ads/{ad}/favorite"), ("POST", "/api/me/saved-searches"),
                         ("POST", "/api/messages/send"), ("GET", "/api/messages/conversations"),
                         ("POST", "/api/ads/{ad}/report")]:  # fmt: skip
        bodies = {"/api/me": {"name": "Nadie"}, "/api/ads": ad_body(), "/api/me/saved-searches": {"filters": {}},
                  "/api/messages/send": {"recipientId": "{owner_id}", "content": "hola"},
                  "/api/ads/{ad}/report": {"reason": "spam"}}  # fmt: skip
        body = bodies.get(path, ABSENT) if method != "GET" else ABSENT
        yield Case(f"{method.lower()}:{path}.deleted-user", "authentication", method, path, "ghost", json=body,
                   status=_status(401))  # fmt: skip
    # another user's ad: the owner's rules hold (403 while public, 404 otherwise; never a change)
    for method, path, body in [("PATCH", "/api/ads/{ad}", {"title": "Robado"}), ("DELETE", "/api/ads/{ad}", ABSENT),
                               ("POST", "/api/ads/{ad}/status", {"status": "sold"}),
                               ("POST", "/api/ads/{ad}/renew", ABSENT),
                               ("POST", "/api/ads/{ad}/images", ABSENT)]:  # fmt: skip
        upload = {"content": IMAGE, "content_type": MULTIPART} if path.endswith("/images") else {}
        yield Case(f"{method.lower()}:{path}.not-the-owner", "authorization", method, path, "other", json=body,
                   status=_status(403, 404), **upload)  # fmt: skip
    yield Case("conversation.not-a-participant", "authorization", "GET", "/api/messages/conversations/{conversation}",
               "admin", status=_status(404))  # fmt: skip
    yield Case("conversation.read-not-a-participant", "authorization", "POST",
               "/api/messages/conversations/{conversation}/read", "admin", status=_status(404))  # fmt: skip
    # the account lifecycle: links that are not links, passwords that do not match (nothing changes)
    for name, status in [("auth.verify", 400), ("auth.reset", 400), ("me.email.confirm", 400), ("me.password", 403),
                         ("me.email", 403), ("me.delete", 403)]:  # fmt: skip
        yield body_case(name, "as-is", "account tokens and passwords", _status(status), None)
    yield body_case("auth.reset", "not-a-token-shape", "account tokens and passwords", _status(400), None, token="x")
    yield body_case("me.email", "own-email", "account tokens and passwords", _status(403, 422), None,
                    newEmail="{owner_email}")  # fmt: skip
    yield body_case("auth.reset", "short-password", "account tokens and passwords", _status(422), "password",
                    password="corta")  # fmt: skip
    yield body_case("me.password", "short-new-password", "account tokens and passwords", _status(422),
                    "newPassword", newPassword="corta")  # fmt: skip
    yield Case("admin.users.delete-as-user", "authorization", "DELETE", "/api/admin/users/{user}", "other",
               status=_status(403))  # fmt: skip
    yield Case("saved-search.of-another-user", "authorization", "DELETE", "/api/me/saved-searches/{search}", "other",
               status=_status(404))  # fmt: skip
    for method, path in [("POST", "/api/health"), ("DELETE", "/api/categories"), ("PUT", "/api/provinces"),
                         ("POST", "/metrics"), ("PUT", "/api/ads/search"), ("GET", "/api/auth/register")]:  # fmt: skip
        yield Case(f"{method.lower()}:{path}.method", "wrong methods", method, path, "anon", status=_status(405))


def all_cases() -> list[Case]:
    cases = [
        *control_character_cases(),
        *number_cases(),
        *malformed_body_cases(),
        *type_and_field_cases(),
        *path_cases(),
        *auth_cases(),
    ]
    seen: set[str] = set()
    for case in cases:
        assert case.id not in seen, f"duplicate case id {case.id}"
        seen.add(case.id)
    return cases


CASES = all_cases()
# Redis mode runs a fixed subset: every authentication case (sessions live there) and every fifth other one.
REDIS_CASES = [case for index, case in enumerate(CASES) if case.kind == "authentication" or index % 5 == 0]

# The routes the app serves that the catalogue does not send bad input to, each with its reason.
PLACEHOLDERS = ("{ad}", "{user}", "{owner_id}", "{conversation}", "{search}", "{missing}")
UNCOVERED_ROUTES = {
    "GET /api/health": "takes no input; gets a wrong-method case (POST)",
    "GET /api/health/ready": "takes no input (no query, no body, no path parameter)",
    "GET /api/metrics": "takes no input; /metrics, the same handler, gets a wrong-method case",
    "GET /api/categories": "takes no input; gets a wrong-method case (DELETE)",
    "GET /api/provinces": "takes no input; gets a wrong-method case (PUT)",
    "GET /metrics": "takes no input; gets a wrong-method case (POST)",
    "WEBSOCKET /api/ws/notifications": "not HTTP: bad tokens close the socket with 4401 (test_messaging.py)",
}


# -- running the cases ------------------------------------------------------------------------------


@dataclass
class World:
    """One app with everything the cases point at."""

    mode: str
    client: Client
    database: asyncpg.Connection  # kept open: the fingerprint runs twice per case
    tokens: dict[str, str]  # who → bearer token
    values: dict[str, str]  # placeholder → value
    tables: list[str]


async def _register(client: Client, name: str) -> dict[str, Any]:
    email = f"{name}-{uuid.uuid4().hex[:8]}@campo.com.ar"
    response = await client.post("/api/auth/register", json={"email": email, "password": PASSWORD, "name": name})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def _build_world(mode: str, client: Client, connection: asyncpg.Connection) -> World:
    owner, other, admin, ghost = [await _register(client, n) for n in ("Marta", "Jorge", "Moderadora", "Fantasma")]
    # Before any request checks its token: an account deleted behind the API's back (issue 8, class 9)
    await connection.execute("DELETE FROM users WHERE id = $1::uuid", ghost["user"]["id"])
    await connection.execute("UPDATE users SET role = 'admin' WHERE id = $1::uuid", admin["user"]["id"])
    tables = [
        row["tablename"]
        for row in await connection.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version' "
            "ORDER BY tablename"
        )
    ]
    login = await client.post("/api/auth/login", json={"email": admin["user"]["email"], "password": PASSWORD})
    assert login.status_code == 200, login.text
    tokens = {"owner": owner["token"], "other": other["token"], "admin": login.json()["token"],
              "ghost": ghost["token"]}  # fmt: skip
    categories = (await client.get("/api/categories")).json()
    category = next(c["id"] for c in categories if c["slug"] == "tractores")
    body = ad_body() | {"categoryId": category}
    ad = await client.post("/api/ads", json=body, headers={"Authorization": f"Bearer {tokens['owner']}"})
    assert ad.status_code == 201, ad.text
    ad_id = ad.json()["id"]
    sent = await client.post(
        "/api/messages/send",
        json={"recipientId": owner["user"]["id"], "content": "¿Sigue disponible?", "adId": ad_id},
        headers={"Authorization": f"Bearer {tokens['other']}"},
    )
    assert sent.status_code == 201, sent.text
    saved = await client.post(
        "/api/me/saved-searches",
        json={"filters": {"q": "sembradora"}, "frequency": "daily"},
        headers={"Authorization": f"Bearer {tokens['owner']}"},
    )
    assert saved.status_code == 201, saved.text
    values = {
        "{ad}": ad_id,
        "{user}": other["user"]["id"],
        "{owner_id}": owner["user"]["id"],
        "{owner_email}": owner["user"]["email"],
        "{conversation}": sent.json()["conversationId"],
        "{search}": saved.json()["id"],
        "{missing}": str(uuid.uuid4()),
        "{category}": category,
        "{unsigned}": _unsigned_token(owner["user"]["id"]),
    }
    return World(mode, client, connection, tokens, values, tables)


async def _fingerprint(world: World) -> dict[str, str]:
    """Every table's rows, hashed: equal before and after means no row changed."""
    selects = " UNION ALL ".join(
        f"SELECT '{t}', (SELECT md5(coalesce(string_agg(r::text, '|' ORDER BY r::text), '')) FROM {t} r)"
        for t in world.tables
    )
    return {row[0]: row[1] for row in await world.database.fetch(selects)}


def _fill(value: Any, values: dict[str, str]) -> Any:
    if isinstance(value, str):
        for placeholder, real in values.items():
            value = value.replace(placeholder, real)
        return value
    if isinstance(value, dict):
        return {k: _fill(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, values) for v in value]
    return value


def _field_matches(reported: str, expected: str) -> bool:
    """``filters.minPrice`` may also be reported as ``$.filters.minPrice``; the leaf name must match."""
    reported = reported.removeprefix("$.").removeprefix("data.")
    return reported == expected or reported.split(".")[-1] == expected.split(".")[-1]


def _problems(case: Case, status: int, content_type: str, text: str) -> list[str]:
    """What is wrong with the answer to a bad request (empty: nothing)."""
    problems: list[str] = []
    if not 400 <= status < 500:
        problems.append(f"status {status} is not a 4xx")
    elif case.status is not None and status not in case.status:
        problems.append(f"status {status}, expected {sorted(case.status)}")
    if not content_type.startswith(PROBLEM_JSON):
        problems.append(f"content-type {content_type!r}")
    if "Traceback" in text or 'File "' in text:
        problems.append("a stack trace in the body")
    try:
        body = json.loads(text)
    except ValueError:
        return [*problems, "the body is not JSON"]
    if not isinstance(body, dict):
        return [*problems, "the body is not an object"]
    if body.get("status") != status:
        problems.append(f"body status {body.get('status')!r}")
    for key in ("title", "detail"):
        if not isinstance(body.get(key), str) or not body[key].strip():
            problems.append(f"no {key}")
    errors = body.get("errors")
    if errors is not None:
        for error in errors if isinstance(errors, list) else [errors]:
            message = error.get("message") if isinstance(error, dict) else None
            if not isinstance(message, str) or " " not in message.strip():
                problems.append(f"an error without a human message: {error!r}"[:200])
    if case.field is not None and status in {400, 422}:
        named = [e.get("field") for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []
        if not any(isinstance(n, str) and _field_matches(n, case.field) for n in named):
            problems.append(f"errors do not name {case.field!r} (named: {named})")
    return problems


async def run_case(world: World, case: Case) -> dict[str, Any]:
    path = _fill(case.path, world.values)
    headers = {k: _fill(v, world.values) for k, v in case.headers.items()}
    if case.who != "anon":
        headers.setdefault("Authorization", f"Bearer {world.tokens[case.who]}")
    kwargs: dict[str, Any] = {"headers": headers}
    if case.params is not None:
        kwargs["params"] = case.params
    if case.content is not None:
        headers["Content-Type"] = case.content_type or "application/json"
        kwargs["content"] = _fill(case.content.decode("latin-1"), world.values).encode("latin-1")
    elif case.json is not ABSENT:
        kwargs["content"] = json.dumps(_fill(case.json, world.values)).encode()
        headers["Content-Type"] = "application/json"
    before = await _fingerprint(world)
    started = time.perf_counter()
    response = await world.client.request(case.method, path, **kwargs)
    elapsed = time.perf_counter() - started
    after = await _fingerprint(world)
    problems = _problems(case, response.status_code, response.headers.get("content-type", ""), response.text)
    changed = sorted(t for t in before if before[t] != after.get(t))
    if changed:
        problems.append(f"rows changed in {', '.join(changed)}")
    return {
        "id": case.id,
        "kind": case.kind,
        "route": case.route,
        "status": response.status_code,
        "ok": not problems,
        "problems": problems,
        "lostWrite": bool(changed),
        "body": response.text[:200],
        "seconds": round(elapsed, 4),
    }


RESULTS: list[dict[str, Any]] = []


@pytest.fixture(scope="module", autouse=True)
def _write_results() -> Iterator[None]:
    yield
    target = os.environ.get("RURAL24_HOSTILE_RESULTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        (Path(target) / "catalogue.json").write_text(json.dumps(RESULTS, indent=1, ensure_ascii=False))


async def _world(database: PgDatabase, redis_url: str | None) -> AsyncIterator[World]:
    from rural24.app import create_app

    generous = {f"RATE_LIMIT_{name}": "100000/minute" for name in ("API", "SEARCH", "MESSAGES", "LOGIN")}
    settings = make_settings(database, redis_url, **generous)
    connection = await asyncpg.connect(database.primary_url.replace("+asyncpg", ""))
    try:
        async with AsyncTestClient(app=create_app(settings)) as client:
            mode = "memory" if redis_url is None else "redis"
            yield await _build_world(mode, client, connection)
    finally:
        await connection.close()


@pytest.fixture(scope="module")
async def world(request: pytest.FixtureRequest, module_database: PgDatabase) -> AsyncIterator[World]:
    """One app per mode (``indirect`` parameter): ``memory`` or ``redis``."""
    redis_url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    async for built in _world(module_database, redis_url):
        yield built


def test_the_catalogue_is_big_and_covers_every_class() -> None:
    assert len(CASES) >= 200
    kinds = {case.kind for case in CASES}
    assert {"control characters", "numbers beyond range", "malformed bodies", "oversized bodies",
            "wrong JSON types", "unknown or forbidden fields", "too-long strings", "empty or blank strings",
            "bad enums and references", "bad ids in paths", "authentication"} <= kinds  # fmt: skip


@pytest.mark.parametrize("world", ["memory"], indirect=True)
async def test_every_route_is_in_the_catalogue(world: World) -> None:
    """Each route the app serves gets bad input, or is named in UNCOVERED_ROUTES with its reason."""
    served: dict[str, re.Pattern[str]] = {}
    for route in world.client.app.routes:
        if route.path.startswith("/schema"):
            continue  # the OpenAPI document and its UIs: the fuzzer reads them
        if route.path.startswith("/api/admin/queues"):
            continue  # litestar-saq's queue dashboard, admins only, outside the contract: test_queue_dashboard.py
        pattern = re.sub(r"\{[a-z_]+:path\}", ".*", route.path.rstrip("/") or "/")
        pattern = re.sub(r"\{[a-z_]+:[a-z]+\}", "[^/]+", pattern)
        for method in getattr(route, "methods", None) or {"WEBSOCKET"}:
            if method not in {"HEAD", "OPTIONS"}:
                served[f"{method} {route.path.rstrip('/')}"] = re.compile(f"{method} {pattern}/?")
    covered = {
        name
        for name, pattern in served.items()
        for case in CASES
        if pattern.fullmatch(f"{case.method} {_fill(case.path, {k: 'x' for k in PLACEHOLDERS})}")
    }
    missing = sorted(set(served) - covered - set(UNCOVERED_ROUTES))
    assert not missing, f"routes without a bad-input case: {missing}"


@pytest.mark.parametrize("world", ["memory"], indirect=True)
async def test_the_checks_see_an_accepted_request_and_its_write(world: World) -> None:
    """The harness itself: a request the API accepts fails every check a refused one must pass."""
    accepted = Case("control.valid-favorite", "control", "PUT", "/api/ads/{ad}/favorite", "other", status=_status(422))
    outcome = await run_case(world, accepted)
    assert outcome["status"] == 204
    assert not outcome["ok"]
    assert outcome["lostWrite"]
    assert any("favorites" in problem for problem in outcome["problems"])
    undo = await world.client.delete(
        _fill("/api/ads/{ad}/favorite", world.values), headers={"Authorization": f"Bearer {world.tokens['other']}"}
    )
    assert undo.status_code == 204


async def _refused(world: World, case: Case) -> None:
    outcome = await run_case(world, case) | {"mode": world.mode}
    RESULTS.append(outcome)
    assert outcome["ok"], f"{case.route}: {outcome['problems']} — {outcome['status']} {outcome['body']}"


@pytest.mark.parametrize("world", ["memory"], indirect=True)
@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
async def test_bad_input_is_refused_with_a_problem_and_changes_nothing(world: World, case: Case) -> None:
    await _refused(world, case)


@pytest.mark.parametrize("world", ["redis"], indirect=True)
@pytest.mark.parametrize("case", REDIS_CASES, ids=[case.id for case in REDIS_CASES])
async def test_bad_input_is_refused_in_redis_mode_too(world: World, case: Case) -> None:
    await _refused(world, case)
