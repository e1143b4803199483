"""Messaging's push events: published to a user's channel once the change is committed.

Tagged msgspec structs: each travels as one JSON object with a ``type`` (the WebSocket protocol
is documented in ``rural24.messaging.socket``).
"""

from __future__ import annotations

from uuid import UUID

import msgspec

from domain.shared.structs import CamelStruct


class Sender(CamelStruct):
    id: UUID
    name: str


class MessageNew(CamelStruct, tag_field="type", tag="message.new"):
    """A message to the user was committed."""

    message_id: UUID
    conversation_id: UUID
    sender: Sender = msgspec.field(name="from")
    preview: str
    """At most 50 characters, one line."""
