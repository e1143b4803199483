"""The base of every Struct that crosses the HTTP edge: camelCase on the wire."""

from __future__ import annotations

import msgspec


class CamelStruct(msgspec.Struct, rename="camel"):
    """Snake case in Python, camelCase in JSON (``is_featured`` ↔ ``isFeatured``)."""


class ReadModel(msgspec.Struct, rename="camel", gc=False):
    """A read model built straight from SQL rows; ``gc=False``: no cycles, cheaper to build by
    the thousand on the read path."""
