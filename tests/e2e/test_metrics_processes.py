"""Metrics across processes, on real ones.

* ``rural24 serve`` with two granian workers: every scrape, whichever worker answers, counts
  every request of both (429s as 429), and shows both workers' pools; after granian replaces its
  workers (SIGHUP) the old ones' requests still count and their pools leave the scrape.
* ``rural24 worker`` answers its own ``/metrics`` (behind the token): the welcome email's job
  retried and failed for good, then a job run to completion, with their durations.
"""

from __future__ import annotations

import asyncio
import os
import signal
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from domain.shared.emails import MAX_ATTEMPTS
from tests.conftest import PgDatabase
from tests.e2e.processes import Process, free_port, serving
from tests.e2e.smtp_sink import SmtpSink
from tests.e2e.test_email_worker import _register, worker_env

LIMIT = 12
"""The API's per-address budget in the serve test: the requests past it are 429s."""
SERVE_REDIS_DB = 13
WORKER_REDIS_DB = 14
"""Databases of their own in the shared Redis: SAQ's queue name is the same for every test, and
another test's worker must not take this test's jobs (nor this worker theirs)."""
TOKEN = "metrics-token-" + "m" * 20


def redis_db(url: str, db: int) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{db}"))


def samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    return [(s.name, s.labels, s.value) for f in text_string_to_metric_families(text) for s in f.samples]


def total(text: str, name: str, **labels: str) -> float:
    return sum(v for n, lab, v in samples(text) if n == name and all(lab.get(k) == w for k, w in labels.items()))


def pids_of(text: str, name: str) -> set[str]:
    return {lab["pid"] for n, lab, _ in samples(text) if n == name}


def poll(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    """``check()`` until it returns something truthy, within ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.1)


def counted_by_pid(folder: Path, path: str) -> dict[int, float]:
    """Requests to ``path`` each worker process recorded in its own file of the metrics folder."""
    counts: dict[int, float] = {}
    for file in folder.glob("counter_*.db"):
        pid = int(file.stem.split("_")[1])
        for metric in MultiProcessCollector.merge([str(file)]):
            for s in metric.samples:
                if s.name.endswith("_requests_total") and s.labels.get("path") == path:
                    counts[pid] = counts.get(pid, 0.0) + s.value
    return counts


@pytest.fixture
def two_workers(database: PgDatabase, redis_url: str, tmp_path: Path) -> Any:
    env = {
        "APP_ENV": "test",
        "APP_NAME": f"rural24-mp-{uuid.uuid4().hex[:8]}",
        "DATABASE_URL": database.primary_url,
        "REDIS_ENABLED": "true",
        "REDIS_URL": redis_db(redis_url, SERVE_REDIS_DB),
        "RATE_LIMIT_API": f"{LIMIT}/minute",
        "JWT_SECRET": "e2e-metrics-secret-" + "s" * 24,
        "WEB_CONCURRENCY": "2",
        "DB_POOL_SIZE": "2",
    }
    with serving(env, 1, tmp_path) as [(process, url)]:
        yield process, url, env["APP_NAME"]


def _scrape(url: str) -> str:
    # a connection of its own each time: any of the two workers may answer
    response = httpx.get(f"{url}/metrics", headers={"Connection": "close"}, timeout=10)
    assert response.status_code == 200, response.text
    return response.text


async def _burst(url: str, count: int) -> list[int]:
    limits = httpx.Limits(max_keepalive_connections=0)  # a new connection per request: both workers accept
    async with httpx.AsyncClient(timeout=10, limits=limits) as client:
        responses = await asyncio.gather(*(client.get(f"{url}/api/provinces") for _ in range(count)))
    return [r.status_code for r in responses]


def test_one_scrape_counts_both_workers_and_429s(two_workers: tuple[Process, str, str]) -> None:
    process, url, app = two_workers
    folders = list(Path(tempfile.gettempdir()).glob(f"rural24-metrics-{process.process.pid}-*"))
    assert len(folders) == 1, folders  # the private folder `rural24 serve` made for its workers
    folder = folders[0]

    statuses = asyncio.run(_burst(url, LIMIT + 6))  # past the budget: 429s
    for _ in range(20):  # until each worker has answered some (the kernel picks who accepts)
        if len(counted_by_pid(folder, "/api/provinces")) == 2:
            break
        statuses += asyncio.run(_burst(url, 8))
    by_pid = counted_by_pid(folder, "/api/provinces")
    assert len(by_pid) == 2, by_pid
    assert all(v > 0 for v in by_pid.values()), by_pid
    assert process.process.pid not in by_pid  # the workers counted, not granian's main process
    assert statuses.count(200) == LIMIT, statuses
    assert statuses.count(429) == len(statuses) - LIMIT, statuses

    path = {"app_name": app, "path": "/api/provinces"}
    metric = app.replace("-", "_")  # the metrics' prefix is APP_NAME, as a metric name
    for _ in range(6):  # whichever worker answers, the whole instance
        text = _scrape(url)
        assert total(text, f"{metric}_requests_total", status_code="200", **path) == LIMIT
        assert total(text, f"{metric}_requests_total", status_code="429", **path) == len(statuses) - LIMIT
        assert total(text, f"{metric}_request_duration_seconds_count", **path) == len(statuses)
        assert total(text, "rural24_rate_limit_rejections_total") == len(statuses) - LIMIT
        # both workers' pools (each publishes its own), each under its pid
        assert pids_of(text, "rural24_db_write_pool_size") == {str(p) for p in by_pid}, text
        assert pids_of(text, "rural24_db_pool_size") == {str(p) for p in by_pid}

    # granian replaces both workers: their requests still count, their pools leave the scrape
    os.kill(process.process.pid, signal.SIGHUP)

    def replaced() -> set[str] | None:
        try:
            text = _scrape(url)
        except httpx.TransportError:  # a connection queued on a worker as it stops is reset (granian)
            return None
        pids = pids_of(text, "rural24_db_write_pool_size")
        return pids if len(pids) == 2 and not pids & {str(p) for p in by_pid} else None

    new_pids = poll(replaced, "granian's new workers alone in the pool gauges", timeout=60)
    text = _scrape(url)
    assert pids_of(text, "rural24_db_pool_size") == new_pids
    assert total(text, f"{metric}_requests_total", status_code="200", **path) == LIMIT
    assert total(text, f"{metric}_requests_total", status_code="429", **path) == len(statuses) - LIMIT

    assert process.stop() == 0, process.output()[-3000:]
    assert not folder.exists()  # removed when the server stopped


def _worker_scrape(port: int) -> str:
    response = httpx.get(f"http://127.0.0.1:{port}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.text
    return response.text


def _scrape_until(worker: Process, port: int, outcome: str, timeout: float = 60.0) -> str:
    """The worker's metrics once they count a ``send_email`` attempt with ``outcome``."""
    deadline = time.monotonic() + timeout
    while True:
        text = _worker_scrape(port)
        if total(text, "rural24_jobs_total", function="send_email", outcome=outcome):
            return text
        if worker.process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"no {outcome} send_email counted:\n{text}\n{worker.output()[-3000:]}")
        time.sleep(0.1)


async def test_the_worker_exposes_its_jobs(database: PgDatabase, redis_url: str, tmp_path: Path) -> None:
    app = f"rural24-wm-{uuid.uuid4().hex[:6]}"
    queue = redis_db(redis_url, WORKER_REDIS_DB)
    port = free_port()
    with SmtpSink() as sink:
        sink.refusals_left = 10**6  # every attempt of the first email is refused
        env = worker_env(database, queue, sink, app) | {
            "HOST": "127.0.0.1",
            "WORKER_METRICS_PORT": str(port),
            "METRICS_TOKEN": TOKEN,
        }
        worker = Process(["worker"], env, tmp_path / "worker.log")  # starts while the app registers
        try:
            await _register(database, queue, app)
            worker.wait_http(f"http://127.0.0.1:{port}/metrics")
            refused = httpx.get(f"http://127.0.0.1:{port}/metrics")
            assert refused.status_code == 401
            assert refused.headers["content-type"] == "application/problem+json"
            assert refused.json()["status"] == 401
            wrong = httpx.get(f"http://127.0.0.1:{port}/metrics", headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 401
            assert httpx.get(f"http://127.0.0.1:{port}/other").status_code == 404

            send = {"function": "send_email"}
            text = _scrape_until(worker, port, "failed")
            assert total(text, "rural24_jobs_total", outcome="retried", **send) == MAX_ATTEMPTS - 1
            assert total(text, "rural24_jobs_total", outcome="failed", **send) == 1
            assert total(text, "rural24_jobs_total", outcome="complete", **send) == 0

            sink.refusals_left = 0
            await _register(database, queue, app)
            text = _scrape_until(worker, port, "complete")
            assert len(sink.accepted) == 1
            assert total(text, "rural24_job_duration_seconds_count", **send) == MAX_ATTEMPTS + 1
            names = {n for n, _, _ in samples(text)}  # read from the queue at each scrape
            assert {"rural24_queue_depth", "rural24_queue_oldest_job_age_seconds"} <= names
            assert pids_of(text, "rural24_db_write_pool_size") == {str(worker.process.pid)}
        finally:
            assert worker.stop() == 0, worker.output()[-3000:]
