"""The account emails and their tokens (pure code): templates, slots, derivation."""

from __future__ import annotations

import uuid

import pytest

from domain.accounts.emails import (
    change_email_email,
    email_change_notice,
    password_changed_email,
    reset_email,
    verification_email,
    welcome_email,
)
from domain.shared.emails import FRONTEND_SLOT, TOKEN_SLOT, fill_slots
from infrastructure.account_tokens import TOKEN_PATTERN, AccountTokens, digest

LINKED = {
    "welcome": (welcome_email("Ana"), "/verificar-email"),
    "verification": (verification_email("Ana"), "/verificar-email"),
    "reset": (reset_email("Ana"), "/restablecer-clave"),
    "change": (change_email_email("Ana", "nueva@campo.com.ar"), "/confirmar-email"),
}


@pytest.mark.parametrize("name", sorted(LINKED))
def test_linked_emails_carry_one_link_with_both_slots_in_text_and_html(name: str) -> None:
    email, path = LINKED[name]
    link = f"{FRONTEND_SLOT}{path}?token={TOKEN_SLOT}"
    assert email.text.count(link) == 1
    assert link in email.html
    filled = fill_slots(email.text, frontend="https://rural24.com.ar", token="abc")
    assert f"https://rural24.com.ar{path}?token=abc" in filled
    assert "__RURAL24" not in filled
    assert email.html.lstrip().startswith("<!doctype html>")


def test_emails_without_links_have_no_slots() -> None:
    for email in (email_change_notice("Ana", "n@campo.com.ar"), password_changed_email("Ana", all_sessions=True)):
        assert TOKEN_SLOT not in email.text + email.html
        assert FRONTEND_SLOT not in email.text + email.html


def test_names_are_escaped_in_html_and_kept_in_text() -> None:
    email = welcome_email('<script>alert("x")</script> & Cía')
    assert "<script>" not in email.html
    assert "&lt;script&gt;" in email.html
    assert '<script>alert("x")</script> & Cía' in email.text


def test_a_token_slot_without_a_token_refuses_to_render() -> None:
    with pytest.raises(ValueError, match="no token"):
        fill_slots(f"link {TOKEN_SLOT}", frontend="https://x", token=None)
    html = fill_slots(f'<a href="{FRONTEND_SLOT}/a">', frontend='https://x/"><b>', token=None, html=True)
    assert '"><b>' not in html


def test_tokens_are_derived_from_the_row_id_and_stored_only_as_digests() -> None:
    tokens = AccountTokens("s" * 40)
    minted = tokens.mint()
    token = tokens.token_for(minted.id)
    assert TOKEN_PATTERN.match(token)
    assert minted.digest == digest(token)
    assert token.encode() not in minted.digest
    assert AccountTokens("s" * 40).token_for(minted.id) == token  # another process derives the same
    assert AccountTokens("t" * 40).token_for(minted.id) != token  # a different key cannot
    assert tokens.mint().id != minted.id
    assert tokens.token_for(uuid.uuid4()) != token
