"""The reference data every environment shares: Argentina's 24 jurisdictions and the category tree.

Pure data and pure functions (no I/O): ``domain.catalog.reference_load.load_reference_data`` writes it,
the seed and the tests read it. Category ids are UUIDv5 of the slug, not random, so that a fresh
database, production and every developer's machine agree on them and reloading is idempotent.
"""

from __future__ import annotations

import uuid
from typing import Any, NamedTuple

from domain.shared.text import slugify


class ProvinceRef(NamedTuple):
    code: str
    """A lowercase ASCII slug (``cordoba``, ``caba``): the value of the API's ``province`` filter."""
    iso_code: str
    """ISO 3166-2 (``AR-X``)."""
    name: str
    """The Spanish name as displayed (accents included)."""


# Ordered by name, as a province picker lists them; CABA first, as Argentine forms usually put it.
PROVINCES: tuple[ProvinceRef, ...] = (
    ProvinceRef("caba", "AR-C", "Ciudad Autónoma de Buenos Aires"),
    ProvinceRef("buenos-aires", "AR-B", "Buenos Aires"),
    ProvinceRef("catamarca", "AR-K", "Catamarca"),
    ProvinceRef("chaco", "AR-H", "Chaco"),
    ProvinceRef("chubut", "AR-U", "Chubut"),
    ProvinceRef("cordoba", "AR-X", "Córdoba"),
    ProvinceRef("corrientes", "AR-W", "Corrientes"),
    ProvinceRef("entre-rios", "AR-E", "Entre Ríos"),
    ProvinceRef("formosa", "AR-P", "Formosa"),
    ProvinceRef("jujuy", "AR-Y", "Jujuy"),
    ProvinceRef("la-pampa", "AR-L", "La Pampa"),
    ProvinceRef("la-rioja", "AR-F", "La Rioja"),
    ProvinceRef("mendoza", "AR-M", "Mendoza"),
    ProvinceRef("misiones", "AR-N", "Misiones"),
    ProvinceRef("neuquen", "AR-Q", "Neuquén"),
    ProvinceRef("rio-negro", "AR-R", "Río Negro"),
    ProvinceRef("salta", "AR-A", "Salta"),
    ProvinceRef("san-juan", "AR-J", "San Juan"),
    ProvinceRef("san-luis", "AR-D", "San Luis"),
    ProvinceRef("santa-cruz", "AR-Z", "Santa Cruz"),
    ProvinceRef("santa-fe", "AR-S", "Santa Fe"),
    ProvinceRef("santiago-del-estero", "AR-G", "Santiago del Estero"),
    # Officially "Tierra del Fuego, Antártida e Islas del Atlántico Sur": too long for pickers and cards.
    ProvinceRef("tierra-del-fuego", "AR-V", "Tierra del Fuego"),
    ProvinceRef("tucuman", "AR-T", "Tucumán"),
)

PROVINCE_CODES: frozenset[str] = frozenset(p.code for p in PROVINCES)


class CategoryNode(NamedTuple):
    """One node of :data:`CATEGORY_TREE`; its position among its siblings is its display order."""

    name: str
    children: tuple[CategoryNode, ...] = ()


def _leaves(*names: str) -> tuple[CategoryNode, ...]:
    return tuple(CategoryNode(name) for name in names)


CATEGORY_TREE: tuple[CategoryNode, ...] = (
    CategoryNode(
        "Maquinaria agrícola",
        _leaves("Tractores", "Cosechadoras", "Sembradoras", "Pulverizadoras", "Implementos", "Repuestos"),
    ),
    CategoryNode("Hacienda", _leaves("Bovinos", "Ovinos", "Porcinos", "Equinos", "Caprinos")),
    CategoryNode("Inmuebles rurales", _leaves("Campos", "Chacras", "Quintas")),
    CategoryNode("Insumos", _leaves("Semillas", "Fertilizantes", "Agroquímicos", "Alimento balanceado")),
    CategoryNode("Servicios", _leaves("Contratistas", "Transporte de hacienda", "Veterinaria")),
    CategoryNode("Vehículos", _leaves("Camionetas", "Camiones", "Acoplados")),
)

# Fixed forever: changing it would give every category a new id in every database.
CATEGORY_NAMESPACE = uuid.UUID("87815911-d20d-4232-867a-44fcf5ad9cdb")

# Siblings are numbered 10, 20, 30 …: a category can later be slotted between two others
# without renumbering (and so rewriting) its siblings.
DISPLAY_ORDER_STEP = 10


def category_id(slug: str) -> uuid.UUID:
    """The id of the category with this slug, the same in every environment."""
    return uuid.uuid5(CATEGORY_NAMESPACE, "rural24:category:" + slug)


class ReferenceCategory(NamedTuple):
    """One category of the reference tree, as loaded into ``categories`` (the read side's
    ``domain.ads.queries.CategoryRef`` is what an ad shows of its category)."""

    id: uuid.UUID
    slug: str
    name: str
    parent_slug: str | None
    display_order: int
    is_active: bool = True

    @property
    def parent_id(self) -> uuid.UUID | None:
        return None if self.parent_slug is None else category_id(self.parent_slug)

    @property
    def is_leaf(self) -> bool:
        """Ads go in sub-categories only; roots group them."""
        return self.parent_slug is not None


def flatten_tree(tree: tuple[CategoryNode, ...]) -> tuple[ReferenceCategory, ...]:
    """Depth-first, each parent before its children.

    A slug is the slugified name; a name already taken elsewhere in the tree gets its parent's
    slug as prefix (``vehiculos-repuestos``), so the first holder keeps the short slug.
    Slugs are part of the ids: never rename a published category's slug.
    """
    flat: list[ReferenceCategory] = []
    taken: set[str] = set()

    def visit(nodes: tuple[CategoryNode, ...], parent_slug: str | None) -> None:
        for index, node in enumerate(nodes, start=1):
            slug = slugify(node.name)
            if slug in taken and parent_slug is not None:
                slug = f"{parent_slug}-{slug}"
            if not slug or slug in taken:
                msg = f"category {node.name!r}: slug {slug!r} is empty or not unique"
                raise ValueError(msg)
            taken.add(slug)
            flat.append(ReferenceCategory(category_id(slug), slug, node.name, parent_slug, index * DISPLAY_ORDER_STEP))
            visit(node.children, slug)

    visit(tree, None)
    return tuple(flat)


CATEGORIES: tuple[ReferenceCategory, ...] = flatten_tree(CATEGORY_TREE)


def leaf_categories() -> tuple[ReferenceCategory, ...]:
    """The sub-categories: the only ones an ad can be published in."""
    return tuple(c for c in CATEGORIES if c.is_leaf)


def province_rows() -> list[dict[str, Any]]:
    """One dict per province, ready for an ``INSERT`` with named parameters."""
    return [p._asdict() for p in PROVINCES]


def category_rows() -> list[dict[str, Any]]:
    """One dict per category, parents before their children, ready for an ``INSERT``.

    Keys: ``id``, ``slug``, ``name``, ``parent_id``, ``display_order``, ``is_active``.
    """
    return [
        {
            "id": c.id,
            "slug": c.slug,
            "name": c.name,
            "parent_id": c.parent_id,
            "display_order": c.display_order,
            "is_active": c.is_active,
        }
        for c in CATEGORIES
    ]
