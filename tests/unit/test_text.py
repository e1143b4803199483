from __future__ import annotations

from domain.shared.text import ACCENTED, PLAIN, fold_accents, slugify, sql_fold


def test_fold_accents_matches_the_sql_alphabets() -> None:
    assert len(ACCENTED) == len(PLAIN)
    assert fold_accents("Córdoba") == "cordoba"
    assert fold_accents("ÑANDÚ Güemes") == "nandu guemes"


def test_sql_fold_wraps_the_expression() -> None:
    assert sql_fold("title").startswith("lower(translate(title, '")


def test_slugify() -> None:
    assert slugify("Maquinaria agrícola") == "maquinaria-agricola"
    assert slugify("  Inmuebles rurales / Campos ") == "inmuebles-rurales-campos"
