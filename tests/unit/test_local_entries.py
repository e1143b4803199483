"""The query cache's first level in the process (Redis mode): bounded, each copy until a deadline."""

from __future__ import annotations

from infrastructure.cache import CachedBody, LocalEntries


def _entry(n: int) -> CachedBody:
    return CachedBody(b'{"n":%d}' % n, f'"e{n}"')


def test_an_entry_is_kept_until_its_deadline_and_the_oldest_go_beyond_the_bound() -> None:
    local = LocalEntries(max_entries=10, ttl=60.0)
    local.put("search:1", _entry(1))
    assert local.get("search:1") == _entry(1)
    assert local.get("search:2") is None
    local.put("search:gone", _entry(2), ttl=0.0)  # stored with no time left: never served
    assert local.get("search:gone") is None
    for n in range(20):
        local.put(f"k:{n}", _entry(n))
    assert len(local) <= 10
    assert local.get("k:19") == _entry(19)  # the newest stay
    assert local.get("k:0") is None  # the oldest went


def test_a_copy_never_outlives_the_local_ttl_nor_the_entry_ttl() -> None:
    local = LocalEntries(ttl=0.0)  # a local TTL of zero: nothing is served from the process
    local.put("search:1", _entry(1), ttl=300)
    assert local.get("search:1") is None
