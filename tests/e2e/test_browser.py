"""Proof in a real browser: Debian's headless chromium, driven by playwright-core (tests/e2e/browser/
drive.mjs), against a running ``rural24 serve``.

1. A small page built from the typed client (tests/e2e/browser/app.ts, bundled with esbuild) and
   served from another loopback origin, so CORS applies: it searches, opens an ad, logs in, opens
   the notifications WebSocket with the token in the subprotocol and shows a ``message.new`` that
   another user sends through the API.
2. The docs page at ``/schema``, with the browser offline: every operation listed, nothing
   fetched from outside the app.

Both save a screenshot under tests/e2e/artifacts/ (git-ignored) and print its path.
"""

from __future__ import annotations

import functools
import json
import queue
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

from tests.conftest import PgDatabase, service_unavailable
from tests.e2e.processes import free_port, serving

BROWSER_DIR = Path(__file__).parent / "browser"
CLIENT_DIR = Path(__file__).parents[2] / "clients" / "typescript"
ARTIFACTS = Path(__file__).parent / "artifacts"
PASSWORD = "alfalfa-y-sorgo-2026"
STEP_TIMEOUT = 30.0  # seconds for any one browser step; the whole drive is bounded by DRIVE_TIMEOUT
DRIVE_TIMEOUT = 120.0


@pytest.fixture(scope="module")
def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        service_unavailable("no chromium on PATH (apt-get install -y chromium)")
    node = shutil.which("node")
    if node is None:
        service_unavailable("no node on PATH")
    for folder in (BROWSER_DIR, CLIENT_DIR):
        if not (folder / "node_modules").is_dir():
            service_unavailable(f"npm packages not installed in {folder.name}/ (npm ci)")
    return path


@pytest.fixture(scope="module")
def page_origin(chromium: str) -> Iterator[str]:
    """The page, bundled from the typed client, served by a plain static server on its own port."""
    built = subprocess.run(
        ["node", "build.mjs"], cwd=BROWSER_DIR, capture_output=True, text=True, timeout=60, check=False
    )
    assert built.returncode == 0, built.stderr
    handler = functools.partial(_QuietFiles, directory=str(BROWSER_DIR / "dist"))
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, name="page-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietFiles(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def _api_env(database: PgDatabase, **extra: str) -> dict[str, str]:
    return {
        "APP_ENV": "test",
        "APP_NAME": f"rural24-browser-{uuid.uuid4().hex[:6]}",
        "DATABASE_URL": database.primary_url,
        "JWT_SECRET": "browser-secret-" + "b" * 40,
        "DB_POOL_SIZE": "2",
        **extra,
    }


class Driver:
    """``node drive.mjs <job>``: JSON lines out, answers in; every read bounded by a deadline."""

    def __init__(self, job: dict[str, Any]) -> None:
        self.process = subprocess.Popen(
            ["node", "drive.mjs", json.dumps(job)],
            cwd=BROWSER_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.deadline = time.monotonic() + DRIVE_TIMEOUT
        self._lines: queue.Queue[str | None] = queue.Queue()
        assert self.process.stdout is not None
        threading.Thread(target=self._read, args=(self.process.stdout,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self._lines.put(line)
        self._lines.put(None)

    def next_event(self) -> dict[str, Any]:
        try:
            line = self._lines.get(timeout=max(0.0, self.deadline - time.monotonic()))
        except queue.Empty:
            msg = f"the browser driver said nothing within {DRIVE_TIMEOUT} s"
            raise AssertionError(msg) from None
        if line is None:
            stderr = self.process.stderr.read() if self.process.stderr else ""
            msg = f"the browser driver exited ({self.process.wait(5)}): {stderr[-3000:]}"
            raise AssertionError(msg)
        event: dict[str, Any] = json.loads(line)
        if event["event"] == "failed":
            raise AssertionError(json.dumps(event, ensure_ascii=False, indent=1))
        return event

    def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)


@pytest.fixture
def drive() -> Iterator[Any]:
    drivers: list[Driver] = []

    def start(job: dict[str, Any]) -> Driver:
        driver = Driver(job)
        drivers.append(driver)
        return driver

    yield start
    for driver in drivers:
        driver.close()


def _screenshot(name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / f"{name}.png"


def _register(client: httpx.Client, base: str, name: str) -> dict[str, Any]:
    email = f"{uuid.uuid4().hex[:8]}@estancia.com.ar"
    response = client.post(f"{base}/api/auth/register", json={"email": email, "password": PASSWORD, "name": name})
    assert response.status_code == 201, response.text
    return {**response.json(), "email": email}


def test_a_page_built_from_the_typed_client_searches_logs_in_and_shows_a_pushed_message(
    chromium: str, page_origin: str, database: PgDatabase, tmp_path: Path, drive: Any
) -> None:
    word = f"ordeñadora{uuid.uuid4().hex[:6]}"  # one ad matches: the search is this test's own
    with serving(_api_env(database, FRONTEND_URL=page_origin), 1, tmp_path) as started:
        api_process, api = started[0]
        with httpx.Client(timeout=10) as client:
            seller = _register(client, api, "Marta Ríos")
            buyer = _register(client, api, "Ana Gómez")
            categories = client.get(f"{api}/api/categories").json()
            published = client.post(
                f"{api}/api/ads",
                json={
                    "title": f"Ordeñadora DeLaval {word}",
                    "description": "Dos bajadas, funcionando, con tanque de frío de 2000 litros.",
                    "price": "1850000",
                    "currency": "ARS",
                    "categoryId": categories[0]["id"],
                    "province": "cordoba",
                    "locality": "Villa María",
                },
                headers={"Authorization": f"Bearer {seller['token']}"},
            )
            assert published.status_code == 201, published.text
            ad_id = published.json()["id"]

            screenshot = _screenshot("browser-page")
            query = httpx.QueryParams(api=api, q=word, email=buyer["email"], password=PASSWORD)
            driver = drive(
                {
                    "mode": "page",
                    "chromium": chromium,
                    "url": f"{page_origin}/index.html?{query}",
                    "screenshot": str(screenshot),
                    "timeoutMs": int(STEP_TIMEOUT * 1000),
                }
            )
            assert driver.next_event()["event"] == "socket-ready"

            sent = client.post(
                f"{api}/api/messages/send",
                json={
                    "recipientId": buyer["user"]["id"],
                    "content": "¿Sigue disponible la ordeñadora? Paso el sábado.",
                    "adId": ad_id,
                },
                headers={"Authorization": f"Bearer {seller['token']}"},
            )
            assert sent.status_code == 201, sent.text
            message_id = sent.json()["messageId"]
            driver.send(f"sent {message_id}")
            done = driver.next_event()
        assert api_process.process.poll() is None, api_process.output()[-2000:]

    facts = done["facts"]
    print(f"\nbrowser screenshot: {screenshot}")
    assert facts["errors"] == "", facts["errors"]
    assert facts["states"] == {"search": "done", "ad": "done", "session": "done", "socket": "ready"}
    assert [result["id"] for result in facts["results"]] == [ad_id]
    assert facts["adId"] == ad_id
    assert facts["adTitle"] == f"Ordeñadora DeLaval {word}"
    assert facts["adSeller"] == "Marta Ríos"
    assert facts["user"] == "Ana Gómez"
    assert facts["notifications"] == [
        {"messageId": message_id, "text": "Marta Ríos: ¿Sigue disponible la ordeñadora? Paso el sábado."}
    ]
    assert done["outside"] == []  # nothing but the page's and the API's loopback origins
    assert done["consoleErrors"] == []
    assert screenshot.stat().st_size > 10_000


def test_the_docs_page_lists_every_operation_offline(
    chromium: str, database: PgDatabase, tmp_path: Path, drive: Any
) -> None:
    with serving(_api_env(database), 1, tmp_path) as started:
        api_process, api = started[0]
        document = httpx.get(f"{api}/schema/openapi.json", timeout=10).json()
        # the sidebar lists each operation by its summary (Scalar falls back to the path)
        operations = [
            (method.upper(), path, operation.get("summary") or path)
            for path, methods in document["paths"].items()
            for method, operation in methods.items()
        ]
        assert len(operations) > 30, operations
        screenshot = _screenshot("docs-page")
        driver = drive(
            {
                "mode": "docs",
                "chromium": chromium,
                "url": f"{api}/schema",
                "screenshot": str(screenshot),
                "timeoutMs": int(STEP_TIMEOUT * 1000),
                "expect": [label for _, _, label in operations],
            }
        )
        done = driver.next_event()
        assets = [script for script in done["facts"]["scripts"] if "/schema/assets/" in script]
        bundle = httpx.get(assets[0], timeout=10) if assets else None
        assert api_process.process.poll() is None, api_process.output()[-2000:]

    print(f"\ndocs screenshot: {screenshot}")
    facts = done["facts"]
    assert facts["title"] == document["info"]["title"]
    missing = [operation for operation in operations if operation[2] not in facts["text"]]
    assert missing == []
    assert done["outside"] == []  # no CDN, no fonts, no telemetry: the page works offline
    assert facts["scripts"] == [f"{api}/schema/assets/scalar-api-reference.js"]
    assert bundle is not None
    assert bundle.status_code == 200
    assert bundle.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert screenshot.stat().st_size > 10_000


def test_the_docs_ui_can_be_switched_off(database: PgDatabase, tmp_path: Path) -> None:
    with serving(_api_env(database, API_DOCS="off"), 1, tmp_path) as started:
        _, api = started[0]
        page = httpx.get(f"{api}/schema", timeout=10)
        bundle = httpx.get(f"{api}/schema/assets/scalar-api-reference.js", timeout=10)
        document = httpx.get(f"{api}/schema/openapi.json", timeout=10)
    assert page.status_code == 200
    assert "API_DOCS=off" in page.text
    assert "<script" not in page.text
    assert bundle.status_code == 404
    assert document.status_code == 200
    assert document.json()["paths"]
