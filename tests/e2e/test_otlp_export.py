"""Tracing end to end: real ``rural24 serve`` and ``rural24 worker`` processes with
``OTEL_EXPORTER_OTLP_ENDPOINT`` pointing at a small OTLP/HTTP receiver of the test's own, which
decodes what arrives with opentelemetry-proto. No collector, no in-process exporter: the spans
have to leave the processes the way they would leave for Datadog or New Relic."""

from __future__ import annotations

import gzip
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tests.conftest import PgDatabase
from tests.e2e.processes import Process, serving

pytestmark = pytest.mark.postgres


@dataclass(frozen=True)
class Received:
    """One span as it arrived, with its resource's service name and its attributes as plain values."""

    service: str
    span: Span
    attributes: dict[str, Any]

    @property
    def trace_id(self) -> bytes:
        return self.span.trace_id


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


class OtlpReceiver:
    """``POST /v1/traces`` on 127.0.0.1, answered as a collector answers; keeps every span."""

    def __init__(self) -> None:
        self.spans: list[Received] = []
        self.paths: list[str] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                receiver._take(self.path, body)
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *_: Any) -> None:  # quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def _take(self, path: str, body: bytes) -> None:
        request = ExportTraceServiceRequest.FromString(body)
        spans = []
        for resource_spans in request.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    attributes = {a.key: _value(a.value) for a in span.attributes}
                    spans.append(Received(str(resource.get("service.name")), span, attributes))
        with self._lock:
            self.paths.append(path)
            self.spans.extend(spans)

    def wait_for(self, found: Callable[[list[Received]], bool], timeout: float = 30.0) -> list[Received]:
        """The spans so far, once ``found`` says they hold what the test waits for (bounded polling)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                spans = list(self.spans)
            if found(spans) or time.monotonic() > deadline:
                return spans
            time.sleep(0.05)

    def __enter__(self) -> OtlpReceiver:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass(frozen=True)
class Traced:
    """One ``rural24 serve`` and one ``rural24 worker`` exporting to one receiver, for the module."""

    receiver: OtlpReceiver
    url: str
    server: Process
    worker: Process
    app_name: str
    redis: bool


@pytest.fixture(scope="module", params=["stage-1", "redis"])
def traced(
    request: pytest.FixtureRequest, module_database: PgDatabase, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Traced]:
    """Stage 1 (queue on PostgreSQL, everything else in memory) and stage 2 (Redis for the
    stores, the rate limits and the queue)."""
    logs = tmp_path_factory.mktemp("tracing")
    redis = request.param == "redis"
    with OtlpReceiver() as receiver:
        env = {
            "APP_ENV": "test",
            "APP_NAME": f"rural24-traced-{uuid.uuid4().hex[:6]}",
            "DATABASE_URL": module_database.primary_url,
            "JWT_SECRET": "x" * 40,
            "EMAIL_URL": "console://",
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
            "OTEL_BSP_SCHEDULE_DELAY": "100",  # milliseconds: each batch leaves at once, not after 5 s
        }
        if redis:
            env |= {"REDIS_ENABLED": "true", "REDIS_URL": request.getfixturevalue("redis_url")}
        worker = Process(["worker"], env | {"OTEL_SERVICE_NAME": "rural24-worker"}, logs / "worker.log")
        try:
            with serving(env, 1, logs) as [(server, url)]:
                yield Traced(receiver, url, server, worker, env["APP_NAME"], redis)
        finally:
            worker.stop()


def _server_span(spans: list[Received], name: str) -> Received | None:
    return next((s for s in spans if s.span.kind == Span.SPAN_KIND_SERVER and s.span.name == name), None)


def _database_spans(spans: list[Received], trace_id: bytes) -> list[Received]:
    return [
        s
        for s in spans
        if s.trace_id == trace_id
        and s.span.kind == Span.SPAN_KIND_CLIENT
        and "postgresql" in (s.attributes.get("db.system"), s.attributes.get("db.system.name"))
    ]


def _log_lines(process: Process, trace_id: bytes) -> list[dict[str, Any]]:
    """The process's JSON log lines that carry ``trace_id``."""
    lines = [json.loads(line) for line in process.output().splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("trace_id") == trace_id.hex()]


def test_a_search_reaches_the_otlp_receiver_as_a_server_span_with_its_query(traced: Traced) -> None:
    response = httpx.get(f"{traced.url}/api/ads/search", params={"q": "cosechadora", "province": "cordoba"}, timeout=10)
    # the request path works as without tracing
    assert response.status_code == 200, response.text
    assert response.json()["results"] == []  # no ads yet
    assert response.json()["cached"] is False  # from the database, not the cache
    assert response.headers["X-Request-ID"]

    def searched(spans: list[Received]) -> bool:
        search = _server_span(spans, "GET /api/ads/search")
        return search is not None and bool(_database_spans(spans, search.trace_id))

    spans = traced.receiver.wait_for(searched)
    search = _server_span(spans, "GET /api/ads/search")
    assert search is not None, (sorted({s.span.name for s in spans}), traced.server.output()[-3000:])
    assert search.service == traced.app_name  # OTEL_SERVICE_NAME unset: APP_NAME
    assert search.attributes["http.route"] == "/api/ads/search"
    queries = _database_spans(spans, search.trace_id)
    assert queries, sorted({s.span.name for s in spans if s.trace_id == search.trace_id})
    assert all(q.span.parent_span_id for q in queries)  # inside the request, not traces of their own
    if traced.redis:  # the rate limiter's script, on Redis in stage 2
        assert [s for s in spans if s.trace_id == search.trace_id and s.attributes.get("db.system") == "redis"]
    assert set(traced.receiver.paths) == {"/v1/traces"}
    # probes are not traced: serving() polled /api/health until the server answered
    assert not [s for s in spans if "health" in s.span.name or s.attributes.get("http.route") == "/api/health"]
    # the request's log lines name its trace
    assert any(
        line.get("request_id") == response.headers["X-Request-ID"]
        for line in _log_lines(traced.server, search.trace_id)
    )


def test_a_job_queued_by_a_request_runs_in_the_requests_trace(traced: Traced) -> None:
    """Registering queues the welcome email (outbox, dispatched after the commit): the worker's
    span for it belongs to the registration's trace."""
    email = f"{uuid.uuid4().hex[:8]}@chacra.com.ar"
    response = httpx.post(
        f"{traced.url}/api/auth/register", json={"email": email, "password": "ganado-2026!", "name": "Rosa"}, timeout=10
    )
    assert response.status_code == 201, response.text

    def job_traced(spans: list[Received]) -> bool:
        register = _server_span(spans, "POST /api/auth/register")
        return register is not None and any(
            s.span.kind == Span.SPAN_KIND_CONSUMER and s.trace_id == register.trace_id for s in spans
        )

    spans = traced.receiver.wait_for(job_traced, timeout=60)
    register = _server_span(spans, "POST /api/auth/register")
    assert register is not None, sorted({s.span.name for s in spans})
    # the write side (SQLAlchemy over asyncpg's prepared statements) is traced like the read side
    writes = [s for s in _database_spans(spans, register.trace_id) if s.span.name == "INSERT"]
    assert writes, sorted({s.span.name for s in spans if s.trace_id == register.trace_id})
    jobs = [s for s in spans if s.span.kind == Span.SPAN_KIND_CONSUMER and s.trace_id == register.trace_id]
    assert jobs, (sorted({(s.service, s.span.name) for s in spans}), traced.worker.output()[-3000:])
    job = jobs[0]
    assert job.service == "rural24-worker"  # OTEL_SERVICE_NAME wins over APP_NAME
    assert job.span.name == "job send_email"
    assert job.attributes["messaging.system"] == "saq"
    # the job's own queries are in the same trace, under the job's span
    assert [s for s in _database_spans(spans, register.trace_id) if s.span.parent_span_id == job.span.span_id]
    # and the worker's log lines about it name the registration's trace
    assert any(email in line["event"] for line in _log_lines(traced.worker, register.trace_id))
    # the worker polls its queue and runs the outbox relay every few seconds, the API samples the
    # queue's depth: none of that starts a trace, every query or command has a request or job above it
    orphans = [s for s in traced.receiver.spans if s.span.kind == Span.SPAN_KIND_CLIENT and not s.span.parent_span_id]
    assert not orphans, sorted({(s.service, s.span.name) for s in orphans})
