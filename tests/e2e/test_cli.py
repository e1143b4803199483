"""Every operator command of the CLI as a real subprocess on a real database: what it prints, its
exit status, and that a failure is one line on stderr, never a traceback."""

from __future__ import annotations

import os
import subprocess
import uuid

import asyncpg

from tests.conftest import PgDatabase
from tests.e2e.processes import SCRIPT, free_port


def _env(database: PgDatabase) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS", "DATABASE", "APP_"))}
    return keep | {
        "APP_ENV": "test",
        "APP_NAME": f"rural24-cli-{uuid.uuid4().hex[:8]}",
        "DATABASE_URL": database.primary_url,
        "JWT_SECRET": "cli-secret-" + "x" * 40,
        "EMAIL_URL": "console://",
    }


def run(database: PgDatabase, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *args], env=_env(database), capture_output=True, text=True, timeout=120, check=False
    )


def assert_one_line_failure(result: subprocess.CompletedProcess[str], command: str) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
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

    seeded = run(database, "seed", "--ads", "20", "--users", "10", "--no-progress")
    assert seeded.returncode == 0, seeded.stderr
    assert "seeded 10 users and 20 ads" in seeded.stdout

    promoted = run(database, "promote-admin", "demo1@rural24.test")
    assert promoted.returncode == 0, promoted.stderr
    assert "demo1@rural24.test is now an admin" in promoted.stdout
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
