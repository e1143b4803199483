"""Price-sorted search without a sequential scan of ads.

``tests/integration/test_search_plans.py`` found three search shapes that read every live ad and
sorted them: ``sort=price_asc``/``price_desc`` without ``currency``, and ``sort=price_desc`` with
``currency`` (the search orders ``price DESC NULLS LAST``, "a convenir" last, which a backward scan
of ``ix_ads_live_currency_price`` cannot give). Built ``CONCURRENTLY``: publishing is not blocked
while the indexes are made.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 05:10:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE_AD = "status = 'active' AND deleted_at IS NULL AND suspended_at IS NULL"


def upgrade() -> None:
    with op.get_context().autocommit_block():
        # search with currency (and minPrice/maxPrice), sort=price_desc: "a convenir" (NULL) last
        op.create_index(
            "ix_ads_live_currency_price_desc",
            "ads",
            ["currency", sa.literal_column("price DESC NULLS LAST"), sa.literal_column("id DESC")],
            unique=False,
            postgresql_where=sa.text(LIVE_AD),
            postgresql_concurrently=True,
        )
        # search without currency, sort=price_asc
        op.create_index(
            "ix_ads_live_price",
            "ads",
            ["price", "id"],
            unique=False,
            postgresql_where=sa.text(LIVE_AD),
            postgresql_concurrently=True,
        )
        # search without currency, sort=price_desc ("a convenir" last)
        op.create_index(
            "ix_ads_live_price_desc",
            "ads",
            [sa.literal_column("price DESC NULLS LAST"), sa.literal_column("id DESC")],
            unique=False,
            postgresql_where=sa.text(LIVE_AD),
            postgresql_concurrently=True,
        )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        for name in ("ix_ads_live_price_desc", "ix_ads_live_price", "ix_ads_live_currency_price_desc"):
            op.drop_index(name, table_name="ads", postgresql_concurrently=True)
