"""The queue dashboard (SAQ's web UI through litestar-saq) at /api/admin/queues: admins only, on the
app's own queue (PostgreSQL in stage 1, Redis in stage 2)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import asyncpg
from litestar import Litestar
from litestar.testing import AsyncTestClient

from infrastructure.jobs import QUEUE_NAME, build_queue
from rural24.queues import DASHBOARD_PATH
from rural24.services import Services

PASSWORD = "pampa-húmeda-2024"
PAGES = [DASHBOARD_PATH, f"{DASHBOARD_PATH}/static/app.js", f"{DASHBOARD_PATH}/api/queues"]


async def _login(client: AsyncTestClient[Litestar], *, admin: bool) -> dict[str, str]:
    email = f"{uuid.uuid4().hex[:10]}@campo.com.ar"
    registered = await client.post("/api/auth/register", json={"email": email, "password": PASSWORD, "name": "Ana"})
    assert registered.status_code == 201, registered.text
    if admin:
        dsn = Services.of(client.app.state).settings.db.url
        assert dsn is not None
        connection = await asyncpg.connect(dsn.replace("+asyncpg", ""))
        try:
            await connection.execute("UPDATE users SET role = 'admin' WHERE email = $1", email)
        finally:
            await connection.close()
    login = await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['token']}"}


async def test_anonymous_callers_get_401_and_users_403(client: AsyncTestClient[Litestar]) -> None:
    user = await _login(client, admin=False)
    for path in PAGES:
        anonymous = await client.get(path)
        assert anonymous.status_code == 401, (path, anonymous.text)
        assert anonymous.headers["content-type"].startswith("application/problem+json")
        refused = await client.get(path, headers=user)
        assert refused.status_code == 403, (path, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json")


async def test_an_admin_sees_the_dashboard_and_the_apps_own_queue(client: AsyncTestClient[Litestar]) -> None:
    admin = await _login(client, admin=True)
    page = await client.get(DASHBOARD_PATH, headers=admin)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert f'const root_path = "{DASHBOARD_PATH}"' in page.text
    script = await client.get(f"{DASHBOARD_PATH}/static/app.js", headers=admin)
    assert script.status_code == 200
    assert "root_path" in script.text

    # The test's own connection to the app's queue (the app's clients live on the app's event loop).
    settings = Services.of(client.app.state).settings
    assert settings.db.url is not None
    queue = build_queue(settings, settings.db.url)
    await queue.connect()
    # an hour ahead: no worker (of this test or another sharing the Redis) takes it meanwhile
    job = await queue.enqueue("dashboard_probe", key=f"probe:{uuid.uuid4()}", scheduled=int(time.time()) + 3600)
    assert job is not None
    try:
        listed = await client.get(f"{DASHBOARD_PATH}/api/queues", headers=admin)
        assert listed.status_code == 200
        assert [shown["name"] for shown in listed.json()["queues"]] == [QUEUE_NAME]

        detail = await client.get(f"{DASHBOARD_PATH}/api/queues/{QUEUE_NAME}/jobs/{job.key}", headers=admin)
        assert detail.status_code == 200, detail.text
        shown: dict[str, Any] = detail.json()["job"]
        assert shown["function"] == "dashboard_probe"
        assert shown["key"] == job.key

        missing = await client.get(f"{DASHBOARD_PATH}/api/queues/{QUEUE_NAME}/jobs/nope", headers=admin)
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("application/problem+json")
        assert (await client.get(f"{DASHBOARD_PATH}/api/queues/elsewhere", headers=admin)).status_code == 404

        aborted = await client.post(f"{DASHBOARD_PATH}/api/queues/{QUEUE_NAME}/jobs/{job.key}/abort", headers=admin)
        assert aborted.status_code == 202, aborted.text
        await job.refresh()
        assert job.status in {"aborting", "aborted"}
    finally:
        await job.abort("test over")
        await queue.disconnect()
