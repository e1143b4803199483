"""The SAQ worker: the jobs the context plugins declare, on the same services as the API."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, cast

import structlog
from saq import CronJob, Job, Worker
from saq.types import PartialTimersDict

from infrastructure.jobs import (
    BEAT_EVERY_SECONDS,
    JOB_DEFAULTS,
    REQUEST_ID_META,
    SWEEP_SECONDS,
    run_relay,
    sweep_quickly,
)
from infrastructure.metrics import pool_collector, register_collector
from infrastructure.settings import Settings, get_settings
from rural24.app import context_plugins
from rural24.contexts import JobContext, JobFunction
from rural24.services import Services, build_services, running_services
from rural24.tracing import install_tracing, traced_job
from rural24.worker_metrics import MetricsServer, after_job, before_job

logger = logging.getLogger("rural24.worker")

HEARTBEAT = JOB_DEFAULTS["heartbeat"]


async def _beat(job: Job) -> None:
    while True:
        await asyncio.sleep(BEAT_EVERY_SECONDS)
        try:
            await job.update()  # sets ``touched``: the sweep sees a live job
        except Exception as exc:  # the queue's backend is away for a moment: beat again next time
            logger.warning("heartbeat of %s failed: %r", job.key, exc)


def with_heartbeat(function: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """Touch the running job every few seconds while ``function`` runs. SAQ sweeps a job whose
    ``heartbeat`` passes untouched but never touches a running job itself. The beat stops before
    the function returns, so it never races the worker's own final update of the job."""

    @functools.wraps(function)
    async def run(ctx: JobContext, **kwargs: Any) -> Any:
        job = ctx.get("job")
        if job is None or not job.heartbeat:
            return await function(ctx, **kwargs)
        beat = asyncio.create_task(_beat(job))
        try:
            return await function(ctx, **kwargs)
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat

    return run


_JOB_LOG_KEYS = ("job", "job_key", "request_id")


async def bind_job_log_context(ctx: JobContext) -> None:
    """SAQ's ``before_process``: every line of the attempt (SAQ's "Processing …" and "Finished …",
    the job's own) carries the job's function (``job``), its key (``job_key``) and the id of the
    request that queued it (``request_id``, from the job's meta: ``infrastructure.jobs``). Each
    attempt runs in a task of its own, with its own copy of the context."""
    job = ctx.get("job")
    if job is None:
        return
    context: dict[str, Any] = {"job": job.function, "job_key": job.key}
    request_id = job.meta.get(REQUEST_ID_META)
    if isinstance(request_id, str):
        context["request_id"] = request_id
    structlog.contextvars.bind_contextvars(**context)


async def unbind_job_log_context(ctx: JobContext) -> None:
    """SAQ's ``after_process``: the attempt is over; its context goes."""
    structlog.contextvars.unbind_contextvars(*_JOB_LOG_KEYS)


async def run_worker(settings: Settings | None = None, *, concurrency: int = 10) -> None:
    """Build the services, work until SIGINT/SIGTERM, close everything."""
    worker = build_worker(build_services(settings or get_settings()), concurrency=concurrency)
    await worker.start()


def build_worker(services: Services, *, concurrency: int = 10) -> Worker[JobContext]:
    """A SAQ worker running the jobs and schedules every context plugin declares, on the services
    of ``rural24.services``: the same composition root, the same unit of work, the same queue as
    the API."""
    plugins = context_plugins(services)
    functions: list[JobFunction] = [job for plugin in plugins for job in plugin.jobs]
    schedules = [schedule for plugin in plugins for schedule in plugin.schedules]
    # OTEL_EXPORTER_OTLP_ENDPOINT set: each job runs in a span, in the trace of the request that queued it
    tracing = install_tracing(services)

    def runnable(function: JobFunction) -> JobFunction:
        return with_heartbeat(traced_job(function) if tracing else function)

    stack = contextlib.AsyncExitStack()
    server = services.settings.server
    metrics = (  # the worker's own GET /metrics (rural24.worker_metrics); WORKER_METRICS_PORT=0: none
        MetricsServer(services.jobs.queue, server.host, server.worker_metrics_port, services.settings.app.metrics_token)
        if server.worker_metrics_port
        else None
    )

    async def startup(ctx: JobContext) -> None:
        await stack.enter_async_context(running_services(services))
        ctx["services"] = services
        register_collector(pool_collector(services.read_side, services.database.get_engine()))
        if metrics is not None:
            await metrics.start()
            stack.push_async_callback(metrics.close)
        # Sweep before taking jobs. SAQ's own first sweep runs concurrently with the first
        # dequeues, and on Redis it aborts a job this very worker has just taken ("swept").
        # Sweeping here takes the sweep lock first, so that concurrent sweep finds nothing to do.
        # The lock is the sweep interval: on Redis the default (60 s) would keep every worker from
        # sweeping for a minute, and a dead worker's job would wait that long.
        await services.jobs.connect()
        await ctx["worker"].queue.sweep(lock=SWEEP_SECONDS)
        relay = asyncio.create_task(run_relay(services.database.get_engine(), services.jobs.queue))
        stack.push_async_callback(_cancel, relay)

    async def shutdown(ctx: JobContext) -> None:
        await stack.aclose()  # the relay first, then the services (queue, pools, Redis)

    return Worker(
        sweep_quickly(services.jobs.queue),
        functions=[runnable(function) for function in functions],
        cron_jobs=[
            CronJob(
                runnable(schedule.function),
                cron=schedule.cron,
                retries=JOB_DEFAULTS["retries"] if schedule.retries is None else schedule.retries,
                timeout=schedule.timeout,
                heartbeat=HEARTBEAT,
            )
            for schedule in schedules
        ],
        # Sweep often: a job whose worker died (SIGKILL, lost machine) misses its heartbeat and is
        # retried at the next sweep (SAQ's default sweeps every 60 s).
        timers=cast("PartialTimersDict", {"sweep": SWEEP_SECONDS}),
        startup=startup,
        shutdown=shutdown,
        # the job's log context (bound first, so the metrics' lines carry it too), then the job
        # counts and durations (rural24.worker_metrics)
        before_process=[bind_job_log_context, before_job],
        after_process=[after_job, unbind_job_log_context],
        concurrency=concurrency,
    )


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
