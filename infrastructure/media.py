"""Media storage: where uploaded originals and optimized images live (``MEDIA_STORAGE_URL``).

* ``file://<folder>`` — a local folder (default ``file://./media``, relative to the current
  directory of the process; the API and the worker must agree on it, so use an absolute path
  when they start from different directories). The API serves ``<folder>/ads`` under
  ``/media/ads`` (originals are never served).
* ``s3://bucket/prefix`` — an S3-compatible bucket (production), through ``obstore``.
  Credentials and region come from the standard ``AWS_*`` environment variables; query
  parameters may set ``endpoint`` (MinIO, R2 …), ``region`` and ``public_url`` (a CDN in front
  of the bucket; default: the endpoint's or AWS's bucket URL).

Keys are ``/``-separated, URL-safe and checked against path traversal
(:func:`domain.ads.images.is_valid_key`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from pathlib import Path
from typing import Protocol, runtime_checkable
from urllib.parse import parse_qs

from domain.ads.images import is_valid_key

__all__ = (
    "InvalidMediaKey",
    "LocalMediaStorage",
    "MediaNotFound",
    "MediaStorage",
    "S3MediaStorage",
    "build_media_storage",
)


class MediaNotFound(LookupError):
    """No media under that key."""


class InvalidMediaKey(ValueError):
    """A key that could escape the storage root or is not URL-safe."""


@runtime_checkable
class MediaStorage(Protocol):
    async def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store ``data`` under ``key``, replacing what was there; readers never see half a file."""

    async def get(self, key: str) -> bytes:
        """The bytes under ``key``; :class:`MediaNotFound` when there are none."""

    async def delete(self, key: str) -> None:
        """Remove ``key``; a missing key is not an error."""

    def url(self, key: str) -> str:
        """The public URL of ``key`` (absolute or root-relative)."""


class LocalMediaStorage:
    """A folder on the local disk. Writes go to a temporary file in the target folder, then
    ``os.replace`` (atomic on POSIX): a concurrent reader sees the old file or the new one."""

    def __init__(self, root: Path | str, base_url: str = "/media") -> None:
        self.root = Path(root).resolve()
        self.base_url = base_url.rstrip("/")

    def __repr__(self) -> str:
        return f"LocalMediaStorage({str(self.root)!r}, base_url={self.base_url!r})"

    def path(self, key: str) -> Path:
        """The file of ``key``; raises :class:`InvalidMediaKey` for anything outside the root."""
        if not is_valid_key(key):
            msg = f"invalid media key {key!r}"
            raise InvalidMediaKey(msg)
        path = self.root / key
        # belt and braces: the key grammar already forbids "..", but a symlink could still point out
        if not path.resolve().is_relative_to(self.root):
            msg = f"media key {key!r} leaves the storage root"
            raise InvalidMediaKey(msg)
        return path

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(self._write, self.path(key), data)

    async def get(self, key: str) -> bytes:
        path = self.path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            raise MediaNotFound(key) from None

    async def delete(self, key: str) -> None:
        path = self.path(key)
        with contextlib.suppress(FileNotFoundError):
            await asyncio.to_thread(path.unlink)

    def url(self, key: str) -> str:
        if not is_valid_key(key):
            msg = f"invalid media key {key!r}"
            raise InvalidMediaKey(msg)
        return f"{self.base_url}/{key}"

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
            raise


class S3MediaStorage:
    """An S3-compatible bucket through ``obstore`` (async, one small native package). Objects are
    served by the bucket or a CDN in front of it (``public_url``), not by the API."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint: str | None = None,
        region: str | None = None,
        public_url: str | None = None,
    ) -> None:
        from obstore.store import S3Store

        config: dict[str, str] = {}
        if endpoint:
            config["endpoint"] = endpoint
        if region:
            config["region"] = region
        self._store = S3Store(
            bucket,
            prefix=prefix or None,
            config=config,  # type: ignore[arg-type]
            client_options={"allow_http": bool(endpoint and endpoint.startswith("http://"))},
        )
        if public_url is None:
            base = f"{endpoint.rstrip('/')}/{bucket}" if endpoint else f"https://{bucket}.s3.amazonaws.com"
            public_url = f"{base}/{prefix}" if prefix else base
        self._public_url = public_url.rstrip("/")

    def __repr__(self) -> str:
        return f"S3MediaStorage({self._public_url!r})"

    @staticmethod
    def _checked(key: str) -> str:
        if not is_valid_key(key):
            raise InvalidMediaKey(key)
        return key

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        import obstore

        await obstore.put_async(self._store, self._checked(key), data, attributes={"Content-Type": content_type})

    async def get(self, key: str) -> bytes:
        import obstore

        try:
            result = await obstore.get_async(self._store, self._checked(key))
            return bytes(await result.bytes_async())
        except FileNotFoundError as exc:
            raise MediaNotFound(key) from exc

    async def delete(self, key: str) -> None:
        import obstore

        with contextlib.suppress(FileNotFoundError):
            await obstore.delete_async(self._store, self._checked(key))

    def url(self, key: str) -> str:
        return f"{self._public_url}/{self._checked(key)}"


def build_media_storage(url: str, base_url: str = "/media", public_url: str | None = None) -> MediaStorage:
    """The storage ``url`` names. ``public_url`` (``MEDIA_PUBLIC_URL``, a CDN) is where its keys
    are served: an image's URL is ``<public_url>/<key>``. For a local folder the CDN's origin is
    the API's ``/media`` (so ``https://cdn…/media``); for a bucket, the bucket's prefix. It wins
    over the bucket URL's own ``?public_url=``."""
    """The storage ``MEDIA_STORAGE_URL`` names.

    ``file://./media`` and ``file://media`` are relative to the current directory,
    ``file:///srv/media`` is absolute.
    """
    scheme, separator, rest = url.partition("://")
    scheme = scheme.lower()
    if separator and scheme == "file":
        if not rest:
            msg = "MEDIA_STORAGE_URL file:// needs a folder, e.g. file://./media or file:///srv/media"
            raise ValueError(msg)
        return LocalMediaStorage(Path(rest), public_url or base_url)
    if separator and scheme == "s3":
        location, _, query = rest.partition("?")
        bucket, _, prefix = location.partition("/")
        if not bucket:
            msg = "MEDIA_STORAGE_URL s3:// needs a bucket, e.g. s3://rural24-media/ads"
            raise ValueError(msg)
        options = {k: v[-1] for k, v in parse_qs(query).items()}
        return S3MediaStorage(
            bucket,
            prefix.strip("/"),
            endpoint=options.get("endpoint"),
            region=options.get("region"),
            public_url=public_url or options.get("public_url"),
        )
    msg = f"MEDIA_STORAGE_URL={url!r} is not supported: expected file://<folder> or s3://<bucket>/<prefix>"
    raise ValueError(msg)
