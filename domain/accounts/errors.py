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


class WrongPassword(AccountError):
    """The password a sensitive change asks for again does not match (the session stays valid)."""

    detail = "the password is not correct"
    status = 403


class EmailNotVerified(AccountError):
    detail = (
        "verify your email address first: open the link we sent you (POST /api/auth/resend-verification sends it again)"
    )
    status = 403


class InvalidToken(AccountError):
    """Forged, mistyped, for another purpose, or another account's: nothing to say about it."""

    detail = "this link is not valid"
    status = 400


class TokenGone(AccountError):
    """A real token that no longer works (used, replaced by a newer one, or expired)."""

    detail = "this link no longer works: ask for a new one"
    status = 410
