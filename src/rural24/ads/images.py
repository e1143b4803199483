"""Ad images (API.md: ``POST /api/ads/{id}/images``) and the local media files under ``/media``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

from litestar import Controller, Request, Response, Router, post
from litestar.connection import ASGIConnection
from litestar.datastructures import CacheControlHeader, UploadFile
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.handlers import BaseRouteHandler
from litestar.params import FromPath, MultipartBody
from litestar.static_files import create_static_files_router
from litestar.status_codes import HTTP_202_ACCEPTED
from uuid_utils.compat import uuid7

from domain.ads.images import MAX_IMAGE_BYTES, MAX_IMAGES_PER_AD, AddImage, add_image
from domain.shared.fields import LINE_PATTERN
from domain.shared.structs import CamelStruct
from domain.shared.unit_of_work import Command
from infrastructure.media import LocalMediaStorage
from rural24.ads.http import AdsPorts
from rural24.auth import PUBLIC, current_actor
from rural24.dependencies import Commands
from rural24.openapi import CACHE_CONTROL, documented
from rural24.ratelimit import SKIP_RATE_LIMIT

MULTIPART_OVERHEAD = 16 * 1024
"""Room for the multipart boundaries and part headers around the file itself."""


@dataclass
class ImageUpload:
    """``multipart/form-data`` with one file part named ``file``."""

    file: UploadFile


class ImageAccepted(CamelStruct):
    image_id: UUID
    status: Literal["processing"] = "processing"


async def _read_limited(upload: UploadFile, limit: int) -> bytes:
    content = await upload.read(limit + 1)
    if len(content) > limit:
        raise RequestEntityTooLarge(f"an image may have at most {limit // (1024 * 1024)} MiB")
    return content


class ImagesController(Controller):
    path = "/api/ads"
    tags = ["ads"]

    @post(
        "/{id:uuid}/images",
        status_code=HTTP_202_ACCEPTED,
        summary="Upload an image of an ad",
        **documented("uploadAdImage", "user", errors=(400, 404, 413, 415, 422), headers=(CACHE_CONTROL,)),
        description=(
            "Owner only. `multipart/form-data` with one file part named `file`: a JPEG, PNG or WebP "
            "(recognised by its content, never by its name or declared type) of at most 10 MiB; an ad "
            f"holds at most {MAX_IMAGES_PER_AD} images (failed ones do not count).\n\n"
            '202 `{imageId, status: "processing"}`: a background job writes optimized WebP sizes '
            "(1200 and 400 px wide, never upscaled, no EXIF/GPS metadata); the ad's `images` show them "
            "once the image is `ready` (or `failed` when the file cannot be decoded).\n\n"
            "404 when the ad does not exist, is deleted, or is not the caller's (another user's ad "
            "looks missing); 413 over 10 MiB; 422 when the file is not a JPEG, PNG or WebP image or "
            "the ad already has 10 images. The processing job is recorded with the image: a job queue "
            "that is down delays it, never loses it."
        ),
    )
    async def upload(
        self,
        id: FromPath[UUID],
        data: MultipartBody[ImageUpload],
        request: Request[Any, Any, Any],
        commands: NamedDependency[Commands],
        ads: NamedDependency[AdsPorts],
    ) -> Response[ImageAccepted]:
        actor = current_actor(request)
        try:
            content = await _read_limited(data.file, min(MAX_IMAGE_BYTES, ads.settings.server.max_upload_body))
        finally:
            await data.file.close()
        image_id = UUID(str(uuid7()))
        await commands.handle(add_image(ads.media), Command(actor, AddImage(id, image_id, content)))
        return Response(ImageAccepted(image_id), status_code=HTTP_202_ACCEPTED, headers={"Cache-Control": "no-store"})


def images_controller(max_upload_body: int) -> type[Controller]:
    """:class:`ImagesController` with its body limit: ``MAX_UPLOAD_BODY`` plus the multipart
    framing (the app-wide limit stays ``MAX_JSON_BODY``)."""

    class SizedImagesController(ImagesController):
        request_max_body_size = max_upload_body + MULTIPART_OVERHEAD

    return SizedImagesController


IMMUTABLE = CacheControlHeader(public=True, max_age=31_536_000, immutable=True)


def media_files_router(storage: LocalMediaStorage) -> Router:
    """``GET /media/ads/…``: the optimized images of a local storage, public, cacheable for ever
    (a key never changes content: new images get new ids). Originals are not under it.

    Outside the API's per-IP rate limit: one search page shows up to 50 thumbnails, and images
    must not eat the budget of the API calls (a CDN takes this traffic in stage 3)."""
    return create_static_files_router(
        path=f"{storage.base_url}/ads",
        directories=[storage.root / "ads"],
        name="media",
        cache_control=IMMUTABLE,
        opt={**PUBLIC, SKIP_RATE_LIMIT: True},
        include_in_schema=False,
        guards=[_plain_media_key],
    )


_PLAIN = re.compile(LINE_PATTERN)


def _plain_media_key(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """A media key is a plain path: a control character (NUL breaks the file system call) is no
    key of ours, so 404 rather than a 500 from ``open()``."""
    if not _PLAIN.search(connection.scope["path"]):
        raise NotFoundException("not found")


__all__ = ("ImageAccepted", "ImageUpload", "ImagesController", "images_controller", "media_files_router")
