"""The province code, once: the field type every request takes it as, and the one check of it."""

from __future__ import annotations

from collections.abc import Set
from typing import Annotated

from msgspec import Meta

from domain.catalog.reference import PROVINCE_CODES
from domain.shared.fields import Line

ProvinceCode = Annotated[Line, Meta(max_length=32, description="A code from GET /api/provinces.")]
"""A code of :data:`domain.catalog.reference.PROVINCES` (``cordoba``, ``caba``) as a request sends it;
the schema checks its shape, :func:`province_problem` that it names a province."""


def province_problem(code: str, known: Set[str] = PROVINCE_CODES) -> str | None:
    """Why ``code`` is refused (it names no province of ``known``), or ``None`` when it is one."""
    if code in known:
        return None
    return f"unknown province code {code!r}"
