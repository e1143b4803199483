"""Operator actions run from the CLI, through the same commands and session registry as the API."""

from __future__ import annotations

from uuid import UUID

from advanced_alchemy.extensions.litestar import SQLAlchemyAsyncConfig

from domain.accounts.commands import PromoteToAdmin, promote_to_admin
from domain.accounts.errors import UserNotFound
from domain.accounts.services import UserService
from domain.messaging.outbox import EmailDeliveryRead, list_deliveries
from infrastructure.database.primary import migration_config
from infrastructure.database.reads import ReadSide
from infrastructure.sessions import now_ms
from infrastructure.settings import Settings


async def promote(settings: Settings, primary_url: str, email: str) -> UUID:
    """Make ``email`` an admin and end their sessions (a role travels in tokens)."""
    from rural24.app import create_app
    from rural24.state import Services

    config: SQLAlchemyAsyncConfig = migration_config(primary_url)
    try:
        async with config.get_session() as session:
            users = UserService(session=session)
            try:
                user = await promote_to_admin(PromoteToAdmin(email=email), users)
            except UserNotFound as exc:
                raise LookupError(exc.detail) from exc
            await session.commit()
            user_id = user.id
    finally:
        await config.get_engine().dispose()
    # The committed sessions_valid_after already ends every token on every running instance (a
    # trigger NOTIFYs them); the registry the API uses (Redis records) is told directly as well.
    app = create_app(settings)
    services = Services.of(app.state)
    await services.read_side.start()
    try:
        await services.authenticator.sessions.revoke_all(str(user_id), now_ms())
    finally:
        await services.read_side.close()
        if services.redis is not None:
            await services.redis.close()
    return user_id


async def list_emails(primary_url: str, status: str, limit: int) -> list[EmailDeliveryRead]:
    reads = ReadSide(primary_url, pool_size=1)
    await reads.start()
    try:
        return await list_deliveries(status, limit, reads)
    finally:
        await reads.close()
