"""Tracing off is free, and the pieces that run when it is on: trace ids in log lines, the sampler
that keeps background polling out of the traces. The OTLP export itself is tested end to end
(``tests/e2e/test_otlp_export.py``)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON

from infrastructure.settings import SettingsError, load_settings
from rural24 import tracing
from rural24.logs import line_formatter

ROOT = Path(__file__).parents[2]

OFF = """
import asyncpg, sys
from opentelemetry import trace
from infrastructure.settings import load_settings
from rural24.app import create_app
from rural24.services import build_services
from infrastructure.settings import SettingsError, load_settings
from rural24 import tracing
from rural24.worker import build_worker

settings = load_settings({"APP_ENV": "test", "DATABASE_URL": "postgresql://nobody@127.0.0.1:9/none"})
app = create_app(settings)
worker = build_worker(build_services(settings))
layers, handler = [], app.asgi_handler
while handler is not None:
    layers.append(type(handler).__name__)
    handler = getattr(handler, "app", None)
loaded = sorted(m for m in sys.modules if m.startswith(("opentelemetry.sdk", "opentelemetry.exporter",
    "opentelemetry.instrumentation.asyncpg", "opentelemetry.instrumentation.redis")))
job = worker.functions["send_email"]
print(layers, "OpenTelemetryPlugin" in [type(p).__name__ for p in app.plugins], loaded,
      type(trace.get_tracer_provider()).__name__, hasattr(asyncpg.connection.Connection.fetch, "__wrapped__"),
      tracing._span_ids is None, job.__wrapped__.__code__.co_filename, sep="\\n")
"""


def test_off_without_an_endpoint_nothing_is_installed() -> None:
    """A fresh process (this one has OpenTelemetry loaded by the other tests): the app and the
    worker built without ``OTEL_EXPORTER_OTLP_ENDPOINT`` have no tracing middleware, no SDK, no
    instrumented driver, no trace ids looked up for log lines, no wrapped job."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "DATABASE_", "REDIS_", "APP_"))}
    result = subprocess.run(
        [sys.executable, "-c", OFF], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    layers, plugin, loaded, provider, wrapped, no_ids, job_code = result.stdout.strip().splitlines()[-7:]
    assert "OpenTelemetry" not in layers, layers
    assert "Tracing" not in layers, layers
    assert plugin == "False"
    assert loaded == "[]"  # neither the SDK, the exporter nor the instrumentation was imported
    assert provider == "ProxyTracerProvider"  # the API's no-op
    assert wrapped == "False"
    assert no_ids == "True"
    assert job_code.endswith("emails.py"), job_code  # the job itself under the heartbeat, no span around it


@pytest.fixture
def spans() -> Iterator[tuple[trace.Tracer, InMemorySpanExporter]]:
    """A tracer of a provider of this test only (the global one stays untouched), and trace ids
    in log lines switched on for the test and off after it."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=tracing._requests_and_jobs(ALWAYS_ON))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing._trace_ids_in_logs()
    try:
        yield provider.get_tracer("test"), exporter
    finally:
        tracing._span_ids = None
        provider.shutdown()


def _line(message: str) -> dict[str, object]:
    """The JSON line the app's one formatter makes of a standard-library record, here and now."""
    logger = logging.getLogger("rural24.test")
    record = logger.makeRecord(logger.name, logging.INFO, __file__, 1, message, (), None)
    return dict(json.loads(line_formatter().format(record)))


def test_log_lines_inside_a_span_carry_its_ids(spans: tuple[trace.Tracer, InMemorySpanExporter]) -> None:
    tracer, _ = spans
    with tracer.start_as_current_span("GET /api/ads/search") as span:
        inside = _line("searched")
    outside = _line("idle")

    context = span.get_span_context()
    assert inside["trace_id"] == f"{context.trace_id:032x}"
    assert inside["span_id"] == f"{context.span_id:016x}"
    assert "trace_id" not in outside
    assert "span_id" not in outside


def test_without_tracing_log_lines_carry_no_ids() -> None:
    assert tracing._span_ids is None
    assert tracing.add_trace_ids(None, "info", {"event": "x"}) == {"event": "x"}
    assert "trace_id" not in _line("x")


def test_a_query_outside_a_request_or_job_starts_no_trace(spans: tuple[trace.Tracer, InMemorySpanExporter]) -> None:
    """The queue's polling and the relay query every few seconds: not a trace each time. A
    query inside a request (or a job) is kept, and so is the request itself."""
    tracer, exporter = spans
    with tracer.start_as_current_span("SELECT", kind=trace.SpanKind.CLIENT):
        pass
    with (
        tracer.start_as_current_span("job send_email", kind=trace.SpanKind.CONSUMER),
        tracer.start_as_current_span("UPDATE", kind=trace.SpanKind.CLIENT),
    ):
        pass
    with (
        tracer.start_as_current_span("GET /api/ads/search", kind=trace.SpanKind.SERVER),
        tracer.start_as_current_span("SELECT", kind=trace.SpanKind.CLIENT),
    ):
        pass
    kept = [(s.name, s.kind) for s in exporter.get_finished_spans()]
    assert kept == [
        ("UPDATE", trace.SpanKind.CLIENT),
        ("job send_email", trace.SpanKind.CONSUMER),
        ("SELECT", trace.SpanKind.CLIENT),
        ("GET /api/ads/search", trace.SpanKind.SERVER),
    ]


def test_the_endpoint_is_a_setting_checked_at_start_up() -> None:
    test = {"APP_ENV": "test"}
    assert load_settings(test).app.otlp_endpoint is None
    endpoint = "https://otlp.nr-data.net"
    assert load_settings(test | {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint}).app.otlp_endpoint == endpoint
    with pytest.raises(SettingsError, match="OTEL_EXPORTER_OTLP_ENDPOINT is not valid"):
        load_settings(test | {"OTEL_EXPORTER_OTLP_ENDPOINT": "localhost:4318"})
