"""The validation boundary's pure parts: field patterns, amounts, the nesting scan, the listing of
every bad field, cursor decoding and the wording of errors (no I/O)."""

from __future__ import annotations

import base64
import re
import uuid
from decimal import Decimal
from typing import Any

import msgspec
import pytest
from litestar.exceptions import ClientException

from domain.accounts.commands import RegisterUser
from domain.ads.commands import AdChanges, NewAd
from domain.ads.queries import SearchAds, SearchRejected, _decode_cursor, normalise_search
from domain.ads.saved_searches import NewSavedSearch
from domain.messaging.errors import InvalidMessage
from domain.messaging.queries import decode_cursor
from domain.shared.fields import AMOUNT_PATTERN, LINE_PATTERN, PROSE_PATTERN, is_amount, to_amount
from rural24.validation import MAX_DEPTH, body_errors, check_depth, first_error, human_message

FIXED_ID = "0190f5a6-7b1c-7d2e-9f00-4a5b6c7d8e9f"
"""A well-formed id; fixed, so that the test ids are the same in every collection (pytest-xdist)."""


def matches(pattern: str, text: str) -> bool:
    return re.search(pattern, text) is not None


@pytest.mark.parametrize(
    ("text", "line", "prose"),
    [
        ("Tractor Deutz — Córdoba, ñandú", True, True),
        ("", True, True),
        ("a\x00b", False, False),
        ("a\x1bb", False, False),
        ("a\x7f", False, False),
        ("a\x85", False, False),  # C1 (NEL)
        ("a\ufffe", False, False),
        ("a\ud800", False, False),  # a lone surrogate (possible from a query string)
        ("a\nb", False, True),
        ("a\r\n\tb", False, True),
        ("a\u2028b", False, True),
        ("trailing\n", False, True),  # `$` would have let this one through
    ],
)
def test_text_patterns(text: str, line: bool, prose: bool) -> None:
    assert matches(LINE_PATTERN, text) is line
    assert matches(PROSE_PATTERN, text) is prose


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("0", True),
        ("45000.00", True),
        ("45000.5", True),
        ("9999999999999.99", True),
        ("10000000000000", False),
        ("1e999999", False),
        ("-1", False),
        ("1.234", False),
        ("NaN", False),
        ("Infinity", False),
        (" 5", False),
        ("5\n", False),
        ("1.", False),
        ("١٢", False),  # non-ASCII digits
    ],
)
def test_amounts(text: str, ok: bool) -> None:
    assert matches(AMOUNT_PATTERN, text) is ok
    assert is_amount(text) is ok


def test_to_amount_has_two_decimals() -> None:
    assert to_amount("45000") == Decimal("45000.00")
    assert str(to_amount("7.5")) == "7.50"
    assert not is_amount(45000)


def test_text_rules_hold_when_decoding() -> None:
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(b'{"email": "a@b.ar", "password": "x", "name": "A\\u0000"}', type=RegisterUser)
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(b'{"price": 45000}', type=AdChanges)  # JSON numbers are not prices
    assert msgspec.json.decode(b'{"description": "a\\r\\nb\\tc"}', type=AdChanges).description == "a\r\nb\tc"


def test_depth_is_bounded_before_decoding() -> None:
    check_depth(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH)
    check_depth(b'{"d": "' + b"[" * 10_000 + b'"}')  # brackets inside a string are text
    check_depth(b"[" + b"[]," * 10_000 + b"[]]")  # many siblings, shallow
    with pytest.raises(ClientException) as deep:
        check_depth(b"[" * 100_000)
    assert deep.value.status_code == 400
    with pytest.raises(ClientException):
        check_depth(b'{"a":' * (MAX_DEPTH + 1) + b"1" + b"}" * (MAX_DEPTH + 1))


def test_body_errors_list_every_field_by_json_name() -> None:
    raw = {"title": 5, "categoryId": "x", "price": 5, "currency": "EUR", "isFeatured": True, "locality": ""}
    errors = {e["key"]: e for e in body_errors(NewAd, raw)}
    assert set(errors) == {"title", "categoryId", "price", "currency", "isFeatured", "locality", "province"}
    assert errors["isFeatured"]["unknown"] is True
    assert errors["province"]["message"] == "is required"
    assert errors["title"]["message"] == "must be a string"
    assert errors["locality"]["message"] == "must not be empty"
    assert "decimal string" in errors["price"]["message"]
    assert errors["currency"]["message"] == "must be one of: ARS, USD"
    assert all(e["source"] == "body" for e in errors.values())


def test_body_errors_reach_into_nested_structs() -> None:
    raw = {"filters": {"minPrice": "1e9", "q": "a" * 201, "owner": 1}, "frequency": "hourly"}
    errors = {e["key"]: e["message"] for e in body_errors(NewSavedSearch, raw)}
    assert set(errors) == {"filters.minPrice", "filters.q", "filters.owner", "frequency"}
    assert errors["filters.q"] == "takes at most 200 characters"
    assert body_errors(NewAd, []) == [{"message": "must be a JSON object, not a list", "source": "body"}]


def test_numbers_no_parser_takes_are_still_named() -> None:
    huge = b"9" * 5000  # beyond Python's int-string limit: even the failure path cannot decode it
    with pytest.raises(msgspec.ValidationError) as failed:
        msgspec.json.decode(b'{"price": ' + huge + b"}", type=AdChanges)
    error = first_error(AdChanges, str(failed.value))
    assert error["key"] == "price"
    assert "decimal string" in error["message"]


@pytest.mark.parametrize(
    ("message", "words"),
    [
        ("Expected `int` <= 50", "must be at most 50"),
        ("Expected `int` >= 1", "must be at least 1"),
        ("Expected `int`, got `str`", "must be an integer"),
        ("Expected `str | null`, got `int`", "must be a string or null"),
        ("Expected `str` of length <= 200", "takes at most 200 characters"),
        ("Invalid UUID", "must be a UUID"),
        (f"Expected `str` matching regex {LINE_PATTERN!r}", "must be one line of text without control characters"),
        ("Expected `str` matching regex '^x$'", "has an invalid format"),
    ],
)
def test_messages_are_in_words(message: str, words: str) -> None:
    assert human_message(message) == words


def _cursor(*values: Any) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(list(values))).decode().rstrip("=")


@pytest.mark.parametrize(
    ("sort", "values"),
    [
        ("relevance", [1e308, FIXED_ID]),
        ("relevance", [-1, FIXED_ID]),
        ("relevance", [True, FIXED_ID]),
        ("price_asc", ["1e999999", FIXED_ID]),
        ("price_asc", [45000, FIXED_ID]),
        ("price_desc", ["45000.00", 12]),
        ("recent", [False, "2026-01-01T00:00:00", FIXED_ID]),  # naive time
        ("recent", [False, "0001-01-01T00:00:00+14:00", FIXED_ID]),  # before year 1 in UTC
        ("recent", ["yes", "2026-01-01T00:00:00+00:00", FIXED_ID]),
        ("recent", [False, "2026-01-01T00:00:00+00:00"]),
    ],
)
def test_search_cursors_are_range_checked(sort: Any, values: list[Any]) -> None:
    with pytest.raises(SearchRejected) as refused:
        _decode_cursor(_cursor(sort, *values), sort)
    assert refused.value.field == "cursor"
    assert refused.value.source == "query"


def test_a_search_cursor_we_made_decodes() -> None:
    last = uuid.uuid4()
    assert _decode_cursor(_cursor("price_asc", "45000.00", str(last)), "price_asc") == [Decimal("45000.00"), last]
    assert _decode_cursor(_cursor("relevance", 0.0607, str(last)), "relevance") == [0.0607, last]


@pytest.mark.parametrize(
    "cursor",
    [
        _cursor("0001-01-01T00:00:00+14:00", FIXED_ID),
        _cursor("2026-01-01T00:00:00", FIXED_ID),
        _cursor("2026-01-01T00:00:00+00:00", 1),
        _cursor({"a": 1}),
        "@@@",
    ],
)
def test_message_cursors_are_range_checked(cursor: str) -> None:
    with pytest.raises(InvalidMessage) as refused:
        decode_cursor(cursor)
    assert refused.value.field == "cursor"


def test_price_bounds_beyond_the_column_are_refused() -> None:
    from domain.ads.queries import CategoryTree

    query = SearchAds(min_price=Decimal("1e131072"), currency="USD")
    with pytest.raises(SearchRejected) as refused:
        normalise_search(query, CategoryTree([]), frozenset())
    assert refused.value.field == "minPrice"
