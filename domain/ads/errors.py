"""What can go wrong with ads, in the marketplace's words (mapped to HTTP by the app)."""

from __future__ import annotations


class AdError(Exception):
    detail = "ad error"
    status = 400

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or self.detail)
        if detail:
            self.detail = detail


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


class InvalidAd(AdError):
    status = 422

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail)
        self.field = field


class ForbiddenTransition(AdError):
    status = 409


class AlreadyReported(AdError):
    detail = "you already reported this ad"
    status = 409
