"""Every operator command of the CLI as a real subprocess on a real database: what it prints, its
exit status, and that a failure is one line on stderr, never a traceback."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
import uuid
from pathlib import Path

import asyncpg
import psutil
import pytest

from infrastructure.jobs import build_queue
from infrastructure.settings import load_settings
from tests.conftest import PgDatabase
from tests.e2e.processes import SCRIPT, Process, free_port


def _env(database: PgDatabase) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS", "DATABASE", "APP_"))}
    return keep | {
        "APP_ENV": "test",
        "APP_NAME": f"rural24-cli-{uuid.uuid4().hex[:8]}",
        "DATABASE_URL": database.primary_url,
        "JWT_SECRET": "cli-secret-" + "x" * 40,
        "EMAIL_URL": "console://",
    }


PRODUCTION = {
    "APP_ENV": "production",
    "FRONTEND_URL": "https://rural24.com.ar",
    "EMAIL_URL": "smtp://smtp.example.com:25",
    "MEDIA_STORAGE_URL": "s3://rural24-media/ads",
}
"""Production settings that pass validation (no server is reached before the refusals tested)."""


def run(database: PgDatabase, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *args], env=_env(database) | extra, capture_output=True, text=True, timeout=120, check=False
    )


def assert_one_line_failure(result: subprocess.CompletedProcess[str], command: str, status: int = 1) -> str:
    assert result.returncode == status, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"rural24 {command}: "), lines
    return lines[0]


def test_version() -> None:
    result = subprocess.run([str(SCRIPT), "--version"], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0
    assert result.stdout.startswith("rural24, version ")


async def test_migrate_seed_promote_and_emails(database: PgDatabase) -> None:
    migrated = run(database, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert "migrated: 24 provinces" in migrated.stdout
    assert migrated.stderr == ""  # no library chatter (alembic's INFO lines) unless --debug

    seeded = run(database, "seed", "--ads", "20", "--users", "10", "--no-progress")
    assert seeded.returncode == 0, seeded.stderr
    assert "seeded 10 users and 20 ads" in seeded.stdout

    promoted = run(database, "promote-admin", "demo1@rural24.test")
    assert promoted.returncode == 0, promoted.stderr
    assert "demo1@rural24.test is now an admin" in promoted.stdout
    assert promoted.stderr == ""  # the sessions it ends are ended without a warning
    connection = await asyncpg.connect(database.primary_url.replace("+asyncpg", ""))
    try:
        role = await connection.fetchval("SELECT role FROM users WHERE email = 'demo1@rural24.test'")
        assert role == "admin"
        await connection.execute(
            "INSERT INTO email_deliveries (id, kind, dedupe_key, to_address, subject, body, status, attempts, "
            "created_at, updated_at) VALUES (gen_random_uuid(), 'test', 'cli-test', 'a@b.test', 's', 'b', "
            "'failed', 3, now(), now())"
        )
    finally:
        await connection.close()

    failed = run(database, "emails", "--status", "failed")
    assert failed.returncode == 0, failed.stderr
    assert "a@b.test" in failed.stdout
    assert failed.stdout.strip().endswith("1 failed email(s)")


def test_promoting_an_unknown_email_is_one_line(database: PgDatabase) -> None:
    line = assert_one_line_failure(run(database, "promote-admin", "nobody@rural24.test"), "promote-admin")
    assert "nobody@rural24.test" in line


def test_doctor_without_a_server_is_one_line(database: PgDatabase) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    line = assert_one_line_failure(run(database, "doctor", "--url", url, "--seconds", "1"), "doctor")
    assert url in line


def test_emails_with_the_database_down_is_one_line(database: PgDatabase) -> None:
    down = PgDatabase(database.name, f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/none", "")
    assert_one_line_failure(run(down, "emails"), "emails")


@pytest.mark.parametrize(
    ("args", "extra", "named"),
    [
        (["serve"], {"PORT": "70000"}, "PORT"),
        (["serve", "--port", "70000"], {}, "--port"),
        (["worker"], {"MEDIA_STORAGE_URL": "ftp://files/media"}, "MEDIA_STORAGE_URL"),
        (["migrate"], {"DATABASE_POOLER": "transaction"}, "DATABASE_DIRECT_URL"),
        (["worker"], {"REDIS_ENABLED": "true", "REDIS_URL": "redis+sentinel://:pw@s1:26379"}, "REDIS_URL"),
    ],
)
def test_a_bad_setting_or_option_is_one_line_before_anything_starts(
    database: PgDatabase, args: list[str], extra: dict[str, str], named: str
) -> None:
    line = assert_one_line_failure(run(database, *args, **extra), args[0], status=2)
    assert named in line


def test_serve_refuses_reload_in_production(database: PgDatabase) -> None:
    line = assert_one_line_failure(run(database, "serve", "--reload", **PRODUCTION), "serve", status=2)
    assert "--reload" in line


def test_serve_refuses_several_workers_without_redis_in_production(database: PgDatabase) -> None:
    line = assert_one_line_failure(run(database, "serve", "--workers", "2", **PRODUCTION), "serve", status=2)
    assert "REDIS_ENABLED" in line


def test_serve_reload_restarts_the_workers_on_a_change(database: PgDatabase, tmp_path: Path) -> None:
    """``serve --reload`` in development: a saved file respawns granian's worker, which answers
    again; SIGTERM still ends everything with status 0."""
    watched = tmp_path / "src"
    watched.mkdir()
    port = free_port()
    url = f"http://127.0.0.1:{port}/api/health"
    server = Process(["serve", "--reload-dir", str(watched)], _env(database) | {"PORT": str(port)}, tmp_path / "log")
    try:
        assert server.wait_http(url).status_code == 200
        before = {child.pid for child in psutil.Process(server.process.pid).children(recursive=True)}
        assert before, "granian runs no worker process"
        deadline = time.monotonic() + 60
        saves = 0
        while before & {child.pid for child in psutil.Process(server.process.pid).children(recursive=True)}:
            assert server.process.poll() is None, server.output()[-3000:]
            assert time.monotonic() < deadline, "no reload after the change:\n" + server.output()[-3000:]
            if saves % 25 == 0:  # saved again every 5 s: granian may start watching after it answers
                (watched / "changed.py").write_text(f"VALUE = {saves}\n")
            saves += 1
            time.sleep(0.2)
        assert server.wait_http(url).status_code == 200  # the new worker serves
    finally:
        status = server.stop(timeout=30)
    assert status == 0, server.output()[-3000:]
    assert "Traceback" not in server.output()


async def test_worker_registers_then_stops_cleanly_on_sigterm(database: PgDatabase, tmp_path: Path) -> None:
    """The worker as operators run it: it shows up in the queue's worker list (its heartbeat, what
    the queue dashboard reads) and a SIGTERM (a deploy, docker stop) ends it with status 0."""
    env = _env(database)
    queue = build_queue(load_settings(env), database.primary_url)
    await queue.connect()
    worker = Process(["worker", "--concurrency", "1"], env, tmp_path / "worker.log")
    try:
        deadline = time.monotonic() + 60
        workers: dict[str, object] = {}
        while not workers:
            assert worker.process.poll() is None, worker.output()[-3000:]
            assert time.monotonic() < deadline, "the worker never registered:\n" + worker.output()[-3000:]
            workers = dict((await queue.info()).get("workers") or {})
            if not workers:
                await asyncio.sleep(0.2)
    finally:
        status = await asyncio.to_thread(worker.stop, 30)
        await queue.disconnect()
    assert status == 0, worker.output()[-3000:]
    assert "Traceback" not in worker.output()


async def test_redispatch_jobs_puts_recently_dispatched_jobs_back_in_the_outbox(database: PgDatabase) -> None:
    """After a queue lost its jobs (Redis restarted empty): the outbox still holds them for 7 days."""
    connection = await asyncpg.connect(database.primary_url.replace("+asyncpg", ""))
    try:
        for key, age in (("recent", "10 minutes"), ("old", "3 hours")):
            await connection.execute(
                "INSERT INTO job_outbox (id, function, job_key, kwargs, run_after, dispatched_at, attempts, "
                "created_at, updated_at) VALUES (gen_random_uuid(), 'send_email', $1, '{}'::jsonb, now(), "
                f"now() - interval '{age}', 1, now(), now())",
                key,
            )
        redispatched = run(database, "redispatch-jobs", "--since", "1h")
        assert redispatched.returncode == 0, redispatched.stderr
        assert redispatched.stdout.startswith("1 job(s) back in the outbox")
        pending = await connection.fetch("SELECT job_key FROM job_outbox WHERE dispatched_at IS NULL")
        assert [row["job_key"] for row in pending] == ["recent"]
    finally:
        await connection.close()
    for bad in ("8d", "soon"):
        refused = run(database, "redispatch-jobs", "--since", bad)
        assert refused.returncode == 2
        assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
        assert "Traceback" not in refused.stderr
