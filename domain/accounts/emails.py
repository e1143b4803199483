"""The account emails (Spanish: the users are in Argentina), plain text and HTML, rendered from the
Jinja templates next to this module.

A link carries two slots the sender fills in (``domain.shared.emails.fill_slots``): the frontend's
address (``FRONTEND_URL``, a deployment setting) and the token (derived from the row id at sending
time, never stored). Everything else is rendered here, in the write's transaction.
"""

from __future__ import annotations

from pathlib import Path

import msgspec
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from domain.accounts.models import TokenPurpose
from domain.accounts.tokens import LIFETIMES, LINK_PATHS
from domain.shared.emails import FRONTEND_SLOT, TOKEN_SLOT

_TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    undefined=StrictUndefined,
    keep_trailing_newline=False,
    auto_reload=False,
)


class AccountEmail(msgspec.Struct, frozen=True):
    subject: str
    text: str
    html: str


def link(purpose: TokenPurpose) -> str:
    """The link of an emailed token, with its two slots."""
    return f"{FRONTEND_SLOT}{LINK_PATHS[purpose]}?token={TOKEN_SLOT}"


def _valid_for(purpose: TokenPurpose) -> str:
    hours = int(LIFETIMES[purpose].total_seconds() // 3600)
    if hours % 24 == 0 and hours >= 48:
        return f"{hours // 24} días"
    return "1 hora" if hours == 1 else f"{hours} horas"


def render(template: str, subject: str, **context: object) -> AccountEmail:
    values = {"subject": subject, **context}
    text = _TEMPLATES.get_template(f"{template}.txt").render(values)
    html = _TEMPLATES.get_template(f"{template}.html").render(values)
    return AccountEmail(subject=subject, text=text.strip() + "\n", html=html)


def welcome_email(name: str) -> AccountEmail:
    """On register: welcome, and the link that verifies the address."""
    return render(
        "welcome", "¡Bienvenido a Rural24!", name=name, link=link("verify_email"), valid_for=_valid_for("verify_email")
    )


def verification_email(name: str) -> AccountEmail:
    return render(
        "verify_email",
        "Confirmá tu email en Rural24",
        name=name,
        link=link("verify_email"),
        valid_for=_valid_for("verify_email"),
    )


def reset_email(name: str) -> AccountEmail:
    return render(
        "reset_password",
        "Restablecé tu contraseña de Rural24",
        name=name,
        link=link("reset_password"),
        valid_for=_valid_for("reset_password"),
    )


def change_email_email(name: str, new_email: str) -> AccountEmail:
    """To the new address: the link that confirms it."""
    return render(
        "change_email",
        "Confirmá tu nuevo email en Rural24",
        name=name,
        new_email=new_email,
        link=link("change_email"),
        valid_for=_valid_for("change_email"),
    )


def email_change_notice(name: str, new_email: str) -> AccountEmail:
    """To the old address: someone asked to move the account elsewhere."""
    return render(
        "email_change_notice", "Pidieron cambiar el email de tu cuenta de Rural24", name=name, new_email=new_email
    )


def password_changed_email(name: str, *, all_sessions: bool) -> AccountEmail:
    return render("password_changed", "Tu contraseña de Rural24 cambió", name=name, all_sessions=all_sessions)
