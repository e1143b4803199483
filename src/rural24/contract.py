"""The committed OpenAPI document (``docs/openapi.json``): built from the app, written by
``make openapi`` (``python -m rural24.contract``), compared by the contract tests, and the source of
the TypeScript client."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from infrastructure.settings import load_settings
from rural24.app import create_app

SNAPSHOT = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
"""The committed copy of the document (``make openapi`` writes it; the TypeScript client is generated from it)."""


def build_document() -> dict[str, Any]:
    """The document exactly as ``/schema/openapi.json`` serves it; building it needs no database."""
    offline = {
        "APP_ENV": "test",
        "DATABASE_URL": "postgresql+asyncpg://nobody@127.0.0.1:9/none",
        "JWT_SECRET": "x" * 48,
    }
    document: dict[str, Any] = json.loads(json.dumps(create_app(load_settings(offline)).openapi_schema.to_schema()))
    return document


def render(document: dict[str, Any]) -> str:
    """The snapshot's text: sorted keys and an indent, so a change reads as a small diff."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


if __name__ == "__main__":  # `make openapi`
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else SNAPSHOT
    target.write_text(render(build_document()), encoding="utf-8")
    print(f"wrote {target}")
