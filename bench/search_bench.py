"""Search throughput and latency over seeded ads: the full stack against a bare route (a benchmark).

Scenarios, each for ``--duration`` seconds with ``--concurrency`` keep-alive connections:

    bare            the ceiling: bench/bare_search_app.py, a bare Litestar route on granian running
                    the SAME SQL (``build_search_sql``) for the same requests, msgspec-encoding rows
    uncached        ``rural24 serve``: a different search every request, so every request misses
                    the cache and runs its query — every filter (category, province, condition, q,
                    q+province) with every sort, pages 1-10
    bare-light,     the same two over the "light" mix: only searches an index answers in order
    uncached-light  (sort=recent by category/province, a price sort within a currency alone),
                    pages 1-3: cheap queries, so the Python stack's own cost shows
    cached          ``rural24 serve``: GET /api/ads/search, the same search every time (cache hits)

and the ratios uncached / bare (target ≥ 0.70; DESIGN.md, "Performance budget").

Unless ``--database-url`` is given it starts its own throwaway PostgreSQL (tests/harness), migrates
it and seeds ``--ads`` demo ads; both servers run one granian worker on 127.0.0.1 (production
settings, rate limits out of the way), and are stopped with everything else at the end. The load
generator is Python too: ``--clients`` processes of raw asyncio HTTP/1.1 keep-alive connections.
On a small machine it shares the cores with the servers and PostgreSQL: the CPU columns show who
used what (% of one core; the client's share is CPU the servers could not have).

    .venv/bin/python bench/search_bench.py [--ads 100000] [--duration 10] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import multiprocessing
import os
import queue
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
SEARCH_PATH = "/api/ads/search"
JWT_SECRET = "bench-secret-" + "s" * 40
UNLIMITED = "1000000/minute"
PAGE_SIZE = 50
Q_TERMS = (
    "tractor",
    "john deere",
    "new holland",
    "cosechadora",
    "sembradora",
    "pulverizadora",
    "vaquillonas",
    "novillos",
    "toros",
    "campo",
    "hectareas",
    "camioneta",
    "acoplado",
    "semilla",
    "fertilizante",
    "caballo",
)


# -- the load generator (runs in its own processes: only the standard library) ---------------------


@dataclass
class LoadResult:
    ok: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    cache_hits: int = 0
    body_bytes: int = 0
    latencies: array[float] = field(default_factory=lambda: array("d"))
    elapsed: float = 0.0
    cpu_seconds: float = 0.0
    wrapped: bool = False
    """The request list ran out and started again (the uncached run then hits the cache)."""

    def merge(self, other: LoadResult) -> None:
        self.ok += other.ok
        for key, count in other.errors.items():
            self.errors[key] = self.errors.get(key, 0) + count
        self.cache_hits += other.cache_hits
        self.body_bytes += other.body_bytes
        self.latencies.extend(other.latencies)
        self.elapsed = max(self.elapsed, other.elapsed)
        self.cpu_seconds += other.cpu_seconds
        self.wrapped = self.wrapped or other.wrapped


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool, int]:
    """(status, X-Cache: hit, body size) of one HTTP/1.1 response."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    hit = b"\r\nx-cache: hit" in lower
    start = lower.find(b"\r\ncontent-length:")
    if start >= 0:
        end = lower.index(b"\r\n", start + 2)
        size = int(lower[start + 17 : end])
        await reader.readexactly(size)
        return status, hit, size
    if b"\r\ntransfer-encoding: chunked" not in lower:
        return status, hit, 0
    size = 0
    while True:
        chunk = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        await reader.readexactly(chunk + 2)
        size += chunk
        if chunk == 0:
            return status, hit, size


async def _load(port: int, requests: Sequence[bytes], connections: int, start_at: float, duration: float) -> LoadResult:
    result = LoadResult()
    position = itertools.count()
    total = len(requests)
    await asyncio.sleep(max(0.0, start_at - time.time()))
    cpu_started = time.process_time()
    started = time.perf_counter()
    deadline = started + duration

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            while (sent := time.perf_counter()) < deadline:
                index = next(position)
                if index >= total:
                    result.wrapped = True
                writer.write(requests[index % total])
                try:
                    status, hit, size = await _read_response(reader)
                except (asyncio.IncompleteReadError, ConnectionError) as exc:
                    key = type(exc).__name__
                    result.errors[key] = result.errors.get(key, 0) + 1
                    writer.close()
                    reader, writer = await asyncio.open_connection(HOST, port)
                    continue
                result.latencies.append(time.perf_counter() - sent)
                if status == 200:
                    result.ok += 1
                    result.cache_hits += hit
                    result.body_bytes += size
                else:
                    result.errors[str(status)] = result.errors.get(str(status), 0) + 1
        finally:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(connections)))
    result.elapsed = time.perf_counter() - started
    result.cpu_seconds = time.process_time() - cpu_started
    return result


def _client_process(
    port: int,
    requests: Sequence[bytes],
    connections: int,
    start_at: float,
    duration: float,
    results: multiprocessing.Queue[LoadResult | str],
) -> None:
    try:
        results.put(asyncio.run(_load(port, requests, connections, start_at, duration)))
    except BaseException as exc:
        results.put(f"{type(exc).__name__}: {exc}")


# -- servers and their processes -----------------------------------------------------------------


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class Server:
    """A child process in its own session with its output in a log file; ``stop()`` ends it."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path, port: int) -> None:
        self.name = name
        self.port = port
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(  # noqa: S603  # our own argv
            argv, env=env, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-3000:]

    def wait_ready(self, path: str, timeout: float = 60.0) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                msg = f"{self.name} exited with {self.process.returncode}:\n{self.output()}"
                raise RuntimeError(msg)
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"http://{HOST}:{self.port}{path}", timeout=5.0).status_code == 200:
                    return
            time.sleep(0.2)
        msg = f"{self.name} did not answer {path} within {timeout:.0f} s:\n{self.output()}"
        raise RuntimeError(msg)

    def cpu_seconds(self) -> float:
        return _tree_cpu(self.process.pid)

    def rss_mb(self) -> float:
        import psutil

        with contextlib.suppress(psutil.Error):
            root = psutil.Process(self.process.pid)
            return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)]) / 2**20
        return float("nan")

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        self._log.close()


def _tree_cpu(pid: int | None) -> float:
    """CPU seconds of a process, its live descendants and its reaped children."""
    if pid is None:
        return float("nan")
    import psutil

    try:
        root = psutil.Process(pid)
        times = root.cpu_times()
        total = times.user + times.system + times.children_user + times.children_system
        for child in root.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                child_times = child.cpu_times()
                total += child_times.user + child_times.system
    except psutil.Error:
        return float("nan")
    return total


def _machine_cpu() -> float:
    """Busy CPU seconds of the whole machine so far (every core, every process)."""
    import psutil

    times = psutil.cpu_times()
    return sum(getattr(times, name, 0.0) for name in ("user", "nice", "system", "irq", "softirq"))


def _server_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_", "APP_", "PG", "BENCH_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "src")])
    env.update(extra)
    return env


def start_full_stack(database_url: str, log_dir: Path, pool_size: int) -> Server:
    port = _free_port()
    env = _server_env(
        {
            "APP_ENV": "production",
            "APP_NAME": "rural24-bench",
            "DATABASE_URL": database_url,
            "JWT_SECRET": JWT_SECRET,
            "WEB_CONCURRENCY": "1",
            "HOST": HOST,
            "PORT": str(port),
            "DB_POOL_SIZE": str(pool_size),
            "RATE_LIMIT_API": UNLIMITED,
            "RATE_LIMIT_SEARCH": UNLIMITED,
            "MEDIA_STORAGE_URL": f"file://{log_dir / 'media'}",
        }
    )
    rural24 = Path(sys.executable).parent / "rural24"
    return Server("rural24-serve", [str(rural24), "serve"], env, log_dir, port)


def start_bare(database_url: str, log_dir: Path, pool_size: int) -> Server:
    port = _free_port()
    env = _server_env({"BENCH_DATABASE_URL": database_url, "BENCH_POOL_SIZE": str(pool_size)})
    granian = Path(sys.executable).parent / "granian"
    argv = [
        str(granian),
        "--interface",
        "asgi",
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        "1",
        "bench.bare_search_app:app",
    ]
    return Server("bare-route", argv, env, log_dir, port)


# -- the database ----------------------------------------------------------------------------------


async def _live_ads(database_url: str) -> int:
    import asyncpg

    from infrastructure.database.urls import asyncpg_dsn

    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        if not await connection.fetchval("SELECT to_regclass('ads') IS NOT NULL"):
            return 0
        return int(await connection.fetchval("SELECT count(*) FROM ads"))
    finally:
        await connection.close()


async def _prepare_database(database_url: str) -> str:
    """ANALYZE, and read the tables into memory so that the first scenario is not the one paying."""
    import asyncpg

    from infrastructure.database.urls import asyncpg_dsn

    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await connection.execute("ANALYZE")
        try:
            await connection.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
            relations = await connection.fetch(
                "SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'i')"
            )
            for (relation,) in relations:
                await connection.execute("SELECT pg_prewarm($1::regclass)", relation)
            return "tables and indexes prewarmed (pg_prewarm)"
        except asyncpg.PostgresError as exc:
            await connection.execute("SELECT count(*) FROM ads a JOIN users u ON u.id = a.owner_id")
            return f"no pg_prewarm ({type(exc).__name__}); ads read once"
    finally:
        await connection.close()


# -- the searches ----------------------------------------------------------------------------------


Filters = tuple[tuple[str, str], ...]
MIXES = ("all", "light")
LIGHT_MAX_PAGE = 3
SMALLEST_PAGE_SIZE = 40


async def live_counts(database_url: str) -> dict[Filters, int]:
    """Live ads per combination of filters (category, province, condition, currency; q, q+province)."""
    import asyncpg

    from domain.ads.rules import PUBLIC_AD_SQL
    from domain.shared.text import fold_accents
    from infrastructure.database.urls import asyncpg_dsn

    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        categories = {
            row[0]: (row[1], row[2])
            for row in await connection.fetch(
                "SELECT c.id, c.slug, p.slug FROM categories c LEFT JOIN categories p ON p.id = c.parent_id"
            )
        }
        groups = await connection.fetch(
            f"SELECT a.category_id, a.province_code, a.condition, a.currency, count(*) FROM ads a "
            f"JOIN users u ON u.id = a.owner_id WHERE {PUBLIC_AD_SQL} GROUP BY 1, 2, 3, 4"
        )
        counts: dict[Filters, int] = {}
        for category_id, province, condition, currency, n in groups:
            slug, parent = categories[category_id]
            for combination in itertools.product(
                {None, slug, parent}, (None, province), {None, condition}, (None, currency)
            ):
                key = tuple(
                    (name, value)
                    for name, value in zip(("category", "province", "condition", "currency"), combination, strict=True)
                    if value is not None
                )
                counts[key] = counts.get(key, 0) + n
        for term in Q_TERMS:
            folded = " ".join(fold_accents(term).split())  # as normalise_search folds q
            rows = await connection.fetch(
                f"SELECT a.province_code, count(*) FROM ads a JOIN users u ON u.id = a.owner_id "
                f"WHERE {PUBLIC_AD_SQL} AND a.search_document @@ websearch_to_tsquery('spanish', $1) GROUP BY 1",
                folded,
            )
            counts[(("q", term),)] = sum(row[1] for row in rows)
            for province, n in rows:
                counts[(("q", term), ("province", province))] = n
    finally:
        await connection.close()
    return counts


def _sorts(filters: Filters, mix: str) -> list[str]:
    names = {name for name, _ in filters}
    if mix == "light":
        # Only what an index answers in order, reading little more than the page: sort=recent by
        # category and/or province, a price sort within a currency and nothing else.
        if names == {"currency"}:
            return ["price_asc", "price_desc"]
        return [] if names - {"category", "province"} else ["recent"]
    if "currency" in names:
        return []
    return ["recent", "price_asc", "price_desc", *(["relevance"] if "q" in names else [])]


def search_paths(counts: dict[Filters, int], mix: str, max_page: int, wanted: int) -> list[str]:
    """Distinct searches that each return a full page, shuffled.

    ``all``: every filter combination (category, province, condition, q, q+province) with every sort,
    pages 1-``max_page``. ``light``: only searches an index answers in order (sort=recent with
    category/province; a price sort within a currency alone), pages 1-3. Smaller page sizes (49, 48 … 40)
    are added until there are ``wanted`` searches."""
    searches: list[str] = []
    deepest = min(max_page, LIGHT_MAX_PAGE) if mix == "light" else max_page
    for page_size in range(PAGE_SIZE, SMALLEST_PAGE_SIZE - 1, -1):
        if len(searches) >= wanted:
            break
        for filters, count in sorted(counts.items()):
            for sort in _sorts(filters, mix):
                for page in range(1, min(deepest, count // page_size) + 1):
                    params: dict[str, Any] = dict(filters)
                    if sort != "recent":
                        params["sort"] = sort
                    if page > 1:
                        params["page"] = page
                    if page_size != PAGE_SIZE:
                        params["pageSize"] = page_size
                    searches.append(f"{SEARCH_PATH}?{urlencode(params)}" if params else SEARCH_PATH)
    random.Random(24).shuffle(searches)
    return searches


def _request(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nAccept: application/json\r\n\r\n".encode()


# -- running a scenario ----------------------------------------------------------------------------


@dataclass
class Scenario:
    name: str
    result: LoadResult
    server_cpu: float
    postgres_cpu: float
    server_rss_mb: float
    machine_cpu: float
    """CPU seconds the whole machine was busy (every process) during the run."""

    @property
    def other_cpu(self) -> float:
        """CPU seconds of everything else on the machine: other work that skews the figures."""
        return max(0.0, self.machine_cpu - self.server_cpu - self.postgres_cpu - self.result.cpu_seconds)

    @property
    def rps(self) -> float:
        return self.result.ok / self.result.elapsed if self.result.elapsed else 0.0

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.result.latencies)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] * 1000


def _share(requests: Sequence[bytes], index: int, clients: int) -> list[bytes]:
    """Client ``index``'s requests: disjoint slices, or all of them for a single repeated request."""
    return list(requests[index::clients]) if len(requests) >= clients else list(requests)


def run_load(
    label: str,
    server: Server,
    requests: Sequence[bytes],
    *,
    concurrency: int,
    clients: int,
    duration: float,
    postgres_pid: int | None,
    progress: Any,
) -> Scenario:
    context = multiprocessing.get_context("spawn")
    results: multiprocessing.Queue[LoadResult | str] = context.Queue()
    shares = [concurrency // clients + (1 if i < concurrency % clients else 0) for i in range(clients)]
    start_at = time.time() + 1.5  # time for the client processes to start
    processes = [
        context.Process(
            target=_client_process,
            args=(server.port, _share(requests, i, clients), share, start_at, duration, results),
            daemon=True,
        )
        for i, share in enumerate(shares)
        if share
    ]
    task = progress.add_task(label, total=duration)
    merged = LoadResult()
    try:
        for process in processes:
            process.start()
        while time.time() < start_at:
            time.sleep(0.05)
        server_cpu, postgres_cpu, machine_cpu = server.cpu_seconds(), _tree_cpu(postgres_pid), _machine_cpu()
        received = 0
        hard_deadline = start_at + duration + 60
        while received < len(processes):
            progress.update(task, completed=min(duration, time.time() - start_at))
            try:
                outcome = results.get(timeout=0.2)
            except queue.Empty:
                if time.time() > hard_deadline:
                    msg = f"{label}: the load generator did not finish"
                    raise RuntimeError(msg) from None
                if server.process.poll() is not None:
                    msg = f"{server.name} exited during {label}:\n{server.output()}"
                    raise RuntimeError(msg) from None
                continue
            if isinstance(outcome, str):
                msg = f"{label}: a client process failed: {outcome}"
                raise RuntimeError(msg)
            merged.merge(outcome)
            received += 1
        server_cpu = server.cpu_seconds() - server_cpu
        postgres_cpu = _tree_cpu(postgres_pid) - postgres_cpu
        machine_cpu = _machine_cpu() - machine_cpu
        progress.update(task, completed=duration)
    finally:
        for process in processes:
            if process.pid is None:  # never started
                continue
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)
        progress.remove_task(task)
    return Scenario(label, merged, server_cpu, postgres_cpu, server.rss_mb(), machine_cpu)


def check_same_answers(full: Server, bare: Server, paths: Sequence[str]) -> int:
    """Both servers return the same ads in the same order: the bare route runs the same SQL."""
    import httpx

    checked = 0
    with httpx.Client(timeout=10.0) as client:
        for path in paths:
            ours = client.get(f"http://{HOST}:{full.port}{path}")
            ceiling = client.get(f"http://{HOST}:{bare.port}{path}")
            ours.raise_for_status()
            ceiling.raise_for_status()
            ids = [row["id"] for row in ours.json()["results"]]
            if ids != [row["id"] for row in ceiling.json()["results"]]:
                msg = f"the bare route answers {path} differently from the API"
                raise RuntimeError(msg)
            checked += bool(ids)
    return checked


# -- the report ------------------------------------------------------------------------------------


def print_report(scenarios: dict[str, Scenario], args: argparse.Namespace, notes: list[str]) -> None:
    print()
    print(
        f"GET {SEARCH_PATH}: {args.ads_in_database:,} ads, {args.concurrency} connections, "
        f"{args.duration:g} s per scenario, {args.clients} client process(es), {os.cpu_count()} CPUs"
    )
    header = (
        f"{'scenario':<15}{'requests':>10}{'RPS':>9}{'p50 ms':>9}{'p99 ms':>9}{'KB/resp':>9}"
        f"{'hits':>7}{'errors':>8}{'server':>8}{'pg':>6}{'client':>8}{'other':>8}{'RSS MB':>8}"
    )
    print(header)
    print("-" * len(header))
    for scenario in scenarios.values():
        r = scenario.result
        seconds = r.elapsed or 1.0
        print(
            f"{scenario.name:<15}{r.ok:>10,}{scenario.rps:>9,.0f}{scenario.percentile(0.50):>9.2f}"
            f"{scenario.percentile(0.99):>9.2f}{(r.body_bytes / max(r.ok, 1)) / 1024:>9.1f}"
            f"{100 * r.cache_hits / max(r.ok, 1):>6.0f}%{sum(r.errors.values()):>8}"
            f"{100 * scenario.server_cpu / seconds:>7.0f}%{100 * scenario.postgres_cpu / seconds:>5.0f}%"
            f"{100 * r.cpu_seconds / seconds:>7.0f}%{100 * scenario.other_cpu / seconds:>7.0f}%"
            f"{scenario.server_rss_mb:>8.0f}"
        )
    print(
        "(CPU: % of one core over the run; other: the rest of the machine, work that skews the figures; "
        "hits: X-Cache: hit; latencies: the client's; RSS: the API process after the run)"
    )
    print()
    for suffix in ("", "-light"):
        if f"bare{suffix}" not in scenarios:
            continue
        bare = scenarios[f"bare{suffix}"].rps
        uncached = scenarios[f"uncached{suffix}"].rps
        verdict = "meets" if uncached >= 0.70 * bare else "MISSES"
        print(f"uncached{suffix:<6} full stack / bare route: {uncached / bare:.2f}  ({verdict} the 0.70 target)")
    bare_name = "bare" if "bare" in scenarios else "bare-light"
    print(f"cached         full stack / bare route: {scenarios['cached'].rps / scenarios[bare_name].rps:.2f}")
    for note in notes:
        print(f"note: {note}")
    for scenario in scenarios.values():
        if scenario.result.errors:
            print(f"note: {scenario.name} errors: {scenario.result.errors}")


# -- main ------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--ads", type=int, default=100_000, help="ads to seed (default 100000)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per scenario (default 10)")
    parser.add_argument("--concurrency", type=int, default=32, help="connections (default 32)")
    parser.add_argument("--clients", type=int, default=2, help="load generator processes (default 2)")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up per server (default 3)")
    parser.add_argument("--max-page", type=int, default=10, help="deepest page the uncached searches ask for")
    parser.add_argument("--pool-size", type=int, default=10, help="database connections per server (default 10)")
    parser.add_argument("--database-url", help="use this database instead of a throwaway PostgreSQL")
    parser.add_argument(
        "--mix",
        choices=(*MIXES, "both"),
        default="both",
        help="uncached searches: all (every filter, sort, q), light (index-ordered only) or both (default)",
    )
    args = parser.parse_args()
    if args.duration <= 0 or args.concurrency < 1 or args.clients < 1 or args.ads < 0:
        parser.error("--duration, --concurrency and --clients must be positive")
    args.clients = min(args.clients, args.concurrency)

    # A SIGTERM (timeout, CI) must still run the clean-up below.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    sys.path[:0] = [str(ROOT), str(ROOT / "src")]

    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from demo.seed import seed_demo_data
    from infrastructure.database.migrations import migrate
    from tests.harness.postgres import PostgresCluster

    cluster: PostgresCluster | None = None
    servers: list[Server] = []
    notes: list[str] = []
    log_dir = Path(tempfile.mkdtemp(prefix="rural24-search-bench-"))
    failed = True
    try:
        if args.database_url:
            database_url = args.database_url
            postgres_pid = None
        else:
            print("starting a throwaway PostgreSQL …")
            cluster = PostgresCluster("search-bench")
            cluster.start()
            asyncio.run(cluster.create_database("rural24_bench"))
            database_url = cluster.dsn("rural24_bench")
            postgres_pid = cluster.postmaster_pid
        print("migrating …")
        migrate(database_url)
        existing = asyncio.run(_live_ads(database_url))
        if existing < args.ads:
            print(f"seeding {args.ads - existing:,} ads …")
            asyncio.run(seed_demo_data(database_url, ads=args.ads - existing, seed=24, progress=True))
        args.ads_in_database = asyncio.run(_live_ads(database_url))
        notes.append(asyncio.run(_prepare_database(database_url)))

        # Enough distinct searches for each uncached run at up to 5000 requests a second; the
        # light and full mixes share none, so neither run finds the other's pages in the cache.
        wanted = int(5000 * (args.duration + args.warmup)) + 2000
        counts = asyncio.run(live_counts(database_url))
        mixes = MIXES if args.mix == "both" else (args.mix,)
        lists: dict[str, list[str]] = {}
        taken: set[str] = set()
        for mix in sorted(mixes, key=lambda name: name != "light"):
            lists[mix] = [path for path in search_paths(counts, mix, args.max_page, wanted) if path not in taken]
            taken.update(lists[mix])
        warmup_paths = lists[mixes[0]][:1000]
        warmup_set = set(warmup_paths)
        for mix in mixes:
            lists[mix] = [path for path in lists[mix] if path not in warmup_set]
            deepest = min(args.max_page, LIGHT_MAX_PAGE) if mix == "light" else args.max_page
            notes.append(f"{mix} mix: {len(lists[mix]):,} distinct searches, pages 1-{deepest}")

        print("starting the servers …")
        full = start_full_stack(database_url, log_dir, args.pool_size)
        servers.append(full)
        bare = start_bare(database_url, log_dir, args.pool_size)
        servers.append(bare)
        full.wait_ready("/api/health")
        bare.wait_ready(f"{SEARCH_PATH}?pageSize=1")
        checked = check_same_answers(full, bare, warmup_paths[:50])
        notes.append(f"the bare route returned the same ads as the API for {checked} searches")

        warmup = [_request(path) for path in warmup_paths[50:]]
        common = {"concurrency": args.concurrency, "clients": args.clients, "postgres_pid": postgres_pid}
        scenarios: dict[str, Scenario] = {}
        columns = (TextColumn("{task.description:<24}"), BarColumn(), TimeRemainingColumn())
        with Progress(*columns) as progress:
            for server in (full, bare):
                run_load(f"warm-up {server.name}", server, warmup, duration=args.warmup, progress=progress, **common)
            for mix in mixes:
                suffix = "" if mix == "all" else f"-{mix}"
                measured = [_request(path) for path in lists[mix]]
                for name, server in ((f"bare{suffix}", bare), (f"uncached{suffix}", full)):
                    scenarios[name] = run_load(
                        name, server, measured, duration=args.duration, progress=progress, **common
                    )
                    if name.startswith("uncached") and scenarios[name].result.wrapped:
                        notes.append(f"{name} used up its distinct searches and repeated some (see hits)")
            scenarios["cached"] = run_load(
                "cached", full, [_request(SEARCH_PATH)], duration=args.duration, progress=progress, **common
            )
        print_report(scenarios, args, notes)
        failed = False
    finally:
        for server in reversed(servers):
            server.stop()
        if cluster is not None:
            cluster.stop()
        if failed:
            print(f"server logs kept in {log_dir}", file=sys.stderr)
        else:
            shutil.rmtree(log_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
