"""Prometheus metrics beyond Litestar's per-route request counters and latency histograms.

Cache hits and misses are counted as they happen; pool use and replica lag are read when
``/metrics`` is scraped, so they cost nothing on the request path. Figures are per process:
with several granian workers each scrape reaches one of them (label ``pid`` tells them apart).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from prometheus_client import REGISTRY, Counter, Gauge
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

CACHE_LOOKUPS = Counter(
    "rural24_cache_lookups_total",
    "Query cache lookups by cache name and result (hit or miss).",
    ["cache", "result"],
)
QUEUE_DEPTH = Gauge("rural24_queue_depth", "Jobs waiting in the queue (sampled every 15 s).")
RATE_LIMIT_REJECTIONS = Counter(
    "rural24_rate_limit_rejections_total",
    "Requests refused with 429, by limit name.",
    ["limit"],
)


def count_cache_lookup(cache: str, hit: bool) -> None:
    CACHE_LOOKUPS.labels(cache, "hit" if hit else "miss").inc()


class ReadSideCollector(Collector):
    """Pool use and the last replica lag, read at scrape time."""

    def __init__(
        self,
        pool_usage: Callable[[], dict[str, tuple[int, int]]],
        replica_lag: Callable[[], float | None],
    ) -> None:
        self._pool_usage = pool_usage
        self._replica_lag = replica_lag

    def collect(self) -> Iterable[GaugeMetricFamily]:
        pid = str(os.getpid())
        in_use = GaugeMetricFamily("rural24_db_pool_in_use", "Read-side connections in use.", labels=["pool", "pid"])
        size = GaugeMetricFamily("rural24_db_pool_size", "Read-side connections open.", labels=["pool", "pid"])
        for name, (used, total) in self._pool_usage().items():
            in_use.add_metric([name, pid], used)
            size.add_metric([name, pid], total)
        yield in_use
        yield size
        lag = self._replica_lag()
        if lag is not None:
            gauge = GaugeMetricFamily("rural24_replica_lag_seconds", "Replay lag of the read replica.", labels=["pid"])
            gauge.add_metric([pid], lag)
            yield gauge


_collectors: list[Collector] = []


def register_collector(collector: Collector) -> None:
    """Register, replacing the previous app's collector (tests build several apps per process)."""
    for old in _collectors:
        REGISTRY.unregister(old)
    _collectors.clear()
    REGISTRY.register(collector)
    _collectors.append(collector)
