"""Ad images: the rules (what may be uploaded, which optimized sizes the job writes) and the two
writes, an upload (:func:`add_image`) and the end of its processing (:func:`finish_image`).

No imaging library here: the image job (``rural24.ads.image_jobs``) decodes with Pillow and follows
:func:`plan_sizes`, then finishes the image through :func:`finish_image`.
"""

from __future__ import annotations

import re
from typing import Literal, Protocol
from uuid import UUID

import msgspec
from sqlalchemy import text

from domain.ads.errors import AdNotFound, InvalidAd
from domain.ads.vocabulary import ImageStatus
from domain.shared.ports import ReadConnection
from domain.shared.unit_of_work import SEARCH, Command, Handler, UnitOfWork, ad_key, user_key

ImageType = Literal["image/jpeg", "image/png", "image/webp"]

MAX_IMAGES_PER_AD = 10
"""Images an ad may hold, counting those still processing (failed ones do not count)."""
MAX_IMAGE_BYTES = 10 * 1024 * 1024
"""Largest original accepted (10 MiB)."""
IMAGE_WIDTHS = (1200, 400)
"""The optimized WebP sizes (slots), by width: the detail view and the thumbnail."""
MAX_SOURCE_PIXELS = 40_000_000
"""Largest decoded original (40 megapixels, a 7300x5500 photo): bigger is refused as a
decompression bomb before its pixels are allocated."""
SNIFF_BYTES = 16
"""Bytes of the file's head that :func:`sniff_image_type` needs."""
INVALID_IMAGE = "not a JPEG, PNG or WebP image"

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_KEY_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def sniff_image_type(head: bytes) -> ImageType | None:
    """The image type by its magic bytes, never by file name or declared content type.

    JPEG ``FF D8 FF``, PNG ``89 50 4E 47 0D 0A 1A 0A``, WebP ``RIFF <size> WEBP``; anything else
    (text, a truncated header, GIF, HEIC …) is ``None``. The bytes after the header are not
    checked here: a file with a valid header and garbage after it is caught by the decoder in the
    image job (the image ends up ``failed``).
    """
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(_PNG_SIGNATURE):
        return "image/png"
    if len(head) >= 12 and head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def image_limit_reached(images_kept: int) -> bool:
    """``images_kept``: the ad's images that are not ``failed``."""
    return images_kept >= MAX_IMAGES_PER_AD


class PlannedSize(msgspec.Struct, frozen=True):
    """One optimized output: the ``slot`` it fills (a width of :data:`IMAGE_WIDTHS`, the key in
    ``ad_images.sizes``) and the pixel size actually written."""

    slot: int
    width: int
    height: int


def plan_sizes(width: int, height: int, slots: tuple[int, ...] = IMAGE_WIDTHS) -> tuple[PlannedSize, ...]:
    """The outputs for an (upright) ``width``x``height`` source, one per slot, aspect ratio kept.

    Never upscales: a slot wider than the source is filled with the source's own width (a 600 px
    photo gives 600 px in the "1200" slot, and 400 px in the "400" slot; a 300 px one gives
    300 px in both). Every slot is always filled, so readers can rely on ``sizes["400"]`` (the
    thumbnail) and ``sizes["1200"]`` existing for every ready image.
    """
    if width <= 0 or height <= 0:
        msg = f"an image has a positive size, not {width}x{height}"
        raise ValueError(msg)
    planned = []
    for slot in slots:
        target = min(slot, width)
        planned.append(PlannedSize(slot, target, max(1, round(height * target / width))))
    return tuple(planned)


def original_key(ad_id: UUID | str, image_id: UUID | str) -> str:
    """Media key of the uploaded original (never served publicly: it may carry EXIF/GPS)."""
    return f"originals/{ad_id}/{image_id}"


def size_key(ad_id: UUID | str, image_id: UUID | str, slot: int) -> str:
    """Media key of one optimized WebP (served under ``/media``)."""
    return f"ads/{ad_id}/{image_id}-{slot}.webp"


def is_valid_key(key: str, max_length: int = 255) -> bool:
    """A media key: ``/``-separated segments of letters, digits, ``.``, ``_`` and ``-`` that start
    with a letter or digit (so no ``..``, no hidden files, no absolute paths, URL-safe as is)."""
    if not key or len(key) > max_length:
        return False
    return all(_KEY_SEGMENT.fullmatch(segment) for segment in key.split("/"))


# -- the upload ---------------------------------------------------------------------------------

PROCESS_JOB = "process_ad_image"
"""The job an upload sets off (``rural24.ads.image_jobs``)."""


class OriginalStore(Protocol):
    """Where uploaded originals are kept (``infrastructure.media.MediaStorage`` is one)."""

    async def put(self, key: str, data: bytes, content_type: str) -> None: ...

    async def delete(self, key: str) -> None: ...


class AddImage(msgspec.Struct, frozen=True):
    """An uploaded file for an ad, to be known as ``image_id``."""

    ad_id: UUID
    image_id: UUID
    content: bytes


_LOCK_AD = text("SELECT owner_id FROM ads WHERE id = :ad_id AND deleted_at IS NULL FOR NO KEY UPDATE")
_COUNT_IMAGES = text(
    "SELECT count(*) FILTER (WHERE status <> 'failed') AS kept, COALESCE(max(position) + 1, 0) AS next_position "
    "FROM ad_images WHERE ad_id = :ad_id"
)
_INSERT_IMAGE = text(
    "INSERT INTO ad_images (id, ad_id, position, status, original_key, content_type, byte_size, sizes, "
    "created_at, updated_at) VALUES (:id, :ad_id, :position, 'processing', :original_key, :content_type, "
    ":byte_size, '{}'::jsonb, :now, :now)"
)
_TOUCH_AD = text("UPDATE ads SET revision = revision + 1, updated_at = :now WHERE id = :ad_id")


def add_image(originals: OriginalStore) -> Handler[AddImage, None]:
    """The upload's handler, keeping originals in ``originals``.

    Refuses, in this order: an ad that is missing, deleted or not the actor's (404, whoever asks:
    another user's ad looks missing), a file that is not a JPEG, PNG or WebP (422), an ad that
    holds :data:`MAX_IMAGES_PER_AD` images already (422). Then it stores the original, adds the
    image as ``processing``, moves the ad's revision on (its detail lists processing images too)
    and records the processing job with the image (a queue that is down delays it, never loses it).
    """

    async def handle(command: Command[AddImage], uow: UnitOfWork) -> None:
        upload, session = command.payload, uow.session
        # The ad row is locked until commit: concurrent uploads to one ad count one after the other.
        owner_id = await session.scalar(_LOCK_AD, {"ad_id": upload.ad_id})
        if owner_id is None or owner_id != command.actor.user_id:
            raise AdNotFound
        content_type = sniff_image_type(upload.content[:SNIFF_BYTES])
        if content_type is None:
            raise InvalidAd("file", INVALID_IMAGE)
        counts = (await session.execute(_COUNT_IMAGES, {"ad_id": upload.ad_id})).one()
        if image_limit_reached(counts.kept):
            raise InvalidAd("file", f"an ad holds at most {MAX_IMAGES_PER_AD} images")

        key = original_key(upload.ad_id, upload.image_id)
        await originals.put(key, upload.content, content_type)
        uow.on_rollback(lambda: originals.delete(key))  # no original without its image row
        await session.execute(
            _INSERT_IMAGE,
            {
                "id": upload.image_id,
                "ad_id": upload.ad_id,
                "position": counts.next_position,
                "original_key": key,
                "content_type": content_type,
                "byte_size": len(upload.content),
                "now": uow.now,
            },
        )
        await session.execute(_TOUCH_AD, {"ad_id": upload.ad_id, "now": uow.now})
        uow.touch(ad_key(upload.ad_id), user_key(command.actor.user_id))
        await uow.add_job(PROCESS_JOB, key=f"image:{upload.image_id}", image_id=str(upload.image_id))

    return handle


# -- the processing -----------------------------------------------------------------------------


class ImageToProcess(msgspec.Struct, frozen=True):
    """What the image job reads before rendering."""

    ad_id: UUID
    status: ImageStatus
    original_key: str


async def image_to_process(image_id: UUID, db: ReadConnection) -> ImageToProcess | None:
    """The image and where its original is; ``None`` when it is gone (its ad was deleted?)."""
    row = await db.fetchrow("SELECT ad_id, status, original_key FROM ad_images WHERE id = $1", image_id)
    return None if row is None else ImageToProcess(row["ad_id"], row["status"], row["original_key"])


class FinishImage(msgspec.Struct, frozen=True):
    """The job's outcome: ``ready`` with ``sizes`` (slot → media key), or ``failed`` with ``error``."""

    image_id: UUID
    sizes: dict[str, str] | None = None
    error: str | None = None


_LOCK_IMAGE_AD = text(
    "SELECT a.id, a.owner_id FROM ad_images i JOIN ads a ON a.id = i.ad_id WHERE i.id = :id FOR NO KEY UPDATE OF a"
)
_FINISH = text(
    "UPDATE ad_images SET status = :status, sizes = CAST(:sizes AS jsonb), error = :error, updated_at = :now "
    "WHERE id = :id AND status = 'processing' RETURNING id"
)
_STATUS = text("SELECT status FROM ad_images WHERE id = :id")


async def finish_image(command: Command[FinishImage], uow: UnitOfWork) -> str:
    """``ready`` or ``failed``; the ad's revision moves on (its ``ETag`` changes) and so do its
    detail, search pages and the owner's own reads. Only an image still ``processing`` changes (a
    concurrent run that finished first wins). Returns the image's status (``missing``: gone)."""
    finished, session = command.payload, uow.session
    # the ad first, like every other writer of an ad and its images (one lock order)
    ad = (await session.execute(_LOCK_IMAGE_AD, {"id": finished.image_id})).first()
    if ad is None:
        return "missing"
    status = "failed" if finished.error is not None else "ready"
    changed = await session.execute(
        _FINISH,
        {
            "id": finished.image_id,
            "status": status,
            "sizes": msgspec.json.encode(finished.sizes or {}).decode(),
            "error": finished.error,
            "now": uow.now,
        },
    )
    if changed.first() is None:
        current = await session.scalar(_STATUS, {"id": finished.image_id})
        return str(current) if current is not None else "missing"
    await session.execute(_TOUCH_AD, {"ad_id": ad.id, "now": uow.now})
    uow.touch(ad_key(ad.id), SEARCH, user_key(ad.owner_id))
    return status
