"""Accounts and sessions, in every session set-up: memory + JWT deny-list, Redis + JWT deny-list,
Redis session records."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import jwt
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from infrastructure.jobs import build_queue
from infrastructure.sessions import LISTENER_NAME
from rural24.services import Services
from tests.conftest import PgDatabase, make_settings

PASSWORD = "alfalfa-y-soja-2026"
SECRET = "test-secret-" + "x" * 40  # make_settings' JWT_SECRET


@pytest.fixture(params=["memory-jwt", "redis-jwt", "redis-sessions"])
def session_mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def api(session_mode: str, database: PgDatabase, request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    from rural24.app import create_app

    if session_mode == "memory-jwt":
        settings = make_settings(database)
    else:
        strategy = "redis" if session_mode == "redis-sessions" else "jwt"
        settings = make_settings(database, request.getfixturevalue("redis_url"), SESSION_STRATEGY=strategy)
    app = create_app(settings)
    async with AsyncTestClient(app=app) as client:
        yield client


async def register(client: AsyncTestClient[Litestar], email: str | None = None, **extra: Any) -> dict[str, Any]:
    body = {"email": email or f"{uuid.uuid4().hex[:10]}@campo.com.ar", "password": PASSWORD, "name": "Juan Pérez"}
    response = await client.post("/api/auth/register", json=body | extra)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def login(client: AsyncTestClient[Litestar], email: str, password: str = PASSWORD) -> str:
    response = await client.post("/api/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    token: str = response.json()["token"]
    return token


def assert_401(response: Any) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["status"] == 401


async def test_register_login_me_logout(api: AsyncTestClient[Litestar]) -> None:
    registered = await register(api, email="  Ana.Gomez@Campo.COM.ar ", phone="+54 9 351 555 0000", province="cordoba")
    assert registered["user"]["email"] == "ana.gomez@campo.com.ar"
    assert registered["user"]["role"] == "user"
    assert "password" not in str(registered)
    assert "hash" not in str(registered).lower()
    assert registered["expiresAt"].endswith(("Z", "+00:00"))

    token = await login(api, "ANA.GOMEZ@campo.com.ar")
    me = await api.get("/api/me", headers=bearer(token))
    assert me.status_code == 200
    assert me.json()["province"] == "cordoba"
    assert me.headers["cache-control"] == "private, no-store"

    assert (await api.post("/api/auth/logout", headers=bearer(token))).status_code == 204
    assert_401(await api.get("/api/me", headers=bearer(token)))
    # the other token (from register) is untouched by a single logout
    assert (await api.get("/api/me", headers=bearer(registered["token"]))).status_code == 200


async def test_logout_all_devices_kills_every_token_at_once(api: AsyncTestClient[Litestar]) -> None:
    email = (await register(api))["user"]["email"]
    phone, laptop = await login(api, email), await login(api, email)
    assert (await api.post("/api/auth/logout-all-devices", headers=bearer(phone))).status_code == 204
    assert_401(await api.get("/api/me", headers=bearer(phone)))
    assert_401(await api.get("/api/me", headers=bearer(laptop)))
    # a login right after (same second) is a new session and works
    fresh = await login(api, email)
    assert (await api.get("/api/me", headers=bearer(fresh))).status_code == 200


async def _make_admin(api: AsyncTestClient[Litestar]) -> str:
    email = (await register(api))["user"]["email"]
    services = Services.of(api.app.state)
    dsn = services.settings.db.url
    assert dsn is not None
    connection = await asyncpg.connect(dsn.replace("+asyncpg", ""))
    try:
        await connection.execute("UPDATE users SET role = 'admin' WHERE email = $1", email)
    finally:
        await connection.close()
    return await login(api, email)


async def test_admin_block_kills_sessions_refuses_login_and_hides_the_seller(
    api: AsyncTestClient[Litestar], pg_cluster: Any
) -> None:
    admin = await _make_admin(api)
    victim = await register(api)
    victim_token = await login(api, victim["user"]["email"])
    victim_id = victim["user"]["id"]
    await pg_cluster.replica.wait_caught_up()  # public profiles are read from the replica
    assert (await api.get(f"/api/users/{victim_id}")).status_code == 200

    # an ordinary user cannot block
    assert (await api.post(f"/api/admin/users/{victim_id}/block", headers=bearer(victim_token))).status_code == 403
    assert (await api.post(f"/api/admin/users/{victim_id}/block", headers=bearer(admin))).status_code == 204

    assert_401(await api.get("/api/me", headers=bearer(victim_token)))
    assert_401(await api.get("/api/me", headers=bearer(victim["token"])))
    refused = await api.post("/api/auth/login", json={"email": victim["user"]["email"], "password": PASSWORD})
    assert_401(refused)
    await pg_cluster.replica.wait_caught_up()
    assert (await api.get(f"/api/users/{victim_id}")).status_code == 404
    assert (await api.post(f"/api/admin/users/{uuid.uuid4()}/block", headers=bearer(admin))).status_code == 404


async def test_login_failure_looks_the_same_for_unknown_email_and_wrong_password(
    api: AsyncTestClient[Litestar],
) -> None:
    email = (await register(api))["user"]["email"]
    wrong = await api.post("/api/auth/login", json={"email": email, "password": "not-the-password"})
    unknown = await api.post("/api/auth/login", json={"email": "nadie@campo.com.ar", "password": PASSWORD})
    assert_401(wrong)
    assert_401(unknown)
    assert wrong.json() == unknown.json()


async def test_register_rules(api: AsyncTestClient[Litestar]) -> None:
    email = (await register(api))["user"]["email"]
    taken = await api.post("/api/auth/register", json={"email": email.upper(), "password": PASSWORD, "name": "Otro"})
    assert taken.status_code == 409
    short = await api.post("/api/auth/register", json={"email": "a@b.com.ar", "password": "corta", "name": "A"})
    assert short.status_code == 422
    assert short.json()["errors"][0]["field"] == "password"
    admin = await api.post(
        "/api/auth/register", json={"email": "c@d.com.ar", "password": PASSWORD, "name": "C", "role": "admin"}
    )
    assert admin.status_code == 422
    assert admin.headers["content-type"].startswith("application/problem+json")
    bad_province = await api.post(
        "/api/auth/register", json={"email": "e@f.com.ar", "password": PASSWORD, "name": "E", "province": "narnia"}
    )
    assert bad_province.status_code == 422
    not_json = await api.post("/api/auth/register", content=b"{nope", headers={"content-type": "application/json"})
    assert not_json.status_code == 400


async def test_profile_update_cannot_touch_role_or_email(api: AsyncTestClient[Litestar]) -> None:
    registered = await register(api, phone="123")
    headers = bearer(registered["token"])
    changed = await api.patch("/api/me", json={"name": "  Juan   Carlos ", "phone": None}, headers=headers)
    assert changed.status_code == 200
    assert changed.json()["name"] == "Juan Carlos"
    assert changed.json()["phone"] is None
    for forbidden in ({"role": "admin"}, {"email": "otro@campo.com.ar"}):
        refused = await api.patch("/api/me", json=forbidden, headers=headers)
        assert refused.status_code == 422, forbidden
    me = (await api.get("/api/me", headers=headers)).json()
    assert me["role"] == "user"
    assert me["email"] == registered["user"]["email"]


@pytest.mark.filterwarnings("ignore:The HMAC key")  # HS512 with our key: refused for its algorithm
async def test_bad_tokens_are_401_never_500(api: AsyncTestClient[Litestar]) -> None:
    registered = await register(api)
    claims = jwt.decode(registered["token"], SECRET, algorithms=["HS256"])
    now = int(time.time())
    forged = {
        "alg none": jwt.encode(claims, key="", algorithm="none"),
        "other key": jwt.encode(claims, "another-secret-" + "y" * 40, algorithm="HS256"),
        "other algorithm": jwt.encode(claims, SECRET, algorithm="HS512"),
        "expired": jwt.encode(claims | {"exp": now - 10, "iat": now - 100}, SECRET, algorithm="HS256"),
        "malformed": "not.a.token",
        "garbage": "x" * 300,
        "no jti": jwt.encode({k: v for k, v in claims.items() if k != "jti"}, SECRET, algorithm="HS256"),
        "deleted user": jwt.encode(claims | {"sub": str(uuid.uuid4())}, SECRET, algorithm="HS256"),
        "bad sub": jwt.encode(claims | {"sub": "'; DROP TABLE users; --"}, SECRET, algorithm="HS256"),
    }
    for name, token in forged.items():
        response = await api.get("/api/me", headers=bearer(token))
        assert response.status_code == 401, f"{name}: {response.status_code} {response.text}"
        assert response.headers["content-type"].startswith("application/problem+json"), name
    assert_401(await api.get("/api/me"))
    assert_401(await api.get("/api/me", headers={"Authorization": "Basic abc"}))
    # the genuine token still works
    assert (await api.get("/api/me", headers=bearer(registered["token"]))).status_code == 200


async def test_register_queues_the_welcome_email(api: AsyncTestClient[Litestar]) -> None:
    registered = await register(api)
    settings = Services.of(api.app.state).settings
    assert settings.db.url is not None
    connection = await asyncpg.connect(settings.db.url.replace("+asyncpg", ""))
    try:  # the outbox row is committed with the account
        delivery = await connection.fetchrow(
            "SELECT id, to_address, subject, status FROM email_deliveries WHERE dedupe_key = $1",
            f"welcome:{registered['user']['id']}",
        )
    finally:
        await connection.close()
    assert delivery is not None
    assert delivery["to_address"] == registered["user"]["email"]
    assert delivery["status"] == "pending"
    # our own queue client: the app's lives in the test client's event loop
    queue = build_queue(settings, settings.db.url)
    await queue.connect()
    try:
        job = await queue.job(f"email:{delivery['id']}")
    finally:
        await queue.disconnect()
    assert job is not None
    assert job.function == "send_email"
    assert job.kwargs == {"delivery_id": str(delivery["id"])}
    assert job.retries == 3


async def test_public_seller_profile(api: AsyncTestClient[Litestar], pg_cluster: Any) -> None:
    registered = await register(api, province="la-pampa")
    await pg_cluster.replica.wait_caught_up()
    profile = await api.get(f"/api/users/{registered['user']['id']}")
    assert profile.status_code == 200
    body = profile.json()
    assert set(body) == {"id", "name", "province", "memberSince", "activeAds"}
    assert body["province"] == "la-pampa"
    assert body["activeAds"] == 0
    assert (await api.get(f"/api/users/{uuid.uuid4()}")).status_code == 404
    assert (await api.get("/api/users/not-a-uuid")).status_code in {400, 404}


async def test_login_is_limited_per_address_and_per_email(database: PgDatabase, mode: str, request: Any) -> None:
    from rural24.app import create_app

    redis_url = request.getfixturevalue("redis_url") if mode == "redis" else None
    settings = make_settings(database, redis_url, RATE_LIMIT_LOGIN="3/minute", TRUSTED_PROXY_HOPS="1")
    async with AsyncTestClient(app=create_app(settings)) as api:
        email = (await register(api))["user"]["email"]
        attempts = [
            await api.post(
                "/api/auth/login",
                json={"email": email, "password": "wrong-password"},
                headers={"X-Forwarded-For": f"10.0.0.{n}"},  # a new address each time: the email limit holds
            )
            for n in range(4)
        ]
        assert [a.status_code for a in attempts] == [401, 401, 401, 429]
        refused = attempts[-1]
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.headers["ratelimit-limit"] == "3"
        assert refused.headers["ratelimit-remaining"] == "0"
        assert refused.json()["resetAt"] > time.time()
        # another email from a fresh address is not affected
        other = await api.post("/api/auth/login", json={"email": "otra@campo.com.ar", "password": "x" * 12},
                               headers={"X-Forwarded-For": "10.0.1.1"})  # fmt: skip
        assert other.status_code == 401


# -- deleted users and durable revocation ----------------------------------------------------------


async def _sql(api: AsyncTestClient[Litestar], statement: str, *args: Any) -> str:
    dsn = Services.of(api.app.state).settings.db.url
    assert dsn is not None
    connection = await asyncpg.connect(dsn.replace("+asyncpg", ""))
    try:
        result: str = await connection.execute(statement, *args)
    finally:
        await connection.close()
    return result


async def _until_status(
    api: AsyncTestClient[Litestar], path: str, token: str, status: int, deadline: float = 5.0
) -> float:
    """Polls ``GET path`` until it answers ``status``; the seconds it took (fails at the deadline)."""
    started = time.monotonic()
    while True:
        response = await api.get(path, headers=bearer(token))
        if response.status_code == status:
            return time.monotonic() - started
        assert time.monotonic() - started < deadline, f"{path}: still {response.status_code} after {deadline}s"
        await asyncio.sleep(0.05)  # poll interval (stays under the API rate limit)


async def _every_user_route_is_401(api: AsyncTestClient[Litestar], token: str, other_id: str) -> None:
    categories = (await api.get("/api/categories")).json()
    ad = {"title": "Tractor Hanomag R 45", "description": "Anda bien", "price": "9000.00", "currency": "USD",
          "categoryId": categories[0]["id"], "province": "cordoba", "locality": "Oncativo"}  # fmt: skip
    calls = [
        ("GET", "/api/me", None),
        ("PATCH", "/api/me", {"name": "Otro"}),
        ("GET", "/api/me/ads", None),
        ("GET", "/api/me/favorites", None),
        ("GET", "/api/me/saved-searches", None),
        ("POST", "/api/me/saved-searches", {"filters": {"q": "tractor"}}),
        ("POST", "/api/ads", ad),
        ("POST", "/api/messages/send", {"recipientId": other_id, "content": "hola"}),
        ("GET", "/api/messages/conversations", None),
        ("POST", "/api/auth/logout-all-devices", None),
        ("POST", "/api/auth/logout", None),
    ]
    for method, path, body in calls:
        response = await api.request(method, path, json=body, headers=bearer(token))
        assert response.status_code == 401, f"{method} {path}: {response.status_code} {response.text}"
        assert response.headers["content-type"].startswith("application/problem+json"), path
    written = await _sql(
        api, "SELECT 1 FROM ads UNION ALL SELECT 1 FROM messages UNION ALL SELECT 1 FROM saved_searches"
    )
    assert written == "SELECT 0"


async def test_a_user_deleted_behind_the_apps_back_is_401_on_every_route(api: AsyncTestClient[Litestar]) -> None:
    victim, other = await register(api), await register(api)
    token = victim["token"]
    assert (await api.get("/api/me/saved-searches", headers=bearer(token))).status_code == 200  # mark cached
    assert await _sql(api, "DELETE FROM users WHERE id = $1::uuid", victim["user"]["id"]) == "DELETE 1"
    # no route of this one looks the user up: only the database's session event can refuse it
    await _until_status(api, "/api/me/saved-searches", token, 401, deadline=3.0)
    await _every_user_route_is_401(api, token, other["user"]["id"])
    assert (await api.get("/api/me", headers=bearer(other["token"]))).status_code == 200


async def test_a_route_that_finds_its_user_missing_answers_401_and_ends_the_sessions(
    api: AsyncTestClient[Litestar],
) -> None:
    victim, other = await register(api), await register(api)
    second = await login(api, victim["user"]["email"])
    assert (await api.get("/api/me", headers=bearer(second))).status_code == 200
    await _sql(api, "DELETE FROM users WHERE id = $1::uuid", victim["user"]["id"])
    assert_401(await api.get("/api/me", headers=bearer(victim["token"])))  # whether or not the event arrived
    await _every_user_route_is_401(api, second, other["user"]["id"])


async def test_a_block_made_in_sql_ends_the_sessions(api: AsyncTestClient[Litestar]) -> None:
    victim = await register(api)
    token = victim["token"]
    assert (await api.get("/api/me/ads", headers=bearer(token))).status_code == 200
    await _sql(api, "UPDATE users SET blocked_at = now() WHERE id = $1::uuid", victim["user"]["id"])
    await _until_status(api, "/api/me/ads", token, 401, deadline=3.0)
    assert_401(await api.get("/api/me", headers=bearer(token)))


async def test_logout_is_recorded_in_the_database_with_its_expiry(api: AsyncTestClient[Litestar]) -> None:
    registered = await register(api)
    claims = jwt.decode(registered["token"], SECRET, algorithms=["HS256"])
    assert (await api.post("/api/auth/logout", headers=bearer(registered["token"]))).status_code == 204
    dsn = Services.of(api.app.state).settings.db.url
    assert dsn is not None
    connection = await asyncpg.connect(dsn.replace("+asyncpg", ""))
    try:
        row = await connection.fetchrow(
            "SELECT user_id::text, extract(epoch FROM expires_at)::bigint FROM revoked_tokens WHERE id = $1::uuid",
            claims["jti"],
        )
    finally:
        await connection.close()
    assert row is not None
    assert (row[0], row[1]) == (registered["user"]["id"], claims["exp"])
    # a second logout of the same token is refused (it is dead) and records nothing more
    assert_401(await api.post("/api/auth/logout", headers=bearer(registered["token"])))


async def test_stage_one_instances_share_revocations_through_the_database(database: PgDatabase) -> None:
    """Two memory-store instances (WEB_CONCURRENCY=2 in stage 1): a logout, a block and a restart."""
    from rural24.app import create_app

    async with (
        AsyncTestClient(app=create_app(make_settings(database))) as a,
        AsyncTestClient(app=create_app(make_settings(database))) as b,
    ):
        user = await register(a)
        kept, gone = await login(a, user["user"]["email"]), await login(a, user["user"]["email"])
        assert (await b.get("/api/me", headers=bearer(gone))).status_code == 200
        assert (await a.post("/api/auth/logout", headers=bearer(gone))).status_code == 204
        await _until_status(b, "/api/me", gone, 401, deadline=3.0)
        assert (await b.get("/api/me", headers=bearer(kept))).status_code == 200
        victim = await register(b)
        assert (await a.get("/api/me", headers=bearer(victim["token"]))).status_code == 200
        await _sql(a, "UPDATE users SET blocked_at = now() WHERE id = $1::uuid", victim["user"]["id"])
        await _until_status(a, "/api/me", victim["token"], 401, deadline=3.0)
    # a restarted stage-1 instance still refuses the token logged out before
    async with AsyncTestClient(app=create_app(make_settings(database))) as restarted:
        assert_401(await restarted.get("/api/me", headers=bearer(gone)))
        assert (await restarted.get("/api/me", headers=bearer(kept))).status_code == 200


async def test_a_lost_session_events_connection_is_replaced_and_nothing_is_missed(
    api: AsyncTestClient[Litestar],
) -> None:
    victim = await register(api)
    token = victim["token"]
    listeners = "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()"
    dsn = Services.of(api.app.state).settings.db.url
    assert dsn is not None
    connection = await asyncpg.connect(dsn.replace("+asyncpg", ""))
    try:
        before = {r[0] for r in await connection.fetch(listeners, LISTENER_NAME)}
        assert len(before) == 1
        await connection.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = ANY($1)", before)
        # meanwhile (the store is not trusted: the database decides) live tokens keep working
        assert (await api.get("/api/me/saved-searches", headers=bearer(token))).status_code == 200
        deadline = time.monotonic() + 10
        while not {r[0] for r in await connection.fetch(listeners, LISTENER_NAME)} - before:
            assert time.monotonic() < deadline, "the listener did not reconnect"
            await asyncio.sleep(0.05)  # poll interval
        await connection.execute("DELETE FROM users WHERE id = $1::uuid", victim["user"]["id"])
    finally:
        await connection.close()
    await _until_status(api, "/api/me/saved-searches", token, 401, deadline=3.0)
