"""The image job: optimized WebP sizes of an uploaded ad image (``process_ad_image``).

The upload (``domain.ads.images.add_image``) stores the original, inserts the ``ad_images`` row
as ``processing`` and records this job. The job decodes the original with Pillow (in a small
thread pool), applies the EXIF orientation, converts embedded colour profiles to sRGB, and writes
one WebP per slot of :data:`domain.ads.images.IMAGE_WIDTHS` *without any metadata* (no EXIF, GPS,
XMP or ICC). Then the row becomes ``ready`` (``sizes``: slot → media key), the ad's ``revision``
moves on (its ``ETag`` changes), and the ad's and search's cache generations move past the
commit: one command, ``domain.ads.images.finish_image``, through the worker's unit of work.

A file that cannot be decoded (corrupt, disguised, truncated, over 40 megapixels) is not an
error of the job: the row becomes ``failed`` with a short ``error`` and the job returns
normally, so it is never retried. Other failures (database or storage down) raise, so SAQ
retries them (``JOB_DEFAULTS``); the last attempt marks the row ``failed`` before giving up,
so no image stays ``processing`` forever.

The original is kept (``originals/…``, never served: it may carry GPS): sizes can be
re-rendered from it later. Nothing deletes media yet: an image-delete route or a purge of
deleted ads must remove the original and the sizes (keys in ``original_key`` and ``sizes``).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from uuid import UUID

import msgspec
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from domain.ads.images import (
    IMAGE_WIDTHS,
    INVALID_IMAGE,
    MAX_SOURCE_PIXELS,
    FinishImage,
    ImageToProcess,
    finish_image,
    image_to_process,
    plan_sizes,
    size_key,
)
from domain.shared.unit_of_work import Actor, Command
from infrastructure.media import InvalidMediaKey, MediaNotFound, MediaStorage
from infrastructure.unit_of_work import Writes
from rural24.contexts import JobContext
from rural24.reading import PRIMARY

logger = logging.getLogger("rural24.ads.image_jobs")

# Pillow warns above MAX_IMAGE_PIXELS and refuses above twice that; we refuse above it ourselves.
Image.MAX_IMAGE_PIXELS = MAX_SOURCE_PIXELS

WEBP_QUALITY = 80
# Decoding is CPU- and memory-bound (a 40 MP RGB image is 120 MB): at most one render per core
# (up to 4) at a time, whatever the worker's job concurrency. Pillow releases the GIL meanwhile.
_RENDERERS = ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1), thread_name_prefix="image-render")
_FORMATS = ("JPEG", "PNG", "WEBP")
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


class ImageRejected(Exception):
    """The upload is not an image we can use; ``str()`` is the short reason stored in ``error``."""


class RenderedSize(msgspec.Struct, frozen=True):
    slot: int
    width: int
    height: int
    data: bytes


def render_webp_sizes(
    data: bytes, slots: tuple[int, ...] = IMAGE_WIDTHS, quality: int = WEBP_QUALITY
) -> list[RenderedSize]:
    """Decode ``data`` (JPEG, PNG or WebP) and encode one metadata-free WebP per slot.

    CPU-bound: run it in a thread. Raises :class:`ImageRejected` for anything that is not a
    usable image; never anything else for bad input.
    """
    try:
        return _render(data, slots, quality)
    except ImageRejected:
        raise
    except Image.DecompressionBombError:
        raise ImageRejected(f"the image has more than {MAX_SOURCE_PIXELS // 1_000_000} megapixels") from None
    except UnidentifiedImageError:
        raise ImageRejected(INVALID_IMAGE) from None
    except Exception as exc:  # truncated or corrupt data: OSError, SyntaxError, ValueError, zlib.error …
        raise ImageRejected(f"the image cannot be decoded ({type(exc).__name__})") from None


def _render(data: bytes, slots: tuple[int, ...], quality: int) -> list[RenderedSize]:
    with Image.open(io.BytesIO(data), formats=_FORMATS) as source:
        if source.width * source.height > MAX_SOURCE_PIXELS:
            msg = f"the image has more than {MAX_SOURCE_PIXELS // 1_000_000} megapixels"
            raise ImageRejected(msg)
        if source.format == "JPEG":
            # libjpeg decodes at 1/2, 1/4 or 1/8 scale for free, as long as both sides still cover
            # the widest slot (both sides: the EXIF orientation may swap them).
            widest = max(slots)
            source.draft("RGB", (widest, widest))
        upright = ImageOps.exif_transpose(source)  # loads the pixels: corrupt data raises here
        image = _to_srgb(upright, _has_alpha(source))

    outputs: list[RenderedSize] = []
    encoded: dict[tuple[int, int], bytes] = {}
    for planned in plan_sizes(image.width, image.height, slots):
        dimensions = (planned.width, planned.height)
        if dimensions not in encoded:
            resized = image if dimensions == image.size else image.resize(dimensions, Image.Resampling.LANCZOS)
            resized.info.clear()  # belt and braces: the WebP writer only writes what save() is given
            buffer = io.BytesIO()
            resized.save(buffer, "WEBP", quality=quality, method=4)
            encoded[dimensions] = buffer.getvalue()
        outputs.append(RenderedSize(planned.slot, planned.width, planned.height, encoded[dimensions]))
    return outputs


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (image.mode == "P" and "transparency" in image.info)


def _to_srgb(image: Image.Image, alpha: bool) -> Image.Image:
    """RGB(A) pixels in sRGB: browsers assume sRGB for an image without a profile, and ours carry
    none. A profile that cannot be applied is dropped (colours may shift slightly)."""
    mode = "RGBA" if alpha else "RGB"
    profile = image.info.get("icc_profile")
    if profile:
        with contextlib.suppress(ImageCms.PyCMSError, OSError, ValueError, TypeError):
            source_profile = ImageCms.ImageCmsProfile(io.BytesIO(profile))
            working = image if image.mode in ("RGB", "RGBA", "CMYK", "L") else image.convert(mode)
            converted = ImageCms.profileToProfile(working, source_profile, _SRGB, outputMode=mode)
            if converted is not None:
                return converted.convert(mode) if converted.mode != mode else converted
    return image.convert(mode)


# -- the job ------------------------------------------------------------------------------------

GIVE_UP = "processing failed; upload the image again"


async def process_ad_image(ctx: JobContext, *, image_id: str) -> str:
    """Write the optimized sizes of one uploaded image; returns the image's final status
    (``ready``, ``failed``, or ``missing`` when the image or its ad is gone). Idempotent."""
    try:
        image_uuid = UUID(image_id)
    except ValueError:
        return "missing"
    services = ctx["services"]
    image = await image_to_process(image_uuid, services.reads.at(PRIMARY))
    if image is None:
        logger.info("image %s is gone (its ad was deleted?)", image_id)
        return "missing"
    if image.status != "processing":
        return image.status
    try:
        return await _process(services.writes, services.media, image_uuid, image)
    except Exception:
        job = ctx.get("job")
        if job is not None and job.attempts >= job.retries:  # SAQ will not try again: say so on the row
            with contextlib.suppress(Exception):
                await _finish(services.writes, image_uuid, error=GIVE_UP)
        raise


async def _process(writes: Writes, media: MediaStorage, image_id: UUID, image: ImageToProcess) -> str:
    try:
        original = await media.get(image.original_key)
    except MediaNotFound:
        return await _finish(writes, image_id, error="the uploaded original is missing")
    started = time.perf_counter()
    try:
        rendered = await asyncio.get_running_loop().run_in_executor(_RENDERERS, render_webp_sizes, original)
    except ImageRejected as exc:
        logger.info("image %s rejected: %s", image_id, exc)
        return await _finish(writes, image_id, error=str(exc)[:255])
    sizes = await _store(media, image.ad_id, image_id, rendered)
    status = await _finish(writes, image_id, sizes=sizes)
    if status == "missing":
        # the ad was deleted while this ran: its purge job knew only the original; these files
        # (and the original, if the purge ran first) would be left behind
        for key in (*sizes.values(), image.original_key):
            with contextlib.suppress(Exception):
                await media.delete(key)
        logger.info("image %s: its ad was deleted meanwhile; the sizes written are deleted", image_id)
        return status
    logger.info(
        "image %s %s: %d bytes → %s in %.0f ms",
        image_id,
        status,
        len(original),
        ", ".join(f"{r.width}x{r.height} ({len(r.data)} B)" for r in rendered),
        (time.perf_counter() - started) * 1000,
    )
    return status


async def _store(media: MediaStorage, ad_id: UUID, image_id: UUID, rendered: list[RenderedSize]) -> dict[str, str]:
    sizes: dict[str, str] = {}
    for size in rendered:
        key = size_key(ad_id, image_id, size.slot)
        await media.put(key, size.data, "image/webp")
        sizes[str(size.slot)] = key
    return sizes


async def _finish(
    writes: Writes, image_id: UUID, *, sizes: dict[str, str] | None = None, error: str | None = None
) -> str:
    """``ready`` (with ``sizes``) or ``failed`` (with ``error``): see ``finish_image``."""
    return await writes.run(finish_image, Command(Actor.system(), FinishImage(image_id, sizes=sizes, error=error)))


async def purge_media(ctx: JobContext, *, keys: str) -> int:
    """Delete media files whose rows are gone (a deleted account's ad images); ``keys`` are
    newline-separated. Idempotent: a missing file is not an error, so a retry finishes the rest.
    Returns how many keys were handled."""
    services = ctx["services"]
    done = 0
    for key in filter(None, keys.split("\n")):
        try:
            await services.media.delete(key)
        except InvalidMediaKey:
            logger.warning("purge_media: refused a key that is not a media key")
            continue
        done += 1
    return done
