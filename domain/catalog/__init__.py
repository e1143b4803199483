"""Catalog: the category tree and the Argentine provinces (reference data)."""
