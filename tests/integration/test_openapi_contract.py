"""The OpenAPI document the app serves: valid, identical to the committed snapshot, and saying what the API does.

The snapshot (``docs/openapi.json``) is what the TypeScript client is generated from: a change of the
served document fails here until ``make openapi`` rewrites the snapshot, so API changes arrive as a
reviewable diff. Behaviour against the document (every status, header and body) is schemathesis's job
in ``test_fuzz_openapi.py``; this file checks the promises the frontend types rely on, one by one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from openapi_spec_validator import validate

from rural24.contract import SNAPSHOT, render
from tests.conftest import PgDatabase, make_settings

METHODS = ("get", "put", "post", "delete", "patch")

OPERATION_IDS = {
    ("GET", "/api/health"): "getHealth",
    ("GET", "/api/health/ready"): "getReadiness",
    ("GET", "/api/categories"): "listCategories",
    ("GET", "/api/provinces"): "listProvinces",
    ("POST", "/api/auth/register"): "register",
    ("POST", "/api/auth/login"): "login",
    ("POST", "/api/auth/logout"): "logout",
    ("POST", "/api/auth/logout-all-devices"): "logoutAllDevices",
    ("POST", "/api/auth/verify-email"): "verifyEmail",
    ("POST", "/api/auth/resend-verification"): "resendVerification",
    ("POST", "/api/auth/forgot-password"): "forgotPassword",
    ("POST", "/api/auth/reset-password"): "resetPassword",
    ("GET", "/api/me"): "getMe",
    ("PATCH", "/api/me"): "updateMe",
    ("DELETE", "/api/me"): "deleteMe",
    ("POST", "/api/me/password"): "changePassword",
    ("POST", "/api/me/email"): "changeEmail",
    ("POST", "/api/me/email/confirm"): "confirmEmailChange",
    ("GET", "/api/users/{id}"): "getUser",
    ("POST", "/api/admin/users/{id}/block"): "blockUser",
    ("DELETE", "/api/admin/users/{id}"): "deleteUser",
    ("POST", "/api/ads"): "publishAd",
    ("GET", "/api/ads/search"): "searchAds",
    ("GET", "/api/ads/{id}"): "getAd",
    ("PATCH", "/api/ads/{id}"): "updateAd",
    ("DELETE", "/api/ads/{id}"): "deleteAd",
    ("POST", "/api/ads/{id}/status"): "changeAdStatus",
    ("POST", "/api/ads/{id}/renew"): "renewAd",
    ("POST", "/api/ads/{id}/report"): "reportAd",
    ("PUT", "/api/ads/{id}/favorite"): "favoriteAd",
    ("DELETE", "/api/ads/{id}/favorite"): "unfavoriteAd",
    ("POST", "/api/ads/{id}/images"): "uploadAdImage",
    ("GET", "/api/me/ads"): "listMyAds",
    ("GET", "/api/me/favorites"): "listMyFavorites",
    ("POST", "/api/me/saved-searches"): "createSavedSearch",
    ("GET", "/api/me/saved-searches"): "listSavedSearches",
    ("DELETE", "/api/me/saved-searches/{id}"): "deleteSavedSearch",
    ("POST", "/api/admin/ads/{id}/suspend"): "suspendAd",
    ("GET", "/api/admin/reports"): "listReports",
    ("GET", "/api/admin/emails"): "listEmails",
    ("POST", "/api/messages/send"): "sendMessage",
    ("GET", "/api/messages/conversations"): "listConversations",
    ("GET", "/api/messages/conversations/{id}"): "getConversation",
    ("POST", "/api/messages/conversations/{id}/read"): "markConversationRead",
}
"""Every operation and its name in the frontend's vocabulary: the generated client's function names."""

PUBLIC = {"getHealth", "getReadiness", "listCategories", "listProvinces", "register", "login", "getUser",
          "verifyEmail", "resendVerification", "forgotPassword", "resetPassword"}  # fmt: skip
AUTH_OPTIONAL = {"searchAds", "getAd"}
ADMIN = {"blockUser", "deleteUser", "suspendAd", "listReports", "listEmails"}
NOT_RATE_LIMITED = {"getHealth", "getReadiness"}  # the global API limit skips health (and metrics, the docs)
NO_DATABASE = {"getHealth", "getReadiness"}  # readiness reports a down primary in its own 503 body
JSON_BODIES = {"register", "login", "updateMe", "publishAd", "updateAd", "changeAdStatus", "reportAd",
               "createSavedSearch", "sendMessage", "verifyEmail", "resendVerification", "forgotPassword",
               "resetPassword", "deleteMe", "changePassword", "changeEmail", "confirmEmailChange"}  # fmt: skip


@pytest.fixture(scope="module")
async def served(module_database: PgDatabase) -> dict[str, Any]:
    """``/schema/openapi.json`` as a running app (real database) serves it."""
    from rural24.app import create_app

    async with AsyncTestClient(create_app(make_settings(module_database))) as client:
        response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield method.upper(), path, item[method]


def test_the_served_document_is_valid_openapi(served: dict[str, Any]) -> None:
    validate(served)  # raises with the offending location
    assert served["openapi"].startswith("3.1")


def test_the_committed_snapshot_is_the_served_document(served: dict[str, Any]) -> None:
    assert SNAPSHOT.exists(), f"{SNAPSHOT} is missing: run `make openapi` and commit it"
    committed = SNAPSHOT.read_text(encoding="utf-8")
    assert json.loads(committed) == served, (
        "the served OpenAPI document changed: review the change, run `make openapi` (then `make client`) and commit"
    )
    assert committed == render(served), "docs/openapi.json is not in its canonical form: run `make openapi`"


def test_every_operation_has_its_stable_operation_id(served: dict[str, Any]) -> None:
    found = {(method, path): op.get("operationId") for method, path, op in operations(served)}
    assert found == OPERATION_IDS
    assert len(set(found.values())) == len(found)  # unique


def test_path_templates_are_the_contract_s(served: dict[str, Any]) -> None:
    parameters = {name for path in served["paths"] for name in re.findall(r"{([^}]+)}", path)}
    assert parameters == {"id"}  # API.md writes `/api/ads/{id}`, never `{ad_id}` (the URLs are unchanged)
    assert not [path for path in served["paths"] if "metrics" in path or path.startswith("/schema")]


def test_security_is_declared_per_operation(served: dict[str, Any]) -> None:
    assert "security" not in served  # no global requirement: public routes are public
    scheme = served["components"]["securitySchemes"]["BearerToken"]
    assert scheme == {"type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": scheme["description"]}
    for _, _, op in operations(served):
        name, security = op["operationId"], op.get("security")
        if name in PUBLIC:
            assert security is None, name
        elif name in AUTH_OPTIONAL:
            assert security == [{}, {"BearerToken": []}], name
        else:
            assert security == [{"BearerToken": []}], name


def _problem_statuses(op: dict[str, Any]) -> set[int]:
    return {int(status) for status, response in op["responses"].items() if int(status) >= 400}


def test_every_error_is_a_problem_details_body(served: dict[str, Any]) -> None:
    problem = served["components"]["schemas"]["ProblemDetails"]
    assert set(problem["required"]) == {"status", "title", "detail"}
    assert set(problem["properties"]) == {"status", "title", "detail", "errors", "resetAt"}
    field = served["components"]["schemas"]["FieldProblem"]
    assert set(field["properties"]) == {"field", "message", "source"}
    assert field["properties"]["source"]["enum"] == ["body", "query", "header", "path", "cookie"]
    for _, _, op in operations(served):
        for status, response in op["responses"].items():
            if op["operationId"] == "getReadiness" and status == "503":
                continue  # the readiness report itself, with the primary down
            if int(status) >= 400:
                assert response["content"] == {
                    "application/problem+json": {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}
                }, (op["operationId"], status)
    # Litestar's own 400 body is gone everywhere
    assert "status_code" not in json.dumps(served["paths"])


def test_each_operation_declares_the_statuses_it_can_send(served: dict[str, Any]) -> None:
    for _, path, op in operations(served):
        name, statuses = op["operationId"], _problem_statuses(op)
        assert 500 in statuses, name
        assert (429 in statuses) == (name not in NOT_RATE_LIMITED), name
        if name not in NO_DATABASE:
            assert 503 in statuses, name
        assert (401 in statuses) == (name not in PUBLIC or name == "login"), name  # login: wrong credentials
        assert (403 in statuses) >= (name in ADMIN), name
        if name in JSON_BODIES:
            assert {400, 413, 415, 422} <= statuses, name
        if "{id}" in path:
            assert 404 in statuses, name
        if any(p["in"] == "query" for p in op.get("parameters", [])):
            assert 422 in statuses, name
    by_name = {op["operationId"]: op for _, _, op in operations(served)}
    assert 412 in _problem_statuses(by_name["updateAd"])
    assert 409 in _problem_statuses(by_name["register"]) & _problem_statuses(by_name["publishAd"])
    assert 401 in _problem_statuses(by_name["login"])
    assert {"304", "200"} <= set(by_name["getAd"]["responses"]) & set(by_name["searchAds"]["responses"])


def test_headers_are_declared(served: dict[str, Any]) -> None:
    shared = served["components"]["headers"]
    assert shared["Retry-After"]["required"] is True
    by_name = {op["operationId"]: op for _, _, op in operations(served)}
    for name, op in by_name.items():
        for status, response in op["responses"].items():
            headers = response.get("headers", {})
            assert headers["X-Request-ID"] == {"$ref": "#/components/headers/X-Request-ID"}, (name, status)
            if status == "429":
                assert {"Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} <= set(headers)
            if status == "503" and name != "getReadiness":
                assert "Retry-After" in headers, name
        assert "X-Request-ID" in {p["name"] for p in op["parameters"] if p["in"] == "header"}, name
    assert {"ETag", "Cache-Control", "X-Cache"} <= set(by_name["getAd"]["responses"]["200"]["headers"])
    assert {"ETag", "Cache-Control", "X-Cache"} <= set(by_name["searchAds"]["responses"]["200"]["headers"])
    assert {"Location", "ETag", "Idempotent-Replayed"} <= set(by_name["publishAd"]["responses"]["201"]["headers"])
    assert "Idempotent-Replayed" in by_name["sendMessage"]["responses"]["201"]["headers"]

    def header_parameters(name: str) -> set[str]:
        return {p["name"] for p in by_name[name]["parameters"] if p["in"] == "header"}

    assert "If-None-Match" in header_parameters("getAd") & header_parameters("searchAds")
    assert "If-Match" in header_parameters("updateAd")
    assert "Idempotency-Key" in header_parameters("publishAd") & header_parameters("sendMessage")


def test_enums_constraints_and_optional_fields_are_carried(served: dict[str, Any]) -> None:
    schemas = served["components"]["schemas"]

    def enum(schema: str, field: str) -> list[str]:
        prop = schemas[schema]["properties"][field]
        options = [prop, *prop.get("oneOf", []), *prop.get("anyOf", [])]
        return sorted(value for option in options for value in option.get("enum", []) if value is not None)

    assert enum("AdDetail", "status") == ["active", "expired", "paused", "sold"]
    assert enum("AdDetail", "currency") == enum("NewAd", "currency") == ["ARS", "USD"]
    assert enum("AdDetail", "condition") == enum("NewAd", "condition") == ["new", "used"]
    assert enum("OwnAdSummary", "status") == enum("AdDetail", "status")
    assert enum("AdSummary", "currency") == ["ARS", "USD"]
    assert enum("SavedSearchRead", "frequency") == ["daily", "instant"]
    assert enum("NewReport", "reason") == enum("OpenReport", "reason")
    assert enum("NewReport", "reason") == sorted(
        ["spam", "prohibited", "fraud", "duplicate", "miscategorized", "other"]
    )
    assert enum("StatusChange", "status") == ["active", "paused", "sold"]
    # fields with defaults are optional, what must be sent is required
    assert set(schemas["NewAd"]["required"]) == {"title", "categoryId", "province", "locality"}
    assert schemas["RegisterUser"]["properties"]["password"]["minLength"] == 10
    assert "pattern" in schemas["RegisterUser"]["properties"]["email"]
    # bodies refuse fields they do not know (422): the schema says so
    for name in ("NewAd", "AdChanges", "RegisterUser", "SendMessage", "NewSavedSearch", "SearchFilters"):
        assert schemas[name]["additionalProperties"] is False, name
    search = {p["name"]: p["schema"] for p in served["paths"]["/api/ads/search"]["get"]["parameters"]}
    assert search["pageSize"]["maximum"] == 50
    assert search["q"]["maxLength"] == 200
    assert "pattern" in search["minPrice"]
    assert "pattern" in search["cursor"]
