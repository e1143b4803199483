"""``Idempotency-Key``: the store protocol on memory and on a real Redis, and the HTTP glue on a
tiny app built here (a ``POST /things`` that creates nothing, only counts its calls).

Note on clients: ``AsyncTestClient`` runs the app on a blocking portal in another thread and
each request blocks the test's event loop until the app answers, so two requests through it
never overlap. The concurrency tests therefore talk to the app through ``httpx.ASGITransport``
on the test's own loop, where a handler can be held on an ``asyncio.Event`` while a second
request comes in.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

import httpx
import msgspec
import pytest
import redis.asyncio as aioredis
from litestar import Litestar, Request, Response, post
from litestar.params import HeaderParameter, JSONBody
from litestar.plugins.problem_details import ProblemDetailsPlugin
from litestar.testing import AsyncTestClient

from infrastructure.idempotency import (
    Claimed,
    IdempotencyRecord,
    IdempotencyStore,
    IdempotencyStoreUnavailable,
    InFlight,
    MemoryIdempotencyStore,
    Mismatch,
    RedisIdempotencyStore,
    Replay,
)
from rural24.errors import internal_error_handler, problem_details_config
from rural24.idempotency import REPLAYED_HEADER, IdempotencyKeyHeader, idempotent

Close = Callable[[], Awaitable[None]]


@dataclass
class Backend:
    """Makes stores that share one keyspace (one prefix per test on Redis)."""

    kind: str
    redis_url: str | None
    prefix: str
    memory: MemoryIdempotencyStore = field(default_factory=MemoryIdempotencyStore)

    def new_store(self) -> tuple[IdempotencyStore, Close]:
        """A store and its closer. Redis: a client of its own, connecting on the loop that uses it."""
        if self.redis_url is None:

            async def nothing() -> None:
                return None

            return self.memory, nothing
        client = aioredis.Redis.from_url(self.redis_url)
        return RedisIdempotencyStore(client, self.prefix), client.aclose


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def backend(request: pytest.FixtureRequest) -> Backend:
    kind = str(request.param)
    url = request.getfixturevalue("redis_url") if kind == "redis" else None
    return Backend(kind, url, f"rural24-test-idem-{uuid.uuid4().hex[:12]}")


@pytest.fixture
async def store(backend: Backend) -> AsyncIterator[IdempotencyStore]:
    store, close = backend.new_store()
    yield store
    await close()


def _done(fingerprint: str = "fp", body: bytes = b'{"id":1}') -> IdempotencyRecord:
    return IdempotencyRecord.done(
        fingerprint, 201, {"content-type": "application/json", "location": "/things/1", "etag": '"1"'}, body
    )


# --- the store protocol ------------------------------------------------------------------------


async def test_claim_complete_replay(store: IdempotencyStore) -> None:
    claim = await store.claim("k", "fp", 60)
    assert isinstance(claim, Claimed)
    assert isinstance(await store.claim("k", "fp", 60), InFlight)
    await store.complete("k", _done())
    replay = await store.claim("k", "fp", 60)
    assert isinstance(replay, Replay)
    assert replay.record == _done()


async def test_other_request_is_a_mismatch(store: IdempotencyStore) -> None:
    assert isinstance(await store.claim("k", "fp", 60), Claimed)
    assert isinstance(await store.claim("k", "other", 60), Mismatch)
    await store.complete("k", _done())
    assert isinstance(await store.claim("k", "other", 60), Mismatch)


async def test_release_frees_only_its_own_claim(store: IdempotencyStore) -> None:
    first = await store.claim("k", "fp", 60)
    assert isinstance(first, Claimed)
    await store.release("k", first)
    second = await store.claim("k", "fp", 60)
    assert isinstance(second, Claimed)
    await store.release("k", first)  # stale: must not free the second claim
    assert isinstance(await store.claim("k", "fp", 60), InFlight)
    await store.complete("k", _done())
    await store.release("k", second)  # a done record is never released
    assert isinstance(await store.claim("k", "fp", 60), Replay)


async def test_in_flight_claims_expire(store: IdempotencyStore) -> None:
    assert isinstance(await store.claim("k", "fp", 0.2), Claimed)
    assert isinstance(await store.claim("k", "fp", 0.2), InFlight)
    await asyncio.sleep(0.3)
    assert isinstance(await store.claim("k", "fp", 0.2), Claimed)


async def test_done_records_expire_after_their_ttl(backend: Backend, store: IdempotencyStore) -> None:
    assert isinstance(await store.claim("k", "fp", 60), Claimed)
    await store.complete("k", _done(), ttl=1)
    assert isinstance(await store.claim("k", "fp", 60), Replay)
    await asyncio.sleep(1.1)
    assert isinstance(await store.claim("k", "fp", 60), Claimed)


async def test_a_claim_is_atomic_under_concurrency(store: IdempotencyStore) -> None:
    results = await asyncio.gather(*(store.claim("race", "fp", 60) for _ in range(25)))
    assert sum(isinstance(r, Claimed) for r in results) == 1
    assert sum(isinstance(r, InFlight) for r in results) == 24


@pytest.mark.redis
async def test_redis_keeps_24h_and_in_flight_ttls(redis_url: str) -> None:
    prefix = f"rural24-test-idem-{uuid.uuid4().hex[:12]}"
    client = aioredis.Redis.from_url(redis_url)
    store = RedisIdempotencyStore(client, prefix)
    try:
        assert isinstance(await store.claim("ttl", "fp", 60), Claimed)
        assert 59_000 < await client.pttl(f"{prefix}:ttl") <= 60_000
        await store.complete("ttl", _done())
        assert 86_399_000 < await client.pttl(f"{prefix}:ttl") <= 86_400_000
    finally:
        await client.aclose()


# --- the HTTP glue on a tiny app -----------------------------------------------------------------


class Thing(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    name: str
    unit_price: int = 0


class ThingRead(msgspec.Struct, rename="camel"):
    id: int
    name: str
    created_by: str
    unit_price: int


@dataclass
class Harness:
    calls: list[str] = field(default_factory=list)
    entered: asyncio.Event = field(default_factory=asyncio.Event)
    gate: asyncio.Event | None = None
    """When set, the handler waits on it (simulated work) after counting its call."""
    failures: int = 0
    """The next ``failures`` calls raise."""
    status_code: int = 201


def build_app(store: IdempotencyStore, harness: Harness, close: Close | None = None) -> Litestar:
    @post("/things", status_code=201)
    async def create_thing(
        request: Request[Any, Any, Any],
        data: JSONBody[Thing],
        user: Annotated[str, HeaderParameter(name="X-User")],
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[ThingRead]:
        async def handle() -> Response[ThingRead]:
            harness.calls.append(data.name)
            harness.entered.set()
            if harness.gate is not None:
                await harness.gate.wait()
            if harness.failures:
                harness.failures -= 1
                raise RuntimeError("the database went away")
            thing = ThingRead(len(harness.calls), data.name, user, data.unit_price)
            return Response(
                thing,
                status_code=harness.status_code,
                headers={"Location": f"/things/{thing.id}", "ETag": f'"{thing.id}"', "X-Not-Kept": "1"},
            )

        return await idempotent(request, scope="things", user_id=user, store=store, handle=handle)

    return Litestar(
        [create_thing],
        plugins=[ProblemDetailsPlugin(problem_details_config())],
        exception_handlers={Exception: internal_error_handler},
        on_shutdown=[close] if close is not None else [],
    )


@pytest.fixture
def harness() -> Harness:
    return Harness()


@pytest.fixture
async def client(backend: Backend, harness: Harness) -> AsyncIterator[AsyncTestClient[Litestar]]:
    # The app runs on the test client's own loop (a portal thread): its Redis client is made for
    # it and closed by its shutdown, on that loop.
    store, close = backend.new_store()
    async with AsyncTestClient(app=build_app(store, harness, close)) as test_client:
        yield test_client


@pytest.fixture
async def concurrent_client(backend: Backend, harness: Harness) -> AsyncIterator[httpx.AsyncClient]:
    store, close = backend.new_store()
    transport = httpx.ASGITransport(app=build_app(store, harness))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http
    await close()


def _headers(key: str | None, user: str = "u1") -> dict[str, str]:
    return {"X-User": user} | ({"Idempotency-Key": key} if key is not None else {})


def _assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    return body


async def test_a_retry_replays_the_first_response(client: AsyncTestClient[Litestar], harness: Harness) -> None:
    first = await client.post("/things", json={"name": "tractor", "unitPrice": 5}, headers=_headers("k-1"))
    # same body, other key order and spacing
    second = await client.post("/things", content=b'{ "unitPrice": 5,  "name": "tractor" }', headers=_headers("k-1"))
    assert harness.calls == ["tractor"]
    assert first.status_code == second.status_code == 201
    assert first.content == second.content
    assert first.json() == {"id": 1, "name": "tractor", "createdBy": "u1", "unitPrice": 5}
    for name in ("content-type", "location", "etag"):
        assert first.headers[name] == second.headers[name], name
    assert REPLAYED_HEADER.lower() not in first.headers
    assert second.headers[REPLAYED_HEADER] == "true"
    assert "x-not-kept" in first.headers
    assert "x-not-kept" not in second.headers


async def test_without_a_key_every_request_runs(client: AsyncTestClient[Litestar], harness: Harness) -> None:
    for _ in range(2):
        response = await client.post("/things", json={"name": "plow"}, headers=_headers(None))
        assert response.status_code == 201
        assert REPLAYED_HEADER.lower() not in response.headers
    assert harness.calls == ["plow", "plow"]


async def test_same_key_other_body_is_422(client: AsyncTestClient[Litestar], harness: Harness) -> None:
    assert (await client.post("/things", json={"name": "tractor"}, headers=_headers("k-2"))).status_code == 201
    response = await client.post("/things", json={"name": "harvester"}, headers=_headers("k-2"))
    body = _assert_problem(response, 422)
    assert "Idempotency-Key" in body["detail"]
    assert harness.calls == ["tractor"]


async def test_keys_are_scoped_per_user(client: AsyncTestClient[Litestar], harness: Harness) -> None:
    a = await client.post("/things", json={"name": "tractor"}, headers=_headers("shared", user="alice"))
    b = await client.post("/things", json={"name": "tractor"}, headers=_headers("shared", user="bob"))
    assert a.status_code == b.status_code == 201
    assert REPLAYED_HEADER.lower() not in b.headers
    assert a.json()["createdBy"] == "alice"
    assert b.json()["createdBy"] == "bob"
    assert harness.calls == ["tractor", "tractor"]


async def test_a_failing_handler_releases_the_key(client: AsyncTestClient[Litestar], harness: Harness) -> None:
    harness.failures = 1
    failed = await client.post("/things", json={"name": "tractor"}, headers=_headers("k-3"))
    body = _assert_problem(failed, 500)
    assert "database" not in body["detail"]  # no internals leak
    retried = await client.post("/things", json={"name": "tractor"}, headers=_headers("k-3"))
    assert retried.status_code == 201
    assert REPLAYED_HEADER.lower() not in retried.headers
    assert harness.calls == ["tractor", "tractor"]


async def test_a_5xx_response_is_not_remembered(client: AsyncTestClient[Litestar], harness: Harness) -> None:
    harness.status_code = 503
    assert (await client.post("/things", json={"name": "tractor"}, headers=_headers("k-4"))).status_code == 503
    harness.status_code = 201
    retried = await client.post("/things", json={"name": "tractor"}, headers=_headers("k-4"))
    assert retried.status_code == 201
    assert harness.calls == ["tractor", "tractor"]


async def test_a_4xx_response_is_remembered(client: AsyncTestClient[Litestar], harness: Harness) -> None:
    harness.status_code = 409
    first = await client.post("/things", json={"name": "tractor"}, headers=_headers("k-5"))
    second = await client.post("/things", json={"name": "tractor"}, headers=_headers("k-5"))
    assert first.status_code == second.status_code == 409
    assert second.headers[REPLAYED_HEADER] == "true"
    assert harness.calls == ["tractor"]


@pytest.mark.parametrize(
    "key",
    [pytest.param("x" * 256, id="too-long"), pytest.param("caf\xe9", id="not-ascii"), pytest.param(" ", id="blank")],
)
async def test_a_malformed_key_is_422(client: AsyncTestClient[Litestar], harness: Harness, key: str) -> None:
    response = await client.post(
        "/things", json={"name": "tractor"}, headers={"X-User": "u1", "Idempotency-Key": key.encode("latin-1")}
    )
    _assert_problem(response, 422)  # the header's declared rules (OpenAPI) refuse it
    assert harness.calls == []


async def test_the_header_is_in_the_openapi_document(client: AsyncTestClient[Litestar]) -> None:
    document = (await client.get("/schema/openapi.json")).json()
    parameters = document["paths"]["/things"]["post"]["parameters"]
    header = next(p for p in parameters if p["name"].lower() == "idempotency-key")
    assert header["in"] == "header"
    assert header["required"] is False


async def test_concurrent_same_key_runs_once_the_other_gets_409(
    concurrent_client: httpx.AsyncClient, harness: Harness
) -> None:
    harness.gate = asyncio.Event()
    first = asyncio.create_task(concurrent_client.post("/things", json={"name": "tractor"}, headers=_headers("k-6")))
    await asyncio.wait_for(harness.entered.wait(), 5)  # the first one is inside the handler now

    second = await concurrent_client.post("/things", json={"name": "tractor"}, headers=_headers("k-6"))
    _assert_problem(second, 409)
    assert second.headers["retry-after"] == "1"
    other_body = await concurrent_client.post("/things", json={"name": "plow"}, headers=_headers("k-6"))
    _assert_problem(other_body, 422)

    harness.gate.set()
    first_response = await asyncio.wait_for(first, 5)
    assert first_response.status_code == 201

    third = await concurrent_client.post("/things", json={"name": "tractor"}, headers=_headers("k-6"))
    assert third.status_code == 201
    assert third.headers[REPLAYED_HEADER] == "true"
    assert third.content == first_response.content
    assert harness.calls == ["tractor"]


async def test_many_concurrent_retries_run_the_handler_once(
    concurrent_client: httpx.AsyncClient, harness: Harness
) -> None:
    harness.gate = asyncio.Event()
    first = asyncio.create_task(concurrent_client.post("/things", json={"name": "seed"}, headers=_headers("k-7")))
    await asyncio.wait_for(harness.entered.wait(), 5)
    others = await asyncio.gather(
        *(concurrent_client.post("/things", json={"name": "seed"}, headers=_headers("k-7")) for _ in range(10))
    )
    harness.gate.set()
    assert (await asyncio.wait_for(first, 5)).status_code == 201
    assert [r.status_code for r in others] == [409] * 10
    assert harness.calls == ["seed"]


async def test_a_store_that_is_down_is_503_and_runs_nothing(harness: Harness) -> None:
    # Nothing listens on port 1: every Redis command fails at once.
    down = aioredis.Redis.from_url("redis://127.0.0.1:1", socket_connect_timeout=1)
    store = RedisIdempotencyStore(down, "unreachable")
    with pytest.raises(IdempotencyStoreUnavailable):
        await store.claim("k", "fp", 60)
    async with AsyncTestClient(app=build_app(store, harness, down.aclose)) as client:
        response = await client.post("/things", json={"name": "tractor"}, headers=_headers("k-8"))
        _assert_problem(response, 503)
        assert response.headers["retry-after"] == "5"
        # without a key the store is never asked
        assert (await client.post("/things", json={"name": "tractor"}, headers=_headers(None))).status_code == 201
    assert harness.calls == ["tractor"]
