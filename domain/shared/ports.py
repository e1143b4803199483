"""What the domain needs from the outside world, as protocols the adapters satisfy."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class Row(Protocol):
    """One result row (asyncpg's ``Record`` fits): by position or by column name."""

    def __getitem__(self, key: int | str, /) -> Any: ...


class ReadConnection(Protocol):
    """The read side: SQL in, rows out. Which copy answers (any replica, one that has replayed a
    writer's position, the primary) is the connection's business: ``rural24.reading.Reads.at``
    hands out one per freshness, over ``infrastructure.database.reads.ReadSide``."""

    async def fetch(self, query: str, *args: Any) -> Sequence[Row]: ...

    async def fetchrow(self, query: str, *args: Any) -> Row | None: ...

    async def fetchval(self, query: str, *args: Any) -> Any: ...
