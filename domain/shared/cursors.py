"""The keyset cursor codec: the sort key of the last row of a page, opaque to clients.

A cursor is the URL-safe base64 (without padding) of a JSON array of the key's values, so it
matches :data:`domain.shared.fields.CURSOR_PATTERN`. Each query decides which values its key holds
and range-checks them on the way back (they become SQL parameters): the helpers here read the
values two queries share (an aware timestamp, an id) and raise :class:`BadCursor` for anything else.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import msgspec


class BadCursor(ValueError):
    """Not a cursor we made; each query turns it into its own 422 (field ``cursor``)."""


def encode(values: Sequence[Any]) -> str:
    """The cursor of a key's values (JSON-encodable: strings, numbers, booleans, ``None``)."""
    return base64.urlsafe_b64encode(msgspec.json.encode(list(values))).decode().rstrip("=")


def decode(cursor: str) -> list[Any]:
    """The values of a cursor; :class:`BadCursor` when it is not base64 of a JSON array."""
    try:
        decoded = msgspec.json.decode(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise BadCursor(cursor) from None
    if not isinstance(decoded, list):
        raise BadCursor(cursor)
    return decoded


def read_time(value: Any) -> datetime:
    """An ISO 8601 time with an offset, as UTC; :class:`BadCursor` for anything else (a naive time,
    a time out of range once in UTC: year 1 at +14:00)."""
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise BadCursor(repr(value)) from None
    if moment.tzinfo is None:
        raise BadCursor(f"a naive time: {value!r}")
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise BadCursor(repr(value)) from None


def read_id(value: Any) -> UUID:
    """A UUID in its text form; :class:`BadCursor` for anything else."""
    try:
        return UUID(value)
    except (TypeError, ValueError, AttributeError):  # UUID(123) is an AttributeError
        raise BadCursor(repr(value)) from None
