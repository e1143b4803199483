"""The stage-1 cache store stays bounded (pure: an in-memory store, no I/O)."""

from __future__ import annotations

from infrastructure.stores import BoundedMemoryStore, memory_stores


async def test_oldest_entries_go_beyond_the_bound() -> None:
    store = BoundedMemoryStore(max_entries=100)
    for n in range(250):
        await store.set(f"search:{n}", b"page", expires_in=300)
    assert len(store._store) <= 100
    assert await store.get("search:249") == b"page"  # the newest stay
    assert await store.get("search:0") is None  # the oldest went


def test_only_the_cache_is_bounded() -> None:
    registry = memory_stores()
    assert isinstance(registry.get("cache"), BoundedMemoryStore)
    assert not isinstance(registry.get("sessions"), BoundedMemoryStore)  # revocations are never evicted
