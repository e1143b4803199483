"""What can go wrong in messaging, in the marketplace's words (mapped to HTTP by the app)."""

from __future__ import annotations

from domain.shared.errors import DomainError, InvalidInput


class MessagingError(DomainError):
    detail = "messaging error"


class ConversationNotFound(MessagingError):
    """Unknown, or the caller is not one of its two participants (both look the same)."""

    detail = "conversation not found"
    status = 404


class RecipientNotFound(MessagingError):
    """Unknown or blocked recipient: like ``GET /api/users/{id}``, a blocked user looks missing."""

    detail = "recipient not found"
    status = 404


class ConversationAdNotFound(MessagingError):
    """The ad a new conversation would be about is unknown, deleted or suspended (answers like
    ``domain.ads.errors.AdNotFound``: 404, "ad not found")."""

    detail = "ad not found"
    status = 404


class SenderBlocked(MessagingError):
    """A blocked user cannot send (their tokens die at once; this covers the race)."""

    detail = "this account is blocked"
    status = 403


class InvalidMessage(InvalidInput, MessagingError):
    """Input that passed the schema but breaks a messaging rule; ``field`` names it."""
