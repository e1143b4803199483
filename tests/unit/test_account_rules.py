"""The pure rules of accounts (no I/O): emails, passwords, names."""

from __future__ import annotations

import pytest

from domain.accounts.rules import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    clean_name,
    is_valid_email,
    normalise_email,
    password_problem,
)


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        (" Ana@Campo.COM ", "ana@campo.com"),
        ("ana@campo.com", "ana@campo.com"),
        ("\uff21\uff2e\uff21@campo.com", "ana@campo.com"),  # full-width "ANA": NFKC folds it
        ("\tana@campo.com\n", "ana@campo.com"),
    ],
)
def test_emails_are_normalised(given: str, stored: str) -> None:
    assert normalise_email(given) == stored


@pytest.mark.parametrize(
    ("email", "valid"),
    [
        ("ana@campo.com", True),
        ("a.b+c@sub.campo.com.ar", True),
        ("ana@campo", False),  # no dot in the domain
        ("ana@campo.c", False),  # a one-letter top-level domain
        ("anacampo.com", False),
        ("ana@@campo.com", False),
        ("an a@campo.com", False),
        ("x" * 65 + "@campo.com", False),  # local part beyond 64
        ("a@" + "x" * 250 + ".com", False),  # beyond 254 in all
    ],
)
def test_email_shape(email: str, valid: bool) -> None:
    assert is_valid_email(email) is valid


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("x" * MIN_PASSWORD_LENGTH, None),
        ("x" * MAX_PASSWORD_LENGTH, None),
        ("contraseña segura", None),
        ("x" * (MIN_PASSWORD_LENGTH - 1), f"the password needs at least {MIN_PASSWORD_LENGTH} characters"),
        ("x" * (MAX_PASSWORD_LENGTH + 1), f"the password takes at most {MAX_PASSWORD_LENGTH} characters"),
        (" " * MIN_PASSWORD_LENGTH, "the password cannot be blank"),
    ],
)
def test_password_rules(password: str, problem: str | None) -> None:
    assert password_problem(password) == problem


def test_names_collapse_whitespace() -> None:
    assert clean_name("  Ana   María \n López ") == "Ana María López"
    assert clean_name(" \t ") == ""
