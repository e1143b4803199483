"""The ads context's emails (Spanish: the users are in Argentina)."""

from __future__ import annotations

from datetime import datetime


def expiring_email(name: str, title: str, expires_at: datetime) -> tuple[str, str]:
    """``(subject, text)``: the ad expires soon; renewing keeps it in search."""
    subject = f"Tu aviso «{title}» vence pronto"
    text = (
        f"Hola {name},\n\n"
        f"Tu aviso «{title}» vence el {expires_at:%d/%m/%Y}. Renovalo desde «Mis avisos» para que "
        "siga apareciendo en las búsquedas.\n\n"
        "El equipo de Rural24"
    )
    return subject, text


def saved_search_email(name: str, search_name: str, titles: list[str]) -> tuple[str, str]:
    """``(subject, text)``: new ads match a saved search."""
    count = len(titles)
    subject = f"{count} aviso{'s' if count != 1 else ''} nuevo{'s' if count != 1 else ''} para «{search_name}»"
    listing = "\n".join(f"  • {title}" for title in titles[:10])
    more = f"\n  … y {count - 10} más" if count > 10 else ""
    text = (
        f"Hola {name},\n\nHay avisos nuevos para tu búsqueda «{search_name}»:\n\n"
        f"{listing}{more}\n\nEl equipo de Rural24"
    )
    return subject, text
