"""S3 media storage (production) against an S3 API served on 127.0.0.1 by moto's server."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto.server import ThreadedMotoServer

from infrastructure.media import InvalidMediaKey, MediaNotFound, S3MediaStorage, build_media_storage
from tests.e2e.processes import free_port

BUCKET = "rural24-media"


@pytest.fixture
def s3_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket=BUCKET)
        yield endpoint
    finally:
        server.stop()


async def test_objects_round_trip_through_the_bucket(s3_endpoint: str) -> None:
    storage = build_media_storage(f"s3://{BUCKET}/media?endpoint={s3_endpoint}&region=us-east-1")
    assert isinstance(storage, S3MediaStorage)
    key = "ads/0192/abc-400.webp"
    await storage.put(key, b"RIFF....WEBPVP8 ", "image/webp")
    assert await storage.get(key) == b"RIFF....WEBPVP8 "
    stored = boto3.client("s3", endpoint_url=s3_endpoint).get_object(Bucket=BUCKET, Key=f"media/{key}")
    assert stored["ContentType"] == "image/webp"
    assert storage.url(key) == f"{s3_endpoint}/{BUCKET}/media/{key}"
    await storage.delete(key)
    with pytest.raises(MediaNotFound):
        await storage.get(key)
    await storage.delete(key)  # deleting twice is fine
    with pytest.raises(InvalidMediaKey):
        await storage.put("../escape", b"x", "image/webp")


def test_a_cdn_can_serve_the_bucket() -> None:
    storage = build_media_storage("s3://rural24-media/ads?public_url=https://cdn.rural24.com.ar/ads")
    assert storage.url("ads/1/x-400.webp") == "https://cdn.rural24.com.ar/ads/ads/1/x-400.webp"
