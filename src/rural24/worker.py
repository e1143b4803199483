"""The SAQ worker: the jobs the context plugins declare, on the same services as the API."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, cast

from saq import CronJob, Job, Worker
from saq.types import PartialTimersDict

from infrastructure.jobs import BEAT_EVERY_SECONDS, JOB_DEFAULTS, SWEEP_SECONDS, run_relay, sweep_quickly
from infrastructure.settings import Settings, get_settings
from rural24.app import context_plugins
from rural24.contexts import JobContext, JobFunction
from rural24.services import Services, build_services, running_services

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
    stack = contextlib.AsyncExitStack()

    async def startup(ctx: JobContext) -> None:
        await stack.enter_async_context(running_services(services))
        ctx["services"] = services
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
        functions=[with_heartbeat(function) for function in functions],
        cron_jobs=[
            CronJob(
                with_heartbeat(schedule.function),
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
        concurrency=concurrency,
    )


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
