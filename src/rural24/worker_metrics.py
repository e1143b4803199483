"""The worker's own metrics: job outcomes and durations, the queue, the pools, on its own port.

A ``rural24 worker`` is not reachable through the API's ``/metrics`` (another process, often
another machine), so it answers scrapes itself: ``GET /metrics`` on ``WORKER_METRICS_PORT`` (off
when 0), bound to ``HOST``, behind ``Authorization: Bearer <METRICS_TOKEN>`` when one is set.

The server is a few lines of asyncio rather than prometheus_client's ``start_http_server``: that
one runs in a thread with no way to ask for a token, and the queue's depth and the age of its
oldest job are read at each scrape from the queue itself, which needs the worker's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from collections.abc import Awaitable
from typing import Any, cast

import msgspec
from psycopg import sql
from saq import Queue
from saq.job import Status
from saq.queue.postgres import PostgresQueue
from saq.queue.redis import RedisQueue

from infrastructure.metrics import JOB_DURATION, JOBS, QUEUE_DEPTH, QUEUE_OLDEST_AGE, JobOutcome, exposition
from rural24.contexts import JobContext

logger = logging.getLogger("rural24.worker")

_started: dict[int, float] = {}
"""When each running attempt started, by its context (one dict per attempt, alive until after it)."""
_OUTCOMES: dict[Status, JobOutcome] = {
    Status.COMPLETE: "complete",
    Status.QUEUED: "retried",  # SAQ put it back (backoff, or the worker stopping mid-job)
    Status.FAILED: "failed",
    Status.ABORTED: "aborted",
    Status.ABORTING: "aborted",
}
_READ_TIMEOUT = 5.0
_QUEUE_TIMEOUT = 3.0
_MAX_HEAD = 16 * 1024


async def before_job(ctx: JobContext) -> None:
    """SAQ's ``before_process`` hook: the attempt starts now."""
    _started[id(ctx)] = time.perf_counter()


async def after_job(ctx: JobContext) -> None:
    """SAQ's ``after_process`` hook: count the attempt by how SAQ left the job."""
    started = _started.pop(id(ctx), None)
    job = ctx.get("job")
    if job is None or started is None:
        return
    outcome = _OUTCOMES.get(job.status)
    if outcome is not None:
        JOBS.labels(job.function, outcome).inc()
    JOB_DURATION.labels(job.function).observe(time.perf_counter() - started)


async def oldest_queued_age(queue: Queue) -> float:
    """Seconds the oldest job ready to run has been waiting; 0 when none is."""
    now = time.time()
    if isinstance(queue, RedisQueue):  # ready job ids in a list, dequeued from the left
        oldest = await cast("Awaitable[bytes | None]", queue.redis.lindex(queue.namespace("queued"), 0))
        if oldest is None:
            return 0.0
        job = await queue.job(queue.job_key_from_id(oldest.decode()))
        if job is None:
            return 0.0
        # ready since it was queued, put back (``touched``) or became due (its score), whichever is last
        due = await queue.redis.zscore(queue.namespace("incomplete"), oldest) or 0.0
        return max(0.0, now - max(job.queued / 1000, job.touched / 1000, float(due)))
    if isinstance(queue, PostgresQueue):  # a jobs table; ``scheduled``: when a job is due, in s
        async with queue.pool.connection() as connection, connection.cursor() as cursor:
            await cursor.execute(
                sql.SQL(
                    "SELECT min(scheduled) FROM {} WHERE status = 'queued' AND queue = %(queue)s"
                    " AND scheduled <= %(now)s"
                ).format(queue.jobs_table),
                {"queue": queue.name, "now": int(now)},
            )
            row = await cursor.fetchone()
        return 0.0 if row is None or row[0] is None else max(0.0, now - float(row[0]))
    return 0.0


async def refresh_queue_gauges(queue: Queue) -> None:
    """Read the queue's depth and its oldest job's age into their gauges; a queue that cannot be
    read leaves the last values (the scrape still answers)."""
    try:
        async with asyncio.timeout(_QUEUE_TIMEOUT):
            QUEUE_DEPTH.set(await queue.count("queued"))
            QUEUE_OLDEST_AGE.set(await oldest_queued_age(queue))
    except Exception as exc:
        logger.debug("queue figures unavailable: %r", exc)


class MetricsServer:
    """``GET /metrics`` over plain HTTP/1.1, one request per connection."""

    def __init__(self, queue: Queue, host: str, port: int, token: str | None) -> None:
        self._queue = queue
        self._host = host
        self._port = port
        self._expected = f"Bearer {token}".encode() if token is not None else None
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        """The bound port (the one asked for, or the one the system chose for 0 in tests)."""
        if self._server is None or not self._server.sockets:
            return self._port
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self._host, self._port)
        logger.info("worker metrics at http://%s:%d/metrics", self._host, self.port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(_READ_TIMEOUT):
                head = await reader.readuntil(b"\r\n\r\n")
            status, headers, body = await self._answer(head)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ConnectionError):
            writer.close()
            return
        lines = [f"HTTP/1.1 {status}", *(f"{k}: {v}" for k, v in headers.items())]
        lines += [f"Content-Length: {len(body)}", "Connection: close"]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()

    async def _answer(self, head: bytes) -> tuple[str, dict[str, str], bytes]:
        if len(head) > _MAX_HEAD:
            return _problem("431 Request Header Fields Too Large", 431, "the request head is too large")
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        method, _, rest = request_line.partition(" ")
        path = rest.partition(" ")[0].partition("?")[0]
        if path != "/metrics":
            return _problem("404 Not Found", 404, "the worker serves only /metrics")
        if method not in ("GET", "HEAD"):
            return _problem("405 Method Not Allowed", 405, "GET /metrics", {"Allow": "GET, HEAD"})
        if self._expected is not None:
            sent = _header(header_lines, "authorization").encode()
            if not hmac.compare_digest(sent, self._expected):
                return _problem(
                    "401 Unauthorized",
                    401,
                    "the metrics need `Authorization: Bearer <METRICS_TOKEN>`",
                    {"WWW-Authenticate": "Bearer"},
                )
        await refresh_queue_gauges(self._queue)
        body, content_type = exposition()
        return "200 OK", {"Content-Type": content_type}, b"" if method == "HEAD" else body


def _header(lines: list[str], name: str) -> str:
    for line in lines:
        key, _, value = line.partition(":")
        if key.strip().lower() == name:
            return value.strip()
    return ""


def _problem(
    status_line: str, status: int, detail: str, extra: dict[str, str] | None = None
) -> tuple[str, dict[str, str], bytes]:
    title = status_line.partition(" ")[2]
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return status_line, {"Content-Type": "application/problem+json", **(extra or {})}, msgspec.json.encode(body)
