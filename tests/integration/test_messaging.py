"""Messages and notifications (API.md: Messages and notifications), in memory and Redis modes
(``client`` fixture), on a primary with a streaming replica; WebSocket notifications in process."""

from __future__ import annotations

import queue
import time
import uuid
from typing import Any

import asyncpg
import pytest
from litestar import Litestar
from litestar.exceptions import WebSocketDisconnect
from litestar.testing import AsyncTestClient, WebSocketTestSession

from infrastructure.settings import Settings
from rural24.services import Services
from tests.conftest import PgDatabase, make_settings
from tests.harness.redis import RedisServer, RedisService

PASSWORD = "soja-girasol-2026"
Client = AsyncTestClient[Litestar]
WAIT = 5.0  # bounded waits on sockets: a lost event fails the test instead of hanging it


@pytest.fixture
def settings(mode: str, database: PgDatabase, request: pytest.FixtureRequest) -> Settings:
    """The conftest's settings with the messages limit spelled out (it is also the default)."""
    redis_url = request.getfixturevalue("redis_url") if mode == "redis" else None
    return make_settings(database, redis_url, RATE_LIMIT_MESSAGES="30/minute")


async def user(client: Client, name: str = "Marta Ríos") -> dict[str, str]:
    email = f"{uuid.uuid4().hex[:10]}@campo.com.ar"
    response = await client.post("/api/auth/register", json={"email": email, "password": PASSWORD, "name": name})
    assert response.status_code == 201, response.text
    body = response.json()
    return {"id": body["user"]["id"], "email": email, "token": body["token"], "name": name}


def auth(who: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {who['token']}"}


async def publish_ad(client: Client, owner: dict[str, str]) -> dict[str, Any]:
    categories = (await client.get("/api/categories")).json()
    body = {
        "title": "Tractor John Deere 5090E",
        "price": "38000.00",
        "currency": "USD",
        "categoryId": next(c["id"] for c in categories if c["slug"] == "tractores"),
        "province": "cordoba",
        "locality": "Río Cuarto",
    }
    response = await client.post("/api/ads", json=body, headers=auth(owner))
    assert response.status_code == 201, response.text
    ad: dict[str, Any] = response.json()
    return ad


async def send(client: Client, sender: dict[str, str], recipient: dict[str, str], content: str, **extra: Any) -> Any:
    headers = auth(sender) | extra.pop("headers", {})
    body = {"recipientId": recipient["id"], "content": content} | extra
    return await client.post("/api/messages/send", json=body, headers=headers)


async def sent(client: Client, sender: dict[str, str], recipient: dict[str, str], content: str, **extra: Any) -> Any:
    response = await send(client, sender, recipient, content, **extra)
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "private, no-store"
    return response.json()


async def inbox(client: Client, who: dict[str, str]) -> list[dict[str, Any]]:
    response = await client.get("/api/messages/conversations", headers=auth(who))
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "private, no-store"
    result: list[dict[str, Any]] = response.json()
    return result


def assert_problem(response: Any, status: int, field: str | None = None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    if field is not None:
        assert [error["field"] for error in body["errors"]] == [field], body


async def test_a_message_about_an_ad_reaches_the_sellers_inbox_unread_until_read(client: Client) -> None:
    buyer, seller, stranger = await user(client, "Ana Gómez"), await user(client, "Marta Ríos"), await user(client)
    ad = await publish_ad(client, seller)
    text = "Hola Marta, ¿sigue disponible el tractor? ¿Acepta permuta por una sembradora?"
    first = await sent(client, buyer, seller, f"  {text}\n", adId=ad["id"])
    assert set(first) == {"messageId", "conversationId"}

    (row,) = await inbox(client, seller)
    assert row["id"] == first["conversationId"]
    assert row["ad"] == {"id": ad["id"], "title": "Tractor John Deere 5090E"}
    assert row["otherUser"] == {"id": buyer["id"], "name": "Ana Gómez"}
    assert row["unreadCount"] == 1
    preview = row["lastMessage"]["preview"]
    assert len(preview) <= 50
    assert preview.endswith("…")
    assert text.startswith(preview[:-1])
    assert row["lastMessage"]["createdAt"].endswith("Z")
    assert (await inbox(client, buyer))[0]["unreadCount"] == 0  # one's own messages are never unread

    opened = await client.get(f"/api/messages/conversations/{first['conversationId']}", headers=auth(seller))
    assert opened.status_code == 200, opened.text
    assert opened.headers["cache-control"] == "private, no-store"
    page = opened.json()
    assert page["otherUser"] == {"id": buyer["id"], "name": "Ana Gómez"}
    assert page["nextCursor"] is None
    (message,) = page["messages"]
    assert message["id"] == first["messageId"]
    assert message["senderId"] == buyer["id"]
    assert message["content"] == text  # trimmed
    assert message["readAt"] is None

    read = await client.post(f"/api/messages/conversations/{first['conversationId']}/read", headers=auth(seller))
    assert read.status_code == 204, read.text
    assert (await inbox(client, seller))[0]["unreadCount"] == 0
    reopened = await client.get(f"/api/messages/conversations/{first['conversationId']}", headers=auth(buyer))
    assert reopened.json()["messages"][0]["readAt"] is not None  # the sender sees it was read

    # not a participant: the conversation does not exist for them
    other = await client.get(f"/api/messages/conversations/{first['conversationId']}", headers=auth(stranger))
    assert_problem(other, 404)
    marking = await client.post(f"/api/messages/conversations/{first['conversationId']}/read", headers=auth(stranger))
    assert_problem(marking, 404)
    assert_problem(await client.get(f"/api/messages/conversations/{uuid.uuid4()}", headers=auth(buyer)), 404)
    assert await inbox(client, stranger) == []

    # the seller's reply and the buyer's next message about the ad: the same conversation
    reply = await sent(client, seller, buyer, "Sí, sigue disponible.", adId=ad["id"])
    again = await sent(client, buyer, seller, "¡Genial! ¿Cuándo lo puedo ver?", adId=ad["id"])
    assert reply["conversationId"] == again["conversationId"] == first["conversationId"]
    # about no ad: another conversation, now the newest in both inboxes
    general = await sent(client, buyer, seller, "Otra consulta, sin aviso.")
    assert general["conversationId"] != first["conversationId"]
    rows = await inbox(client, seller)
    assert [r["id"] for r in rows] == [general["conversationId"], first["conversationId"]]
    assert rows[0]["ad"] is None
    assert [r["unreadCount"] for r in rows] == [1, 1]
    assert [r["unreadCount"] for r in await inbox(client, buyer)] == [0, 1]
    assert (
        len((await client.get("/api/messages/conversations", params={"pageSize": 1}, headers=auth(seller))).json()) == 1
    )


async def test_what_cannot_be_sent(client: Client, database: PgDatabase) -> None:
    buyer, seller, third = await user(client), await user(client), await user(client)
    ad = await publish_ad(client, seller)
    assert_problem(await send(client, buyer, buyer, "a mí mismo"), 422, "recipientId")
    assert_problem(await send(client, buyer, seller, "   \n\t  "), 422, "content")
    assert_problem(await send(client, buyer, seller, ""), 422, "content")
    assert_problem(await send(client, buyer, seller, "x" * 2001), 422, "content")
    assert (await send(client, buyer, seller, "x" * 2000)).status_code == 201
    assert (await send(client, buyer, seller, " " + "y" * 1999 + " ")).status_code == 201  # trimmed first
    assert_problem(await send(client, buyer, {"id": str(uuid.uuid4())}, "¿hola?"), 404)
    assert_problem(await send(client, buyer, seller, "¿hola?", adId=str(uuid.uuid4())), 404)
    # the ad must belong to one of the two
    assert_problem(await send(client, buyer, third, "mirá este aviso", adId=ad["id"]), 422, "adId")
    refused = await send(client, buyer, seller, "hola", senderId=third["id"])
    assert refused.status_code == 422, refused.text  # fields that cannot be set
    no_token = await client.post("/api/messages/send", json={"recipientId": seller["id"], "content": "hola"})
    assert_problem(no_token, 401)
    bad_cursor = await client.get(
        f"/api/messages/conversations/{uuid.uuid4()}", params={"cursor": "not-a-cursor"}, headers=auth(buyer)
    )
    assert_problem(bad_cursor, 422, "cursor")

    # a blocked user cannot be written to (and looks missing, like their public profile)
    connection = await asyncpg.connect(database.primary_url.replace("+asyncpg", ""))
    try:
        await connection.execute("UPDATE users SET blocked_at = now() WHERE id = $1::uuid", third["id"])
    finally:
        await connection.close()
    assert_problem(await send(client, buyer, third, "¿estás?"), 404)


async def test_keyset_paging_returns_every_message_once_newest_first(client: Client) -> None:
    buyer, seller = await user(client), await user(client)
    ids = [(await sent(client, buyer if i % 2 else seller, seller if i % 2 else buyer, f"mensaje {i}"))["messageId"]
           for i in range(7)]  # fmt: skip
    conversation = (await inbox(client, buyer))[0]["id"]
    seen: list[str] = []
    pages = []
    cursor = None
    while True:
        params = {"pageSize": 3} | ({"cursor": cursor} if cursor else {})
        response = await client.get(f"/api/messages/conversations/{conversation}", params=params, headers=auth(buyer))
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append(len(page["messages"]))
        seen.extend(message["id"] for message in page["messages"])
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert pages == [3, 3, 1]
    assert seen == list(reversed(ids))
    too_big = await client.get(f"/api/messages/conversations/{conversation}", params={"pageSize": 51},
                               headers=auth(buyer))  # fmt: skip
    assert too_big.status_code == 422
    assert too_big.json()["errors"][0]["field"] == "pageSize"


async def test_the_same_idempotency_key_sends_once(client: Client) -> None:
    buyer, seller = await user(client), await user(client)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = await send(client, buyer, seller, "Ofrezco 35.000 USD", headers=key)
    second = await send(client, buyer, seller, "Ofrezco 35.000 USD", headers=key)
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["idempotent-replayed"] == "true"
    other_body = await send(client, buyer, seller, "Ofrezco 36.000 USD", headers=key)
    assert_problem(other_body, 422)
    page = (
        await client.get(f"/api/messages/conversations/{first.json()['conversationId']}", headers=auth(seller))
    ).json()
    assert [m["id"] for m in page["messages"]] == [first.json()["messageId"]]


async def test_the_31st_message_in_a_minute_is_refused(client: Client) -> None:
    buyer, seller = await user(client), await user(client)
    for i in range(30):
        response = await send(client, buyer, seller, f"mensaje {i}")
        assert response.status_code == 201, (i, response.text)
    refused = await send(client, buyer, seller, "uno más")
    assert_problem(refused, 429)
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.headers["ratelimit-limit"] == "30"
    assert refused.headers["ratelimit-remaining"] == "0"
    assert 1 <= int(refused.headers["ratelimit-reset"]) <= 60
    reset_at = refused.json()["resetAt"]
    assert isinstance(reset_at, int)
    assert time.time() < reset_at <= time.time() + 61
    # per user: the seller still has their own budget
    assert (await send(client, seller, buyer, "respuesta")).status_code == 201


# -- WebSocket notifications ---------------------------------------------------------------------


def receive_json(socket: WebSocketTestSession) -> dict[str, Any]:
    event: dict[str, Any] = socket.receive_json(timeout=WAIT)
    return event


def assert_closed_unauthorized(socket: WebSocketTestSession) -> None:
    with pytest.raises(WebSocketDisconnect) as closed:
        socket.receive_text(timeout=WAIT)
    assert closed.value.code == 4401, closed.value


async def test_the_recipient_socket_gets_message_new(client: Client) -> None:
    buyer, seller = await user(client, "Ana Gómez"), await user(client)
    with await client.websocket_connect(f"/api/ws/notifications?token={seller['token']}") as socket:
        assert receive_json(socket) == {"type": "ready"}
        content = "¿Cuánto pide por el tractor? Tengo una sembradora para permutar si le interesa."
        started = time.perf_counter()
        response = await sent(client, buyer, seller, content)
        answered = time.perf_counter()
        event = receive_json(socket)
        arrived = time.perf_counter()
        print(
            f"\nin-process: send answered in {(answered - started) * 1000:.1f} ms, "
            f"event on the socket {(arrived - started) * 1000:.1f} ms after the send started"
        )
        assert event == {
            "type": "message.new",
            "messageId": response["messageId"],
            "conversationId": response["conversationId"],
            "from": {"id": buyer["id"], "name": "Ana Gómez"},
            "preview": event["preview"],
        }
        assert len(event["preview"]) <= 50
        assert content.startswith(event["preview"].removesuffix("…"))
        # keep-alive for proxies: the client may ping
        socket.send_text("ping")
        assert receive_json(socket) == {"type": "pong"}


async def test_socket_token_from_the_subprotocol_or_the_header(client: Client) -> None:
    buyer, seller = await user(client), await user(client)
    with await client.websocket_connect("/api/ws/notifications", subprotocols=["bearer", seller["token"]]) as socket:
        assert socket.accepted_subprotocol == "bearer"  # never the token
        assert receive_json(socket) == {"type": "ready"}
        await sent(client, buyer, seller, "hola")
        assert receive_json(socket)["type"] == "message.new"
    with await client.websocket_connect("/api/ws/notifications", headers=auth(seller)) as socket:
        assert receive_json(socket) == {"type": "ready"}


async def test_sockets_without_a_valid_token_are_closed_with_4401(client: Client) -> None:
    someone = await user(client)
    for url in (
        "/api/ws/notifications",
        "/api/ws/notifications?token=",
        "/api/ws/notifications?token=not.a.token",
        f"/api/ws/notifications?token={someone['token'][:-2]}",
    ):
        with await client.websocket_connect(url) as socket:
            assert_closed_unauthorized(socket)
    assert (await client.post("/api/auth/logout", headers=auth(someone))).status_code == 204
    with await client.websocket_connect(f"/api/ws/notifications?token={someone['token']}") as socket:
        assert_closed_unauthorized(socket)  # revoked


async def test_ending_sessions_closes_the_open_sockets(client: Client) -> None:
    buyer, seller = await user(client), await user(client)
    phone = await client.post("/api/auth/login", json={"email": seller["email"], "password": PASSWORD})
    phone_token = phone.json()["token"]
    with (
        await client.websocket_connect(f"/api/ws/notifications?token={seller['token']}") as laptop_socket,
        await client.websocket_connect(f"/api/ws/notifications?token={phone_token}") as phone_socket,
    ):
        assert receive_json(laptop_socket) == receive_json(phone_socket) == {"type": "ready"}
        # logging out the phone closes the phone's socket only
        assert (
            await client.post("/api/auth/logout", headers={"Authorization": f"Bearer {phone_token}"})
        ).status_code == 204
        assert_closed_unauthorized(phone_socket)
        await sent(client, buyer, seller, "¿sigue en venta?")
        assert receive_json(laptop_socket)["type"] == "message.new"
        # logging out of every device closes the rest
        assert (await client.post("/api/auth/logout-all-devices", headers=auth(seller))).status_code == 204
        assert_closed_unauthorized(laptop_socket)


async def test_blocking_a_user_closes_their_sockets(client: Client) -> None:
    admin, victim = await user(client), await user(client)
    settings = Services.of(client.app.state).settings
    assert settings.db.url is not None
    connection = await asyncpg.connect(settings.db.url.replace("+asyncpg", ""))
    try:
        await connection.execute("UPDATE users SET role = 'admin' WHERE id = $1::uuid", admin["id"])
    finally:
        await connection.close()
    login = await client.post("/api/auth/login", json={"email": admin["email"], "password": PASSWORD})
    admin_auth = {"Authorization": f"Bearer {login.json()['token']}"}
    with await client.websocket_connect(f"/api/ws/notifications?token={victim['token']}") as socket:
        assert receive_json(socket) == {"type": "ready"}
        assert (await client.post(f"/api/admin/users/{victim['id']}/block", headers=admin_auth)).status_code == 204
        assert_closed_unauthorized(socket)


@pytest.mark.redis
async def test_notifications_resume_after_redis_restarts(database: PgDatabase, redis_service: RedisService) -> None:
    """A Redis restart loses the events published meanwhile, never the subscription: the reading
    task resubscribes and later events arrive on the socket opened before the outage."""
    from rural24.app import create_app

    if redis_service.server is None:
        pytest.skip("REDIS_URL points at an external Redis: no redis-server of ours to restart")
    server = RedisServer(binary=redis_service.server.binary)  # not the session's: others use that one
    server.start()
    try:
        app = create_app(make_settings(database, server.url))
        async with AsyncTestClient(app=app) as client:
            buyer, seller = await user(client), await user(client)
            with await client.websocket_connect(f"/api/ws/notifications?token={seller['token']}") as socket:
                assert receive_json(socket) == {"type": "ready"}
                server.restart()  # empty: the subscription must be made again
                deadline = time.monotonic() + 15
                event = None
                while event is None and time.monotonic() < deadline:
                    await sent(client, buyer, seller, "¿llegó?")
                    try:
                        event = socket.receive_json(timeout=0.5)
                    except queue.Empty:
                        continue
                assert event is not None, "no event within 15 s of the Redis restart"
                assert event["type"] == "message.new"
    finally:
        server.stop()
