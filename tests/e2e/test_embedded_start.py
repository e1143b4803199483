"""The README's first command on a machine with no database: `rural24 serve` starts its own
PostgreSQL, migrates and seeds reference data, serves; a second start reuses the data."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests.e2e.processes import Process, free_port

pytestmark = pytest.mark.postgres


def _postgres_running_in(data_dir: Path) -> bool:
    for proc in psutil.process_iter(attrs=["name", "cmdline"]):
        if proc.info["name"] == "postgres" and str(data_dir) in " ".join(proc.info["cmdline"] or []):
            return True
    return False


def _wait_gone(data_dir: Path, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _postgres_running_in(data_dir):
            return True
        time.sleep(0.1)
    return False


def test_serve_on_the_embedded_database_then_reuse_it(tmp_path: Path) -> None:
    data_dir = tmp_path / "pg"
    port = free_port()
    env = {"APP_ENV": "development", "EMBEDDED_PG_DIR": str(data_dir), "PORT": str(port), "HOST": "127.0.0.1"}
    base = f"http://127.0.0.1:{port}"

    first = Process(["serve"], env, tmp_path / "first.log")
    try:
        assert first.wait_http(f"{base}/api/health").json() == {"status": "ok"}
        categories = httpx.get(f"{base}/api/categories").json()
        assert any(c["slug"] == "tractores" for c in categories)
        assert len(httpx.get(f"{base}/api/provinces").json()) == 24
        assert httpx.get(f"{base}/schema/openapi.json").json()["openapi"].startswith("3.1")
    finally:
        assert first.stop() == 0, first.output()[-2000:]
    assert "embedded PostgreSQL created" in first.output()
    assert _wait_gone(data_dir), "the embedded PostgreSQL outlived the app"

    second = Process(["serve"], env, tmp_path / "second.log")
    try:
        second.wait_http(f"{base}/api/health")
        assert httpx.get(f"{base}/api/categories").json() == categories
    finally:
        assert second.stop() == 0, second.output()[-2000:]
    output = second.output()
    assert "embedded PostgreSQL reused" in output
    assert "Traceback" not in output
    assert _wait_gone(data_dir)
