"""``rural24 doctor``: the stage advisor. Live figures from a running instance, compared with the
original design's thresholds, and what to switch on next.

Thresholds (seed document, "cuándo escalar"): leave stage 1 when RPS stays above 40 or p95
passes 500 ms; leave stage 2 when RPS stays above 200, or database reads slow down (replica);
a cache hit rate under 50 % means the cache is not doing its job. Stage 3 (design table: Redis in
HA mode, read replicas, aggressive connection pooling, 50-150 database connections across 3-10
instances) adds the topology: Redis on one server, a busy pool without a pooler, one replica left.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families

from infrastructure.settings import Settings

STAGE1_MAX_RPS = 40
STAGE2_MAX_RPS = 200
P95_LIMIT_MS = 500
CACHE_HIT_FLOOR = 0.5
POOL_BUSY_CEILING = 0.8
REPLICA_LAG_CEILING_S = 5.0


@dataclass(frozen=True)
class Figures:
    rps: float
    p95_ms: float | None
    cache_hit_rate: float | None
    rate_limited_per_s: float
    pool_busy: float | None
    replica_lag_s: float | None
    """The largest lag among the replicas."""
    queue_depth: float | None
    replica_busy: float | None = None
    """Share of the replicas' pool connections in use (``None``: no replica)."""


@dataclass(frozen=True)
class Sample:
    at: float
    requests: float
    buckets: dict[float, float]
    cache_hits: float
    cache_misses: float
    rejections: float
    pool_in_use: float
    pool_size: float
    replica_lag: float | None
    queue_depth: float | None
    replica_in_use: float = 0.0
    replica_size: float = 0.0


def parse_metrics(text: str, prefix: str, at: float) -> Sample:
    # ``APP_NAME`` is the metrics' prefix; the exposition writes what a name cannot hold (``-``) as ``_``
    prefix = re.sub(r"[^A-Za-z0-9_:]", "_", prefix)
    requests = hits = misses = rejections = in_use = size = replica_in_use = replica_size = 0.0
    lag = depth = None
    buckets: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name, labels, value = sample.name, sample.labels, sample.value
            if name == f"{prefix}_requests_total":
                requests += value
            elif name == f"{prefix}_request_duration_seconds_bucket":
                bound = float(labels["le"])
                buckets[bound] = buckets.get(bound, 0.0) + value
            elif name == "rural24_cache_lookups_total":
                if labels.get("result") == "hit":
                    hits += value
                else:
                    misses += value
            elif name == "rural24_rate_limit_rejections_total":
                rejections += value
            elif name == "rural24_db_pool_in_use":
                in_use += value
                if labels.get("pool") == "replica":
                    replica_in_use += value
            elif name == "rural24_db_pool_size":
                size += value
                if labels.get("pool") == "replica":
                    replica_size += value
            elif name == "rural24_replica_lag_seconds":  # one per replica (and process): the worst
                lag = value if lag is None else max(lag, value)
            elif name == "rural24_queue_depth":
                depth = value
    return Sample(
        at, requests, buckets, hits, misses, rejections, in_use, size, lag, depth, replica_in_use, replica_size
    )


def _p95(before: dict[float, float], after: dict[float, float]) -> float | None:
    deltas = sorted((bound, after[bound] - before.get(bound, 0.0)) for bound in after)
    if not deltas or deltas[-1][1] <= 0:
        return None
    total = deltas[-1][1]
    for bound, count in deltas:
        if count >= 0.95 * total:
            return bound * 1000
    return None


def figures(before: Sample, after: Sample) -> Figures:
    seconds = max(after.at - before.at, 1e-6)
    lookups = (after.cache_hits - before.cache_hits) + (after.cache_misses - before.cache_misses)
    return Figures(
        rps=(after.requests - before.requests) / seconds,
        p95_ms=_p95(before.buckets, after.buckets),
        cache_hit_rate=(after.cache_hits - before.cache_hits) / lookups if lookups > 0 else None,
        rate_limited_per_s=(after.rejections - before.rejections) / seconds,
        pool_busy=after.pool_in_use / after.pool_size if after.pool_size else None,
        replica_lag_s=after.replica_lag,
        queue_depth=after.queue_depth,
        replica_busy=after.replica_in_use / after.replica_size if after.replica_size else None,
    )


@dataclass(frozen=True)
class Topology:
    """What the deployment runs, from its settings (the figures come from ``/metrics``)."""

    redis: bool = False
    redis_sentinel: bool = False
    replicas: int = 0
    pooler: bool = False


def topology(settings: Settings) -> Topology:
    from infrastructure.redis import is_sentinel_url

    return Topology(
        redis=settings.redis.enabled,
        redis_sentinel=settings.redis.enabled and is_sentinel_url(settings.redis.url),
        replicas=len(settings.db.read_urls),
        pooler=settings.db.pooler == "transaction",
    )


def current_stage(settings: Settings) -> int:
    if settings.db.read_urls:
        return 3
    if settings.redis.enabled:
        return 2
    return 1


def advise(stage: int, seen: Figures, deployment: Topology | None = None) -> list[str]:
    """What to do next, most urgent first; empty when the current stage fits the traffic and,
    at stage 3, the topology is the design's."""
    deployment = deployment or Topology()
    advice: list[str] = []
    slow = seen.p95_ms is not None and seen.p95_ms > P95_LIMIT_MS
    if stage == 1 and (seen.rps > STAGE1_MAX_RPS or slow):
        advice.append(
            "stage 2: set REDIS_ENABLED=true, REDIS_URL and SESSION_STRATEGY=redis, then run 2-3 instances "
            "(WEB_CONCURRENCY=2): shared caches, limits, sessions and pub/sub"
        )
    if stage == 2 and (seen.rps > STAGE2_MAX_RPS or slow):
        advice.append(
            "stage 3: add a read replica (DATABASE_READ_URL), autoscale the API and run more workers; "
            "put a CDN in front (public reads already send s-maxage)"
        )
    if seen.cache_hit_rate is not None and seen.cache_hit_rate < CACHE_HIT_FLOOR:
        advice.append("cache hit rate under 50%: raise CACHE_TTL_SEARCH / CACHE_TTL_AD or check what misses")
    if stage == 3 and deployment.redis and not deployment.redis_sentinel:
        advice.append(
            "stage 3: Redis is one server; run a replica and three Sentinels and set "
            "REDIS_URL=redis+sentinel://host:26379,host2:26379,host3:26379/<service> so sessions and limits "
            "survive losing it"
        )
    if seen.pool_busy is not None and seen.pool_busy > POOL_BUSY_CEILING:
        if stage == 3 and not deployment.pooler:
            advice.append(
                "database pool over 80% busy: put PgBouncer in transaction mode in front of the primary "
                "(DATABASE_POOLER=transaction, DATABASE_DIRECT_URL for LISTEN and the queue) and size it "
                "for 50-150 server connections, then raise DB_POOL_SIZE"
            )
        else:
            advice.append("database pool over 80% busy: raise DB_POOL_SIZE or add a replica")
    if seen.replica_busy is not None and seen.replica_busy > POOL_BUSY_CEILING:
        advice.append("the replicas' pools are over 80% busy: add a replica (one more URL in DATABASE_READ_URL)")
    if stage == 3 and deployment.replicas == 1 and seen.replica_lag_s is not None and seen.rps > STAGE2_MAX_RPS:
        advice.append(
            "one read replica carries every read: add a second (DATABASE_READ_URL takes a list) so losing "
            "it does not send all reads to the primary"
        )
    if seen.replica_lag_s is not None and seen.replica_lag_s > REPLICA_LAG_CEILING_S:
        advice.append("a replica lags: its reads go to the other replicas or the primary; check its resources")
    if seen.rate_limited_per_s > 1:
        advice.append("many 429s: check RATE_LIMIT_* against real traffic (and TRUSTED_PROXY_HOPS behind a proxy)")
    return advice


class InstanceUnreachable(Exception):
    """``/metrics`` of the instance could not be read; ``str()`` says where and why, in one line."""


def _scrape(client: httpx.Client, url: str) -> str:
    try:
        response = client.get("/metrics")
        response.raise_for_status()
    except httpx.HTTPError as exc:
        msg = f"cannot read {url}/metrics ({type(exc).__name__}: {exc}); is `rural24 serve` running there?"
        raise InstanceUnreachable(msg) from exc
    return response.text


def examine(url: str, settings: Settings, seconds: float) -> tuple[int, Figures, list[str]]:
    """Scrape ``/metrics`` twice, ``seconds`` apart (traffic goes only to ``url``)."""
    token = settings.app.metrics_token
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with httpx.Client(base_url=url, timeout=10, headers=headers) as client:
        first = parse_metrics(_scrape(client, url), settings.app.name, time.monotonic())
        time.sleep(seconds)  # the measuring window, not synchronisation
        second = parse_metrics(_scrape(client, url), settings.app.name, time.monotonic())
    stage = current_stage(settings)
    seen = figures(first, second)
    return stage, seen, advise(stage, seen, topology(settings))
