"""Pure rules of accounts: how emails, passwords and names must look."""

from __future__ import annotations

import re
import unicodedata

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 128  # argon2 takes any length; a cap keeps hashing cost bounded
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")


def normalise_email(email: str) -> str:
    """Trimmed, NFKC-normalised, lower case: ``" Ana@Campo.COM "`` → ``"ana@campo.com"``."""
    return unicodedata.normalize("NFKC", email).strip().lower()


def is_valid_email(email: str) -> bool:
    return len(email) <= 254 and _EMAIL.match(email) is not None


def password_problem(password: str) -> str | None:
    """Why a password is refused, or ``None`` when it is acceptable."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"the password needs at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"the password takes at most {MAX_PASSWORD_LENGTH} characters"
    if password.strip() == "":
        return "the password cannot be blank"
    return None


def clean_name(name: str) -> str:
    """Collapse inner whitespace; names are shown to other users."""
    return " ".join(name.split())
