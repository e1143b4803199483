"""Accent folding, done the same way in Python and in SQL.

The embedded PostgreSQL (pgserver wheel) ships no contrib modules, so ``unaccent`` is not there.
Search documents fold accents with core ``translate()`` in a generated column; queries fold the
user's text with the same two alphabets so both sides agree.
"""

from __future__ import annotations

import re
import unicodedata

ACCENTED = "áàâäãéèêëíìîïóòôöõúùûüñçÁÀÂÄÃÉÈÊËÍÌÎÏÓÒÔÖÕÚÙÛÜÑÇ"
PLAIN = "aaaaaeeeeiiiiooooouuuuncAAAAAEEEEIIIIOOOOOUUUUNC"

_FOLD = str.maketrans(ACCENTED, PLAIN)
_SLUG_DROP = re.compile(r"[^a-z0-9]+")


def fold_accents(text: str) -> str:
    """``"Córdoba Ñandú"`` → ``"cordoba nandu"`` (lower case, the same letters SQL folds)."""
    return text.translate(_FOLD).lower()


def sql_fold(expression: str) -> str:
    """The SQL twin of :func:`fold_accents` for a column or parameter expression."""
    return f"lower(translate({expression}, '{ACCENTED}', '{PLAIN}'))"


def slugify(text: str) -> str:
    """``"Maquinaria agrícola"`` → ``"maquinaria-agricola"``."""
    decomposed = unicodedata.normalize("NFKD", text)
    ascii_only = decomposed.encode("ascii", "ignore").decode("ascii").lower()
    return _SLUG_DROP.sub("-", ascii_only).strip("-")
