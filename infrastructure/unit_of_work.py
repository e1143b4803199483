"""The unit of work: the one place a write commits and what follows a commit happens.

``await writes.handle(session, handler, command)`` runs ``handler(command, uow)`` (the shape is in
``domain.shared.unit_of_work``) and then, in this order:

1. revokes the sessions the handler ended in the session store (*before* the commit: a store that
   refuses answers 503 with nothing changed, rather than a logout committed behind a live record);
2. commits the one transaction (outbox rows included: they exist exactly when the change does);
3. reads the WAL position once, after the commit, and bumps the touched generations to it, so the
   next read misses its cache and waits for a replica that has replayed the write;
4. dispatches the recorded jobs and queues the recorded emails (a queue that is down leaves them to
   the worker's relay and to the email requeue: delayed, never lost);
5. publishes the events (a lost notification is a missed hint; the data is committed).

Steps 3-5 never fail the write: it is committed. A handler that raises rolls everything back and
nothing after the commit runs. The API, the worker and the CLI all write through this class, built
once per process by ``rural24.services.build_services``.

The only other commits are the outboxes' own bookkeeping, never a change of the marketplace's
data: marking a job row dispatched (``JobQueue.dispatch``, the worker's relay in
``infrastructure.jobs``) and recording a delivery attempt (``domain.shared.emails.deliver_email``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from domain.shared.emails import QueueEmail, queue_email
from domain.shared.job_outbox import RecordedJob, record_job
from domain.shared.unit_of_work import Command, Event, Handler, Revocation
from infrastructure.generations import Generations
from infrastructure.jobs import JobQueue, enqueue_email
from infrastructure.sessions import SessionRegistry

logger = logging.getLogger(__name__)

P = TypeVar("P")
R = TypeVar("R")


class Publisher(Protocol):
    """Pushes an event to one user's channel; never raises (``rural24.notifications.Notifier``)."""

    async def publish(self, user_id: UUID, event: Event) -> bool: ...

    async def session_ended(self, user_id: UUID) -> bool: ...


class SqlUnitOfWork:
    """One transaction on the primary and what it declared (see ``domain.shared.unit_of_work``)."""

    __slots__ = ("_emails", "_events", "_jobs", "_revocations", "_session", "_touched", "_undo", "now")

    def __init__(self, session: AsyncSession, now: datetime) -> None:
        self._session = session
        self.now = now
        self._touched: set[str] = set()
        self._jobs: list[RecordedJob] = []
        self._emails: list[UUID] = []
        self._events: list[tuple[UUID, Event]] = []
        self._revocations: list[Revocation] = []
        self._undo: list[Callable[[], Awaitable[None]]] = []

    @property
    def session(self) -> AsyncSession:
        return self._session

    def touch(self, *names: str) -> None:
        self._touched.update(names)

    async def add_job(self, function: str, *, key: str, delay: timedelta | None = None, **kwargs: str) -> None:
        self._jobs.append(await record_job(self._session, function, key=key, delay=delay, now=self.now, **kwargs))

    async def add_email(self, email: QueueEmail) -> UUID | None:
        delivery_id = await queue_email(email, self._session)
        if delivery_id is not None:
            self._emails.append(delivery_id)
        return delivery_id

    def notify(self, user_id: UUID, event: Event) -> None:
        self._events.append((user_id, event))

    def end_sessions(self, revocation: Revocation) -> None:
        self._revocations.append(revocation)

    def on_rollback(self, undo: Callable[[], Awaitable[None]]) -> None:
        self._undo.append(undo)

    async def undo(self) -> None:
        """Run the compensations, newest first; one that fails is logged, the others still run."""
        for action in reversed(self._undo):
            try:
                await action()
            except Exception as exc:  # the write failed already: report, never mask its error
                logger.warning("could not undo a side effect of a failed write: %r", exc)


class Writes:
    """Runs commands in units of work; one per process, shared by every request and job."""

    def __init__(
        self,
        *,
        session_maker: Callable[[], AsyncSession],
        generations: Generations,
        jobs: JobQueue,
        current_lsn: Callable[[], Awaitable[int]],
        sessions: SessionRegistry | None = None,
        publisher: Publisher | None = None,
    ) -> None:
        self._session_maker = session_maker
        self._generations = generations
        self._jobs = jobs
        self._current_lsn = current_lsn
        self._sessions = sessions
        self._publisher = publisher

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session of its own (jobs and the CLI; a request uses the request's session)."""
        async with self._session_maker() as session:
            yield session

    async def run(self, handler: Handler[P, R], command: Command[P]) -> R:
        """:meth:`handle` in a session of its own."""
        async with self.session() as session:
            return await self.handle(session, handler, command)

    async def handle(self, session: AsyncSession, handler: Handler[P, R], command: Command[P]) -> R:
        uow = SqlUnitOfWork(session, datetime.now(UTC))
        try:
            result = await handler(command, uow)
            for revocation in uow._revocations:
                await self._revoke(revocation)
            await session.commit()
        except BaseException:
            await session.rollback()
            await uow.undo()
            raise
        await self._after_commit(uow)
        return result

    async def _revoke(self, revocation: Revocation) -> None:
        if self._sessions is None:
            return
        user_id = str(revocation.user_id)
        if revocation.token_id is not None:
            await self._sessions.revoke(user_id, revocation.token_id, revocation.expires_at or 0)
        elif revocation.blocked:
            await self._sessions.user_gone(user_id)
        elif revocation.issued_before_ms is not None:
            await self._sessions.revoke_all(user_id, revocation.issued_before_ms, revocation.keep_token_id)

    async def _after_commit(self, uow: SqlUnitOfWork) -> None:
        if uow._touched:
            try:
                lsn = await self._current_lsn()
            except Exception as exc:  # committed; the primary went away right after
                logger.error("write committed but its WAL position is unknown (%r): caches age out by TTL", exc)
            else:
                await self._generations.bump(lsn, *sorted(uow._touched))
        for job in uow._jobs:
            await self._jobs.dispatch(job, uow.session)
        for delivery_id in uow._emails:
            await enqueue_email(self._jobs, delivery_id)
        if self._publisher is not None:
            for user_id, event in uow._events:
                await self._publisher.publish(user_id, event)
            for user_id in dict.fromkeys(r.user_id for r in uow._revocations):
                await self._publisher.session_ended(user_id)
