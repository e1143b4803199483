"""The dependencies every context shares: ``commands`` (writes) and ``reads`` (the read helper).

``commands`` is per request: :class:`Commands` runs a write in a unit of work on the request's
session (``db_session``, from advanced-alchemy's plugin). Everything else a route needs comes from
its context's one "ports" object (``ads``, ``accounts``, ``catalog``, ``messaging``; see
``rural24.contexts.provide``), never from the whole ``Services``.
"""

from __future__ import annotations

from typing import TypeVar

from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from sqlalchemy.ext.asyncio import AsyncSession

from domain.shared.unit_of_work import Command, Handler
from infrastructure.unit_of_work import Writes
from rural24.reading import Reads
from rural24.services import Services

P = TypeVar("P")
R = TypeVar("R")


class Commands:
    """The request's writes: ``await commands.handle(handler, Command(actor, payload))``."""

    __slots__ = ("_session", "_writes")

    def __init__(self, writes: Writes, session: AsyncSession) -> None:
        self._writes = writes
        self._session = session

    async def handle(self, handler: Handler[P, R], command: Command[P]) -> R:
        return await self._writes.handle(self._session, handler, command)


def provide_commands(state: State, db_session: NamedDependency[AsyncSession]) -> Commands:
    return Commands(Services.of(state).writes, db_session)


def provide_reads(state: State) -> Reads:
    return Services.of(state).reads


DEPENDENCIES: dict[str, Provide] = {
    "commands": Provide(provide_commands, sync_to_thread=False),
    "reads": Provide(provide_reads, sync_to_thread=False),
}
"""Registered app-wide by ``rural24.plugin.InfrastructurePlugin``."""
