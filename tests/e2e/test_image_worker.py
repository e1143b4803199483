"""A real `rural24 worker` process writes the optimized sizes of an image uploaded through the app."""

from __future__ import annotations

import asyncio
import errno
import io
import json
import os
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient
from PIL import Image

from domain.ads.images import original_key
from infrastructure.jobs import JOB_DEFAULTS, build_queue
from infrastructure.settings import load_settings
from tests.e2e.processes import Process
from tests.hostile_results import record_fault

pytestmark = pytest.mark.postgres


def _png(size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (34, 139, 34)).save(buffer, "PNG")
    return buffer.getvalue()


async def _ad_of(connection: asyncpg.Connection, owner_id: str) -> uuid.UUID:
    category = await connection.fetchval("SELECT id FROM categories WHERE slug = 'tractores'")
    ad_id: uuid.UUID = await connection.fetchval(
        "INSERT INTO ads (id, owner_id, category_id, title, province_code, locality, expires_at, created_at, "
        "updated_at) VALUES (gen_random_uuid(), $1, $2, 'Cosechadora Vassalli 1550', 'cordoba', 'Marcos Juárez', "
        "now() + interval '30 days', now(), now()) RETURNING id",
        uuid.UUID(owner_id),
        category,
    )
    return ad_id


async def _until_processed(connection: asyncpg.Connection, image_id: str) -> asyncpg.Record:
    while True:
        row = await connection.fetchrow("SELECT status, sizes, error FROM ad_images WHERE id = $1::uuid", image_id)
        if row is not None and row["status"] != "processing":
            return row
        await asyncio.sleep(0.1)


def _sizes(row: asyncpg.Record) -> dict[str, str]:
    sizes = row["sizes"]
    return dict(json.loads(sizes) if isinstance(sizes, str) else sizes)


@pytest.mark.parametrize("queue_backend", ["postgres", "redis"])
async def test_worker_process_writes_the_sizes_the_app_serves(
    queue_backend: str, database: Any, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    from rural24.app import create_app

    media_root = tmp_path / "media"
    env = {
        "APP_ENV": "test",
        "APP_NAME": f"rural24-e2e-{uuid.uuid4().hex[:8]}",  # the app and the worker share generations by name
        "DATABASE_URL": database.primary_url,
        "JWT_SECRET": "x" * 40,
        "MEDIA_STORAGE_URL": f"file://{media_root}",
    }
    if queue_backend == "redis":
        env |= {"REDIS_ENABLED": "true", "REDIS_URL": request.getfixturevalue("redis_url")}
    settings = load_settings(env)
    connection = await asyncpg.connect(database.primary_url.replace("+asyncpg", ""))
    queue = build_queue(settings, database.primary_url)
    await queue.connect()
    worker = Process(["worker", "--concurrency", "2"], env, tmp_path / "worker.log")
    try:
        async with AsyncTestClient(app=create_app(settings)) as client:
            registered = await client.post(
                "/api/auth/register",
                json={"email": f"{uuid.uuid4().hex[:8]}@campo.com.ar", "password": "x" * 12, "name": "Ana"},
            )
            assert registered.status_code == 201, registered.text
            headers = {"Authorization": f"Bearer {registered.json()['token']}"}
            ad_id = await _ad_of(connection, registered.json()["user"]["id"])

            # 1. through the app: the upload queues the job, the worker process takes it
            uploaded = await client.post(
                f"/api/ads/{ad_id}/images",
                files={"file": ("campo.png", _png((1600, 900)), "image/png")},
                headers=headers,
            )
            assert uploaded.status_code == 202, uploaded.text
            image_id = uploaded.json()["imageId"]
            cached = await client.get(f"/api/ads/{ad_id}")
            assert cached.json()["images"][0]["status"] == "processing"

            row = await worker.await_while_running(_until_processed(connection, image_id), timeout=60)
            assert row["status"] == "ready", row["error"]
            sizes = _sizes(row)
            assert set(sizes) == {"1200", "400"}
            for slot, key in sizes.items():
                with Image.open(media_root / key) as out:
                    assert out.format == "WEBP"
                    assert out.size == (int(slot), int(slot) * 9 // 16)

            served = await client.get(f"/media/ads/{ad_id}/{image_id}-400.webp")
            assert served.status_code == 200
            assert served.headers["content-type"] == "image/webp"
            assert served.content == (media_root / sizes["400"]).read_bytes()

            if queue_backend == "redis":
                # stage 2: the worker's generation bump reached the app through Redis: no stale detail
                fresh = await client.get(f"/api/ads/{ad_id}")
                assert fresh.json()["images"][0]["status"] == "ready"
                assert fresh.headers["etag"] != cached.headers["etag"]

        # 2. enqueued directly (original and row written by hand), waiting for the job's result
        second = str(uuid.uuid4())
        (media_root / original_key(ad_id, second)).write_bytes(_png((300, 300)))
        await connection.execute(
            "INSERT INTO ad_images (id, ad_id, position, status, original_key, content_type, byte_size, created_at, "
            "updated_at) VALUES ($1::uuid, $2, 1, 'processing', $3, 'image/png', 1, now(), now())",
            second,
            ad_id,
            original_key(ad_id, second),
        )
        result = await worker.await_while_running(
            queue.apply("process_ad_image", image_id=second, **JOB_DEFAULTS), timeout=60
        )
        assert result == "ready"
        assert (media_root / f"ads/{ad_id}/{second}-400.webp").exists()
    finally:
        assert worker.stop() == 0 or "Traceback" not in worker.output(), worker.output()[-3000:]
        await queue.disconnect()
        await connection.close()
    assert "Traceback" not in worker.output(), worker.output()[-3000:]


def _feed_fifo(path: Path, data: bytes, timeout: float) -> None:
    """Write ``data`` into the FIFO once a reader has opened it (bounded: no reader, no write)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)  # ENXIO while nobody reads
            break
        except OSError as exc:
            if exc.errno != errno.ENXIO or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    try:
        os.set_blocking(fd, True)
        os.write(fd, data)
    finally:
        os.close(fd)


@pytest.mark.parametrize("queue_backend", ["postgres", "redis"])
async def test_a_worker_killed_mid_image_leaves_it_to_the_next_worker(
    queue_backend: str, database: Any, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """The image job as the upload queued it (300 s timeout): its worker dies while reading the
    original (a FIFO nobody writes to yet, so the job is surely mid-way); a second worker finishes
    it once the dead one's heartbeat has lapsed, about 20 s later, not after the timeout."""
    from rural24.app import create_app

    media_root = tmp_path / "media"
    env = {
        "APP_ENV": "test",
        "APP_NAME": f"rural24-e2e-{uuid.uuid4().hex[:8]}",
        "DATABASE_URL": database.primary_url,
        "JWT_SECRET": "x" * 40,
        "MEDIA_STORAGE_URL": f"file://{media_root}",
    }
    if queue_backend == "redis":
        env |= {"REDIS_ENABLED": "true", "REDIS_URL": request.getfixturevalue("redis_url")}
    settings = load_settings(env)
    connection = await asyncpg.connect(database.primary_url.replace("+asyncpg", ""))
    queue = build_queue(settings, database.primary_url)
    await queue.connect()
    try:
        async with AsyncTestClient(app=create_app(settings)) as client:
            registered = await client.post(
                "/api/auth/register",
                json={"email": f"{uuid.uuid4().hex[:8]}@campo.com.ar", "password": "x" * 12, "name": "Ana"},
            )
            assert registered.status_code == 201, registered.text
            ad_id = await _ad_of(connection, registered.json()["user"]["id"])
            picture = _png((1600, 900))
            uploaded = await client.post(
                f"/api/ads/{ad_id}/images",
                files={"file": ("campo.png", picture, "image/png")},
                headers={"Authorization": f"Bearer {registered.json()['token']}"},
            )
        assert uploaded.status_code == 202, uploaded.text
        image_id = uploaded.json()["imageId"]
        original = media_root / original_key(ad_id, image_id)
        original.unlink()
        os.mkfifo(original)  # reading it blocks until the test writes the picture in

        first = Process(["worker"], env, tmp_path / "first.log")
        deadline = time.monotonic() + 30
        # active, and its attempt counted: the worker has started it (not only taken it off the queue)
        while (job := await queue.job(f"image:{image_id}")) is None or (job.status, job.attempts) != ("active", 1):
            assert time.monotonic() < deadline, first.output()[-3000:]
            await asyncio.sleep(0.05)
        os.killpg(first.process.pid, signal.SIGKILL)  # mid-job: blocked reading the original
        killed_at = time.monotonic()
        first.process.wait(10)
        assert (await _image_status(connection, image_id)) == "processing"

        second = Process(["worker"], env, tmp_path / "second.log")
        try:
            # under the job's 300 s timeout by far: only the missed heartbeat frees the job
            await second.await_while_running(asyncio.to_thread(_feed_fifo, original, picture, 60), timeout=65)
            row = await second.await_while_running(_until_processed(connection, image_id), timeout=30)
            deadline = time.monotonic() + 10  # the row is ready a moment before the worker marks the job done
            while (done := await queue.job(f"image:{image_id}")) is not None and done.status == "active":
                assert time.monotonic() < deadline, second.output()[-3000:]
                await asyncio.sleep(0.05)
        finally:
            assert second.stop() == 0 or "Traceback" not in second.output(), second.output()[-3000:]
    finally:
        await queue.disconnect()
        await connection.close()
    record_fault(
        f"Worker SIGKILLed mid image job, a second worker started ({queue_backend} queue)",
        acknowledged=1,
        completed=int(row["status"] == "ready"),
        attempts=done.attempts if done is not None else 0,
        secondsToRecover=round(time.monotonic() - killed_at, 1),
        lost=int(row["status"] != "ready"),
    )
    assert row["status"] == "ready", row["error"]
    assert set(_sizes(row)) == {"1200", "400"}
    assert done is not None
    assert (done.status, done.attempts) == ("complete", 2)  # the killed attempt, then one that finished


async def _image_status(connection: asyncpg.Connection, image_id: str) -> str:
    return str(await connection.fetchval("SELECT status FROM ad_images WHERE id = $1::uuid", image_id))
