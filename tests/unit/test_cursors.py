"""The one keyset cursor codec (domain.shared.cursors) and the two queries that page with it."""

from __future__ import annotations

import base64
import re
import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import msgspec
import pytest

from domain.ads.queries import SearchRejected, _decode_cursor, _encode_cursor
from domain.messaging.errors import InvalidMessage
from domain.messaging.queries import _encode_cursor as message_cursor
from domain.messaging.queries import decode_cursor as message_position
from domain.shared import cursors
from domain.shared.fields import CURSOR_PATTERN

AT = datetime(2026, 5, 1, 12, 30, 15, 123456, tzinfo=UTC)


@pytest.mark.parametrize(
    "values",
    [
        [],
        ["recent", True, AT.isoformat(), str(uuid.uuid4())],
        ["price_desc", None, str(uuid.uuid4())],
        ["relevance", 0.0607, str(uuid.uuid4())],
        ["ñandú €"],
    ],
)
def test_values_round_trip_in_a_url_safe_cursor(values: list[Any]) -> None:
    cursor = cursors.encode(values)
    assert re.match(CURSOR_PATTERN, cursor)
    assert "=" not in cursor
    assert cursors.decode(cursor) == values


def test_the_codec_is_base64_of_a_json_array() -> None:
    # Cursors already handed out must keep decoding: the format is fixed.
    assert cursors.encode(["a", 1]) == base64.urlsafe_b64encode(b'["a",1]').decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "@@@",  # not base64
        "bm90IGpzb24",  # base64 of "not json"
        base64.urlsafe_b64encode(b'{"a":1}').decode(),  # JSON, not an array
        base64.urlsafe_b64encode(b"5").decode(),
        "",
    ],
)
def test_what_is_not_a_cursor_is_refused(cursor: str) -> None:
    with pytest.raises(cursors.BadCursor):
        cursors.decode(cursor)


def test_times_are_aware_and_read_as_utc() -> None:
    plus_three = AT.astimezone(timezone(timedelta(hours=-3)))
    assert cursors.read_time(plus_three.isoformat()) == AT
    assert cursors.read_time(plus_three.isoformat()).tzinfo == UTC
    for bad in ("2026-05-01T12:00:00", "0001-01-01T00:00:00+14:00", "yesterday", 12, None):
        with pytest.raises(cursors.BadCursor):
            cursors.read_time(bad)


def test_ids_are_uuids_in_text() -> None:
    some = uuid.uuid4()
    assert cursors.read_id(str(some)) == some
    for bad in ("nope", 12, None, ["x"]):
        with pytest.raises(cursors.BadCursor):
            cursors.read_id(bad)


# -- the two cursors built on it ------------------------------------------------------------------


def test_a_search_cursor_round_trips_for_every_sort() -> None:
    last = uuid.uuid4()
    rows: dict[Any, dict[int | str, Any]] = {
        "recent": {"is_featured": True, "created_at": AT, "id": last},
        "relevance": {"rank": 0.25, "id": last},
        "price_asc": {"price": Decimal("45000.00"), "id": last},
        "price_desc": {"price": None, "id": last},
    }
    expected: dict[str, list[Any]] = {
        "recent": [True, AT, last],
        "relevance": [0.25, last],
        "price_asc": [Decimal("45000.00"), last],
        "price_desc": [None, last],
    }
    for sort, row in rows.items():
        assert _decode_cursor(_encode_cursor(sort, row), sort) == expected[sort]


def test_a_search_cursor_belongs_to_its_sort() -> None:
    cursor = _encode_cursor("price_asc", {"price": Decimal(1), "id": uuid.uuid4()})
    with pytest.raises(SearchRejected) as refused:
        _decode_cursor(cursor, "price_desc")
    assert refused.value.detail == "the cursor belongs to another sort order"
    with pytest.raises(SearchRejected) as garbage:
        _decode_cursor("@@@", "price_asc")
    assert garbage.value.detail == "not a cursor from a previous page"


def test_a_message_cursor_round_trips_and_bad_ones_are_422() -> None:
    last = uuid.uuid4()
    assert message_position(message_cursor(AT, last)) == (AT, last)
    three = base64.urlsafe_b64encode(msgspec.json.encode([AT.isoformat(), str(last), 1])).decode()
    for bad in (three, cursors.encode([AT.isoformat()]), cursors.encode([str(last), AT.isoformat()])):
        with pytest.raises(InvalidMessage) as refused:
            message_position(bad)
        assert refused.value.field == "cursor"
        assert refused.value.source == "query"
