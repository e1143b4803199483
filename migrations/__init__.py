"""Alembic migrations (advanced-alchemy). Shipped inside the wheel so ``rural24 migrate`` finds
them wherever the package is installed."""
