"""Schemathesis against the app's own OpenAPI document: every operation, authenticated, no 5xx.

The app is built by ``create_app`` on a real PostgreSQL (primary + replica) and driven in process
through schemathesis's ASGI transport. Every operation of ``/schema/openapi.json`` is run through
the examples, coverage and fuzzing phases with both valid and invalid data (``mode: all``), and
every response must pass every check schemathesis has (status codes, content types, headers and
bodies as documented, negative data refused, positive data accepted, missing required headers,
unsupported methods, ignored authentication …) except those named in ``EXCLUDED_CHECKS`` with
their reason. Callers: a registered user's real token everywhere, an admin's on ``/api/admin``;
path parameters that name an ad, a user, a conversation or a saved search get real ids whenever
schemathesis generates a well-formed one, so the requests reach the handlers, not just the router.

Bounded for CI by ``RURAL24_FUZZ_EXAMPLES`` (default 5 examples per operation and phase);
``make fuzz`` runs it longer. With ``RURAL24_HOSTILE_RESULTS=<dir>`` the per-operation counts are
written to ``<dir>/fuzz.json`` for ``docs/hostile-input.md``.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from litestar import Litestar
from schemathesis.checks import CheckFunction
from schemathesis.config import SchemathesisConfig
from schemathesis.python import asgi

from domain.shared.fields import AMOUNT_PATTERN
from tests.conftest import PgDatabase, make_settings

PASSWORD = "trigo-maiz-2026"
EXAMPLES = int(os.environ.get("RURAL24_FUZZ_EXAMPLES", "5"))

# Operations of the document left out of the run, each with its reason (none so far). Not in the document,
# so not fuzzed here: `WS /api/ws/notifications` and `GET /media/...` (the catalogue sends them bad input).
EXCLUDED: dict[str, str] = {}

# Checks left out, each with its reason (none): every check schemathesis has runs on every response. One check
# is narrowed for four operations, with their reasons, in CONFIG below (positive data on image uploads
# and on the three that take an emailed token).
EXCLUDED_CHECKS: dict[CheckFunction, str] = {}


@dataclass
class Actors:
    """Tokens and real ids the generated requests use."""

    user: str
    admin: str
    ids: dict[str, str]  # what an operation's `{id}` names (its path's prefix) → a real id
    doomed: dict[str, str]  # ids for the destructive operations (delete, suspend, block)
    victim_email: str  # logout routes log this user in afresh, so the main token survives
    category: str


STATS: dict[str, dict[str, Any]] = {}  # operation → examples sent, statuses seen, server errors


def _sql(dsn: str, query: str, *args: Any) -> None:
    """Run one statement from synchronous code (the app runs on schemathesis's own event loop thread)."""

    async def run() -> None:
        connection = await asyncpg.connect(dsn)
        try:
            await connection.execute(query, *args)
        finally:
            await connection.close()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run()).result()


@pytest.fixture(scope="module")
def fuzz_app(module_database: PgDatabase) -> Iterator[Litestar]:
    from rural24.app import create_app

    generous = {f"RATE_LIMIT_{name}": "1000000/minute" for name in ("API", "SEARCH", "MESSAGES", "LOGIN")}
    app = create_app(make_settings(module_database, None, **generous))
    yield app
    asgi.shutdown_lifespans()  # the app's pools close before its database is dropped


def _register(client: asgi.ASGIClient, name: str) -> dict[str, Any]:
    email = f"{name.lower()}-{uuid.uuid4().hex[:8]}@campo.com.ar"
    response = client.post("/api/auth/register", json={"email": email, "password": PASSWORD, "name": name})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _login(client: asgi.ASGIClient, email: str) -> str:
    response = client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return str(response.json()["token"])


@pytest.fixture(scope="module")
def actors(fuzz_app: Litestar, module_database: PgDatabase) -> Actors:
    with asgi.get_client(fuzz_app) as client:
        seller, buyer, admin, victim, blockee = [
            _register(client, name) for name in ("Marta", "Jorge", "Moderadora", "Pedro", "Spammer")
        ]
        _sql(module_database.primary_url.replace("+asyncpg", ""), "UPDATE users SET role = 'admin' WHERE id = $1::uuid",
             admin["user"]["id"])  # fmt: skip
        admin_token = _login(client, admin["user"]["email"])
        user = {"Authorization": f"Bearer {seller['token']}"}
        category = next(c["id"] for c in client.get("/api/categories").json() if c["slug"] == "tractores")
        ad_body = {"title": "Tractor Deutz AX 4.190", "description": "Excelente estado.", "price": "45000.00",
                   "currency": "USD", "categoryId": category, "province": "cordoba",
                   "locality": "Marcos Juárez"}  # fmt: skip
        ads = [client.post("/api/ads", json=ad_body, headers=user) for _ in range(2)]
        assert all(ad.status_code == 201 for ad in ads), [ad.text for ad in ads]
        ad_id, doomed_ad = (ad.json()["id"] for ad in ads)
        sent = client.post(
            "/api/messages/send",
            json={"recipientId": buyer["user"]["id"], "content": "Hola, ¿te interesa?", "adId": ad_id},
            headers=user,
        )
        assert sent.status_code == 201, sent.text
        searches = [
            client.post("/api/me/saved-searches", json={"filters": {"q": "tractor"}}, headers=user) for _ in range(2)
        ]
        assert all(s.status_code == 201 for s in searches), [s.text for s in searches]
    return Actors(
        user=seller["token"],
        admin=admin_token,
        ids={
            "ad": ad_id,
            "user": buyer["user"]["id"],
            "conversation": sent.json()["conversationId"],
            "search": searches[0].json()["id"],
        },
        doomed={"ad": doomed_ad, "user": blockee["user"]["id"], "search": searches[1].json()["id"]},
        victim_email=victim["user"]["email"],
        category=category,
    )


CONFIG = SchemathesisConfig.from_dict(
    {
        "generation": {"mode": "all", "max-examples": EXAMPLES},
        # one request at a time: state-machine sequences would log the callers out and block them
        "phases": {"stateful": {"enabled": False}},
        "operations": [
            {
                # The only check narrowed, for one operation: a valid upload is any file the document can
                # describe (binary), but the server reads the type from the content; random bytes are not
                # a JPEG, PNG or WebP image and are refused with 422 (test_images.py sends real ones).
                "include-path": "/api/ads/{id}/images",
                "checks": {
                    "positive_data_acceptance": {
                        "expected-statuses": ["2xx", "401", "403", "404", "409", "422", "429", "5xx"]
                    }
                },
            },
            *(
                {
                    # A token is a secret that reached the user by email: any other string, however
                    # well formed, is refused as a bad link (400) or a used/expired one (410).
                    "include-path": path,
                    "include-method": "POST",
                    "checks": {
                        "positive_data_acceptance": {
                            "expected-statuses": ["2xx", "400", "401", "403", "404", "409", "410", "429", "5xx"]
                        }
                    },
                }
                for path in ("/api/auth/reset-password", "/api/auth/verify-email", "/api/me/email/confirm")
            ),
        ],
    }
)


def _document() -> dict[str, Any]:
    """The app's OpenAPI document, built at collection (schemathesis parametrizes one test per operation then).

    schemathesis's fixture-based loader reads a private pytest attribute that pytest 9 removed, so the
    document is loaded when the module is collected; the document does not depend on the database
    (``test_the_fuzzed_document_is_the_served_one`` checks it is the one the running app serves).
    """
    from rural24.contract import build_document

    return build_document()


DOCUMENT = _document()
schema = schemathesis.openapi.from_dict(DOCUMENT, config=CONFIG)
DESTRUCTIVE = {("DELETE", "/api/ads/{id}"), ("POST", "/api/admin/ads/{id}/suspend"),
               ("POST", "/api/admin/users/{id}/block"), ("DELETE", "/api/me/saved-searches/{id}")}  # fmt: skip
NAMED_BY_ID = {"/api/ads/": "ad", "/api/admin/ads/": "ad", "/api/users/": "user", "/api/admin/users/": "user",
               "/api/messages/conversations/": "conversation", "/api/me/saved-searches/": "search"}  # fmt: skip


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def _name_real_things(case: schemathesis.Case, actors: Actors) -> None:
    """A request as a real client sends it: naming things that exist.

    The document promises which requests are well formed, not which categories, provinces, cursors or
    revisions exist: those are refused with 422/412 when unknown, like an unknown id is 404. So valid
    requests name real ones, get past the lookups and reach the writes (positive data must be accepted).
    """
    body = case.body if isinstance(case.body, dict) else {}
    for key, real in (("categoryId", actors.category), ("recipientId", actors.ids["user"]),
                      ("adId", actors.ids["ad"]), ("province", "cordoba")):  # fmt: skip
        if key in body:
            body[key] = real
    filters = body.get("filters") if isinstance(body.get("filters"), dict) else {}
    query = case.query if case.query is not None else {}
    for where in (filters, query):
        if "category" in where:
            where["category"] = "tractores"
        if "province" in where:
            where["province"] = "cordoba"
        where.pop("cursor", None)  # a cursor comes from a previous page, never made up
        if where.get("minPrice") is not None or where.get("maxPrice") is not None:
            where["currency"] = "ARS"  # prices compare within one currency
        low, high = where.get("minPrice"), where.get("maxPrice")
        amounts = (
            isinstance(low, str) and isinstance(high, str) and all(re.match(AMOUNT_PATTERN, v) for v in (low, high))
        )
        if amounts and Decimal(low) > Decimal(high):
            where["minPrice"], where["maxPrice"] = high, low  # a range runs from low to high
        if where.get("sort") == "relevance" and not where.get("q"):
            where["q"] = "tractor"  # relevance ranks a text search
    if case.operation.path == "/api/auth/register" and "email" in body:
        body["email"] = f"{uuid.uuid4().hex[:12]}@campo.com.ar"  # the server also NFKC-folds what it reads
    headers = case.headers if case.headers is not None else {}
    if "If-Match" in headers:
        headers["If-Match"] = "*"  # any current revision: a made-up ETag is stale (412)
    if "Idempotency-Key" in headers:
        headers["Idempotency-Key"] = str(uuid.uuid4())  # a new request gets a new key


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_every_operation_keeps_the_contract(case: schemathesis.Case, actors: Actors, fuzz_app: Litestar) -> None:
    operation = (case.operation.method.upper(), case.operation.path)
    label = " ".join(operation)  # the coverage phase also sends other methods to the path: counted here
    ids = actors.doomed if operation in DESTRUCTIVE else actors.ids
    named = next((what for prefix, what in NAMED_BY_ID.items() if case.operation.path.startswith(prefix + "{")), None)
    if named is not None and case.path_parameters and _is_uuid(case.path_parameters.get("id")):
        case.path_parameters["id"] = ids[named]
    # On every case, not only positive ones: schemathesis re-judges a case from what is finally sent
    # (adding the token already makes it revalidate), so a case whose only flaw was an unknown category
    # or header becomes a valid request, which must then be accepted.
    _name_real_things(case, actors)
    token = actors.admin if case.path.startswith("/api/admin") else actors.user
    if case.path.startswith("/api/auth/logout"):
        with asgi.get_client(fuzz_app) as client:
            token = _login(client, actors.victim_email)
    # every request is a real user's, except those where schemathesis breaks the credentials on purpose
    # (negative security data: then 401 is the answer the document promises)
    if not case.operation.schema.is_security_param_negated(case):
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}
    # the app exists only now (the document is loaded at collection): checks that send again reach it too
    case.operation.schema.app = case.operation.app = fuzz_app
    response = case.call()
    stats = STATS.setdefault(label, {"examples": 0, "statuses": {}, "serverErrors": []})
    stats["examples"] += 1
    stats["statuses"][str(response.status_code)] = stats["statuses"].get(str(response.status_code), 0) + 1
    if response.status_code >= 500:
        stats["serverErrors"].append(
            {"status": response.status_code, "body": response.text[:200], "curl": case.as_curl_command()[:400]}
        )
    case.validate_response(
        response,
        excluded_checks=list(EXCLUDED_CHECKS),
    )


def test_the_fuzzed_document_is_the_served_one(fuzz_app: Litestar) -> None:
    with asgi.get_client(fuzz_app) as client:
        served = client.get("/schema/openapi.json")
    assert served.status_code == 200
    assert served.json() == DOCUMENT


@pytest.fixture(scope="module", autouse=True)
def _write_results() -> Iterator[None]:
    yield
    target = os.environ.get("RURAL24_HOSTILE_RESULTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        methods = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}
        documented = sorted(f"{m.upper()} {p}" for p, item in DOCUMENT["paths"].items() for m in item if m in methods)
        report = {"examplesPerPhase": EXAMPLES, "excluded": EXCLUDED, "documented": documented, "operations": STATS}
        (Path(target) / "fuzz.json").write_text(json.dumps(report, indent=1, ensure_ascii=False))
