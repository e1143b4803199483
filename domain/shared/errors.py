"""The base of every context's errors: a ``detail`` safe to show and the HTTP ``status`` it maps to
(the app turns any of them into one problem+json answer)."""

from __future__ import annotations


class DomainError(Exception):
    detail = "the request cannot be carried out"
    status = 400

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or self.detail)
        if detail:
            self.detail = detail


class InvalidInput(DomainError):
    """Input that passed the schema but breaks a rule; ``field`` names it, ``source`` says where
    it came from (``body`` or ``query``)."""

    status = 422
    source = "body"

    def __init__(self, field: str, detail: str, source: str | None = None) -> None:
        super().__init__(detail)
        self.field = field
        if source is not None:
            self.source = source


class AccountGone(DomainError):
    """The caller's own account no longer exists (deleted while a token of theirs was still out).
    Here, not in ``accounts``: any context's write can find its caller gone."""

    detail = "this account no longer exists; log in again"
    status = 401
