"""Search at 1 000 000 ads: price sorts within a category, a province, or both.

At 1M ads ``sort=price_asc``/``price_desc`` with a category or a province walked the global price
indexes (``ix_ads_live_price*``, ``ix_ads_live_currency_price*``) and threw away every ad of another
category or province on the way: 548 922 rows read for a page of 51 (``contratistas`` in
``cordoba``). Each new index starts with the filters and continues in the sort's order, so such a
search reads one range of it (a parent category: one range per sub-category); a price floor is part
of that range, a currency or a condition a cheap filter on it. The two ``currency`` + price indexes
go: a currency holds a third or more of the live ads, so ``ix_ads_live_price*`` filtered by it read
at most about three rows per row returned (docs/performance.md, "Search at 1 000 000 ads"): six
indexes in, two out. Built and dropped ``CONCURRENTLY``: publishing is not blocked meanwhile.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 12:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE_AD = "status = 'active' AND deleted_at IS NULL AND suspended_at IS NULL"

# name → (leading filter columns, ascending?)
INDEXES: dict[str, tuple[tuple[str, ...], bool]] = {
    "ix_ads_live_category_price": (("category_id",), True),
    "ix_ads_live_category_price_desc": (("category_id",), False),
    "ix_ads_live_province_price": (("province_code",), True),
    "ix_ads_live_province_price_desc": (("province_code",), False),
    "ix_ads_live_category_province_price": (("category_id", "province_code"), True),
    "ix_ads_live_category_province_price_desc": (("category_id", "province_code"), False),
}
DROPPED = ("ix_ads_live_currency_price", "ix_ads_live_currency_price_desc")


def _order(ascending: bool) -> list[Any]:
    if ascending:
        return ["price", "id"]
    return [sa.literal_column("price DESC NULLS LAST"), sa.literal_column("id DESC")]


def upgrade() -> None:
    with op.get_context().autocommit_block():
        for name, (columns, ascending) in INDEXES.items():
            op.create_index(
                name,
                "ads",
                [*columns, *_order(ascending)],
                unique=False,
                postgresql_where=sa.text(LIVE_AD),
                postgresql_concurrently=True,
            )
        for name in DROPPED:
            op.drop_index(name, table_name="ads", postgresql_concurrently=True)


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.create_index(
            "ix_ads_live_currency_price",
            "ads",
            ["currency", *_order(True)],
            unique=False,
            postgresql_where=sa.text(LIVE_AD),
            postgresql_concurrently=True,
        )
        op.create_index(
            "ix_ads_live_currency_price_desc",
            "ads",
            ["currency", *_order(False)],
            unique=False,
            postgresql_where=sa.text(LIVE_AD),
            postgresql_concurrently=True,
        )
        for name in reversed(INDEXES):
            op.drop_index(name, table_name="ads", postgresql_concurrently=True)
