"""Operator actions run from the CLI, through the same composition root and commands as the API."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from domain.accounts.commands import PromoteToAdmin, promote_to_admin
from domain.accounts.errors import UserNotFound
from domain.shared.emails import EmailDeliveryRead, list_deliveries
from domain.shared.job_outbox import redispatch_since
from domain.shared.unit_of_work import Actor, Command
from infrastructure.settings import Settings
from rural24.reading import PRIMARY
from rural24.services import build_services, running_services


async def promote(settings: Settings, email: str) -> UUID:
    """Make ``email`` an admin and end their sessions (a role travels in tokens): the unit of work
    revokes them in the session store, and the committed change reaches every instance."""
    async with running_services(build_services(settings)) as services:
        try:
            user = await services.writes.run(promote_to_admin, Command(Actor.system(), PromoteToAdmin(email=email)))
        except UserNotFound as exc:
            raise LookupError(exc.detail) from exc
    return user.id


async def list_emails(settings: Settings, status: str, limit: int) -> list[EmailDeliveryRead]:
    async with running_services(build_services(settings)) as services:
        return await list_deliveries(status, limit, services.reads.at(PRIMARY))


async def redispatch_jobs(settings: Settings, since: timedelta) -> int:
    """After losing the queue (a Redis that restarted empty): the jobs dispatched within ``since``
    go back to the outbox; the worker's relay queues them again within seconds."""
    async with running_services(build_services(settings)) as services:
        async with services.database.get_engine().begin() as connection:
            count = await redispatch_since(connection, since=since)
        await services.database.get_engine().dispose()
    return count
