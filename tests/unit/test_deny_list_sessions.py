"""The deny-list registry's decisions (pure: an in-memory store that can be made to fail, and a
database side in a dict). Real Redis and PostgreSQL: tests/integration/test_revocation_faults.py."""

from __future__ import annotations

import time
from collections.abc import Sequence

import pytest

from infrastructure.sessions import Cutoff, DenyListSessions, MemoryMarks, SessionStoreUnavailable

USER = "0190d9b6-0000-7000-8000-000000000001"
LIVE = "0190d9b6-0000-7000-8000-00000000000a"
REVOKED = "0190d9b6-0000-7000-8000-00000000000b"
ISSUED_MS = 1_000


class FailingMarks(MemoryMarks):
    """Memory marks that fail every call while ``down``, and can be emptied like a restarted Redis."""

    volatile = False

    def __init__(self) -> None:
        super().__init__()
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise ConnectionError("store down")

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        self._check()
        return await super().get_many(keys)

    async def set(self, key: str, value: bytes, ttl: int | None, *, only_if_absent: bool = False) -> None:
        self._check()
        await super().set(key, value, ttl, only_if_absent=only_if_absent)


class Records:
    def __init__(self) -> None:
        self.revoked: dict[str, int] = {}
        self.user_valid_after: int | None = 0  # None: the user is gone
        self.kept: str | None = None
        self.down = False
        self.queries = 0

    def _check(self) -> None:
        self.queries += 1
        if self.down:
            raise OSError("database down")

    def _cutoff(self) -> Cutoff | None:
        return None if self.user_valid_after is None else Cutoff(self.user_valid_after, self.kept)

    async def valid_after(self, user_id: str) -> Cutoff | None:
        self._check()
        return self._cutoff()

    async def token_state(self, user_id: str, token_id: str) -> tuple[Cutoff | None, bool]:
        self._check()
        return self._cutoff(), token_id in self.revoked

    async def live_revocations(self) -> list[tuple[str, int]]:
        self._check()
        return list(self.revoked.items())


async def _registry() -> tuple[DenyListSessions, FailingMarks, Records]:
    marks, records = FailingMarks(), Records()
    records.revoked[REVOKED] = int(time.time()) + 3600
    registry = DenyListSessions(marks, records, mark_ttl=3600)
    await registry.listening(True)
    return registry, marks, records


async def test_a_loaded_store_answers_without_the_database() -> None:
    registry, _, records = await _registry()
    before = records.queries
    assert await registry.is_live(USER, LIVE, ISSUED_MS)  # the first check loads the user's mark
    assert not await registry.is_live(USER, REVOKED, ISSUED_MS)
    assert await registry.is_live(USER, LIVE, ISSUED_MS)
    assert records.queries == before + 1


async def test_a_store_that_fails_hands_over_to_the_database_never_to_a_guess() -> None:
    registry, marks, records = await _registry()
    marks.down = True
    assert not await registry.is_live(USER, REVOKED, ISSUED_MS)
    assert await registry.is_live(USER, LIVE, ISSUED_MS)
    records.down = True
    with pytest.raises(SessionStoreUnavailable):
        await registry.is_live(USER, LIVE, ISSUED_MS)


async def test_a_store_emptied_behind_our_back_is_not_trusted() -> None:
    registry, marks, records = await _registry()
    assert not await registry.is_live(USER, REVOKED, ISSUED_MS)
    marks.clear()  # a Redis restarted empty: the deny-list is gone, and so is the "loaded" key
    records.down = True
    with pytest.raises(SessionStoreUnavailable):  # asked the database, which is down too
        await registry.is_live(USER, REVOKED, ISSUED_MS)


async def test_a_failed_write_makes_the_database_decide_until_reloaded() -> None:
    registry, marks, records = await _registry()
    marks.down = True
    records.revoked[LIVE] = int(time.time()) + 3600  # the logout's row is committed
    await registry.revoke(USER, LIVE, int(time.time()) + 3600)  # its store write fails: no error
    marks.down = False
    assert not await registry.is_live(USER, LIVE, ISSUED_MS)


async def test_session_events_end_tokens_and_a_lost_listener_distrusts_the_store() -> None:
    registry, _, records = await _registry()
    assert await registry.is_live(USER, LIVE, ISSUED_MS)
    await registry.user_changed(USER, blocked=True)
    assert not await registry.is_live(USER, LIVE, ISSUED_MS)
    await registry.user_changed(USER, blocked=False)  # the mark is read again from the database
    assert await registry.is_live(USER, LIVE, ISSUED_MS)
    await registry.listening(False)
    before = records.queries
    records.user_valid_after = None  # deleted while nobody listened
    assert not await registry.is_live(USER, LIVE, ISSUED_MS)
    assert records.queries == before + 1


async def test_a_cutoff_that_keeps_one_token_admits_only_that_one() -> None:
    registry, marks, records = await _registry()
    other = "0190d9b6-0000-7000-8000-00000000000c"
    await registry.revoke_all(USER, ISSUED_MS + 10, keep=LIVE)
    assert await registry.is_live(USER, LIVE, ISSUED_MS)
    assert not await registry.is_live(USER, other, ISSUED_MS)
    assert await registry.is_live(USER, other, ISSUED_MS + 11)  # a later login
    # the same answers from PostgreSQL when the store cannot be trusted
    records.user_valid_after, records.kept = ISSUED_MS + 10, LIVE
    marks.down = True
    assert await registry.is_live(USER, LIVE, ISSUED_MS)
    assert not await registry.is_live(USER, other, ISSUED_MS)


def test_cutoffs_round_trip_through_the_store() -> None:
    assert Cutoff.decode(Cutoff(5, "abc").encode()) == Cutoff(5, "abc")
    assert Cutoff.decode(Cutoff(5).encode()) == Cutoff(5)
    assert Cutoff.decode(b"7") == Cutoff(7)  # marks written before the kept token existed
