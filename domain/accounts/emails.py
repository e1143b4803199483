"""The account emails' text (Spanish: the users are in Argentina)."""

from __future__ import annotations


def welcome_email(name: str) -> tuple[str, str]:
    """``(subject, text)`` of the welcome email."""
    subject = "¡Bienvenido a Rural24!"
    text = (
        f"Hola {name},\n\n"
        "Tu cuenta en Rural24 está lista. Ya podés publicar maquinaria, hacienda, campos y servicios, "
        "y contactar a vendedores de todo el país.\n\n"
        "El equipo de Rural24"
    )
    return subject, text
