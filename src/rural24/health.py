"""Liveness and readiness (API.md: Operations)."""

from __future__ import annotations

import asyncio
import time
from typing import Literal

import msgspec
from litestar import Controller, Response, get
from litestar.datastructures import State
from litestar.openapi.datastructures import ResponseSpec
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE

from domain.shared.structs import CamelStruct
from rural24.openapi import documented
from rural24.services import Services

CheckState = Literal["ok", "degraded", "down"]


class Liveness(CamelStruct):
    status: Literal["ok"]


LIVENESS_PATH = "/api/health"
LIVENESS_BODY = msgspec.json.encode(Liveness("ok"))
"""The liveness answer as sent, for the hot reads (``rural24.hot_reads``: answered before routing)."""


class Check(CamelStruct, omit_defaults=True):
    status: CheckState
    latency_ms: float | None = None
    lag_seconds: float | None = None
    detail: str | None = None


class ReplicaCheck(CamelStruct, omit_defaults=True):
    name: str
    """``host:port/database`` of its ``DATABASE_READ_URL`` entry (never its credentials)."""
    status: CheckState
    lag_seconds: float | None = None
    detail: str | None = None


class Checks(CamelStruct):
    primary: Check
    replica: Check | None = None
    """``null`` when no ``DATABASE_READ_URL`` is configured. With one replica, that replica; with
    several, all of them: ``ok`` when every one is, ``down`` when none answers, else ``degraded``
    (``lagSeconds``: the largest lag; ``detail``: how many are ok)."""
    replicas: list[ReplicaCheck] | None = None
    """Each replica, in ``DATABASE_READ_URL`` order; ``null`` without one."""
    redis: Check | None = None
    """``null`` when ``REDIS_ENABLED`` is false."""
    queue: Check | None = None
    """The job queue (SAQ on PostgreSQL or Redis); ``detail`` gives the number of queued jobs."""


class Readiness(CamelStruct):
    status: CheckState
    checks: Checks


async def _check_primary(services: Services) -> Check:
    try:
        latency = await services.read_side.primary_ping()
    except Exception as exc:
        return Check("down", detail=type(exc).__name__)
    return Check("ok", latency_ms=round(latency, 2))


async def _check_replicas(services: Services) -> list[ReplicaCheck] | None:
    statuses = await services.read_side.replica_statuses(fresh=True)
    if not statuses:
        return None
    return [
        ReplicaCheck(
            name,
            status.state,
            lag_seconds=None if status.lag_seconds is None else round(status.lag_seconds, 3),
            detail=status.error,
        )
        for name, status in statuses
    ]


def _replica_summary(replicas: list[ReplicaCheck] | None) -> Check | None:
    """The ``replica`` check: the one replica, or what all of them add up to."""
    if not replicas:
        return None
    if len(replicas) == 1:
        only = replicas[0]
        return Check(only.status, lag_seconds=only.lag_seconds, detail=only.detail)
    ok = sum(1 for check in replicas if check.status == "ok")
    lags = [check.lag_seconds for check in replicas if check.lag_seconds is not None]
    status: CheckState = "ok" if ok == len(replicas) else "degraded" if ok or lags else "down"
    return Check(status, lag_seconds=max(lags) if lags else None, detail=f"{ok} of {len(replicas)} ok")


async def _check_redis(services: Services) -> Check | None:
    if services.redis is None:
        return None
    started = time.perf_counter()
    try:
        async with asyncio.timeout(2):
            await services.redis.ping()
    except Exception as exc:
        return Check("down", detail=type(exc).__name__)
    master = services.redis.master  # through Sentinel: which server answered
    detail = f"master {master}" if master else None
    return Check("ok", latency_ms=round((time.perf_counter() - started) * 1000, 2), detail=detail)


async def _check_queue(services: Services) -> Check:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(2):
            depth = await services.jobs.depth()
    except Exception as exc:
        return Check("degraded", detail=type(exc).__name__)
    return Check("ok", latency_ms=round((time.perf_counter() - started) * 1000, 2), detail=f"{depth} queued")


class HealthController(Controller):
    path = LIVENESS_PATH
    tags = ["operations"]

    @get(
        "/",
        summary="Liveness",
        description="200 while the process serves requests; touches nothing.",
        **documented("getHealth", "public", database=False, rate_limited=False),
    )
    async def liveness(self) -> Liveness:
        return Liveness("ok")

    @get(
        "/ready",
        summary="Readiness",
        description=(
            "Checks the primary, each replica (with its replay lag), Redis and the job queue, each `ok`, "
            "`degraded` or `down`. "
            "503 only when the primary is down: without a replica or Redis the service still answers."
        ),
        **documented(
            "getReadiness",
            "public",
            database=False,
            rate_limited=False,
            responses={503: ResponseSpec(data_container=Readiness, description="The primary is down.")},
        ),
    )
    async def readiness(self, state: State) -> Response[Readiness]:
        services = Services.of(state)  # readiness checks every backing service: the one whole-bag reader
        primary, replicas, redis, queue = await asyncio.gather(
            _check_primary(services), _check_replicas(services), _check_redis(services), _check_queue(services)
        )
        replica = _replica_summary(replicas)
        others = [check for check in (replica, redis, queue) if check is not None]
        overall: CheckState
        if primary.status == "down":
            overall = "down"
        elif any(check.status != "ok" for check in others):
            overall = "degraded"
        else:
            overall = "ok"
        body = Readiness(overall, Checks(primary, replica, replicas, redis, queue))
        return Response(
            body,
            status_code=HTTP_503_SERVICE_UNAVAILABLE if overall == "down" else HTTP_200_OK,
            headers={"Cache-Control": "no-store"},
        )
