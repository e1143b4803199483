"""The stage advisor's arithmetic and advice (pure)."""

from __future__ import annotations

from infrastructure.settings import load_settings
from rural24.doctor import Figures, Topology, advise, figures, parse_metrics, topology

SCRAPE = """
# TYPE rural24_requests_total counter
rural24_requests_total{{method="GET",path="/api/ads/search"}} {requests}
# TYPE rural24_request_duration_seconds histogram
rural24_request_duration_seconds_bucket{{le="0.1",method="GET",path="/x"}} {fast}
rural24_request_duration_seconds_bucket{{le="1.0",method="GET",path="/x"}} {requests}
rural24_request_duration_seconds_bucket{{le="+Inf",method="GET",path="/x"}} {requests}
# TYPE rural24_cache_lookups_total counter
rural24_cache_lookups_total{{cache="search",result="hit"}} {hits}
rural24_cache_lookups_total{{cache="search",result="miss"}} {misses}
"""


def test_figures_from_two_scrapes() -> None:
    before = parse_metrics(SCRAPE.format(requests=100, fast=100, hits=10, misses=10), "rural24", at=0.0)
    after = parse_metrics(SCRAPE.format(requests=600, fast=550, hits=410, misses=110), "rural24", at=10.0)
    seen = figures(before, after)
    assert seen.rps == 50
    assert seen.p95_ms == 1000  # 450 of 500 under 100 ms: the 95th percentile is in the 1 s bucket
    assert seen.cache_hit_rate == 0.8


def _seen(**changes: object) -> Figures:
    base = {
        "rps": 10.0,
        "p95_ms": 80.0,
        "cache_hit_rate": 0.9,
        "rate_limited_per_s": 0.0,
        "pool_busy": 0.2,
        "replica_lag_s": None,
        "queue_depth": 0.0,
    }
    return Figures(**(base | changes))  # type: ignore[arg-type]


def test_advice_follows_the_original_thresholds() -> None:
    assert advise(1, _seen()) == []
    assert "stage 2" in advise(1, _seen(rps=45))[0]
    assert "stage 2" in advise(1, _seen(p95_ms=700))[0]
    assert advise(2, _seen(rps=150)) == []
    assert "stage 3" in advise(2, _seen(rps=250))[0]
    assert any("cache hit rate" in line for line in advise(2, _seen(cache_hit_rate=0.3)))
    assert any("pool" in line for line in advise(3, _seen(pool_busy=0.95)))


def test_an_app_name_with_a_dash_reads_its_exposed_metric_names() -> None:
    """``APP_NAME=rural24-prod`` is exposed as ``rural24_prod_requests_total``."""
    scrape = SCRAPE.format(requests=7, fast=7, hits=0, misses=0).replace("rural24_requests", "rural24_prod_requests")
    assert parse_metrics(scrape, "rural24-prod", at=0.0).requests == 7


def test_stage_three_names_what_its_topology_lacks() -> None:
    single = Topology(redis=True, redis_sentinel=False, replicas=1, pooler=False)
    sentinel = Topology(redis=True, redis_sentinel=True, replicas=2, pooler=True)
    assert any("Sentinel" in line and "redis+sentinel://" in line for line in advise(3, _seen(), single))
    assert advise(3, _seen(), sentinel) == []
    # a busy primary pool: a pooler first, at stage 3; raising the pool once one is there
    busy = _seen(pool_busy=0.9)
    assert any("PgBouncer" in line and "DATABASE_POOLER=transaction" in line for line in advise(3, busy, single))
    assert not any("PgBouncer" in line for line in advise(3, busy, sentinel))
    assert any("DB_POOL_SIZE" in line for line in advise(3, busy, sentinel))
    # one replica carrying every read above stage 2's ceiling: a second one
    assert any("second" in line for line in advise(3, _seen(rps=250, replica_lag_s=0.1), single))
    assert not any("second" in line for line in advise(3, _seen(rps=250, replica_lag_s=0.1), sentinel))
    # below stage 3 the topology is not the advice
    assert not any("Sentinel" in line for line in advise(2, _seen(), single))


def test_the_topology_comes_from_the_settings() -> None:
    base = {
        "DATABASE_URL": "postgresql://u@pooler:6432/r",
        "DATABASE_READ_URL": "postgresql://u@r1/r,postgresql://u@r2/r",
    }
    plain = topology(load_settings(base | {"REDIS_ENABLED": "true"}))
    assert plain == Topology(redis=True, redis_sentinel=False, replicas=2, pooler=False)
    ha = topology(
        load_settings(
            base
            | {
                "REDIS_ENABLED": "true",
                "REDIS_URL": "redis+sentinel://s1,s2,s3/rural24",
                "DATABASE_POOLER": "transaction",
                "DATABASE_DIRECT_URL": "postgresql://u@primary/r",
            }
        )
    )
    assert ha == Topology(redis=True, redis_sentinel=True, replicas=2, pooler=True)
