"""Pure rules of ad images: what may be uploaded, and which optimized sizes the job writes.

No I/O and no imaging library here: the upload route sniffs and counts with these rules, the
image job (``rural24.jobs.images``) decodes with Pillow and follows :func:`plan_sizes`.
"""

from __future__ import annotations

import re
from typing import Literal
from uuid import UUID

import msgspec

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
