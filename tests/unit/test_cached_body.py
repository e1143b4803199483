"""A cache entry is built once — body, ETag, gzip copy — and read back whole (pure: an in-memory store)."""

from __future__ import annotations

import gzip
import os

from litestar.stores.memory import MemoryStore

from infrastructure.cache import FORMAT, GZIP_MIN_BYTES, CachedBody, QueryCache

PAGE = b'{"results":[' + b",".join(b'{"id":%d,"title":"Tractor Deutz AX 4.190"}' % n for n in range(60)) + b"]}"


def test_the_gzip_copy_is_made_once_and_only_when_worth_it() -> None:
    entry = CachedBody.build(PAGE, '"sabc"')
    assert entry.gzipped is not None
    assert gzip.decompress(entry.gzipped) == PAGE
    assert len(entry.gzipped) < len(PAGE)
    assert CachedBody.build(PAGE, '"sabc"').gzipped == entry.gzipped  # no timestamp: the same bytes each time
    assert CachedBody.build(PAGE[: GZIP_MIN_BYTES - 1], '"s"').gzipped is None  # too small to bother
    assert CachedBody.build(os.urandom(4096), '"s"').gzipped is None  # would not shrink


async def test_an_entry_comes_back_whole_and_a_foreign_value_is_a_miss() -> None:
    store = MemoryStore()
    lookups: list[tuple[str, bool]] = []
    cache = QueryCache(store, on_lookup=lambda name, hit: lookups.append((name, hit)))
    entry = CachedBody.build(PAGE, '"r7"')

    async def load() -> CachedBody:
        return entry

    assert await cache.get_or_load("search:1:abc", 60, load) == (entry, False)
    assert await cache.peek("search:1:abc") == entry
    # a value this release did not write (an older format, a stray write) is a miss, not an error
    await store.set("ad:2:x" + FORMAT, b'"r3"\n{"id":1}', expires_in=60)
    assert await cache.peek("ad:2:x") is None
    assert lookups == [("search", False), ("search", True), ("ad", False)]
