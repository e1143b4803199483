"""Ad images: the upload route (memory and Redis modes) and the image job run in-process."""

from __future__ import annotations

import dataclasses
import io
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from PIL import Image
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.shared.unit_of_work import SEARCH, ad_key
from infrastructure.database.reads import lsn_to_int
from infrastructure.generations import Generations, RedisGenerations
from infrastructure.jobs import build_queue, relay_outbox
from infrastructure.media import InvalidMediaKey, LocalMediaStorage, MediaNotFound, MediaStorage, build_media_storage
from infrastructure.settings import Settings, SettingsError
from infrastructure.unit_of_work import Writes
from rural24.ads.image_jobs import process_ad_image, purge_media
from rural24.services import Services, build_services, running_services
from tests.conftest import PgDatabase, assert_problem, make_settings
from tests.e2e.processes import free_port

PASSWORD = "alfalfa-y-soja-2026"
MiB = 1024 * 1024


@pytest.fixture
def media_root(tmp_path: Path) -> Path:
    return tmp_path / "media"


@pytest.fixture
def settings(mode: str, database: PgDatabase, request: pytest.FixtureRequest, media_root: Path) -> Settings:
    """The conftest's settings, with the media in this test's own folder."""
    redis_url = request.getfixturevalue("redis_url") if mode == "redis" else None
    return make_settings(database, redis_url, MEDIA_STORAGE_URL=f"file://{media_root}")


@pytest.fixture
async def generations(client: AsyncTestClient[Litestar], settings: Settings) -> AsyncIterator[Generations]:
    """The generations the app under test reads, usable from this test's event loop (the test client
    runs the app in a loop of its own: the app's Redis client cannot be used from here)."""
    if not settings.redis.enabled:
        yield Services.of(client.app.state).generations  # in memory: the app's own
        return
    client = Redis.from_url(settings.redis.url)
    yield RedisGenerations(client, settings.app.name)
    await client.aclose()


def bumping(services: Services, generations: Generations) -> Services:
    """``services`` whose writes bump ``generations``."""

    async def current_lsn() -> int:
        return lsn_to_int(
            str(await services.read_side.on_primary().fetchval("SELECT pg_current_wal_insert_lsn()::text"))
        )

    writes = Writes(
        session_maker=services.database.create_session_maker(),
        generations=generations,
        jobs=services.jobs,
        current_lsn=current_lsn,
    )
    return dataclasses.replace(services, generations=generations, writes=writes)


@pytest.fixture
async def worker(settings: Settings, generations: Generations) -> AsyncIterator[Services]:
    """The worker's services, built in this test's loop as ``rural24 worker`` builds them; their
    writes bump the generations the app under test reads (as through Redis between processes)."""
    async with running_services(build_services(settings)) as services:
        yield bumping(services, generations)


# -- helpers -----------------------------------------------------------------------------------


async def seller(client: AsyncTestClient[Litestar]) -> tuple[str, dict[str, str]]:
    body = {"email": f"{uuid.uuid4().hex[:10]}@campo.com.ar", "password": PASSWORD, "name": "Juan Pérez"}
    response = await client.post("/api/auth/register", json=body)
    assert response.status_code == 201, response.text
    registered = response.json()
    return registered["user"]["id"], {"Authorization": f"Bearer {registered['token']}"}


async def insert_ad(db: asyncpg.Connection, owner_id: str) -> uuid.UUID:
    category = await db.fetchval("SELECT id FROM categories WHERE slug = 'tractores'")
    ad_id: uuid.UUID = await db.fetchval(
        "INSERT INTO ads (id, owner_id, category_id, title, province_code, locality, expires_at, created_at, "
        "updated_at) VALUES (gen_random_uuid(), $1, $2, 'Tractor Zanello 4200', 'cordoba', 'Río Cuarto', "
        "now() + interval '30 days', now(), now()) RETURNING id",
        uuid.UUID(owner_id),
        category,
    )
    return ad_id


def png(size: tuple[int, int] = (640, 480)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (34, 139, 34)).save(buffer, "PNG")
    return buffer.getvalue()


def jpeg_with_gps(size: tuple[int, int] = (1600, 1200)) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "Deere Camera"  # Make
    exif[0x0132] = "2026:03:01 10:00:00"  # DateTime
    exif[0x8825] = {1: "S", 2: (31.0, 25.0, 12.0), 3: "W", 4: (64.0, 11.0, 0.0)}  # GPS: Córdoba
    buffer = io.BytesIO()
    Image.new("RGB", size, (180, 140, 60)).save(buffer, "JPEG", exif=exif.tobytes(), quality=90)
    return buffer.getvalue()


async def upload(
    client: AsyncTestClient[Litestar], ad_id: object, headers: dict[str, str], data: bytes, name: str = "foto.png"
) -> Any:
    content_type = {"png": "image/png", "jpg": "image/jpeg"}.get(name.rsplit(".", 1)[-1], "application/octet-stream")
    return await client.post(f"/api/ads/{ad_id}/images", files={"file": (name, data, content_type)}, headers=headers)


async def image_rows(db: asyncpg.Connection, ad_id: uuid.UUID) -> list[asyncpg.Record]:
    return list(await db.fetch("SELECT * FROM ad_images WHERE ad_id = $1 ORDER BY position", ad_id))


def job_context(services: Services, media: MediaStorage | None = None) -> Any:
    """What the worker puts in a job's context: its services (with another media storage)."""
    return {"services": services if media is None else dataclasses.replace(services, media=media)}


# -- the upload route --------------------------------------------------------------------------


async def test_png_upload_is_accepted_and_processing(
    client: AsyncTestClient[Litestar], db: asyncpg.Connection, media_root: Path, settings: Settings
) -> None:
    owner, headers = await seller(client)
    ad_id = await insert_ad(db, owner)
    data = png()

    response = await upload(client, ad_id, headers, data, name="IMG_0001.PNG")

    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "processing"
    image_id = uuid.UUID(body["imageId"])
    assert image_id.version == 7
    (row,) = await image_rows(db, ad_id)
    assert row["id"] == image_id
    assert (row["status"], row["position"], row["content_type"], row["byte_size"]) == (
        "processing",
        0,
        "image/png",
        len(data),
    )
    assert row["original_key"] == f"originals/{ad_id}/{image_id}"
    assert (media_root / row["original_key"]).read_bytes() == data
    assert await db.fetchval("SELECT revision FROM ads WHERE id = $1", ad_id) == 2  # the detail changed
    queue = build_queue(settings, settings.db.url or "")
    await queue.connect()
    try:
        queued = await queue.job(f"image:{image_id}")
    finally:
        await queue.disconnect()
    assert queued is not None
    assert queued.function == "process_ad_image"
    assert queued.kwargs == {"image_id": str(image_id)}


async def test_a_text_file_named_jpg_is_refused(
    client: AsyncTestClient[Litestar], db: asyncpg.Connection, media_root: Path
) -> None:
    owner, headers = await seller(client)
    ad_id = await insert_ad(db, owner)

    response = await upload(client, ad_id, headers, b"Vendo tractor, llamar al 351...\n" * 10, name="tractor.jpg")

    body = assert_problem(response, 422)
    assert body["detail"] == "not a JPEG, PNG or WebP image"
    assert body["errors"][0]["field"] == "file"
    assert await image_rows(db, ad_id) == []
    assert not (media_root / "originals").exists()


async def test_the_eleventh_image_is_refused_failed_ones_do_not_count(
    client: AsyncTestClient[Litestar], db: asyncpg.Connection
) -> None:
    owner, headers = await seller(client)
    ad_id = await insert_ad(db, owner)
    for position in range(11):
        status = "failed" if position in (3, 7) else ("ready" if position % 2 else "processing")
        await db.execute(
            "INSERT INTO ad_images (id, ad_id, position, status, original_key, content_type, byte_size, "
            "created_at, updated_at) VALUES (gen_random_uuid(), $1, $2, $3, 'originals/x/y', 'image/png', 1, "
            "now(), now())",
            ad_id,
            position,
            status,
        )

    tenth = await upload(client, ad_id, headers, png((50, 50)))  # 9 kept + 2 failed: one more fits
    assert tenth.status_code == 202, tenth.text
    assert (await image_rows(db, ad_id))[-1]["position"] == 11

    body = assert_problem(await upload(client, ad_id, headers, png((50, 50))), 422)
    assert "at most 10 images" in body["detail"]
    assert len(await image_rows(db, ad_id)) == 12


async def test_another_users_ad_looks_missing_and_nothing_changes(
    client: AsyncTestClient[Litestar], db: asyncpg.Connection, media_root: Path
) -> None:
    owner, _ = await seller(client)
    _, stranger = await seller(client)
    ad_id = await insert_ad(db, owner)

    assert_problem(await upload(client, ad_id, stranger, png()), 404)
    assert_problem(await upload(client, uuid.uuid4(), stranger, png()), 404)  # unknown: the same answer
    await db.execute("UPDATE ads SET deleted_at = now() WHERE id = $1", ad_id)
    assert_problem(await upload(client, ad_id, stranger, png()), 404)

    assert await image_rows(db, ad_id) == []
    assert await db.fetchval("SELECT revision FROM ads WHERE id = $1", ad_id) == 1
    assert not media_root.exists()
    assert (await client.post(f"/api/ads/{ad_id}/images", files={"file": ("a.png", png())})).status_code == 401


async def test_a_deleted_ad_takes_no_images(client: AsyncTestClient[Litestar], db: asyncpg.Connection) -> None:
    owner, headers = await seller(client)
    ad_id = await insert_ad(db, owner)
    await db.execute("UPDATE ads SET deleted_at = now() WHERE id = $1", ad_id)
    assert_problem(await upload(client, ad_id, headers, png()), 404)
    assert await image_rows(db, ad_id) == []


async def test_oversized_uploads_are_413(client: AsyncTestClient[Litestar], db: asyncpg.Connection) -> None:
    owner, headers = await seller(client)
    ad_id = await insert_ad(db, owner)
    header = png((4, 4))

    # just over 10 MiB: inside the body limit (which leaves room for the multipart framing), refused by size
    just_over = header + b"\x00" * (10 * MiB + 1 - len(header))
    body = assert_problem(await upload(client, ad_id, headers, just_over), 413)
    assert "10 MiB" in body["detail"]
    # far over: refused by the route's body limit before the form is parsed
    assert_problem(await upload(client, ad_id, headers, header + b"\x00" * (12 * MiB)), 413)
    assert await image_rows(db, ad_id) == []


async def test_json_routes_keep_the_json_body_limit(client: AsyncTestClient[Litestar]) -> None:
    # the upload limit is the image route's only: JSON routes keep MAX_JSON_BODY (64 KiB)
    big_json = {"email": "x@campo.com.ar", "password": "p" * (70 * 1024), "name": "X"}
    assert_problem(await client.post("/api/auth/register", json=big_json), 413)


async def test_a_body_without_the_file_part_is_a_client_error(
    client: AsyncTestClient[Litestar], db: asyncpg.Connection
) -> None:
    owner, headers = await seller(client)
    ad_id = await insert_ad(db, owner)
    response = await client.post(f"/api/ads/{ad_id}/images", files={"photo": ("a.png", png())}, headers=headers)
    assert 400 <= response.status_code < 500
    assert response.headers["content-type"].startswith("application/problem+json")
    assert await image_rows(db, ad_id) == []


async def test_the_route_is_in_the_openapi_document(client: AsyncTestClient[Litestar]) -> None:
    document = (await client.get("/schema/openapi.json")).json()
    operation = document["paths"]["/api/ads/{id}/images"]["post"]
    assert "multipart/form-data" in operation["requestBody"]["content"]
    accepted = operation["responses"]["202"]["content"]["application/json"]["schema"]
    schema = document["components"]["schemas"][accepted["$ref"].rsplit("/", 1)[-1]]
    assert set(schema["properties"]) == {"imageId", "status"}


# -- the job, in-process -----------------------------------------------------------------------


async def test_job_writes_metadata_free_webp_sizes_and_bumps_the_ad(
    client: AsyncTestClient[Litestar],
    db: asyncpg.Connection,
    worker: Services,
    media_root: Path,
    generations: Generations,
) -> None:
    owner, headers = await seller(client)
    ad_id = await insert_ad(db, owner)
    response = await upload(client, ad_id, headers, jpeg_with_gps(), name="DSC_4521.jpg")
    assert response.status_code == 202, response.text
    image_id = response.json()["imageId"]
    revision_before = await db.fetchval("SELECT revision FROM ads WHERE id = $1", ad_id)
    generations_before = await generations.get(ad_key(ad_id), SEARCH)
    before = await client.get(f"/api/ads/{ad_id}")  # public and cached from here on
    assert before.status_code == 200, before.text
    assert [(i["id"], i["status"], i["urls"]) for i in before.json()["images"]] == [(image_id, "processing", {})]

    assert await process_ad_image(job_context(worker), image_id=image_id) == "ready"

    row = (await image_rows(db, ad_id))[0]
    assert row["status"] == "ready"
    assert row["error"] is None
    sizes = row["sizes"] if isinstance(row["sizes"], dict) else __import__("json").loads(row["sizes"])
    assert sizes == {"1200": f"ads/{ad_id}/{image_id}-1200.webp", "400": f"ads/{ad_id}/{image_id}-400.webp"}
    for slot, key in sizes.items():
        data = (media_root / key).read_bytes()
        with Image.open(io.BytesIO(data)) as out:
            assert out.format == "WEBP"
            assert out.size == (int(slot), int(slot) * 3 // 4)
            assert not out.getexif()
            assert "exif" not in out.info
            assert "xmp" not in out.info
        assert b"Deere" not in data
        assert b"GPS" not in data
    assert (media_root / row["original_key"]).exists()  # kept, never served
    assert await db.fetchval("SELECT revision FROM ads WHERE id = $1", ad_id) == revision_before + 1
    generations_after = await generations.get(ad_key(ad_id), SEARCH)
    assert all(after > before for after, before in zip(generations_after, generations_before, strict=True))

    # the cached detail moved on with the generations: the next read shows the sizes, with a new ETag
    after = await client.get(f"/api/ads/{ad_id}")
    assert after.status_code == 200, after.text
    assert after.headers["etag"] != before.headers["etag"]
    assert after.json()["images"] == [
        {"id": image_id, "status": "ready", "urls": {slot: f"/media/{key}" for slot, key in sizes.items()}}
    ]

    # idempotent: a second run (a retry, a duplicate) changes nothing
    assert await process_ad_image(job_context(worker), image_id=image_id) == "ready"
    assert await db.fetchval("SELECT revision FROM ads WHERE id = $1", ad_id) == revision_before + 1

    # served publicly under /media (the optimized sizes only, never the original)
    served = await client.get(f"/media/{sizes['400']}")
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/webp"
    assert "immutable" in served.headers["cache-control"]
    assert (await client.get(f"/media/{row['original_key']}")).status_code == 404
    assert (await client.get("/media/ads/../originals/x")).status_code == 404


async def test_job_marks_a_corrupt_png_failed_without_raising(
    client: AsyncTestClient[Litestar],
    db: asyncpg.Connection,
    worker: Services,
    media_root: Path,
    generations: Generations,
) -> None:
    owner, headers = await seller(client)
    ad_id = await insert_ad(db, owner)
    corrupt = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40  # the right magic, garbage after it
    response = await upload(client, ad_id, headers, corrupt)
    assert response.status_code == 202, response.text  # the route sniffs; the decoder finds out
    image_id = response.json()["imageId"]

    assert await process_ad_image(job_context(worker), image_id=image_id) == "failed"

    row = (await image_rows(db, ad_id))[0]
    assert row["status"] == "failed"
    assert row["error"] in {"not a JPEG, PNG or WebP image", "the image cannot be decoded (OSError)"}
    assert not (media_root / "ads").exists()
    # a failed image does not count: the ad takes another
    assert (await upload(client, ad_id, headers, png())).status_code == 202


async def test_job_on_a_vanished_image_or_original(
    client: AsyncTestClient[Litestar],
    db: asyncpg.Connection,
    worker: Services,
    media_root: Path,
    generations: Generations,
) -> None:
    owner, headers = await seller(client)
    ad_id = await insert_ad(db, owner)
    assert await process_ad_image(job_context(worker), image_id=str(uuid.uuid4())) == "missing"

    image_id = (await upload(client, ad_id, headers, png())).json()["imageId"]
    (media_root / f"originals/{ad_id}/{image_id}").unlink()
    assert await process_ad_image(job_context(worker), image_id=image_id) == "failed"
    assert (await image_rows(db, ad_id))[0]["error"] == "the uploaded original is missing"


async def test_deleting_an_ad_purges_its_image_files_through_the_outbox(
    client: AsyncTestClient[Litestar],
    db: asyncpg.Connection,
    worker: Services,
    media_root: Path,
    generations: Generations,
) -> None:
    owner, headers = await seller(client)
    ad_id = await insert_ad(db, owner)
    ready = (await upload(client, ad_id, headers, png())).json()["imageId"]
    assert await process_ad_image(job_context(worker), image_id=ready) == "ready"
    late = (await upload(client, ad_id, headers, png())).json()["imageId"]  # still processing
    files = sorted(str(p.relative_to(media_root)) for p in media_root.rglob("*") if p.is_file())
    assert len(files) == 4  # two originals, the first one's two sizes

    assert (await client.delete(f"/api/ads/{ad_id}", headers=headers)).status_code == 204
    assert await image_rows(db, ad_id) == []
    job = await db.fetchrow("SELECT function, kwargs FROM job_outbox WHERE job_key = $1", f"purge-media:ad:{ad_id}")
    assert job is not None
    assert job["function"] == "purge_media"
    keys = __import__("json").loads(job["kwargs"])["keys"]
    assert sorted(keys.split("\n")) == files  # both originals and the sizes written so far

    assert await purge_media(job_context(worker), keys=keys) == 4
    # the image still processing finds its row gone and removes what it wrote itself
    assert await process_ad_image(job_context(worker), image_id=late) == "missing"
    assert not [p for p in media_root.rglob("*") if p.is_file()]


# -- the local media storage -------------------------------------------------------------------


async def test_local_media_storage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    storage = LocalMediaStorage(tmp_path / "m")
    await storage.put("ads/a/b-400.webp", b"one", "image/webp")
    await storage.put("ads/a/b-400.webp", b"two", "image/webp")  # replaced atomically
    assert await storage.get("ads/a/b-400.webp") == b"two"
    assert [p.name for p in (tmp_path / "m/ads/a").iterdir()] == ["b-400.webp"]  # no temporary files left
    assert storage.url("ads/a/b-400.webp") == "/media/ads/a/b-400.webp"
    await storage.delete("ads/a/b-400.webp")
    await storage.delete("ads/a/b-400.webp")  # missing is fine
    with pytest.raises(MediaNotFound):
        await storage.get("ads/a/b-400.webp")
    for bad in ("../escape", "/etc/passwd", "ads/../../escape", ".hidden", "a//b"):
        with pytest.raises(InvalidMediaKey):
            await storage.put(bad, b"x", "image/png")
    assert not (tmp_path / "escape").exists()

    (tmp_path / "m" / "link").symlink_to(tmp_path)  # a symlink inside the root cannot lead out of it
    with pytest.raises(InvalidMediaKey):
        await storage.get("link/escape")

    monkeypatch.chdir(tmp_path)
    relative = build_media_storage("file://./media")
    assert isinstance(relative, LocalMediaStorage)
    assert relative.root == tmp_path / "media"
    assert isinstance(build_media_storage(f"file://{tmp_path}/abs"), LocalMediaStorage)
    with pytest.raises(ValueError, match="needs a bucket"):
        build_media_storage("s3://")
    with pytest.raises(ValueError, match="not supported"):
        build_media_storage("ftp://example.com/media")


async def test_media_files_are_outside_the_api_rate_limit(database: PgDatabase, tmp_path: Path) -> None:
    from rural24.app import create_app

    settings = make_settings(database, MEDIA_STORAGE_URL=f"file://{tmp_path}", RATE_LIMIT_API="3/minute")
    await LocalMediaStorage(tmp_path).put("ads/a/b-400.webp", b"RIFF\x00\x00\x00\x00WEBP", "image/webp")
    async with AsyncTestClient(app=create_app(settings)) as client:
        for _ in range(10):  # a page of thumbnails
            response = await client.get("/media/ads/a/b-400.webp")
            assert response.status_code == 200
            assert response.headers["content-type"] == "image/webp"
        assert (await client.get("/api/categories")).status_code == 200  # the API budget is untouched


class BrokenStorage(LocalMediaStorage):
    async def get(self, key: str) -> bytes:
        raise OSError("disk on fire")


async def test_job_failures_are_retried_and_the_last_attempt_marks_the_row(
    client: AsyncTestClient[Litestar],
    db: asyncpg.Connection,
    worker: Services,
    media_root: Path,
    generations: Generations,
) -> None:
    owner, headers = await seller(client)
    ad_id = await insert_ad(db, owner)
    image_id = (await upload(client, ad_id, headers, png())).json()["imageId"]
    ctx = job_context(worker, BrokenStorage(media_root))

    with pytest.raises(OSError, match="disk on fire"):  # raised: SAQ retries it
        await process_ad_image(ctx | {"job": SimpleNamespace(attempts=1, retries=3)}, image_id=image_id)
    assert (await image_rows(db, ad_id))[0]["status"] == "processing"

    with pytest.raises(OSError, match="disk on fire"):  # the last attempt: no image stays processing for ever
        await process_ad_image(ctx | {"job": SimpleNamespace(attempts=3, retries=3)}, image_id=image_id)
    row = (await image_rows(db, ad_id))[0]
    assert (row["status"], row["error"]) == ("failed", "processing failed; upload the image again")

    assert await process_ad_image(ctx, image_id="not-a-uuid") == "missing"


async def test_an_upload_while_the_queue_is_down_is_processed_once_it_returns(
    database: PgDatabase, db: asyncpg.Connection, engine: AsyncEngine, media_root: Path
) -> None:
    from rural24.app import create_app

    nobody_listens = f"redis://127.0.0.1:{free_port()}"  # the queue is down
    down = make_settings(database, MEDIA_STORAGE_URL=f"file://{media_root}", QUEUE_URL=nobody_listens)
    async with AsyncTestClient(app=create_app(down)) as client:
        owner, headers = await seller(client)
        ad_id = await insert_ad(db, owner)
        response = await upload(client, ad_id, headers, png())
    assert response.status_code == 202, response.text  # the upload is kept, its job waits in the outbox
    image_id = response.json()["imageId"]
    (row,) = await image_rows(db, ad_id)
    assert row["status"] == "processing"
    assert (media_root / row["original_key"]).exists()
    waiting = await db.fetchrow("SELECT * FROM job_outbox WHERE job_key = $1", f"image:{image_id}")
    assert waiting is not None
    assert (waiting["function"], waiting["dispatched_at"], waiting["attempts"]) == ("process_ad_image", None, 1)
    assert "ConnectionError" in waiting["last_error"]

    # The queue is back (here the stage-1 queue on PostgreSQL): the worker's relay dispatches the job.
    queue = build_queue(make_settings(database), database.primary_url)
    await queue.connect()
    try:
        assert await relay_outbox(engine, queue, grace=timedelta(0)) == 1
        job = await queue.job(f"image:{image_id}")
        assert job is not None
        assert job.kwargs == {"image_id": image_id}
    finally:
        await queue.disconnect()
    worker_settings = make_settings(database, MEDIA_STORAGE_URL=f"file://{media_root}")
    async with running_services(build_services(worker_settings)) as worker:
        assert await process_ad_image(job_context(worker), **job.kwargs) == "ready"


def test_media_public_url_puts_image_urls_on_a_cdn(database: PgDatabase, tmp_path: Path) -> None:
    """``MEDIA_PUBLIC_URL`` (stage 3's CDN): every image URL the API hands out is ``<it>/<key>``,
    for a local folder (the CDN's origin is the API's ``/media``) and for a bucket (it wins over
    the bucket URL's ``?public_url=``)."""
    from rural24.services import build_services

    key = "ads/a/b-400.webp"
    local = make_settings(
        database, MEDIA_STORAGE_URL=f"file://{tmp_path}", MEDIA_PUBLIC_URL="https://cdn.rural24.com.ar/media"
    )
    assert build_services(local).media.url(key) == f"https://cdn.rural24.com.ar/media/{key}"
    assert (
        build_services(make_settings(database, MEDIA_STORAGE_URL=f"file://{tmp_path}")).media.url(key)
        == f"/media/{key}"
    )
    bucket = build_media_storage(
        "s3://rural24-media/ads?public_url=https://old.example/ads", public_url="https://cdn.rural24.com.ar"
    )
    assert bucket.url(key) == f"https://cdn.rural24.com.ar/{key}"
    with pytest.raises(SettingsError, match="MEDIA_PUBLIC_URL"):
        make_settings(database, MEDIA_PUBLIC_URL="ftp://cdn.rural24.com.ar")
