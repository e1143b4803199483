"""What can go wrong with ads, in the marketplace's words (mapped to HTTP by the app)."""

from __future__ import annotations

from domain.shared.errors import DomainError, InvalidInput


class AdError(DomainError):
    detail = "ad error"


class AdNotFound(AdError):
    """Unknown, deleted, or not visible to the caller (another user's hidden ad looks missing)."""

    detail = "ad not found"
    status = 404


class NotYourAd(AdError):
    """The caller can see the ad but may not change it."""

    detail = "only the owner can change this ad"
    status = 403


class StaleAd(AdError):
    """``If-Match`` named an older revision: someone changed the ad since the caller read it."""

    detail = "the ad changed since you read it (If-Match does not match its ETag)"
    status = 412


class InvalidAd(InvalidInput, AdError):
    """Input that passed the schema but breaks an ad rule."""


class ForbiddenTransition(AdError):
    status = 409


class AlreadyReported(AdError):
    detail = "you already reported this ad"
    status = 409
