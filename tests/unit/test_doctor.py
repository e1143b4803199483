"""The stage advisor's arithmetic and advice (pure)."""

from __future__ import annotations

from rural24.doctor import Figures, advise, figures, parse_metrics

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
    base = {"rps": 10.0, "p95_ms": 80.0, "cache_hit_rate": 0.9, "rate_limited_per_s": 0.0,
            "pool_busy": 0.2, "replica_lag_s": None, "queue_depth": 0.0}  # fmt: skip
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
