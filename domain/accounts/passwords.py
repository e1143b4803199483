"""Password hashing with argon2id (argon2-cffi's defaults: RFC 9106 low-memory profile).

Hashing costs tens of milliseconds of CPU on purpose: callers run these in a worker thread.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()

# Verified against when the email is unknown, so that a login for a missing account costs the
# same time as one for an existing account (no user enumeration by timing).
_DUMMY_HASH = _hasher.hash("rural24-timing-equaliser")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """``True`` when ``password`` matches; always spends one verification, even without a hash."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
