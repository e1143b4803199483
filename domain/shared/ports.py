"""What the domain needs from the outside world, as protocols the adapters satisfy."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class Row(Protocol):
    """One result row (asyncpg's ``Record`` fits): by position or by column name."""

    def __getitem__(self, key: int | str, /) -> Any: ...


class ReadConnection(Protocol):
    """The read side: SQL in, rows out. Satisfied by ``infrastructure.database.reads.ReadSide``.

    ``after_lsn``: the caller's last write position; a replica that has not replayed it yet is
    not used for this read (read-your-writes across requests)."""

    async def fetch(self, query: str, *args: Any, after_lsn: int | None = None) -> Sequence[Row]: ...

    async def fetchrow(self, query: str, *args: Any, after_lsn: int | None = None) -> Row | None: ...

    async def fetchval(self, query: str, *args: Any, after_lsn: int | None = None) -> Any: ...
