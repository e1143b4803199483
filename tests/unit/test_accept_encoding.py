"""``Accept-Encoding`` → whether a cached read's gzip copy may be sent (RFC 9110 §12.5.3)."""

from __future__ import annotations

import pytest

from rural24.reading import accepts_gzip


@pytest.mark.parametrize(
    "header",
    [
        "gzip",
        "gzip, deflate, br, zstd",
        "GZip;Q=0.8",
        "x-gzip",
        "*",
        "br;q=1, *;q=0.1",
        "identity;q=0.2, gzip;q=0.9",
        "identity;q=0, gzip",
        "gzip;q=1.0",
        " gzip ; q=0.001 ",
    ],
)
def test_gzip_is_accepted(header: str) -> None:
    assert accepts_gzip(header)


@pytest.mark.parametrize(
    "header",
    [
        "",
        "identity",
        "br, zstd",
        "gzip;q=0",
        "gzip;q=0.000",
        "*, gzip;q=0",
        "*;q=0",
        "gzip;q=0.5, identity",  # identity named and preferred
        "gzip;q=nope",
        "gzip;q=2",
        "gzip;q=nan",
        "gzip;q=-1",
        ",,;",
    ],
)
def test_gzip_is_not_accepted(header: str) -> None:
    assert not accepts_gzip(header)
