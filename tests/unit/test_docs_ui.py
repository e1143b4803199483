"""The docs UI setting and the page it renders: pure code, no server."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from infrastructure.settings import SettingsError, load_settings
from rural24 import docs_ui
from rural24.docs_ui import BUNDLE, DocsDisabled, SelfHostedScalar, docs_render_plugins

PRODUCTION = {
    "APP_ENV": "production",
    "DATABASE_URL": "postgresql://db/rural24",
    "JWT_SECRET": "p" * 40,
    "FRONTEND_URL": "https://rural24.com.ar",
    "EMAIL_URL": "smtps://mailer:secret@smtp.example.com:465",
    "MEDIA_STORAGE_URL": "s3://rural24-media/ads",
}


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, True),
        ({"APP_ENV": "test"}, True),
        (PRODUCTION, False),
        ({**PRODUCTION, "API_DOCS": "on"}, True),
        ({"API_DOCS": "OFF"}, False),
    ],
)
def test_docs_are_on_outside_production_unless_switched(environ: dict[str, str], expected: bool) -> None:
    assert load_settings(environ).app.api_docs is expected


def test_a_bad_value_names_the_variable() -> None:
    with pytest.raises(SettingsError, match="API_DOCS"):
        load_settings({"API_DOCS": "admin-only"})


class _Request:
    """What the render plugins read from a request: the route of the JSON document."""

    class app:
        @staticmethod
        def route_reverse(name: str) -> str:
            return "/schema/openapi.json"


def _render(plugin: Any) -> str:
    page: bytes = plugin.render(_Request(), {"info": {"title": "Rural24 <API>"}})
    return page.decode()


def test_the_page_loads_only_from_the_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / BUNDLE).write_text("/* the vendored bundle */")
    monkeypatch.setattr(docs_ui, "ASSETS", tmp_path)
    (plugin,) = docs_render_plugins(True, "/schema")
    assert isinstance(plugin, SelfHostedScalar)
    page = _render(plugin)
    assert re.findall(r'src="([^"]+)"', page) == ["/schema/assets/scalar-api-reference.js"]
    assert "<link" not in page  # no stylesheet or favicon from a CDN
    assert '"telemetry":false' in page
    assert '"withDefaultFonts":false' in page
    assert '"url":"/schema/openapi.json"' in page
    assert "<title>Rural24 &lt;API&gt;</title>" in page


def test_switched_off_the_root_points_at_the_document() -> None:
    (plugin,) = docs_render_plugins(False, "/schema")
    assert isinstance(plugin, DocsDisabled)
    page = _render(plugin)
    assert "<script" not in page
    assert "/schema/openapi.json" in page


def test_without_the_bundle_the_page_says_how_to_build_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(docs_ui, "ASSETS", tmp_path)  # empty: npm ci has not run
    page = _render(SelfHostedScalar("/schema"))
    assert "<script" not in page
    assert "npm ci" in page
