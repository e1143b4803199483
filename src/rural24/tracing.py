"""Tracing: OpenTelemetry spans sent by OTLP/HTTP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set.

Unset (the default), nothing here runs: no middleware, no instrumented driver, no SDK or exporter
loaded, no extra work on the request path (Litestar itself imports OpenTelemetry's API package
when it builds an app, to look for its plugin; that is all). Every OpenTelemetry import below sits
inside a function called only once tracing is on, so the API, the worker and ``rural24.logs`` may
import this module freely.

On, one process gets (:func:`install_tracing`, once, the API and the worker alike):

* a tracer provider exporting in batches to ``$OTEL_EXPORTER_OTLP_ENDPOINT/v1/traces``; the SDK
  reads the other standard variables itself (``OTEL_EXPORTER_OTLP_HEADERS``, ``OTEL_SERVICE_NAME``,
  ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_SAMPLER``, ``OTEL_BSP_*`` …);
* spans of every asyncpg query: the read side's pools and the write side alike (SQLAlchemy runs
  its statements through asyncpg's prepared statements, which the instrumentation wraps), and of
  every Redis command;
* the trace carried through the job queue: an enqueue inside a span puts ``traceparent`` in the
  job's ``meta``, and the worker runs the job in a span of that trace (:func:`traced_job`);
* the trace and span ids on every log line written inside a span (:func:`add_trace_ids`).

The app adds :func:`tracing_middleware`: Litestar's OpenTelemetry middleware, outermost, one
server span per request named after its route template (``GET /api/ads/search``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rural24 import __version__

if TYPE_CHECKING:
    from litestar.middleware.base import DefineMiddleware
    from opentelemetry.sdk.trace.sampling import Sampler
    from saq import Job
    from structlog.typing import EventDict

    from infrastructure.settings import Settings
    from rural24.contexts import JobContext, JobFunction
    from rural24.services import Services

__all__ = ["add_trace_ids", "install_tracing", "traced_job", "tracing_middleware"]

TRACES_PATH = "/v1/traces"
UNTRACED_PATHS = ["^/api/health", "^/metrics", "^/api/metrics"]
"""Probes and scrapes: a trace every few seconds that tells nothing."""

_span_ids: Callable[[], tuple[str, str] | None] | None = None
"""Set once tracing is on: the current span's ids as hex, or ``None`` outside a span."""
_provider_installed = False


def install_tracing(services: Services) -> bool:
    """Trace this process when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set; ``False`` (and nothing
    done) when it is not. Safe to call again: the provider and the drivers' instrumentation are
    installed once per process, and SAQ keeps one ``before_enqueue`` per callback."""
    endpoint = services.settings.app.otlp_endpoint
    if endpoint is None:
        return False
    if not _provider_installed:
        _install_provider(services.settings, endpoint)
    services.jobs.queue.register_before_enqueue(_carry_trace)
    return True


def _install_provider(settings: Settings, endpoint: str) -> None:
    global _provider_installed
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.sdk.resources import OTELResourceDetector, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    # Ours are defaults: OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES override them.
    defaults = {
        "service.name": settings.app.name,
        "service.version": __version__,
        "deployment.environment.name": settings.app.env,
    }
    resource = Resource.create({**defaults, **OTELResourceDetector().detect().attributes})
    provider = TracerProvider(resource=resource)
    provider.sampler = _requests_and_jobs(provider.sampler)  # the one OTEL_TRACES_SAMPLER names
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint.rstrip("/") + TRACES_PATH)))
    trace.set_tracer_provider(provider)
    AsyncPGInstrumentor().instrument()  # type: ignore[no-untyped-call]
    RedisInstrumentor().instrument()
    _trace_ids_in_logs()
    _provider_installed = True


def _requests_and_jobs(configured: Sampler) -> Sampler:
    """A trace starts at a request or a job. A query or a Redis command outside both (the queue's
    polling, the outbox relay, the gauges' samplers: every few seconds) would each make a trace of
    one span: those are dropped. The rest is the configured sampler's decision
    (``OTEL_TRACES_SAMPLER``, by default every trace, or as its parent decided)."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult

    class RequestsAndJobs(Sampler):
        def should_sample(
            self,
            parent_context: Any,
            trace_id: int,
            name: str,
            kind: trace.SpanKind | None = None,
            attributes: Any = None,
            links: Sequence[trace.Link] | None = None,
            trace_state: trace.TraceState | None = None,
        ) -> SamplingResult:
            if kind == trace.SpanKind.CLIENT and not trace.get_current_span(parent_context).get_span_context().is_valid:
                return SamplingResult(Decision.DROP)
            return configured.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

        def get_description(self) -> str:
            return f"RequestsAndJobs{{{configured.get_description()}}}"

    return RequestsAndJobs()


def _trace_ids_in_logs() -> None:
    """From now on :func:`add_trace_ids` finds the current span's ids."""
    global _span_ids
    from opentelemetry import trace

    def span_ids() -> tuple[str, str] | None:
        context = trace.get_current_span().get_span_context()
        if not context.is_valid:
            return None
        return trace.format_trace_id(context.trace_id), trace.format_span_id(context.span_id)

    _span_ids = span_ids


def add_trace_ids(_: Any, __: str, event_dict: EventDict) -> EventDict:
    """structlog processor (``rural24.logs.PROCESSORS``, so on every line, the standard library's
    included): ``trace_id`` and ``span_id`` of the current span when tracing is on and a span is
    current (a request, a job); otherwise the event as it is, at the cost of one ``None`` check.
    It must run in the thread and task that logged: the span is a context variable."""
    if _span_ids is not None and "trace_id" not in event_dict and (ids := _span_ids()) is not None:
        event_dict["trace_id"], event_dict["span_id"] = ids
    return event_dict


# -- the API ---------------------------------------------------------------------------------------


def tracing_middleware() -> DefineMiddleware:
    """Litestar's OpenTelemetry middleware, HTTP only (a WebSocket would be one span as long as
    the connection). Litestar moves it outside its exception handling and routing, so 404s and
    500s are traced too; the span is renamed after the route template once routing has run, and
    an unrouted request keeps the bare method (raw paths would make a span name per scanned URL).
    The per-message ``receive``/``send`` spans are left out: they cost and tell nothing."""
    from litestar.enums import ScopeType
    from litestar.plugins.opentelemetry import OpenTelemetryConfig, OpenTelemetryInstrumentationMiddleware
    from litestar.types import ASGIApp, Message, Receive, Scope, Send
    from opentelemetry import trace

    def route_named(app: ASGIApp) -> ASGIApp:
        # Renamed when the response starts: routing has run, and the span ends with the last body
        # message, before the app returns.
        async def named(scope: Scope, receive: Receive, send: Send) -> None:
            span = trace.get_current_span()  # the request's server span

            async def send_named(message: Message) -> None:
                if message["type"] == "http.response.start" and (template := scope.get("path_template")):
                    span.update_name(f"{scope.get('method', 'GET')} {template}")
                    span.set_attribute("http.route", template)
                await send(message)

            await app(scope, receive, send_named)

        return named

    class RouteNamedTracing(OpenTelemetryInstrumentationMiddleware):
        def __init__(self, app: ASGIApp, config: OpenTelemetryConfig) -> None:
            super().__init__(app=route_named(app), config=config)

    config = OpenTelemetryConfig(
        middleware_class=RouteNamedTracing,
        scope_span_details_extractor=lambda scope: (str(scope.get("method", "HTTP")), {}),
        exclude=UNTRACED_PATHS,
        exclude_spans=["receive", "send"],
        scopes={ScopeType.HTTP},
    )
    return config.middleware


# -- the job queue ---------------------------------------------------------------------------------


async def _carry_trace(job: Job) -> None:
    """SAQ's ``before_enqueue``: the enqueuer's trace context (``traceparent``) into the job's
    ``meta``, which is stored with the job. Outside a span it adds nothing."""
    from opentelemetry.propagate import inject

    inject(job.meta)


def traced_job(function: JobFunction) -> JobFunction:
    """Run the job in a consumer span, a child of the span that enqueued it (``meta``'s
    ``traceparent``), or a trace of its own (a cron job, a job the outbox relay queued). An
    exception marks the span as failed and is raised on to SAQ (retries are SAQ's)."""
    from opentelemetry import trace
    from opentelemetry.propagate import extract

    tracer = trace.get_tracer("rural24.jobs", __version__)
    name = getattr(function, "__qualname__", "job")

    @functools.wraps(function)
    async def run(ctx: JobContext, **kwargs: Any) -> Any:
        job: Job | None = ctx.get("job")
        meta: Mapping[str, Any] = job.meta if job is not None else {}
        attributes: dict[str, str | int] = {"messaging.system": "saq", "messaging.operation.type": "process"}
        if job is not None:
            attributes |= {
                "messaging.destination.name": job.queue.name if job.queue else "",
                "messaging.message.id": job.key,
                "saq.attempt": job.attempts,
            }
        with tracer.start_as_current_span(
            f"job {job.function if job is not None else name}",
            context=extract(meta),
            kind=trace.SpanKind.CONSUMER,
            attributes=attributes,
        ):
            return await function(ctx, **kwargs)

    return run
