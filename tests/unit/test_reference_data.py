"""The reference data (provinces, category tree): complete, consistent and with stable ids."""

from __future__ import annotations

import re
import uuid

import pytest

from domain.catalog.reference import (
    CATEGORIES,
    CATEGORY_TREE,
    PROVINCES,
    CategoryNode,
    category_id,
    category_rows,
    flatten_tree,
    leaf_categories,
    province_rows,
)
from domain.shared.text import slugify

SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


def test_the_24_jurisdictions() -> None:
    assert len(PROVINCES) == 24
    # ISO 3166-2:AR gives each jurisdiction one letter: the alphabet without I and O.
    assert {p.iso_code for p in PROVINCES} == {f"AR-{letter}" for letter in "ABCDEFGHJKLMNPQRSTUVWXYZ"}


def test_province_codes_are_unique_lowercase_slugs() -> None:
    codes = [p.code for p in PROVINCES]
    assert len(set(codes)) == len(codes)
    assert len({p.iso_code for p in PROVINCES}) == len(PROVINCES)
    for province in PROVINCES:
        assert SLUG.match(province.code), province.code
        if province.code != "caba":
            assert province.code == slugify(province.name)


def test_caba_is_there() -> None:
    by_code = {p.code: p for p in PROVINCES}
    assert by_code["caba"].iso_code == "AR-C"
    assert by_code["caba"].name == "Ciudad Autónoma de Buenos Aires"
    assert by_code["buenos-aires"].iso_code == "AR-B"


@pytest.mark.parametrize(
    ("code", "iso_code", "name"),
    [
        ("cordoba", "AR-X", "Córdoba"),
        ("entre-rios", "AR-E", "Entre Ríos"),
        ("neuquen", "AR-Q", "Neuquén"),
        ("rio-negro", "AR-R", "Río Negro"),
        ("tucuman", "AR-T", "Tucumán"),
        ("tierra-del-fuego", "AR-V", "Tierra del Fuego"),
        ("santiago-del-estero", "AR-G", "Santiago del Estero"),
    ],
)
def test_province_names_are_spelled_with_their_accents(code: str, iso_code: str, name: str) -> None:
    by_code = {p.code: p for p in PROVINCES}
    assert (by_code[code].iso_code, by_code[code].name) == (iso_code, name)


def test_province_rows_are_ready_for_insertion() -> None:
    rows = province_rows()
    assert len(rows) == 24
    assert rows[0].keys() == {"code", "iso_code", "name"}


def test_category_slugs_are_unique_slugs() -> None:
    slugs = [c.slug for c in CATEGORIES]
    assert len(set(slugs)) == len(slugs)
    assert all(SLUG.match(slug) for slug in slugs)


def test_every_parent_exists_and_comes_before_its_children() -> None:
    seen: set[str] = set()
    for category in CATEGORIES:
        if category.parent_slug is not None:
            assert category.parent_slug in seen, f"{category.slug} before its parent {category.parent_slug}"
        seen.add(category.slug)


def test_the_tree_has_the_rural_roots_and_two_levels() -> None:
    roots = [c for c in CATEGORIES if c.parent_slug is None]
    assert [r.slug for r in roots] == [
        "maquinaria-agricola",
        "hacienda",
        "inmuebles-rurales",
        "insumos",
        "servicios",
        "vehiculos",
    ]
    root_slugs = {r.slug for r in roots}
    assert all(c.parent_slug in root_slugs for c in CATEGORIES if c.parent_slug is not None)
    children = {c.slug: c.parent_slug for c in CATEGORIES}
    assert children["tractores"] == "maquinaria-agricola"
    assert children["bovinos"] == "hacienda"
    assert children["campos"] == "inmuebles-rurales"
    assert children["alimento-balanceado"] == "insumos"
    assert children["transporte-de-hacienda"] == "servicios"
    assert children["camionetas"] == "vehiculos"
    assert len(CATEGORIES) == 30


def test_names_keep_their_accents() -> None:
    names = {c.slug: c.name for c in CATEGORIES}
    assert names["maquinaria-agricola"] == "Maquinaria agrícola"
    assert names["vehiculos"] == "Vehículos"
    assert names["agroquimicos"] == "Agroquímicos"


def test_display_order_follows_the_tree_among_siblings() -> None:
    by_parent: dict[str | None, list[int]] = {}
    for category in CATEGORIES:
        by_parent.setdefault(category.parent_slug, []).append(category.display_order)
    for orders in by_parent.values():
        assert orders == sorted(orders)
        assert len(set(orders)) == len(orders)
        assert min(orders) > 0
    tractores = next(c for c in CATEGORIES if c.slug == "tractores")
    cosechadoras = next(c for c in CATEGORIES if c.slug == "cosechadoras")
    assert tractores.display_order < cosechadoras.display_order


def test_category_ids_are_stable() -> None:
    # Computed once and pinned: every database ever loaded has these ids.
    assert category_id("tractores") == uuid.UUID("65e59956-1132-5720-90d2-064191389e38")
    assert category_id("maquinaria-agricola") == uuid.UUID("2ffecc9b-db7d-5774-aa84-6349b27cbca7")
    assert category_id("tractores").version == 5
    assert category_id("tractores") != category_id("cosechadoras")


def test_each_category_id_derives_from_its_slug() -> None:
    for category in CATEGORIES:
        assert category.id == category_id(category.slug)
        assert category.parent_id == (None if category.parent_slug is None else category_id(category.parent_slug))


def test_category_rows_are_parent_first_and_insertable() -> None:
    rows = category_rows()
    assert len(rows) == len(CATEGORIES)
    assert rows[0].keys() == {"id", "slug", "name", "parent_id", "display_order", "is_active"}
    inserted: set[uuid.UUID] = set()
    for row in rows:
        assert row["parent_id"] is None or row["parent_id"] in inserted
        assert row["is_active"] is True
        inserted.add(row["id"])


def test_only_sub_categories_take_ads() -> None:
    leaves = leaf_categories()
    assert len(leaves) == 24
    assert all(c.parent_slug is not None for c in leaves)
    assert "tractores" in {c.slug for c in leaves}
    assert "hacienda" not in {c.slug for c in leaves}


def test_a_name_used_twice_gets_its_parent_as_prefix() -> None:
    tree = (
        CategoryNode("Maquinaria", (CategoryNode("Repuestos"),)),
        CategoryNode("Vehículos", (CategoryNode("Repuestos"),)),
    )
    assert [c.slug for c in flatten_tree(tree)] == ["maquinaria", "repuestos", "vehiculos", "vehiculos-repuestos"]


def test_a_root_name_used_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="not unique"):
        flatten_tree((CategoryNode("Hacienda"), CategoryNode("Hacienda")))


def test_the_tree_constant_and_the_flat_list_agree() -> None:
    assert flatten_tree(CATEGORY_TREE) == CATEGORIES


def test_the_demo_seed_covers_every_sub_category() -> None:
    seed = pytest.importorskip("demo.seed")
    assert {c.slug for c in leaf_categories()} == set(seed.CATEGORY_SPECS)
    assert set(seed.LOCALITIES) == {p.code for p in PROVINCES}
    assert set(seed.PROVINCE_WEIGHTS) == {p.code for p in PROVINCES}
    assert set(seed.AREA_CODES) == {p.code for p in PROVINCES}
