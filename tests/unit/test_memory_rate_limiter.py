"""MemoryRateLimiter: fixed windows opened by the first hit, exact counts, bounded memory."""

from __future__ import annotations

import asyncio

from infrastructure.ratelimit import MemoryRateLimiter
from infrastructure.settings import RateLimit

FIVE_A_MINUTE = RateLimit(5, "minute")


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.25) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_allows_up_to_the_limit_then_refuses() -> None:
    clock = FakeClock()
    limiter = MemoryRateLimiter(clock)
    decisions = [await limiter.hit("api", "a", FIVE_A_MINUTE) for _ in range(7)]
    assert [d.allowed for d in decisions] == [True] * 5 + [False] * 2
    assert [d.remaining for d in decisions] == [4, 3, 2, 1, 0, 0, 0]
    assert all(d.limit == 5 for d in decisions)
    assert all(d.retry_after == 0 for d in decisions[:5])
    refused = decisions[5]
    assert refused.retry_after == 60
    assert refused.reset_in == 60
    assert refused.reset_at == 1_700_000_061  # 60.25 s away, rounded up


async def test_window_starts_at_the_first_hit_and_counts_down() -> None:
    clock = FakeClock(1000.0)
    limiter = MemoryRateLimiter(clock)
    first = await limiter.hit("api", "a", FIVE_A_MINUTE)
    assert (first.reset_at, first.reset_in) == (1060, 60)
    clock.now = 1042.5
    for _ in range(4):
        await limiter.hit("api", "a", FIVE_A_MINUTE)
    refused = await limiter.hit("api", "a", FIVE_A_MINUTE)
    assert not refused.allowed
    assert refused.reset_at == 1060
    assert refused.retry_after == 18  # 17.5 s rounded up: never "retry now" while still refused
    assert refused.reset_in == 18


async def test_a_new_window_opens_when_the_old_one_ends() -> None:
    clock = FakeClock(1000.0)
    limiter = MemoryRateLimiter(clock)
    for _ in range(6):
        await limiter.hit("api", "a", FIVE_A_MINUTE)
    clock.now = 1059.999
    assert not (await limiter.hit("api", "a", FIVE_A_MINUTE)).allowed
    clock.now = 1060.0
    fresh = await limiter.hit("api", "a", FIVE_A_MINUTE)
    assert fresh.allowed
    assert fresh.remaining == 4
    assert fresh.reset_at == 1120


async def test_keys_and_names_are_separate_buckets() -> None:
    limiter = MemoryRateLimiter(FakeClock())
    one = RateLimit(1, "minute")
    assert (await limiter.hit("api", "a", one)).allowed
    assert not (await limiter.hit("api", "a", one)).allowed
    assert (await limiter.hit("api", "b", one)).allowed
    assert (await limiter.hit("search", "a", one)).allowed
    assert (await limiter.hit("login", "ip:a", one)).allowed
    assert (await limiter.hit("login", "email:a", one)).allowed


async def test_expired_windows_are_pruned() -> None:
    clock = FakeClock(0.0)
    limiter = MemoryRateLimiter(clock)
    per_second = RateLimit(10, "second")
    for i in range(1000):
        await limiter.hit("api", f"client-{i}", per_second)
    assert len(limiter) == 1000
    clock.now = 0.5
    await limiter.hit("api", "late", per_second)
    assert len(limiter) == 1001  # nothing has expired yet
    clock.now = 1.0
    await limiter.hit("api", "another", per_second)
    assert len(limiter) == 2  # the first thousand are gone, "late" and "another" remain
    clock.now = 100.0
    await limiter.hit("api", "x", per_second)
    assert len(limiter) == 1


async def test_a_restarted_window_moves_to_the_back_of_the_queue() -> None:
    clock = FakeClock(0.0)
    limiter = MemoryRateLimiter(clock)
    minute = RateLimit(100, "minute")
    await limiter.hit("api", "a", minute)  # a: 0-60
    clock.now = 30.0
    await limiter.hit("api", "b", minute)  # b: 30-90
    clock.now = 61.0
    await limiter.hit("api", "a", minute)  # a expired → pruned, reopened: 61-121
    clock.now = 95.0
    decision = await limiter.hit("api", "a", minute)  # b pruned; a still live
    assert decision.remaining == 98
    assert len(limiter) == 1


async def test_memory_stays_bounded_under_a_stream_of_new_clients() -> None:
    clock = FakeClock(0.0)
    limiter = MemoryRateLimiter(clock)
    per_second = RateLimit(5, "second")
    for i in range(10_000):
        clock.now = i * 0.01  # 100 new clients a second, windows of 1 s
        await limiter.hit("api", f"c{i}", per_second)
    assert len(limiter) <= 101


async def test_concurrent_hits_are_counted_exactly() -> None:
    limiter = MemoryRateLimiter()
    limit = RateLimit(50, "minute")
    decisions = await asyncio.gather(*(limiter.hit("api", "same", limit) for _ in range(200)))
    assert sum(d.allowed for d in decisions) == 50
    assert sorted(d.remaining for d in decisions if d.allowed) == list(range(50))


async def test_a_changed_limit_length_still_prunes_and_counts() -> None:
    clock = FakeClock(0.0)
    limiter = MemoryRateLimiter(clock)
    await limiter.hit("api", "long", RateLimit(5, "hour"))
    await limiter.hit("api", "short", RateLimit(5, "second"))
    clock.now = 2.0
    # "short" expired behind a live "long": it is reopened, not counted on
    decision = await limiter.hit("api", "short", RateLimit(5, "second"))
    assert decision.remaining == 4
    clock.now = 4000.0
    await limiter.hit("api", "z", RateLimit(5, "second"))
    assert len(limiter) == 1
