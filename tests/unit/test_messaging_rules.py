"""Messaging rules, cursors and the channels plugin's bookkeeping (no I/O)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from litestar.channels.backends.memory import MemoryChannelsBackend

from domain.messaging.errors import InvalidMessage
from domain.messaging.queries import _encode_cursor, decode_cursor
from domain.messaging.rules import clean_content, content_problem, ordered_pair, preview
from infrastructure.pubsub import UserChannelsPlugin, user_channel


def test_content_is_trimmed_then_checked() -> None:
    assert clean_content("  hola\n  mundo \n") == "hola\n  mundo"
    assert content_problem(clean_content(" \t\n ")) == "the message cannot be blank"
    assert content_problem("x" * 2000) is None
    assert content_problem("x" * 2001) is not None


def test_preview_is_one_line_of_at_most_50_characters() -> None:
    assert preview("¿Sigue\ndisponible?") == "¿Sigue disponible?"
    long = preview("palabra " * 20)
    assert len(long) == 50
    assert long.endswith("…")
    assert preview("x" * 50) == "x" * 50
    assert len(preview("x" * 51)) == 50


def test_the_pair_is_ordered_as_postgresql_orders_uuids() -> None:
    low, high = uuid.UUID(int=1), uuid.UUID("ffffffff-0000-0000-0000-000000000000")
    assert ordered_pair(high, low) == ordered_pair(low, high) == (low, high)


def test_cursors_round_trip_and_bad_ones_are_422() -> None:
    at, message_id = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC), uuid.uuid4()
    assert decode_cursor(_encode_cursor(at, message_id)) == (at, message_id)
    for bad in ("", "nope", "W10", "WyJ4IiwieSJd", _encode_cursor(at.replace(tzinfo=None), message_id)):
        with pytest.raises(InvalidMessage) as refused:
            decode_cursor(bad)
        assert refused.value.field == "cursor"
        assert refused.value.status == 422


async def test_a_channel_is_forgotten_when_its_last_socket_leaves() -> None:
    plugin = UserChannelsPlugin(backend=MemoryChannelsBackend(), arbitrary_channels_allowed=True)
    channel = user_channel("app", uuid.uuid4())
    async with plugin:
        first = await plugin.subscribe(channel)
        second = await plugin.subscribe(channel)
        await plugin.unsubscribe(first, channel)
        assert channel in plugin._channels
        await plugin.unsubscribe(second, channel)
        assert channel not in plugin._channels
        again = await plugin.subscribe(channel)
        await plugin.wait_published(b"{}", channel)
        assert [event async for event in _take(again, 1)] == [b"{}"]
        await plugin.unsubscribe(again)
        assert plugin._channels == {}


async def _take(subscriber, count):  # type: ignore[no-untyped-def]
    async for event in subscriber.iter_events():
        yield event
        count -= 1
        if count == 0:
            return
