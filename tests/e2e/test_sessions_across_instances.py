"""Two real API processes sharing one Redis: a logout or a block through one instance is
effective on the other on the very next request."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.e2e.processes import serving

PASSWORD = "girasol-2026-cosecha"


@pytest.fixture(params=["redis", "jwt"])
def instances(request: pytest.FixtureRequest, database: Any, tmp_path: Path) -> Iterator[tuple[str, str]]:
    env = {
        "APP_ENV": "test",
        "APP_NAME": f"rural24-e2e-{uuid.uuid4().hex[:6]}",
        "DATABASE_URL": database.primary_url,
        "REDIS_ENABLED": "true",
        "REDIS_URL": request.getfixturevalue("redis_url"),
        "SESSION_STRATEGY": str(request.param),
        "JWT_SECRET": "e2e-secret-" + "z" * 40,
        "HOST": "127.0.0.1",
        "DB_POOL_SIZE": "2",
    }
    with serving(env, 2, tmp_path) as started:
        yield started[0][1], started[1][1]


async def _register(client: httpx.AsyncClient, base: str) -> dict[str, Any]:
    email = f"{uuid.uuid4().hex[:8]}@estancia.com.ar"
    response = await client.post(
        f"{base}/api/auth/register", json={"email": email, "password": PASSWORD, "name": "Rosa"}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def _login(client: httpx.AsyncClient, base: str, email: str) -> str:
    response = await client.post(f"{base}/api/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    token: str = response.json()["token"]
    return token


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_logout_on_one_instance_is_seen_by_the_other(instances: tuple[str, str]) -> None:
    a, b = instances
    async with httpx.AsyncClient(timeout=10) as client:
        user = await _register(client, a)
        token = user["token"]
        assert (await client.get(f"{b}/api/me", headers=_auth(token))).status_code == 200
        assert (await client.post(f"{a}/api/auth/logout", headers=_auth(token))).status_code == 204
        assert (await client.get(f"{b}/api/me", headers=_auth(token))).status_code == 401

        phone = await _login(client, b, user["user"]["email"])
        laptop = await _login(client, a, user["user"]["email"])
        assert (await client.post(f"{b}/api/auth/logout-all-devices", headers=_auth(phone))).status_code == 204
        assert (await client.get(f"{a}/api/me", headers=_auth(laptop))).status_code == 401


async def test_block_on_one_instance_is_seen_by_the_other(instances: tuple[str, str], database: Any) -> None:
    a, b = instances
    async with httpx.AsyncClient(timeout=10) as client:
        admin = await _register(client, a)
        connection = await asyncpg.connect(database.primary_url.replace("+asyncpg", ""))
        try:
            await connection.execute("UPDATE users SET role = 'admin' WHERE id = $1::uuid", admin["user"]["id"])
        finally:
            await connection.close()
        admin_token = await _login(client, a, admin["user"]["email"])

        victim = await _register(client, b)
        victim_token = victim["token"]
        assert (await client.get(f"{b}/api/me", headers=_auth(victim_token))).status_code == 200
        blocked = await client.post(f"{a}/api/admin/users/{victim['user']['id']}/block", headers=_auth(admin_token))
        assert blocked.status_code == 204
        assert (await client.get(f"{b}/api/me", headers=_auth(victim_token))).status_code == 401
        login = await client.post(f"{b}/api/auth/login", json={"email": victim["user"]["email"], "password": PASSWORD})
        assert login.status_code == 401


async def _until_401(client: httpx.AsyncClient, url: str, token: str, deadline: float = 3.0) -> None:
    started = time.monotonic()
    while (status := (await client.get(url, headers=_auth(token))).status_code) != 401:
        assert status == 200, status
        assert time.monotonic() - started < deadline, f"{url} still accepts the token after {deadline}s"
        await asyncio.sleep(0.05)  # poll interval


async def test_a_user_deleted_in_sql_is_refused_by_every_instance(instances: tuple[str, str], database: Any) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        user = await _register(client, instances[0])
        token = user["token"]
        for base in instances:  # each instance has the user's mark cached
            assert (await client.get(f"{base}/api/me/saved-searches", headers=_auth(token))).status_code == 200
        connection = await asyncpg.connect(database.primary_url.replace("+asyncpg", ""))
        try:  # behind the app's back, as an operator would
            assert await connection.execute("DELETE FROM users WHERE id = $1::uuid", user["user"]["id"]) == "DELETE 1"
        finally:
            await connection.close()
        for base in instances:  # a route that never looks the user up: only the session event refuses
            await _until_401(client, f"{base}/api/me/saved-searches", token)
        categories = (await client.get(f"{instances[0]}/api/categories")).json()
        ad = {"title": "Rastra de discos", "currency": "ARS", "categoryId": categories[0]["id"],
              "province": "cordoba", "locality": "Oliva"}  # fmt: skip
        for base in instances:
            for method, path, body in (("GET", "/api/me", None), ("POST", "/api/ads", ad)):
                response = await client.request(method, f"{base}{path}", json=body, headers=_auth(token))
                assert response.status_code == 401, f"{method} {base}{path}: {response.text}"
                assert response.headers["content-type"].startswith("application/problem+json")


# -- the account lifecycle: sessions it ends, seen by the other instance ------------------------

E2E_SECRET = "e2e-secret-" + "z" * 40


@pytest.fixture(params=["memory", "redis", "jwt"])
def lifecycle_instances(
    request: pytest.FixtureRequest, database: Any, tmp_path: Path
) -> Iterator[tuple[str, str, str]]:
    """Two instances; ``memory``: no Redis at all (each instance's marks follow the database's
    session events), else Redis with the given session strategy."""
    mode = str(request.param)
    env = {
        "APP_ENV": "test",
        "APP_NAME": f"rural24-e2e-{uuid.uuid4().hex[:6]}",
        "DATABASE_URL": database.primary_url,
        "JWT_SECRET": E2E_SECRET,
        "HOST": "127.0.0.1",
        "DB_POOL_SIZE": "2",
    }
    if mode != "memory":
        env |= {"REDIS_ENABLED": "true", "REDIS_URL": request.getfixturevalue("redis_url"), "SESSION_STRATEGY": mode}
    with serving(env, 2, tmp_path) as started:
        yield mode, started[0][1], started[1][1]


async def _refused_by(client: httpx.AsyncClient, mode: str, base: str, token: str) -> None:
    """With Redis the other instance refuses on the very next request; in memory mode once the
    database's session event reaches it (polled, bounded)."""
    if mode == "memory":
        await _until_401(client, f"{base}/api/me", token)
    else:
        assert (await client.get(f"{base}/api/me", headers=_auth(token))).status_code == 401


async def _emailed_token(database: Any, user_id: str, purpose: str, deadline: float = 5.0) -> str:
    """The token the user would find in their mailbox: derived from the newest unused row of
    ``purpose``, as the worker derives it (the row is written after the 202: polled, bounded)."""
    from infrastructure.account_tokens import AccountTokens

    connection = await asyncpg.connect(database.primary_url.replace("+asyncpg", ""))
    started = time.monotonic()
    try:
        while True:
            row_id = await connection.fetchval(
                "SELECT id FROM account_tokens WHERE user_id = $1::uuid AND purpose = $2 AND used_at IS NULL "
                "ORDER BY created_at DESC LIMIT 1",
                user_id,
                purpose,
            )
            if row_id is not None:
                return AccountTokens(E2E_SECRET).token_for(row_id)
            assert time.monotonic() - started < deadline, f"no {purpose} token after {deadline}s"
            await asyncio.sleep(0.05)  # poll interval
    finally:
        await connection.close()


async def test_the_account_lifecycle_ends_sessions_on_the_other_instance(
    lifecycle_instances: tuple[str, str, str], database: Any
) -> None:
    """One pair of instances per mode (starting them is the slow part), three flows in turn."""
    mode, a, b = lifecycle_instances
    async with httpx.AsyncClient(timeout=10) as client:
        # a password reset through A ends every session, those B knows included
        user = await _register(client, a)
        on_b = await _login(client, b, user["user"]["email"])
        assert (await client.get(f"{b}/api/me", headers=_auth(on_b))).status_code == 200
        asked = await client.post(f"{a}/api/auth/forgot-password", json={"email": user["user"]["email"]})
        assert asked.status_code == 202
        token = await _emailed_token(database, user["user"]["id"], "reset_password")
        reset = await client.post(f"{a}/api/auth/reset-password", json={"token": token, "password": "nueva-clave-2027"})
        assert reset.status_code == 204, reset.text
        await _refused_by(client, mode, b, on_b)
        await _refused_by(client, mode, b, user["token"])

        # a password change through A keeps its own session on both, ends the other on B
        user = await _register(client, a)
        keeper, other = user["token"], await _login(client, b, user["user"]["email"])
        for base in (a, b):
            assert (await client.get(f"{base}/api/me", headers=_auth(other))).status_code == 200
        body = {"currentPassword": PASSWORD, "newPassword": "nueva-clave-2027"}
        assert (await client.post(f"{a}/api/me/password", json=body, headers=_auth(keeper))).status_code == 204
        await _refused_by(client, mode, b, other)
        for base in (a, b):
            assert (await client.get(f"{base}/api/me", headers=_auth(keeper))).status_code == 200

        # deleting the account through A ends its sessions on B, even on routes that never read the user
        user = await _register(client, b)
        on_b = await _login(client, b, user["user"]["email"])
        assert (await client.get(f"{b}/api/me/saved-searches", headers=_auth(on_b))).status_code == 200
        gone = await client.request("DELETE", f"{a}/api/me", json={"password": PASSWORD}, headers=_auth(user["token"]))
        assert gone.status_code == 204, gone.text
        await _refused_by(client, mode, b, on_b)
        assert (await client.get(f"{b}/api/me/saved-searches", headers=_auth(on_b))).status_code == 401
        login = await client.post(f"{b}/api/auth/login", json={"email": user["user"]["email"], "password": PASSWORD})
        assert login.status_code == 401
