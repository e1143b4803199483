"""The logs of real `rural24 serve` and `rural24 worker` processes in production mode: every line
of their output is one JSON object; a request's lines, its access line and the lines of the job
it queued carry its request id; a 500 is one structured record with its traceback; LOG_LEVEL
decides what is written."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import PgDatabase
from tests.e2e.processes import Process, free_port

pytestmark = pytest.mark.postgres

PASSWORD = "ganado-2026!"  # a test user's: it must never reach the logs


def production_env(database: PgDatabase, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "APP_ENV": "production",
        "APP_NAME": f"rural24-logs-{uuid.uuid4().hex[:6]}",
        "DATABASE_URL": database.primary_url,
        "JWT_SECRET": "logs-secret-" + "x" * 40,
        "FRONTEND_URL": "https://rural24.test",
        "EMAIL_URL": "console://",
        "ALLOW_CONSOLE_EMAIL": "true",
        "MEDIA_STORAGE_URL": f"file://{tmp_path / 'media'}",
        "ALLOW_LOCAL_MEDIA": "true",
        "WORKER_METRICS_PORT": "0",
        "HOST": "127.0.0.1",
        "LOG_LEVEL": "info",
        **extra,
    }


def json_lines(process: Process) -> list[dict[str, Any]]:
    """Every line of the process's stdout and stderr, each of which must be one JSON object (a
    line still being written, with no newline yet, waits for the next look)."""
    output = process.output()
    records = []
    for line in output[: output.rfind("\n") + 1].splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            pytest.fail(f"not a JSON line: {line!r}")
        assert isinstance(record, dict), line
        records.append(record)
    return records


def wait_for_line(
    process: Process, wanted: dict[str, Any], timeout: float = 30.0, event_prefix: str = ""
) -> list[dict[str, Any]]:
    """Poll the process's output (bounded) until a line has every field of ``wanted`` (and an
    ``event`` starting with ``event_prefix``)."""
    deadline = time.monotonic() + timeout
    while True:
        records = json_lines(process)
        if any(
            all(record.get(k) == v for k, v in wanted.items()) and str(record.get("event", "")).startswith(event_prefix)
            for record in records
        ):
            return records
        if process.process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"no line with {wanted}:\n{process.output()[-3000:]}")
        time.sleep(0.1)


@pytest.fixture
def server(database: PgDatabase, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[Process, str]]:
    extra: dict[str, str] = getattr(request, "param", {})
    port = free_port()
    env = production_env(database, tmp_path, PORT=str(port), **extra)
    process = Process(["serve"], env, tmp_path / "serve.log")
    try:
        process.wait_http(f"http://127.0.0.1:{port}/api/health")
        yield process, f"http://127.0.0.1:{port}"
    finally:
        process.stop()


async def _drop_provinces(database: PgDatabase) -> None:
    """A real fault: the table GET /api/provinces reads is gone (nothing has cached it yet)."""
    connection = await asyncpg.connect(database.primary_url.replace("+asyncpg", ""))
    try:
        await connection.execute("DROP TABLE provinces CASCADE")
    finally:
        await connection.close()


def _one(records: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    found = [r for r in records if all(r.get(k) == v for k, v in fields.items())]
    assert len(found) == 1, (fields, records)
    return found[0]


async def test_serve_and_worker_write_json_lines_carrying_the_request_id(
    server: tuple[Process, str], database: PgDatabase, tmp_path: Path
) -> None:
    process, base = server
    email = f"{uuid.uuid4().hex[:8]}@chacra.com.ar"
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        categories = await client.get("/api/categories", headers={"X-Request-ID": "cat-1"})
        generated = await client.get("/api/categories")
        unrouted = await client.get("/api/nope", params={"token": "query-secret"})
        registered = await client.post(
            "/api/auth/register",
            json={"email": email, "password": PASSWORD, "name": "Rosa"},
            headers={"X-Request-ID": "reg-1"},
        )
        await _drop_provinces(database)
        failed = await client.get("/api/provinces", headers={"X-Request-ID": "boom-1"})

    assert categories.status_code == 200
    assert categories.headers["x-request-id"] == "cat-1"
    generated_id = generated.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{24}", generated_id)
    assert unrouted.status_code == 404
    assert registered.status_code == 201, registered.text
    assert failed.status_code == 500
    assert failed.headers["content-type"].startswith("application/problem+json")
    assert failed.json()["status"] == 500
    assert failed.headers["x-request-id"] == "boom-1"

    records = wait_for_line(process, {"logger": "rural24.access", "request_id": "boom-1"})
    assert any(r["logger"] == "_granian" for r in records)  # granian's own lines are JSON too
    access = _one(records, logger="rural24.access", request_id="cat-1")
    assert access["level"] == "info"
    assert access["event"] == "GET /api/categories 200"
    assert (access["method"], access["path"], access["route"], access["status"]) == (
        "GET",
        "/api/categories",
        "/api/categories",
        200,
    )
    assert access["client"] == "127.0.0.1"
    assert isinstance(access["duration_ms"], float)
    assert access["duration_ms"] >= 0
    assert access["timestamp"].endswith("Z")
    assert _one(records, logger="rural24.access", request_id=generated_id)["status"] == 200
    assert _one(records, logger="rural24.access", path="/api/nope")["route"] is None
    assert _one(records, logger="rural24.access", request_id="reg-1")["route"] == "/api/auth/register"
    # the registration's own lines (the welcome email queued) carry its id
    assert any(r["logger"] == "saq" and r.get("request_id") == "reg-1" for r in records), records

    error = _one(records, level="error")
    assert error["request_id"] == "boom-1"
    assert (error["status"], error["method"], error["path"]) == (500, "GET", "/api/provinces")
    (exception,) = error["exception"]
    assert exception["exc_type"] == "UndefinedTableError"
    assert "provinces" in exception["exc_value"]
    assert exception["frames"]
    assert all({"filename", "lineno", "name"} <= set(frame) for frame in exception["frames"])
    assert _one(records, logger="rural24.access", request_id="boom-1")["status"] == 500

    # The worker takes the welcome email the registration queued: its lines carry reg-1.
    worker_env = production_env(database, tmp_path)
    worker = Process(["worker"], worker_env, tmp_path / "worker.log")
    try:
        lines = wait_for_line(worker, {"logger": "saq", "job": "send_email", "request_id": "reg-1"})
        lines = wait_for_line(worker, {"logger": "rural24.emails", "request_id": "reg-1"})
        # SAQ writes its "Finished" line after the job returns: stopping before it raced
        wait_for_line(worker, {"logger": "saq", "job": "send_email"}, event_prefix="Finished")
    finally:
        worker.stop()
    lines = json_lines(worker)  # up to the last line it wrote, shutdown included
    job_lines = [r for r in lines if r.get("job") == "send_email"]
    assert job_lines
    assert all(r.get("request_id") == "reg-1" for r in job_lines), job_lines
    assert any(r["event"].startswith("Finished") for r in job_lines), job_lines
    assert not any(r["level"] == "error" for r in lines), lines

    output = process.output() + worker.output()
    assert PASSWORD not in output
    assert "query-secret" not in output


@pytest.mark.parametrize("server", [{"LOG_LEVEL": "warning"}], indirect=True)
async def test_log_level_warning_drops_info_and_access_lines(server: tuple[Process, str], database: PgDatabase) -> None:
    process, base = server
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        assert (await client.get("/api/categories", headers={"X-Request-ID": "quiet-1"})).status_code == 200
        await _drop_provinces(database)
        assert (await client.get("/api/provinces", headers={"X-Request-ID": "loud-1"})).status_code == 500
    records = wait_for_line(process, {"level": "error", "request_id": "loud-1"})
    assert not [r for r in records if r["level"] in ("debug", "info")], records
    assert not any(r.get("request_id") == "quiet-1" for r in records)


@pytest.mark.parametrize("server", [{"DB_ECHO": "true"}], indirect=True)
async def test_db_echo_writes_statements_as_json_lines_without_their_values(server: tuple[Process, str]) -> None:
    process, base = server
    email = f"{uuid.uuid4().hex[:8]}@echo.com.ar"
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        registered = await client.post(
            "/api/auth/register",
            json={"email": email, "password": PASSWORD, "name": "Eco"},
            headers={"X-Request-ID": "echo-1"},
        )
    assert registered.status_code == 201, registered.text
    records = wait_for_line(process, {"logger": "rural24.access", "request_id": "echo-1"})
    statements = [r for r in records if r["logger"].startswith("sqlalchemy.engine")]
    assert any("INSERT INTO users" in r["event"] for r in statements), statements
    assert all(r.get("request_id") == "echo-1" for r in statements if "INSERT INTO users" in r["event"])
    output = process.output()
    # each statement once (SQLAlchemy's own echo handler would add a plain-text copy)
    assert output.count("INSERT INTO users") == sum("INSERT INTO users" in r["event"] for r in statements)
    assert email not in output
    assert PASSWORD not in output
