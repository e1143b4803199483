"""What can go wrong in accounts, in the marketplace's words (mapped to HTTP by the app)."""

from __future__ import annotations


class AccountError(Exception):
    """Base of account errors; ``detail`` is safe to show to the caller."""

    detail = "account error"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or self.detail)
        if detail:
            self.detail = detail


class EmailTaken(AccountError):
    detail = "an account with this email already exists"


class InvalidCredentials(AccountError):
    detail = "wrong email or password"


class UserNotFound(AccountError):
    detail = "user not found"


class InvalidAccountData(AccountError):
    """Input that passed the schema but breaks an account rule (short password, bad email …)."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail)
        self.field = field
