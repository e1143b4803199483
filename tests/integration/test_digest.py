"""The new-message digest: scheduled on send, emails only what is still unread, never twice."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

from sqlalchemy import text as sql
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from domain.messaging.digest import SendMessageDigest, queue_message_digest
from domain.shared.unit_of_work import Actor, Command
from infrastructure.jobs import build_queue
from infrastructure.unit_of_work import SqlUnitOfWork
from rural24.services import Services
from tests.integration.test_ads import Client, auth, user


async def test_digest_lists_unread_messages_once(client: Client) -> None:
    sender, recipient = await user(client), await user(client)
    for text in ("Hola, ¿sigue disponible el tractor?", "¿Acepta permuta por una camioneta?"):
        sent = await client.post(
            "/api/messages/send", json={"recipientId": recipient["id"], "content": text}, headers=auth(sender)
        )
        assert sent.status_code == 201, sent.text
    settings = Services.of(client.app.state).settings
    assert settings.db.url is not None
    digest = Command(Actor.system(), SendMessageDigest(user_id=uuid.UUID(recipient["id"])))

    queue = build_queue(settings, settings.db.url)
    await queue.connect()
    try:
        job = await queue.job(f"digest:{recipient['id']}")
    finally:
        await queue.disconnect()
    assert job is not None
    assert job.scheduled > time.time() + 60  # later: only if the recipient stays offline

    engine = create_async_engine(settings.db.url)
    try:
        async with AsyncSession(engine) as connection, connection.begin():
            uow = SqlUnitOfWork(connection, datetime.now(UTC))
            first = await queue_message_digest(digest, uow)
            again = await queue_message_digest(digest, uow)
            body = await connection.scalar(sql("SELECT body FROM email_deliveries WHERE id = :id"), {"id": first})
        assert first is not None
        assert again is None  # nothing new since: not told twice
        assert "sigue disponible" in body
        assert "permuta" in body

        conversation = (await client.get("/api/messages/conversations", headers=auth(recipient))).json()[0]
        read = await client.post(f"/api/messages/conversations/{conversation['id']}/read", headers=auth(recipient))
        assert read.status_code == 204
        async with AsyncSession(engine) as connection, connection.begin():
            uow = SqlUnitOfWork(connection, datetime.now(UTC))
            assert await queue_message_digest(digest, uow) is None  # all read
    finally:
        await engine.dispose()
