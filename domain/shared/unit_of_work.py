"""The one shape of every write: ``handler(Command(actor, payload), uow)``.

A handler changes rows through ``uow.session`` and *declares* what follows; it never commits and
never talks to a cache, a queue or a socket:

* ``uow.touch(...)``: the cache generations its change invalidates (:data:`SEARCH`,
  :func:`ad_key`, :func:`user_key`);
* ``await uow.add_job(...)`` / ``await uow.add_email(...)``: outbox rows, written now, in the
  handler's transaction, so they exist exactly when the change does;
* ``uow.notify(user_id, event)``: a push event, published once the change is committed;
* ``uow.end_sessions(Revocation(...))``: sessions to revoke in the session store (before the
  commit: a store that refuses aborts the write) and whose sockets close (after it);
* ``uow.on_rollback(undo)``: what undoes a side effect the handler could not avoid making before
  the commit (an uploaded file stored), run if the unit does not commit.

The unit of work (``infrastructure.unit_of_work``) commits once, reads the commit's WAL position
once, bumps the generations to it, dispatches the outbox rows and publishes the events. Nothing
here imports a framework: the protocol is what handlers see, the adapter lives outside.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, ClassVar, Generic, Protocol, TypeVar
from uuid import UUID

import msgspec

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from domain.shared.emails import QueueEmail

SEARCH = "search"
"""Every search page: bumped by any change that can move an ad in or out of results."""

SYSTEM_USER_ID = UUID(int=0)


def ad_key(ad_id: object) -> str:
    """One ad's detail (public, cached)."""
    return f"ad:{ad_id}"


def user_key(user_id: object) -> str:
    """One user's last write position: their own reads (``/api/me/*``, messages) wait for it."""
    return f"user:{user_id}"


class Actor(msgspec.Struct, frozen=True):
    """Who acts: a logged-in user (and whether an admin), or the system (a job, the CLI)."""

    user_id: UUID
    is_admin: bool = False

    @classmethod
    def system(cls) -> Actor:
        return cls(user_id=SYSTEM_USER_ID, is_admin=True)


P = TypeVar("P")
R = TypeVar("R", covariant=True)


class Command(msgspec.Struct, Generic[P], frozen=True):
    """What every write receives: who acts, and what they asked for."""

    actor: Actor
    payload: P


class Revocation(msgspec.Struct, frozen=True):
    """Sessions a write ends. Exactly one of: one token (``token_id`` until ``expires_at``, epoch
    seconds), every token issued up to ``issued_before_ms`` (but ``keep_token_id``, when given), or
    every token for good (``blocked``)."""

    user_id: UUID
    token_id: str | None = None
    expires_at: int | None = None
    issued_before_ms: int | None = None
    keep_token_id: str | None = None
    blocked: bool = False


class Event(Protocol):
    """A push event: a tagged msgspec Struct (``{"type": ...}`` on the wire)."""

    __struct_config__: ClassVar[msgspec.structs.StructConfig]


class UnitOfWork(Protocol):
    """What a handler receives next to its command (see the module's docstring)."""

    @property
    def session(self) -> AsyncSession:
        """The primary, in this unit's one transaction."""

    @property
    def now(self) -> datetime:
        """One clock reading for the whole unit (every timestamp it writes agrees)."""

    def touch(self, *names: str) -> None: ...

    async def add_job(self, function: str, *, key: str, delay: timedelta | None = None, **kwargs: str) -> None:
        """A background job, recorded in the outbox now, dispatched after the commit. One job per
        ``key`` still waiting: recording it again joins the waiting one."""

    async def add_email(self, email: QueueEmail) -> UUID | None:
        """An email in the outbox now, sent after the commit; ``None`` when its dedupe key was
        queued before (nothing new to send)."""

    def notify(self, user_id: UUID, event: Event) -> None: ...

    def end_sessions(self, revocation: Revocation) -> None: ...

    def on_rollback(self, undo: Callable[[], Awaitable[None]]) -> None: ...


Handler = Callable[[Command[P], UnitOfWork], Awaitable[R]]
