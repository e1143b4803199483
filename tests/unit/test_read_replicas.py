"""Several replicas, the pure parts: ``DATABASE_READ_URL`` as a list, replica names, the
readiness summary and the stage advisor's per-replica figures."""

from __future__ import annotations

import pytest

from infrastructure.database.reads import ReadSide, replica_name
from infrastructure.settings import SettingsError, load_settings
from rural24.doctor import Figures, advise, figures, parse_metrics
from rural24.health import ReplicaCheck, _replica_summary

A = "postgresql://reader:s3cret@replica-a:5432/rural24"
B = "postgresql+asyncpg://reader:s3cret@replica-b:6432/rural24"


def test_one_url_is_a_list_of_one_and_unset_is_none() -> None:
    assert load_settings({"DATABASE_READ_URL": A}).db.read_urls == (A,)
    assert load_settings({}).db.read_urls == ()


def test_a_comma_separated_list_keeps_its_order() -> None:
    assert load_settings({"DATABASE_READ_URL": f"{A}, {B}"}).db.read_urls == (A, B)


def test_a_libpq_host_list_or_a_comma_in_a_password_stays_one_url() -> None:
    hosts = "postgresql://reader@h1:5432,h2:5433/rural24"
    comma = "postgresql://reader:pa,ss@replica-a/rural24"
    assert load_settings({"DATABASE_READ_URL": f"{hosts},{comma}"}).db.read_urls == (hosts, comma)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (f"{A},mysql://u:s3cret@db/x", "DATABASE_READ_URL (URL 2) is not valid: expected a URL starting with"),
        (f"{A},postgresql://u:s3cret@db:99999/x", "DATABASE_READ_URL (URL 2) is not valid: its host or port"),
        (f"{A},,{B}", "DATABASE_READ_URL is not valid: URL 2 is empty"),
        ("mysql://u:s3cret@db/x", "DATABASE_READ_URL is not valid: expected a URL starting with"),
    ],
)
def test_a_bad_url_is_named_by_its_position_and_never_echoed(value: str, message: str) -> None:
    with pytest.raises(SettingsError) as error:
        load_settings({"DATABASE_READ_URL": value})
    assert str(error.value).startswith(message)
    assert "s3cret" not in str(error.value)
    assert "\n" not in str(error.value)


def test_replicas_are_named_by_host_port_and_database_without_credentials() -> None:
    assert replica_name(A) == "replica-a:5432/rural24"
    assert replica_name("postgresql://u:p@replica-c/rural24") == "replica-c:5432/rural24"
    reads = ReadSide("postgresql://primary/rural24", [A, A.replace("reader", "other")])
    assert [r.name for r in reads.replicas] == ["replica-a:5432/rural24", "replica-a:5432/rural24#2"]


def test_one_replica_is_its_own_summary() -> None:
    only = ReplicaCheck("a:5432/x", "degraded", lag_seconds=7.5, detail="not in recovery")
    summary = _replica_summary([only])
    assert summary is not None
    assert (summary.status, summary.lag_seconds, summary.detail) == ("degraded", 7.5, "not in recovery")
    assert _replica_summary(None) is None


def test_several_replicas_add_up() -> None:
    ok = ReplicaCheck("a:5432/x", "ok", lag_seconds=0.2)
    lagging = ReplicaCheck("b:5432/x", "degraded", lag_seconds=9.0)
    down = ReplicaCheck("c:5432/x", "down", detail="OSError")
    both = _replica_summary([ok, ok])
    assert both is not None
    assert (both.status, both.detail) == ("ok", "2 of 2 ok")
    some = _replica_summary([ok, lagging, down])
    assert some is not None
    assert (some.status, some.lag_seconds, some.detail) == ("degraded", 9.0, "1 of 3 ok")
    none = _replica_summary([down, down])
    assert none is not None
    assert none.status == "down"


SCRAPE = """
# TYPE rural24_db_pool_in_use gauge
rural24_db_pool_in_use{{pool="primary",replica="",pid="1"}} 1
rural24_db_pool_in_use{{pool="replica",replica="a:5432/x",pid="1"}} {used}
rural24_db_pool_in_use{{pool="replica",replica="b:5432/x",pid="1"}} {used}
# TYPE rural24_db_pool_size gauge
rural24_db_pool_size{{pool="primary",replica="",pid="1"}} 10
rural24_db_pool_size{{pool="replica",replica="a:5432/x",pid="1"}} 10
rural24_db_pool_size{{pool="replica",replica="b:5432/x",pid="1"}} 10
# TYPE rural24_replica_lag_seconds gauge
rural24_replica_lag_seconds{{replica="a:5432/x",pid="1"}} 0.5
rural24_replica_lag_seconds{{replica="b:5432/x",pid="1"}} {lag}
"""


def test_the_doctor_reads_the_worst_lag_and_the_replicas_busy_share() -> None:
    sample = parse_metrics(SCRAPE.format(used=9, lag=6.25), "rural24", at=0.0)
    seen = figures(sample, sample)
    assert seen.replica_lag_s == 6.25
    assert seen.replica_busy == 0.9
    advice = advise(3, seen)
    assert any("add a replica" in line for line in advice)
    assert any("a replica lags" in line for line in advice)


def test_the_doctor_is_quiet_about_idle_caught_up_replicas() -> None:
    sample = parse_metrics(SCRAPE.format(used=2, lag=0.1), "rural24", at=0.0)
    seen = figures(sample, sample)
    assert seen.replica_busy == 0.2
    assert not [line for line in advise(3, seen) if "replica" in line]


def _seen(**changes: object) -> Figures:
    base = {"rps": 10.0, "p95_ms": 80.0, "cache_hit_rate": 0.9, "rate_limited_per_s": 0.0,
            "pool_busy": 0.2, "replica_lag_s": None, "queue_depth": 0.0}  # fmt: skip
    return Figures(**(base | changes))  # type: ignore[arg-type]


def test_without_replicas_there_is_no_replica_advice() -> None:
    assert _seen().replica_busy is None
    assert advise(2, _seen()) == []
