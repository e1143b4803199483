"""The disaster-recovery drill of docs/disaster-recovery.md, as an operator runs it: dump the
database with ``pg_dump``, restore it into a new one with ``pg_restore``, start ``rural24 serve``
on it, and read back the same ads, users and conversations."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

import httpx
from litestar.testing import AsyncTestClient

from tests.conftest import PgDatabase, make_settings
from tests.e2e.processes import SCRIPT, serving
from tests.harness.postgres import ClusterPair, find_binaries

PASSWORD = "soja-y-maiz-2026"
SECRET = "drill-secret-" + "d" * 40


async def _world(database: PgDatabase) -> dict[str, Any]:
    """A seller with an ad, a buyer, and a conversation between them, made through the API."""
    from rural24.app import create_app

    async with AsyncTestClient(app=create_app(make_settings(database, JWT_SECRET=SECRET))) as api:
        people = {}
        for who in ("seller", "buyer"):
            email = f"{who}-{uuid.uuid4().hex[:6]}@campo.com.ar"
            registered = await api.post("/api/auth/register", json={"email": email, "password": PASSWORD, "name": who})
            assert registered.status_code == 201, registered.text
            people[who] = registered.json()
        seller, buyer = (people[w] for w in ("seller", "buyer"))
        categories = (await api.get("/api/categories")).json()
        ad = await api.post(
            "/api/ads",
            json={
                "title": "Cosechadora Vassalli 1550",
                "price": "98000.00",
                "currency": "USD",
                "categoryId": categories[0]["id"],
                "province": "santa-fe",
                "locality": "Firmat",
            },
            headers={"Authorization": f"Bearer {seller['token']}"},
        )
        assert ad.status_code == 201, ad.text
        for sender, recipient, text in ((buyer, seller, "¿La financian?"), (seller, buyer, "Sí, en 12 cuotas")):
            sent = await api.post(
                "/api/messages/send",
                json={"recipientId": recipient["user"]["id"], "content": text, "adId": ad.json()["id"]},
                headers={"Authorization": f"Bearer {sender['token']}"},
            )
            assert sent.status_code == 201, sent.text
        auth = {"Authorization": f"Bearer {buyer['token']}"}
        [conversation] = (await api.get("/api/messages/conversations", headers=auth)).json()
        thread = (await api.get(f"/api/messages/conversations/{conversation['id']}", headers=auth)).json()
        return {"seller": seller, "buyer": buyer, "ad": ad.json(), "thread": thread}


def _run(argv: list[str | Path]) -> None:
    result = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, f"{argv[0]}: {result.stderr}"


async def test_dump_restore_and_serve_the_same_data(
    database: PgDatabase, pg_cluster: ClusterPair, tmp_path: Path
) -> None:
    world = await _world(database)
    primary, binaries = pg_cluster.primary, find_binaries()

    dump = tmp_path / "rural24.dump"
    _run([binaries.tool("pg_dump"), "--format=custom", "--no-owner", f"--dbname={primary.plain_dsn(database.name)}",
          f"--file={dump}"])  # fmt: skip
    restored = f"restored_{uuid.uuid4().hex[:8]}"
    await primary.create_database(restored, template="template0")
    try:
        _run([binaries.tool("pg_restore"), "--no-owner", "--exit-on-error", f"--dbname={primary.plain_dsn(restored)}",
              str(dump)])  # fmt: skip
        env = {"APP_ENV": "test", "APP_NAME": f"rural24-drill-{uuid.uuid4().hex[:6]}",
               "DATABASE_URL": primary.dsn(restored), "JWT_SECRET": SECRET, "DB_POOL_SIZE": "2"}  # fmt: skip
        # the restored schema is at the migrations' head: migrate has nothing to do
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_", "APP_"))}
        migrated = subprocess.run([str(SCRIPT), "migrate"], env=inherited | env, capture_output=True, text=True,
                                  timeout=120, check=False)  # fmt: skip
        assert migrated.returncode == 0, migrated.stderr
        with serving(env, 1, tmp_path) as [(_, base)]:
            async with httpx.AsyncClient(base_url=base, timeout=10) as client:
                ad = (await client.get(f"/api/ads/{world['ad']['id']}")).json()
                same = ("id", "title", "price", "currency", "seller", "category", "createdAt", "expiresAt")
                assert {k: ad[k] for k in same} == {k: world["ad"][k] for k in same}
                found = (await client.get("/api/ads/search", params={"q": "cosechadora"})).json()
                assert [a["id"] for a in found["results"]] == [world["ad"]["id"]]
                # the same users log in with the same passwords; a token issued before the dump still counts
                buyer = world["buyer"]
                login = await client.post(
                    "/api/auth/login", json={"email": buyer["user"]["email"], "password": PASSWORD}
                )
                assert login.status_code == 200, login.text
                old = await client.get("/api/me", headers={"Authorization": f"Bearer {buyer['token']}"})
                assert old.json()["id"] == buyer["user"]["id"]
                auth = {"Authorization": f"Bearer {login.json()['token']}"}
                thread = (await client.get(f"/api/messages/conversations/{world['thread']['id']}", headers=auth)).json()
                assert thread["messages"] == world["thread"]["messages"]
                assert thread["otherUser"] == world["thread"]["otherUser"]
    finally:
        await primary.drop_database(restored)
