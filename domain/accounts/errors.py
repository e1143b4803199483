"""What can go wrong in accounts, in the marketplace's words (mapped to HTTP by the app)."""

from __future__ import annotations

from domain.shared.errors import DomainError, InvalidInput


class AccountError(DomainError):
    detail = "account error"


class EmailTaken(AccountError):
    detail = "an account with this email already exists"
    status = 409


class InvalidCredentials(AccountError):
    detail = "wrong email or password"
    status = 401


class UserNotFound(AccountError):
    detail = "user not found"
    status = 404


class InvalidAccountData(InvalidInput, AccountError):
    """Input that passed the schema but breaks an account rule (short password, bad email …)."""
