"""The API reference page at ``/schema``, built from self-hosted assets only.

Litestar's stock ``ScalarRenderPlugin`` loads Scalar from a CDN at ``@latest`` (plus a stylesheet and
a favicon from another CDN): unpinned, and a blank page offline. Here the bundle is the one pinned in
``package.json`` next to this file, copied into ``static/`` by ``npm ci && npm run vendor`` (the
Dockerfile and CI do the same) and served by the app at ``/schema/assets``; the page asks for
nothing outside the app (no fonts, no telemetry, no AI agent).

``API_DOCS=off`` replaces the page with a short notice; the document itself stays at
``/schema/openapi.json`` either way (typed clients and the snapshot test read it).
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import msgspec
from litestar import Request, Router
from litestar.datastructures import CacheControlHeader
from litestar.openapi.plugins import OpenAPIRenderPlugin
from litestar.static_files import create_static_files_router

__all__ = ("ASSETS", "BUNDLE", "DocsDisabled", "SelfHostedScalar", "docs_render_plugins")

ASSETS = Path(__file__).resolve().parent / "static"
BUNDLE = "scalar-api-reference.js"

# Scalar options (its `createApiReference` configuration). Every default that would reach the
# internet is switched off; operationIds are shown because they are the typed client's vocabulary.
_SCALAR_OPTIONS: dict[str, Any] = {
    "withDefaultFonts": False,
    "telemetry": False,
    "agent": {"disabled": True},
    "mcp": {"disabled": True},
    "showDeveloperTools": "never",  # its default, "localhost", also shows Scalar's own promotions
    # The bundle's stylesheet declares its fonts on fonts.scalar.com: system fonts instead, so the
    # browser never asks for them; and no "generate SDKs" advert in our docs.
    "customCss": (
        ":root, .light-mode, .dark-mode { --scalar-font: system-ui, sans-serif;"
        " --scalar-font-code: ui-monospace, monospace; }"
        " .explore-scalar-cta, .explore-scalar-headline { display: none; }"
    ),
    "showOperationId": True,
    "hideClientButton": True,
    "defaultOpenAllTags": True,
}


def _script_json(value: object) -> str:
    """JSON safe inside a <script> element (no ``</script>`` break-out)."""
    return msgspec.json.encode(value).decode().replace("</", "<\\/")


class SelfHostedScalar(OpenAPIRenderPlugin):
    """Scalar at the schema root, loading its bundle from this app."""

    def __init__(self, schema_path: str) -> None:
        super().__init__(path="/", favicon="", style="<style>body { margin: 0 }</style>")
        self.bundle_url = f"{schema_path.rstrip('/')}/assets/{BUNDLE}"

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        title = html.escape(str(openapi_schema["info"]["title"]))
        if not (ASSETS / BUNDLE).is_file():
            return _notice(
                title, "The docs UI is not built here: run `npm ci && npm run vendor` in src/rural24/docs_ui."
            )
        options = {**_SCALAR_OPTIONS, "url": self.get_openapi_json_route(request)}
        return f"""<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>{title}</title>
    {self.style}
  </head>
  <body>
    <noscript>The API reference needs JavaScript; the document is at {html.escape(options["url"])}.</noscript>
    <div id="app"></div>
    <script src="{html.escape(self.bundle_url)}"></script>
    <script>Scalar.createApiReference("#app", {_script_json(options)})</script>
  </body>
</html>
""".encode()

    def receive_router(self, router: Router) -> None:
        # The bundle changes only with the pinned version; revalidate cheaply (ETag) rather than
        # cache it blind under a name that does not carry the version.
        router.register(
            create_static_files_router(
                path="/assets",
                directories=[ASSETS],
                name="docs-ui-assets",
                cache_control=CacheControlHeader(no_cache=True),
                include_in_schema=False,
            )
        )


class DocsDisabled(OpenAPIRenderPlugin):
    """``API_DOCS=off``: the schema root says where the document is instead of rendering a UI."""

    def __init__(self) -> None:
        super().__init__(path="/")

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        title = html.escape(str(openapi_schema["info"]["title"]))
        return _notice(
            title,
            f"The docs UI is switched off (API_DOCS=off); the document is at {self.get_openapi_json_route(request)}.",
        )


def _notice(title: str, text: str) -> bytes:
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>'
        f"<body><p>{html.escape(text)}</p></body></html>"
    ).encode()


def docs_render_plugins(enabled: bool, schema_path: str) -> list[OpenAPIRenderPlugin]:
    """What ``OpenAPIConfig.render_plugins`` gets: never empty, since an empty list makes Litestar
    fall back to every UI it knows, each loaded from a CDN."""
    return [SelfHostedScalar(schema_path) if enabled else DocsDisabled()]
