"""What several e2e tests do first against real instances: register a user over HTTP."""

from __future__ import annotations

import uuid
from typing import Any

import httpx


async def register(client: httpx.AsyncClient, base: str, name: str, password: str) -> dict[str, Any]:
    """A new user on the instance at ``base`` (a fresh address): the register answer, ``{token, user}``."""
    email = f"{uuid.uuid4().hex[:8]}@campo.com.ar"
    response = await client.post(f"{base}/api/auth/register", json={"email": email, "password": password, "name": name})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body
