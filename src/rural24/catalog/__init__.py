"""The catalog context over HTTP: categories and provinces (reference data, read-only)."""

from __future__ import annotations

from rural24.catalog.http import CatalogController, CatalogPorts
from rural24.contexts import ContextPlugin, provide
from rural24.services import Services


def catalog_plugin(services: Services) -> ContextPlugin:
    ports = CatalogPorts(reads=services.reads, settings=services.settings, hot_reads=services.hot_reads)
    return ContextPlugin(name="catalog", route_handlers=[CatalogController], dependencies={"catalog": provide(ports)})
