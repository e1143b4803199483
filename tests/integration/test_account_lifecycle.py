"""The account lifecycle through the API: email verification, password reset, password and email
change, account deletion. Every test runs in each session set-up (memory + JWT deny-list, Redis +
JWT deny-list, Redis session records). Emails are delivered by the real delivery step
(``rural24.emails.send_email``: outbox row → slots filled → mailer) into the console mailer, and the
tests read the links from them as a user would. Two instances: tests/e2e/test_sessions_across_instances.py.
"""

from __future__ import annotations

import re
import uuid
import weakref
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlparse

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from infrastructure.email import ConsoleMailer, Email
from rural24.emails import send_email
from rural24.services import Services, build_services, running_services
from tests.conftest import PgDatabase, assert_problem, make_settings

PASSWORD = "alfalfa-y-soja-2026"
NEW_PASSWORD = "girasol-y-sorgo-2027"
FRONTEND = "https://app.rural24.test"
Client = AsyncTestClient[Litestar]


@pytest.fixture(params=["memory-jwt", "redis-jwt", "redis-sessions"])
def session_mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def settings_for(session_mode: str, database: PgDatabase, request: pytest.FixtureRequest, **extra: str) -> Any:
    extra = {"FRONTEND_URL": FRONTEND} | extra
    if session_mode == "memory-jwt":
        return make_settings(database, **extra)
    strategy = "redis" if session_mode == "redis-sessions" else "jwt"
    return make_settings(database, request.getfixturevalue("redis_url"), SESSION_STRATEGY=strategy, **extra)


@pytest.fixture
async def api(session_mode: str, database: PgDatabase, request: pytest.FixtureRequest) -> AsyncIterator[Client]:
    from rural24.app import create_app

    async with AsyncTestClient(app=create_app(settings_for(session_mode, database, request))) as client:
        yield client


# -- helpers ------------------------------------------------------------------------------------


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def register(client: Client, email: str | None = None, **extra: Any) -> dict[str, Any]:
    email = email or f"{uuid.uuid4().hex[:10]}@campo.com.ar"
    body = {"email": email, "password": PASSWORD, "name": "Juan Pérez"} | extra
    response = await client.post("/api/auth/register", json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def login(client: Client, email: str, password: str = PASSWORD) -> Any:
    return await client.post("/api/auth/login", json={"email": email, "password": password})


async def token_of(client: Client, email: str, password: str = PASSWORD) -> str:
    response = await login(client, email, password)
    assert response.status_code == 200, response.text
    return str(response.json()["token"])


def services(client: Client) -> Services:
    return Services.of(client.app.state)


async def sql(client: Client) -> asyncpg.Connection:
    url = services(client).settings.db.url
    assert url is not None
    return await asyncpg.connect(url.replace("+asyncpg", ""))


_DELIVERED: weakref.WeakKeyDictionary[Client, list[Email]] = weakref.WeakKeyDictionary()


async def inbox(client: Client, to: str) -> list[Email]:
    """Deliver every pending email to ``to`` as the worker does (its own services, the delivery job
    ``send_email``) and return everything that reached ``to`` so far, oldest first."""
    connection = await sql(client)
    try:
        pending = await connection.fetch(
            "SELECT id FROM email_deliveries WHERE to_address = $1 AND status = 'pending' ORDER BY created_at", to
        )
    finally:
        await connection.close()
    worker = build_services(services(client).settings)
    try:
        async with running_services(worker):
            for row in pending:
                assert await send_email({"services": worker}, delivery_id=str(row["id"])) == "sent"
    finally:
        await worker.database.get_engine().dispose()
    assert isinstance(worker.mailer, ConsoleMailer)
    delivered = _DELIVERED.setdefault(client, [])
    delivered.extend(worker.mailer.sent)
    return [email for email in delivered if email.to == to]


def link_token(email: Email, path: str) -> str:
    """The token of the email's link to ``FRONTEND/path``, checked in both parts of the email."""
    links = re.findall(r"https?://[^\s\"<>]+", email.text)
    assert len(links) == 1, email.text
    url = urlparse(links[0])
    assert f"{url.scheme}://{url.netloc}" == FRONTEND
    assert url.path == path
    token = parse_qs(url.query)["token"][0]
    assert email.html is not None
    assert f"{FRONTEND}{path}?token={token}" in email.html
    return token


async def assert_nowhere_in_the_database(client: Client, *needles: str) -> None:
    """No text-like column of any table holds any of ``needles``."""
    connection = await sql(client)
    try:
        columns = await connection.fetch(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' "
            "AND data_type IN ('text', 'character varying', 'jsonb', 'json', 'ARRAY', 'bytea', 'tsvector')"
        )
        assert columns
        for needle in needles:
            for column in columns:
                table, name = column["table_name"], column["column_name"]
                found = await connection.fetchval(
                    f'SELECT count(*) FROM "{table}" WHERE strpos(lower("{name}"::text), lower($1)) > 0', needle
                )
                assert found == 0, f"{needle!r} is still in {table}.{name}"
    finally:
        await connection.close()


# -- email verification --------------------------------------------------------------------------


async def test_the_welcome_email_verifies_the_address_once(api: Client) -> None:
    registered = await register(api)
    email, token = registered["user"]["email"], registered["token"]
    me = await api.get("/api/me", headers=bearer(token))
    assert me.json()["emailVerified"] is False

    [welcome] = await inbox(api, email)
    assert welcome.subject == "¡Bienvenido a Rural24!"
    assert "Juan Pérez" in welcome.text
    assert "Juan P&eacute;rez" not in welcome.text
    link = link_token(welcome, "/verificar-email")
    # the token is stored nowhere: not in the outbox, not in the tokens table
    await assert_nowhere_in_the_database(api, link)

    assert (await api.post("/api/auth/verify-email", json={"token": link})).status_code == 204
    assert (await api.get("/api/me", headers=bearer(token))).json()["emailVerified"] is True
    used = assert_problem(await api.post("/api/auth/verify-email", json={"token": link}), 410)
    assert "already used" in used["detail"]


async def test_bad_verification_tokens_are_400_problems(api: Client) -> None:
    registered = await register(api)
    [welcome] = await inbox(api, registered["user"]["email"])
    link = link_token(welcome, "/verificar-email")
    forged = link[:-1] + ("A" if link[-1] != "A" else "B")
    for token in (forged, "x", "no-such-token-" * 3):
        assert_problem(await api.post("/api/auth/verify-email", json={"token": token}), 400)
    # a verification token is not a reset token, and the other way round
    assert_problem(await api.post("/api/auth/reset-password", json={"token": link, "password": NEW_PASSWORD}), 400)
    missing = assert_problem(await api.post("/api/auth/verify-email", json={}), 422)
    assert [e["field"] for e in missing["errors"]] == ["token"]
    # the real one still works after all those
    assert (await api.post("/api/auth/verify-email", json={"token": link})).status_code == 204


async def test_resend_verification_replaces_the_link_and_never_tells_who_exists(api: Client) -> None:
    registered = await register(api)
    email = registered["user"]["email"]
    [welcome] = await inbox(api, email)
    first = link_token(welcome, "/verificar-email")

    known = await api.post("/api/auth/resend-verification", json={"email": email.upper()})
    unknown = await api.post("/api/auth/resend-verification", json={"email": "nadie@campo.com.ar"})
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()
    assert known.headers["content-type"] == unknown.headers["content-type"]
    assert await inbox(api, "nadie@campo.com.ar") == []

    emails = await inbox(api, email)
    assert len(emails) == 2
    second = link_token(emails[1], "/verificar-email")
    assert second != first
    assert_problem(await api.post("/api/auth/verify-email", json={"token": first}), 410)  # replaced
    assert (await api.post("/api/auth/verify-email", json={"token": second})).status_code == 204
    # verified: asking again sends nothing, with the same answer
    again = await api.post("/api/auth/resend-verification", json={"email": email})
    assert again.status_code == 202
    assert again.json() == known.json()
    assert len(await inbox(api, email)) == 2


# -- password reset ------------------------------------------------------------------------------


async def test_password_reset_sets_the_password_once_and_ends_every_session(
    api: Client, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    registered = await register(api)
    email = registered["user"]["email"]
    phone, laptop = registered["token"], await token_of(api, email)

    known = await api.post("/api/auth/forgot-password", json={"email": f"  {email.upper()} "})
    unknown = await api.post("/api/auth/forgot-password", json={"email": "nadie@campo.com.ar"})
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()
    assert await inbox(api, "nadie@campo.com.ar") == []
    reset = (await inbox(api, email))[-1]
    assert reset.subject == "Restablecé tu contraseña de Rural24"
    token = link_token(reset, "/restablecer-clave")
    await assert_nowhere_in_the_database(api, token)

    short = assert_problem(await api.post("/api/auth/reset-password", json={"token": token, "password": "corta"}), 422)
    assert [e["field"] for e in short["errors"]] == ["password"]
    done = await api.post("/api/auth/reset-password", json={"token": token, "password": NEW_PASSWORD})
    assert done.status_code == 204, done.text

    for old in (phone, laptop):  # every session ended
        assert_problem(await api.get("/api/me", headers=bearer(old)), 401)
    assert_problem(await login(api, email), 401)
    fresh = await token_of(api, email, NEW_PASSWORD)
    me = (await api.get("/api/me", headers=bearer(fresh))).json()
    assert me["emailVerified"] is True  # the link proved the mailbox
    again = await api.post("/api/auth/reset-password", json={"token": token, "password": PASSWORD})
    assert_problem(again, 410)
    assert (await inbox(api, email))[-1].subject == "Tu contraseña de Rural24 cambió"
    # no log line carried the token, neither while it was mailed nor when it was used
    captured = capsys.readouterr()
    assert caplog.records
    assert token not in caplog.text + captured.out + captured.err


async def test_an_expired_or_replaced_reset_link_is_410(api: Client) -> None:
    email = (await register(api))["user"]["email"]
    await api.post("/api/auth/forgot-password", json={"email": email})
    first = link_token((await inbox(api, email))[-1], "/restablecer-clave")
    await api.post("/api/auth/forgot-password", json={"email": email})
    second = link_token((await inbox(api, email))[-1], "/restablecer-clave")
    replaced = await api.post("/api/auth/reset-password", json={"token": first, "password": NEW_PASSWORD})
    assert_problem(replaced, 410)

    connection = await sql(api)
    try:  # an hour later
        await connection.execute(
            "UPDATE account_tokens SET expires_at = now() - interval '1 second' WHERE purpose = 'reset_password'"
        )
    finally:
        await connection.close()
    expired = assert_problem(
        await api.post("/api/auth/reset-password", json={"token": second, "password": NEW_PASSWORD}), 410
    )
    assert "expired" in expired["detail"]
    assert (await login(api, email)).status_code == 200  # nothing changed


async def test_reset_and_resend_are_limited_per_email_and_per_address_alike_for_unknown_emails(
    database: PgDatabase, request: pytest.FixtureRequest
) -> None:
    from rural24.app import create_app

    settings = settings_for(
        "memory-jwt",
        database,
        request,
        RATE_LIMIT_ACCOUNT_EMAIL="2/hour",
        RATE_LIMIT_ACCOUNT_EMAIL_IP="5/hour",
        TRUSTED_PROXY_HOPS="1",
    )
    async with AsyncTestClient(app=create_app(settings)) as client:
        email = (await register(client))["user"]["email"]

        async def ask(path: str, who: str, address: str) -> Any:
            return await client.post(path, json={"email": who}, headers={"X-Forwarded-For": address})

        for who in (email, "nadie@campo.com.ar"):  # per email: reset and resend share the budget
            statuses = [
                (await ask("/api/auth/forgot-password", who, "10.0.0.1")).status_code,
                (await ask("/api/auth/resend-verification", who, "10.0.0.2")).status_code,
                (await ask("/api/auth/forgot-password", who, "10.0.0.3")).status_code,
            ]
            assert statuses == [202, 202, 429], who
        refused = await ask("/api/auth/forgot-password", email, "10.0.0.4")
        body = assert_problem(refused, 429)
        assert int(refused.headers["retry-after"]) > 0
        assert body["resetAt"]
        # per address: five asks for five different emails, then the sixth is refused
        addresses = [
            (await ask("/api/auth/forgot-password", f"x{i}@campo.com.ar", "10.9.9.9")).status_code for i in range(6)
        ]
        assert addresses == [202] * 5 + [429]


# -- changing the password -----------------------------------------------------------------------


async def test_changing_the_password_keeps_this_session_and_ends_the_others(api: Client) -> None:
    registered = await register(api)
    email = registered["user"]["email"]
    this, other = await token_of(api, email), await token_of(api, email)

    wrong = await api.post(
        "/api/me/password",
        json={"currentPassword": "no-es-la-clave", "newPassword": NEW_PASSWORD},
        headers=bearer(this),
    )
    assert_problem(wrong, 403)
    assert (await api.get("/api/me", headers=bearer(this))).status_code == 200  # a wrong password is not a logout
    weak = await api.post(
        "/api/me/password", json={"currentPassword": PASSWORD, "newPassword": "corta"}, headers=bearer(this)
    )
    assert [e["field"] for e in assert_problem(weak, 422)["errors"]] == ["newPassword"]

    changed = await api.post(
        "/api/me/password", json={"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}, headers=bearer(this)
    )
    assert changed.status_code == 204, changed.text
    assert (await api.get("/api/me", headers=bearer(this))).status_code == 200
    for ended in (other, registered["token"]):
        assert_problem(await api.get("/api/me", headers=bearer(ended)), 401)
    assert_problem(await login(api, email), 401)
    later = await token_of(api, email, NEW_PASSWORD)
    assert (await api.get("/api/me", headers=bearer(later))).status_code == 200
    # the kept session is an ordinary one: logging out of it works, and a logout-all ends it
    assert (await api.post("/api/auth/logout-all-devices", headers=bearer(later))).status_code == 204
    assert_problem(await api.get("/api/me", headers=bearer(this)), 401)
    assert (await inbox(api, email))[-1].subject == "Tu contraseña de Rural24 cambió"


# -- changing the email ----------------------------------------------------------------------------


async def test_changing_the_email_takes_effect_only_when_confirmed(api: Client) -> None:
    registered = await register(api)
    old, token = registered["user"]["email"], registered["token"]
    taken = (await register(api))["user"]["email"]
    new = f"nuevo-{uuid.uuid4().hex[:8]}@estancia.com.ar"

    wrong = await api.post("/api/me/email", json={"password": "no-es-la-clave", "newEmail": new}, headers=bearer(token))
    assert_problem(wrong, 403)
    conflict = await api.post("/api/me/email", json={"password": PASSWORD, "newEmail": taken}, headers=bearer(token))
    assert_problem(conflict, 409)
    bad = await api.post(
        "/api/me/email", json={"password": PASSWORD, "newEmail": "no-es-un-email"}, headers=bearer(token)
    )
    assert [e["field"] for e in assert_problem(bad, 422)["errors"]] == ["newEmail"]

    asked = await api.post("/api/me/email", json={"password": PASSWORD, "newEmail": new.upper()}, headers=bearer(token))
    assert asked.status_code == 202, asked.text
    assert asked.json()["pendingEmail"] == new
    assert (await api.get("/api/me", headers=bearer(token))).json()["email"] == old  # not yet

    [confirm] = await inbox(api, new)
    link = link_token(confirm, "/confirmar-email")
    notice = (await inbox(api, old))[-1]
    assert new in notice.text
    assert "token=" not in notice.text

    # another account's session cannot use the link
    someone = (await register(api))["token"]
    assert_problem(await api.post("/api/me/email/confirm", json={"token": link}, headers=bearer(someone)), 400)
    assert_problem(await api.post("/api/me/email/confirm", json={"token": link}), 401)

    confirmed = await api.post("/api/me/email/confirm", json={"token": link}, headers=bearer(token))
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["email"] == new
    assert confirmed.json()["emailVerified"] is True
    assert_problem(await api.post("/api/me/email/confirm", json={"token": link}, headers=bearer(token)), 410)
    assert (await login(api, new)).status_code == 200
    assert_problem(await login(api, old), 401)
    # the old address is free again
    assert (
        await api.post("/api/auth/register", json={"email": old, "password": PASSWORD, "name": "Otra"})
    ).status_code == 201


# -- deleting the account ------------------------------------------------------------------------


async def _category(client: Client) -> str:
    categories = (await client.get("/api/categories")).json()
    return str(next(c["id"] for c in categories if c["slug"] == "tractores"))


async def test_deleting_the_account_erases_it_and_keeps_the_conversation_readable(api: Client, pg_cluster: Any) -> None:
    marker = uuid.uuid4().hex[:8]
    name, phone = f"Zoilo Quispe {marker}", f"+54 9 387 {marker}"
    email = f"zoilo-{marker}@finca.com.ar"
    registered = await register(api, email=email, name=name, phone=phone, province="salta")
    leaver, leaver_id = registered["token"], registered["user"]["id"]
    other_session = await token_of(api, email)
    buyer = await register(api)
    buyer_auth = bearer(buyer["token"])

    ad = await api.post(
        "/api/ads",
        json={
            "title": f"Tractor Zanello {marker}",
            "description": f"Llamar al {phone}",
            "price": "38000.00",
            "currency": "USD",
            "categoryId": await _category(api),
            "province": "salta",
            "locality": "Cafayate",
        },
        headers=bearer(leaver),
    )
    assert ad.status_code == 201, ad.text
    ad_id = ad.json()["id"]
    assert (await api.put(f"/api/ads/{ad_id}/favorite", headers=buyer_auth)).status_code == 204
    assert (await api.put(f"/api/ads/{ad_id}/favorite", headers=bearer(leaver))).status_code == 204
    saved_body = {"filters": {"q": f"tractor {marker}"}, "frequency": "instant"}
    saved = await api.post("/api/me/saved-searches", json=saved_body, headers=bearer(leaver))
    assert saved.status_code == 201, saved.text
    # a conversation both ways
    to_leaver = await api.post(
        "/api/messages/send",
        json={"recipientId": leaver_id, "content": "¿Sigue disponible?", "adId": ad_id},
        headers=buyer_auth,
    )
    assert to_leaver.status_code == 201, to_leaver.text
    reply = await api.post(
        "/api/messages/send",
        json={"recipientId": buyer["user"]["id"], "content": "Sí, pasá a verlo", "adId": ad_id},
        headers=bearer(leaver),
    )
    assert reply.status_code == 201, reply.text
    await api.post("/api/auth/forgot-password", json={"email": email})  # a pending email with a link

    wrong = await api.request("DELETE", "/api/me", json={"password": "no-es-la-clave"}, headers=bearer(leaver))
    assert_problem(wrong, 403)
    gone = await api.request("DELETE", "/api/me", json={"password": PASSWORD}, headers=bearer(leaver))
    assert gone.status_code == 204, gone.text

    for token in (leaver, other_session):
        assert_problem(await api.get("/api/me", headers=bearer(token)), 401)
    assert_problem(await login(api, email), 401)
    assert (await api.get(f"/api/ads/{ad_id}")).status_code == 404
    assert ad_id not in str((await api.get("/api/ads/search", params={"q": marker})).json())
    await pg_cluster.replica.wait_caught_up()
    assert (await api.get(f"/api/users/{leaver_id}")).status_code == 404
    assert (await api.get("/api/me/favorites", headers=buyer_auth)).json() == []

    # the buyer still reads the conversation; its author is neutral now
    [conversation] = (await api.get("/api/messages/conversations", headers=buyer_auth)).json()
    assert conversation["otherUser"] == {"id": leaver_id, "name": "usuario eliminado"}
    assert conversation["ad"] in (None, {"id": ad_id, "title": "aviso eliminado"})
    thread = (await api.get(f"/api/messages/conversations/{conversation['id']}", headers=buyer_auth)).json()
    assert {m["content"] for m in thread["messages"]} == {"¿Sigue disponible?", "Sí, pasá a verlo"}

    await assert_nowhere_in_the_database(api, email, name, phone, marker)
    # the address can open a new account
    again = await api.post("/api/auth/register", json={"email": email, "password": PASSWORD, "name": "Zoilo"})
    assert again.status_code == 201, again.text
    assert again.json()["user"]["id"] != leaver_id


async def test_an_admin_deletes_a_user(api: Client) -> None:
    admin = await register(api)
    connection = await sql(api)
    try:
        await connection.execute("UPDATE users SET role = 'admin' WHERE id = $1", uuid.UUID(admin["user"]["id"]))
    finally:
        await connection.close()
    admin_token = await token_of(api, admin["user"]["email"])
    victim = await register(api)
    user = await register(api)

    refused = await api.delete(f"/api/admin/users/{victim['user']['id']}", headers=bearer(user["token"]))
    assert_problem(refused, 403)
    deleted = await api.delete(f"/api/admin/users/{victim['user']['id']}", headers=bearer(admin_token))
    assert deleted.status_code == 204, deleted.text
    assert_problem(await api.get("/api/me", headers=bearer(victim["token"])), 401)
    assert_problem(await api.delete(f"/api/admin/users/{victim['user']['id']}", headers=bearer(admin_token)), 404)
    assert_problem(await api.delete(f"/api/admin/users/{uuid.uuid4()}", headers=bearer(admin_token)), 404)
    await assert_nowhere_in_the_database(api, victim["user"]["email"])


# -- REQUIRE_EMAIL_VERIFICATION ------------------------------------------------------------------


async def test_unverified_users_browse_and_favorite_but_cannot_publish_or_message(
    database: PgDatabase, request: pytest.FixtureRequest
) -> None:
    from rural24.app import create_app

    settings = settings_for("memory-jwt", database, request, REQUIRE_EMAIL_VERIFICATION="true")
    async with AsyncTestClient(app=create_app(settings)) as client:
        seller = await register(client)
        buyer = await register(client)
        body = {
            "title": "Sembradora Agrometal 16 surcos",
            "price": "21000.00",
            "currency": "USD",
            "categoryId": await _category(client),
            "province": "cordoba",
            "locality": "Río Cuarto",
        }
        refused = assert_problem(await client.post("/api/ads", json=body, headers=bearer(seller["token"])), 403)
        assert "verify your email" in refused["detail"]
        [welcome] = await inbox(client, seller["user"]["email"])
        assert (
            await client.post("/api/auth/verify-email", json={"token": link_token(welcome, "/verificar-email")})
        ).status_code == 204
        published = await client.post("/api/ads", json=body, headers=bearer(seller["token"]))
        assert published.status_code == 201, published.text
        ad_id = published.json()["id"]

        # the unverified buyer can log in, browse and keep favorites ...
        assert (await login(client, buyer["user"]["email"])).status_code == 200
        assert (await client.get(f"/api/ads/{ad_id}")).status_code == 200
        assert (await client.put(f"/api/ads/{ad_id}/favorite", headers=bearer(buyer["token"]))).status_code == 204
        # ... but not write to the seller
        message = {"recipientId": seller["user"]["id"], "content": "¿Precio final?", "adId": ad_id}
        assert_problem(await client.post("/api/messages/send", json=message, headers=bearer(buyer["token"])), 403)
        assert_problem(await client.post("/api/messages/send", json=message), 401)
