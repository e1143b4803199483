"""The idempotency protocol on the memory store, with a fake clock; keys and fingerprints."""

from __future__ import annotations

import pytest

from infrastructure.idempotency import (
    IDEMPOTENCY_TTL,
    Claimed,
    IdempotencyRecord,
    InFlight,
    MemoryIdempotencyStore,
    Mismatch,
    Replay,
    canonical_body,
    decode_record,
    encode_record,
    request_fingerprint,
    storage_key,
    validate_key,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(clock: Clock) -> MemoryIdempotencyStore:
    return MemoryIdempotencyStore(clock=clock)


def _done(fingerprint: str = "fp") -> IdempotencyRecord:
    return IdempotencyRecord.done(
        fingerprint,
        201,
        {"Content-Type": "application/json", "Location": "/api/ads/1", "Cache-Control": "no-store"},
        b'{"id":1}',
    )


async def test_first_claim_wins_then_a_retry_is_in_flight(store: MemoryIdempotencyStore) -> None:
    claim = await store.claim("k", "fp", 60)
    assert isinstance(claim, Claimed)
    assert claim.record.state == "in_flight"
    assert claim.token
    assert isinstance(await store.claim("k", "fp", 60), InFlight)


async def test_other_body_is_a_mismatch_in_flight_or_done(store: MemoryIdempotencyStore) -> None:
    claim = await store.claim("k", "fp", 60)
    assert isinstance(claim, Claimed)
    assert isinstance(await store.claim("k", "other", 60), Mismatch)
    await store.complete("k", _done("fp"))
    assert isinstance(await store.claim("k", "other", 60), Mismatch)


async def test_complete_then_replay(store: MemoryIdempotencyStore) -> None:
    claim = await store.claim("k", "fp", 60)
    assert isinstance(claim, Claimed)
    await store.complete("k", _done())
    replay = await store.claim("k", "fp", 60)
    assert isinstance(replay, Replay)
    assert replay.record.status_code == 201
    assert replay.record.body == b'{"id":1}'
    # only the kept headers, lower-cased
    assert dict(replay.record.headers) == {"content-type": "application/json", "location": "/api/ads/1"}
    assert replay.record.header("Location") == "/api/ads/1"
    assert replay.record.header("etag") is None


async def test_release_frees_the_key(store: MemoryIdempotencyStore) -> None:
    claim = await store.claim("k", "fp", 60)
    assert isinstance(claim, Claimed)
    await store.release("k", claim)
    assert isinstance(await store.claim("k", "fp", 60), Claimed)


async def test_release_never_deletes_another_claim_or_a_done_record(
    store: MemoryIdempotencyStore, clock: Clock
) -> None:
    stale = await store.claim("k", "fp", 60)
    assert isinstance(stale, Claimed)
    clock.now += 61  # the first claim expired; another request takes the key
    current = await store.claim("k", "fp", 60)
    assert isinstance(current, Claimed)
    await store.release("k", stale)
    assert isinstance(await store.claim("k", "fp", 60), InFlight)
    await store.complete("k", _done())
    await store.release("k", current)
    assert isinstance(await store.claim("k", "fp", 60), Replay)


async def test_in_flight_claims_expire(store: MemoryIdempotencyStore, clock: Clock) -> None:
    assert isinstance(await store.claim("k", "fp", 60), Claimed)
    clock.now += 59.9
    assert isinstance(await store.claim("k", "fp", 60), InFlight)
    clock.now += 0.2
    assert isinstance(await store.claim("k", "fp", 60), Claimed)


async def test_done_records_last_the_ttl(store: MemoryIdempotencyStore, clock: Clock) -> None:
    assert isinstance(await store.claim("k", "fp", 60), Claimed)
    await store.complete("k", _done())
    clock.now += IDEMPOTENCY_TTL - 1
    assert isinstance(await store.claim("k", "fp", 60), Replay)
    clock.now += 2
    assert isinstance(await store.claim("k", "fp", 60), Claimed)


async def test_keys_are_independent(store: MemoryIdempotencyStore) -> None:
    assert isinstance(await store.claim(storage_key("ads", "u1", "k"), "fp", 60), Claimed)
    assert isinstance(await store.claim(storage_key("ads", "u2", "k"), "fp", 60), Claimed)
    assert isinstance(await store.claim(storage_key("messages", "u1", "k"), "fp", 60), Claimed)


async def test_expired_entries_are_swept(store: MemoryIdempotencyStore, clock: Clock) -> None:
    for i in range(999):
        await store.claim(f"old-{i}", "fp", 1)
    clock.now += 2
    await store.claim("new", "fp", 60)  # the 1000th write sweeps
    assert len(store) == 1


def test_records_round_trip_through_msgpack() -> None:
    record = _done()
    assert decode_record(encode_record(record)) == record
    in_flight = IdempotencyRecord.in_flight("fp")
    assert decode_record(encode_record(in_flight)) == in_flight
    assert IdempotencyRecord.in_flight("fp").token != in_flight.token


@pytest.mark.parametrize("value", ["a", "x" * 255, "550e8400-e29b-41d4-a716-446655440000", "with space:and/punct!~"])
def test_valid_keys(value: str) -> None:
    assert validate_key(value) == value


def test_blanks_around_a_key_are_dropped() -> None:
    assert validate_key("  abc\t") == "abc"


@pytest.mark.parametrize("value", ["", "   ", "x" * 256, "caf\u00e9", "tab\tinside", "new\nline", "nul\x00"])
def test_invalid_keys(value: str) -> None:
    with pytest.raises(ValueError, match="Idempotency-Key"):
        validate_key(value)


def test_json_bodies_are_canonical() -> None:
    assert canonical_body(b'{"b": 1, "a": {"y": [1, 2], "x": "\\u00e9"}}') == canonical_body(
        b'{"a":{"x":"\xc3\xa9","y":[1,2]},"b":1}'
    )
    assert canonical_body(b"not json {") == b"not json {"
    assert canonical_body(b"") == b""


def test_fingerprint_covers_method_path_and_body() -> None:
    base = request_fingerprint("POST", "/api/ads", b'{"a": 1, "b": 2}')
    assert base == request_fingerprint("post", "/api/ads", b'{"b":2,"a":1}')
    assert base != request_fingerprint("POST", "/api/ads", b'{"a": 1, "b": 3}')
    assert base != request_fingerprint("POST", "/api/messages/send", b'{"a": 1, "b": 2}')
    assert base != request_fingerprint("PUT", "/api/ads", b'{"a": 1, "b": 2}')
    assert len(base) == 64
