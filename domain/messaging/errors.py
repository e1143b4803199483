"""What can go wrong in messaging, in the marketplace's words (mapped to HTTP by the app)."""

from __future__ import annotations


class MessagingError(Exception):
    """Base of messaging errors: ``detail`` is safe to show, ``status`` is the HTTP status."""

    detail = "messaging error"
    status = 400

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or self.detail)
        if detail:
            self.detail = detail


class ConversationNotFound(MessagingError):
    """Unknown, or the caller is not one of its two participants (both look the same)."""

    detail = "conversation not found"
    status = 404


class RecipientNotFound(MessagingError):
    """Unknown or blocked recipient: like ``GET /api/users/{id}``, a blocked user looks missing."""

    detail = "recipient not found"
    status = 404


class AdNotFound(MessagingError):
    """A new conversation about an ad that is unknown, deleted or suspended."""

    detail = "ad not found"
    status = 404


class SenderBlocked(MessagingError):
    """A blocked user cannot send (their tokens die at once; this covers the race)."""

    detail = "this account is blocked"
    status = 403


class InvalidMessage(MessagingError):
    """Input that passed the schema but breaks a messaging rule; ``field`` names it."""

    status = 422

    def __init__(self, field: str, detail: str, source: str = "body") -> None:
        super().__init__(detail)
        self.field = field
        self.source = source
