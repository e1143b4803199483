"""Prometheus metrics beyond Litestar's per-route request counters and latency histograms.

Cache hits and misses are counted as they happen; pool use and replica lag are read when
``/metrics`` is scraped, so they cost nothing on the request path.

**Several processes.** Under ``rural24 serve`` with ``WEB_CONCURRENCY>1`` every granian worker is
a process of its own and a scrape reaches one of them. ``rural24 serve`` then sets
``PROMETHEUS_MULTIPROC_DIR`` (``infrastructure.metrics_dir``) before granian forks: counters and
histograms live in per-process files there and every scrape sums them (prometheus_client's
multiprocess mode, :func:`exposition`). Figures read at scrape time (the pools) cannot be read
in another process: each process writes its own into that directory every few seconds
(:func:`process_metrics`), and the one answering a scrape writes its own first. Either way a
pool series carries the label ``pid`` of its process; a process that has exited drops out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from collections.abc import AsyncIterator, Callable, Iterable
from typing import TYPE_CHECKING, Any, Literal

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST as OPENMETRICS_CONTENT_TYPE
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_generate_latest
from prometheus_client.registry import Collector

from infrastructure.metrics_dir import MULTIPROC_ENV, alive, multiprocess_dir

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from infrastructure.database.reads import ReadSide

logger = logging.getLogger(__name__)

CACHE_LOOKUPS = Counter(
    "rural24_cache_lookups_total",
    "Query cache lookups by cache name and result (hit or miss).",
    ["cache", "result"],
)
# Every process samples the same queue: across processes the latest sample is the figure.
QUEUE_DEPTH = Gauge(
    "rural24_queue_depth",
    "Jobs waiting in the queue (the API samples it every 15 s, the worker at each scrape).",
    multiprocess_mode="livemostrecent",
)
QUEUE_OLDEST_AGE = Gauge(
    "rural24_queue_oldest_job_age_seconds",
    "Seconds the oldest job ready to run has waited (0: none waiting); the worker reads it at each scrape.",
    multiprocess_mode="livemostrecent",
)
DB_READS = Counter(
    "rural24_db_reads_total",
    "Read-side queries answered, by server: primary, or a replica's host:port/database.",
    ["server"],
)
RATE_LIMIT_REJECTIONS = Counter(
    "rural24_rate_limit_rejections_total",
    "Requests refused with 429, by limit name.",
    ["limit"],
)

JobOutcome = Literal["complete", "retried", "failed", "aborted"]
JOBS = Counter(
    "rural24_jobs_total",
    "Job attempts the worker finished, by function and outcome: complete, retried (failed, tried "
    "again later), failed (failed for good), aborted.",
    ["function", "outcome"],
)
JOB_DURATION = Histogram(
    "rural24_job_duration_seconds",
    "Time a job attempt ran, by function (any outcome).",
    ["function"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)

PUBLISH_EVERY_SECONDS = 5.0
"""How stale another process's pool figures may be in a scrape (several processes only)."""


_CACHE_LOOKUP_CHILDREN: dict[tuple[str, bool], Any] = {}


def count_cache_lookup(cache: str, hit: bool) -> None:
    # label children resolved once per (cache, outcome): labels() cost ~3 µs of a hot read
    child = _CACHE_LOOKUP_CHILDREN.get((cache, hit))
    if child is None:
        child = _CACHE_LOOKUP_CHILDREN[(cache, hit)] = CACHE_LOOKUPS.labels(cache, "hit" if hit else "miss")
    child.inc()


class PoolCollector(Collector):
    """Pool use and the last replica lags of this process, read at scrape time: the read side's
    asyncpg pools (``pool`` = primary or replica, ``replica`` = the replica's ``host:port/db``)
    and the write side's SQLAlchemy engine."""

    def __init__(
        self,
        pool_usage: Callable[[], dict[str, tuple[int, int]]],
        write_pool: Callable[[], tuple[int, int, int] | None],
        replica_lags: Callable[[], dict[str, float]],
    ) -> None:
        self._pool_usage = pool_usage
        self._write_pool = write_pool
        self._replica_lags = replica_lags

    def collect(self) -> Iterable[Metric]:
        pid = str(os.getpid())
        labels = ["pool", "replica", "pid"]
        in_use = GaugeMetricFamily("rural24_db_pool_in_use", "Read-side connections in use.", labels=labels)
        size = GaugeMetricFamily("rural24_db_pool_size", "Read-side connections open.", labels=labels)
        for name, (used, total) in self._pool_usage().items():
            pool, replica = ("primary", "") if name == "primary" else ("replica", name)
            in_use.add_metric([pool, replica, pid], used)
            size.add_metric([pool, replica, pid], total)
        yield in_use
        yield size
        write = self._write_pool()
        if write is not None:
            checked_out, pool_size, overflow = write
            for name, text, value in (
                ("rural24_db_write_pool_checked_out", "Write-side connections checked out.", checked_out),
                ("rural24_db_write_pool_size", "Write-side pool size (connections kept).", pool_size),
                ("rural24_db_write_pool_overflow", "Write-side connections open beyond the pool size.", overflow),
            ):
                family = GaugeMetricFamily(name, text, labels=["pid"])
                family.add_metric([pid], value)
                yield family
        lags = self._replica_lags()
        if lags:
            gauge = GaugeMetricFamily(
                "rural24_replica_lag_seconds",
                "Replay lag of each read replica at its last probe.",
                labels=["replica", "pid"],
            )
            for replica, lag in lags.items():
                gauge.add_metric([replica, pid], lag)
            yield gauge


def pool_collector(read_side: ReadSide, engine: AsyncEngine) -> PoolCollector:
    """The pools of one process: ``read_side``'s and the write ``engine``'s."""

    def write_pool() -> tuple[int, int, int] | None:
        pool = engine.pool  # read each time: ``dispose()`` replaces it
        try:  # a QueuePool; a NullPool (no pooling) has nothing to report
            checked_out, size, overflow = pool.checkedout(), pool.size(), pool.overflow()  # type: ignore[attr-defined]
        except AttributeError:
            return None
        return int(checked_out), int(size), max(0, int(overflow))  # overflow counts down from -size

    return PoolCollector(read_side.pool_usage, write_pool, read_side.replica_lags)


_collectors: list[Collector] = []
_published: dict[str, Gauge] = {}


def register_collector(collector: Collector) -> None:
    """Register, replacing the previous app's collector (tests build several apps per process).
    With several processes the collector is not registered: :func:`publish` writes its figures."""
    for old in _collectors:
        with contextlib.suppress(KeyError):
            REGISTRY.unregister(old)
    _collectors.clear()
    _collectors.append(collector)
    if multiprocess_dir() is None:
        REGISTRY.register(collector)


def publish() -> None:
    """Several processes: write this process's scrape-time figures (the registered collector's)
    where every process's scrape reads them, as gauges labelled with this process's ``pid``."""
    for collector in _collectors:
        for family in collector.collect():
            for sample in family.samples:
                labels = {k: v for k, v in sample.labels.items() if k != "pid"}  # the files add it
                gauge = _published.get(sample.name)
                if gauge is None:
                    gauge = _published[sample.name] = Gauge(
                        sample.name, family.documentation, [*labels], registry=None, multiprocess_mode="liveall"
                    )
                (gauge.labels(**labels) if labels else gauge).set(sample.value)


@contextlib.asynccontextmanager
async def process_metrics(collector: Collector) -> AsyncIterator[None]:
    """While an API process runs: ``collector`` answers its scrapes; with several processes its
    figures are also published every :data:`PUBLISH_EVERY_SECONDS` for the others' scrapes."""
    register_collector(collector)
    if multiprocess_dir() is None:
        yield
        return
    forget_dead_processes()  # a respawned worker's predecessor
    task = asyncio.create_task(_publish_periodically(), name="metrics-publish")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _publish_periodically() -> None:
    while True:
        try:
            publish()
        except Exception as exc:  # a pool mid-close: the next round publishes again
            logger.debug("publishing process metrics failed: %r", exc)
        await asyncio.sleep(PUBLISH_EVERY_SECONDS)


_LIVE_FILE = re.compile(r"^gauge_live\w+_(\d+)\.db$")


def forget_dead_processes() -> list[int]:
    """Drop the live gauges of processes that have exited (granian respawned a worker, or
    reloaded them all on SIGHUP): their pool figures would otherwise stay in every scrape.
    Counters keep their files: an exited worker's requests still happened. Returns the pids."""
    path = multiprocess_dir()
    if path is None:
        return []
    dead: set[int] = set()
    for name in os.listdir(path):
        match = _LIVE_FILE.match(name)
        if match and not alive(int(match.group(1))):
            dead.add(int(match.group(1)))
    for pid in dead:
        multiprocess.mark_process_dead(pid, path)  # type: ignore[no-untyped-call]
    return sorted(dead)


def exposition(openmetrics: bool = False) -> tuple[bytes, str]:
    """The text a scrape gets and its content type. One process: the default registry. Several
    (``PROMETHEUS_MULTIPROC_DIR`` set): every process's files, merged; this process's pool
    figures published first so they are current."""
    registry: CollectorRegistry = REGISTRY
    if multiprocess_dir() is not None:
        try:
            publish()
            forget_dead_processes()
        except Exception as exc:  # never fail a scrape for the freshness of a gauge
            logger.debug("refreshing process metrics failed: %r", exc)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    if openmetrics:
        return openmetrics_generate_latest(registry), OPENMETRICS_CONTENT_TYPE  # type: ignore[no-untyped-call]
    return generate_latest(registry), CONTENT_TYPE_LATEST


__all__ = [
    "CACHE_LOOKUPS",
    "DB_READS",
    "JOBS",
    "JOB_DURATION",
    "MULTIPROC_ENV",
    "QUEUE_DEPTH",
    "QUEUE_OLDEST_AGE",
    "RATE_LIMIT_REJECTIONS",
    "PoolCollector",
    "count_cache_lookup",
    "exposition",
    "forget_dead_processes",
    "pool_collector",
    "process_metrics",
    "publish",
    "register_collector",
]
