"""Image rules (sniffing, size planning, keys) and the WebP rendering, on bytes made in memory."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageCms

from domain.ads.images import (
    IMAGE_WIDTHS,
    MAX_IMAGES_PER_AD,
    MAX_SOURCE_PIXELS,
    PlannedSize,
    image_limit_reached,
    is_valid_key,
    original_key,
    plan_sizes,
    size_key,
    sniff_image_type,
)
from rural24.ads.image_jobs import ImageRejected, render_webp_sizes


def encode(fmt: str, size: tuple[int, int] = (8, 6), mode: str = "RGB", **params: object) -> bytes:
    buffer = io.BytesIO()
    colour = {"RGB": (200, 120, 40), "RGBA": (200, 120, 40, 100), "L": 90, "1": 0}[mode]
    Image.new(mode, size, colour).save(buffer, fmt, **params)
    return buffer.getvalue()


# -- sniffing ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("fmt", "expected"), [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp")])
def test_sniffs_real_images(fmt: str, expected: str) -> None:
    assert sniff_image_type(encode(fmt)) == expected
    assert sniff_image_type(encode(fmt)[:16]) == expected  # the head is enough


def test_refuses_what_is_not_a_jpeg_png_or_webp() -> None:
    assert sniff_image_type(b"hola, esto es un archivo de texto llamado foto.jpg\n") is None
    assert sniff_image_type(b"") is None
    assert sniff_image_type(encode("GIF")) is None
    assert sniff_image_type(encode("BMP")) is None
    assert sniff_image_type(b"RIFF\x24\x00\x00\x00WAVEfmt ") is None  # RIFF, but audio


def test_refuses_truncated_headers() -> None:
    assert sniff_image_type(b"\xff\xd8") is None
    assert sniff_image_type(b"\x89PNG\r\n\x1a") is None
    assert sniff_image_type(b"RIFF\x00\x00\x00\x00WEB") is None


# -- limits, planning, keys ---------------------------------------------------------------------


def test_image_limit_counts_kept_images() -> None:
    assert not image_limit_reached(MAX_IMAGES_PER_AD - 1)
    assert image_limit_reached(MAX_IMAGES_PER_AD)


def test_plan_scales_down_keeping_the_aspect_ratio() -> None:
    assert IMAGE_WIDTHS == (1200, 400)
    assert plan_sizes(4000, 3000) == (PlannedSize(1200, 1200, 900), PlannedSize(400, 400, 300))
    assert plan_sizes(3000, 4000) == (PlannedSize(1200, 1200, 1600), PlannedSize(400, 400, 533))


def test_plan_never_upscales_but_fills_every_slot() -> None:
    assert plan_sizes(600, 450) == (PlannedSize(1200, 600, 450), PlannedSize(400, 400, 300))
    assert plan_sizes(300, 200) == (PlannedSize(1200, 300, 200), PlannedSize(400, 300, 200))
    assert plan_sizes(1200, 10) == (PlannedSize(1200, 1200, 10), PlannedSize(400, 400, 3))
    assert plan_sizes(5000, 1) == (PlannedSize(1200, 1200, 1), PlannedSize(400, 400, 1))  # never 0 px


def test_plan_refuses_empty_images() -> None:
    with pytest.raises(ValueError, match="positive size"):
        plan_sizes(0, 10)


def test_keys_are_valid_and_traversal_is_not() -> None:
    assert original_key("a1", "b2") == "originals/a1/b2"
    assert size_key("a1", "b2", 400) == "ads/a1/b2-400.webp"
    assert is_valid_key(size_key("0190f0e4-1", "x", 1200))
    for bad in ("", "/etc/passwd", "../x", "ads/../../x", "ads/./x", "ads//x", "ads/.hidden", "a\\b", "a b", "x" * 256):
        assert not is_valid_key(bad), bad


# -- rendering (Pillow, in memory) ---------------------------------------------------------------


def test_renders_metadata_free_webp_at_every_slot() -> None:
    exif = Image.Exif()
    exif[0x010F] = "Camera Maker"  # Make
    exif[0x8825] = {1: "S", 2: (31.0, 25.0, 0.0)}  # GPS IFD
    photo = encode("JPEG", (1600, 1000), exif=exif.tobytes())
    rendered = render_webp_sizes(photo)
    assert [(r.slot, r.width, r.height) for r in rendered] == [(1200, 1200, 750), (400, 400, 250)]
    for size in rendered:
        with Image.open(io.BytesIO(size.data)) as out:
            assert out.format == "WEBP"
            assert out.size == (size.width, size.height)
            assert "exif" not in out.info
            assert not out.getexif()
            assert "icc_profile" not in out.info
        assert b"Camera Maker" not in size.data


def test_applies_the_exif_orientation() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    rendered = render_webp_sizes(encode("JPEG", (800, 400), exif=exif.tobytes()))
    assert [(r.width, r.height) for r in rendered] == [(400, 800), (400, 800)]


def test_colour_profiles_are_applied_then_dropped() -> None:
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    rendered = render_webp_sizes(encode("JPEG", (500, 500), icc_profile=srgb))
    with Image.open(io.BytesIO(rendered[1].data)) as out:
        assert "icc_profile" not in out.info
        red, green, blue = out.convert("RGB").getpixel((200, 200))  # type: ignore[misc]
    assert abs(red - 200) < 8
    assert abs(green - 120) < 8
    assert abs(blue - 40) < 8


def test_keeps_transparency() -> None:  # half-transparent pixels: an opaque alpha would be dropped
    rendered = render_webp_sizes(encode("PNG", (500, 500), mode="RGBA"))
    with Image.open(io.BytesIO(rendered[1].data)) as out:
        assert out.mode == "RGBA"


def test_small_images_are_not_upscaled_and_encoded_once() -> None:
    rendered = render_webp_sizes(encode("WEBP", (300, 200)))
    assert [(r.slot, r.width) for r in rendered] == [(1200, 300), (400, 300)]
    assert rendered[0].data is rendered[1].data


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 100, "cannot be decoded"),
        (encode("PNG", (400, 400))[:200], "cannot be decoded"),
        (b"plain text pretending to be a photo", "not a JPEG, PNG or WebP image"),
        (encode("GIF"), "not a JPEG, PNG or WebP image"),
    ],
)
def test_bad_files_are_rejected_not_crashed(data: bytes, reason: str) -> None:
    with pytest.raises(ImageRejected, match=reason):
        render_webp_sizes(data)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("side", [8000, 9500])  # 64 MP: our own check; 90 MP: Pillow's hard limit (2x the cap)
def test_decompression_bombs_are_refused_before_decoding(side: int) -> None:
    # A 1-bit PNG of one colour: megabytes of pixels in a few kilobytes of file.
    bomb = encode("PNG", (side, side), mode="1")
    assert side * side > MAX_SOURCE_PIXELS
    assert len(bomb) < 200_000
    with pytest.raises(ImageRejected, match="more than 40 megapixels"):
        render_webp_sizes(bomb)
