"""The benchmark suite on wrk: the API against its ceilings, measured side by side in one run.

Each scenario runs ``wrk -t1`` (one load-generator thread: one core at most) for ``--duration``
seconds over ``--connections`` keep-alive connections from 127.0.0.1, after ``--warmup`` seconds
that are not counted. Scenario pairs, the API first, then its ceiling (bench/, never the product):

    hot-search        GET /api/ads/search, the same search every time (memory-mode cache hits)
                      vs a bare Litestar route returning the same bytes as a constant
    hot-search-redis  the same on a second API process with REDIS_ENABLED=true
                      vs a bare route doing one ``redis.asyncio`` GET of those bytes
    health            GET /api/health vs a bare route returning a small msgspec Struct
    uncached          a different search every request (bench/wrk/paths.lua walks a list written
                      to a file), so every one misses the cache vs bench/bare_search_app.py, a bare
                      asyncpg route running the same SQL for the same list
    ad-detail         GET /api/ads/<id>, one ad every time (cache hits) vs its bytes as a constant
    categories        GET /api/categories vs its bytes as a constant

Every row: requests a second, p50/p90/p99 (``wrk --latency``), errors (socket errors, timeouts
and HTTP statuses ≥ 400: the ones wrk counts; every path is checked to answer 200 before its run and
no conditional request is sent, so no 3xx is expected), the ratio to its ceiling, and CPU as % of
one core over the run: the server's process tree, PostgreSQL, Redis (when started here), wrk (its
rusage) and everything else on the machine (work that skews the figures).

Unless ``--database-url`` is given it starts its own throwaway PostgreSQL (tests/harness), migrates
it, seeds ``--ads`` demo ads and prewarms them; the Redis rows use ``$REDIS_URL`` or a redis-server
started here (tests/harness/redis.py), and are left out with a note when there is neither. Every
server is one granian worker on 127.0.0.1 (the API with production settings, rate limits out of
the way). wrk is installed with apt-get when missing. Everything started here is stopped at the
end, on an error and on Ctrl-C. The table goes to stdout and, as markdown and JSON named by the
time of the run, to bench/results/ (git-ignored).

    .venv/bin/python bench/wrk_bench.py [--ads 100000] [--duration 10] [--connections 64]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
WRK_SCRIPTS = ROOT / "bench" / "wrk"
RESULTS = ROOT / "bench" / "results"
HOST = "127.0.0.1"
SEARCH_PATH = "/api/ads/search"
JWT_SECRET = "bench-secret-" + "s" * 40
UNLIMITED = "1000000/minute"
PAGE_SIZE = 50
SCENARIOS = ("hot-search", "hot-search-redis", "health", "uncached", "ad-detail", "categories", "mixed", "writes")
REDIS_SCENARIOS = frozenset({"hot-search-redis"})
"""Scenarios that are all Redis (left out without one); ``mixed`` also has Redis rows, left out alone."""
MIXED_RATES = (1000, 2000)
"""Offered requests a second of the mixed workload (issue 11)."""
MIXED_THINK_MS = 250
"""Mean wait of a connection between an answer and its next request in the mixed rows: rate x
this many connections (250 at 1 000/s). wrk is closed-loop, so each connection's rate is 1 / (wait
+ latency): with waits much longer than the answers, the offered rate is kept while the server
keeps up, and the achieved rate falls (and latency grows) when it does not."""
MIXED_HOT_SEARCHES = 200
MIXED_HOT_ADS = 1000
MIXED_SHARES = (("categories", 25), ("search", 40), ("detail", 32), ("unique", 3))
"""Percent of the mixed workload: the category tree, searches and ad details drawn by popularity
(Zipf, s = 1.1, over MIXED_HOT_SEARCHES searches and MIXED_HOT_ADS ads) and unique searches."""
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
UNCACHED_RPS_BOUND = 3000
"""More uncached searches a second than either server can answer here: the list must not run out."""


# -- processes ---------------------------------------------------------------------------------------


def _free_port() -> int:
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

    def url(self, path: str = "") -> str:
        return f"http://{HOST}:{self.port}{path}"

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-3000:]

    def wait_ready(self, path: str, timeout: float = 90.0) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                msg = f"{self.name} exited with {self.process.returncode}:\n{self.output()}"
                raise RuntimeError(msg)
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(self.url(path), timeout=5.0).status_code == 200:
                    return
            time.sleep(0.2)
        msg = f"{self.name} did not answer {path} within {timeout:.0f} s:\n{self.output()}"
        raise RuntimeError(msg)

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
    """CPU seconds of a process, its live descendants and its reaped children (nan: unknown)."""
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
    return float(total)


def _machine_cpu() -> float:
    """Busy CPU seconds of the whole machine so far, every core and process (/proc/stat)."""
    import psutil

    times = psutil.cpu_times()
    return sum(getattr(times, name, 0.0) for name in ("user", "nice", "system", "irq", "softirq", "steal"))


def _server_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_", "APP_", "PG", "BENCH_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "src")])
    env.update(extra)
    return env


def start_api(
    name: str, database_url: str, log_dir: Path, pool_size: int, redis: tuple[str, str] | None, workers: int = 1
) -> Server:
    """``rural24 serve``: production settings, ``workers`` granian workers (one by default), rate
    limits out of the way; Redis mode when ``redis`` (its URL and a key prefix of this run) is given."""
    port = _free_port()
    extra = {
        "APP_ENV": "production",
        "APP_NAME": "rural24-bench",
        "DATABASE_URL": database_url,
        "JWT_SECRET": JWT_SECRET,
        "WEB_CONCURRENCY": str(workers),
        "HOST": HOST,
        "PORT": str(port),
        "DB_POOL_SIZE": str(pool_size),
        "RATE_LIMIT_API": UNLIMITED,
        "RATE_LIMIT_SEARCH": UNLIMITED,
        # the write rows: logins, messages and the registrations behind them, unverified senders
        "RATE_LIMIT_LOGIN": UNLIMITED,
        "RATE_LIMIT_MESSAGES": UNLIMITED,
        "RATE_LIMIT_ACCOUNT_EMAIL": UNLIMITED,
        "RATE_LIMIT_ACCOUNT_EMAIL_IP": UNLIMITED,
        "REQUIRE_EMAIL_VERIFICATION": "false",
        "MEDIA_STORAGE_URL": f"file://{log_dir / 'media'}",
        # production refuses these development stand-ins unless told; the benchmark sends no email
        "ALLOW_LOCAL_MEDIA": "true",
        "ALLOW_CONSOLE_EMAIL": "true",
        "FRONTEND_URL": "http://127.0.0.1:3000",
    }
    if redis is not None:
        extra |= {"REDIS_ENABLED": "true", "REDIS_URL": redis[0], "APP_NAME": redis[1]}
    rural24 = Path(sys.executable).parent / "rural24"
    return Server(name, [str(rural24), "serve"], _server_env(extra), log_dir, port)


def start_bare(name: str, module: str, env: dict[str, str], log_dir: Path) -> Server:
    """A bench/ ASGI app under granian: one worker, the granian defaults ``rural24 serve`` uses."""
    port = _free_port()
    granian = Path(sys.executable).parent / "granian"
    argv = [str(granian), "--interface", "asgi", "--host", HOST, "--port", str(port), "--workers", "1", module]
    return Server(name, argv, _server_env(env), log_dir, port)


# -- wrk -------------------------------------------------------------------------------------------


def ensure_wrk() -> str:
    """The path of ``wrk``; installed with ``apt-get install -y wrk`` (Debian's 4.1) when missing."""
    found = shutil.which("wrk")
    if found:
        return found
    if shutil.which("apt-get") is None:
        msg = "wrk is not installed and there is no apt-get here: install wrk 4.1 and run again"
        raise SystemExit(msg)
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    install = [*sudo, "apt-get", "install", "-y", "wrk"]
    print(f"wrk is not installed: running {' '.join(install)}", flush=True)
    if subprocess.run(install, check=False).returncode != 0:  # noqa: S603  # a fixed argv
        update = [*sudo, "apt-get", "update"]
        print(f"that failed: running {' '.join(update)}, then the install again", flush=True)
        subprocess.run(update, check=True)  # noqa: S603
        subprocess.run(install, check=True)  # noqa: S603
    found = shutil.which("wrk")
    if found is None:
        msg = "apt-get installed wrk but it is not on PATH"
        raise SystemExit(msg)
    return found


def _wrk_version(wrk: str) -> str:
    completed = subprocess.run([wrk, "-v"], capture_output=True, text=True, check=False)  # noqa: S603
    text = completed.stdout or completed.stderr
    return text.splitlines()[0].strip() if text else "wrk"


@dataclass(frozen=True)
class Measurement:
    """One wrk run. Latencies in ms; CPU as % of one core over the run (nan: not measured)."""

    requests: int
    seconds: float
    bytes_per_response: float
    errors: dict[str, int]
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    wrapped: int
    """How often the list of paths started over (uncached runs: then some requests were hits)."""
    cpu: dict[str, float]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


@dataclass(frozen=True)
class Target:
    """What one wrk run asks: one path every time, or the paths of a file in turn."""

    server: Server
    path: str = ""
    paths_file: Path | None = None
    rate: int | None = None
    """Offered requests a second (``paced.lua``, with ``paths_file``); ``None``: as fast as answered."""
    connections: int | None = None
    """wrk connections for this target (``None``: ``--connections``)."""


def _wrk_argv(wrk: str, target: Target, duration: int, connections: int) -> list[str]:
    connections = target.connections or connections
    script = "report.lua"
    if target.paths_file is not None:
        script = "paths.lua" if target.rate is None else "paced.lua"
    argv = [wrk, "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "5s"]
    argv += ["-s", str(WRK_SCRIPTS / script), target.server.url(target.path)]
    if target.paths_file is not None:
        argv += ["--", str(target.paths_file)]
        if target.rate is not None:
            argv += [str(target.rate), str(connections)]
    return argv


class Watched:
    """The processes whose CPU each row reports (pids; None when not ours to watch)."""

    def __init__(self, postgres: int | None, redis: int | None) -> None:
        self.postgres = postgres
        self.redis = redis

    def snapshot(self, server: Server) -> dict[str, float]:
        return {
            "server": _tree_cpu(server.process.pid),
            "postgres": _tree_cpu(self.postgres),
            "redis": _tree_cpu(self.redis),
            "machine": _machine_cpu(),
        }


def run_wrk(
    wrk: str,
    label: str,
    target: Target,
    *,
    duration: int,
    connections: int,
    watched: Watched,
    log_dir: Path,
    progress: Any,
) -> Measurement:
    """Run wrk once against ``target`` and read its figures, its CPU (rusage) and everyone else's."""
    output = log_dir / f"wrk-{label}.out"
    task = progress.add_task(label, total=duration)
    with output.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603  # our own argv
            _wrk_argv(wrk, target, duration, connections), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    reaped = False
    try:
        before = watched.snapshot(target.server)
        started = time.monotonic()
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                reaped = True
                process.returncode = os.waitstatus_to_exitcode(status)
                break
            elapsed = time.monotonic() - started
            if elapsed > duration + 30:
                msg = f"{label}: wrk did not finish within {duration + 30} s"
                raise RuntimeError(msg)
            if target.server.process.poll() is not None:
                msg = f"{target.server.name} exited during {label}:\n{target.server.output()}"
                raise RuntimeError(msg)
            progress.update(task, completed=min(duration, elapsed))
            time.sleep(0.1)
        after = watched.snapshot(target.server)
    finally:
        if not reaped:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)
        progress.remove_task(task)
    text = output.read_text(errors="replace")
    line = next((line for line in text.splitlines() if line.startswith("WRK_JSON ")), None)
    if process.returncode != 0 or line is None:
        msg = f"{label}: wrk exited with {process.returncode}:\n{text[-2000:]}"
        raise RuntimeError(msg)
    figures = json.loads(line.removeprefix("WRK_JSON "))
    seconds = figures["duration_us"] / 1e6
    wrk_cpu = usage.ru_utime + usage.ru_stime
    cpu = {name: 100 * (after[name] - before[name]) / seconds for name in ("server", "postgres", "redis")}
    cpu["wrk"] = 100 * wrk_cpu / seconds
    machine = 100 * (after["machine"] - before["machine"]) / seconds
    cpu["other"] = max(0.0, machine - sum(value for value in cpu.values() if value == value))  # nan-safe
    requests = int(figures["requests"])
    return Measurement(
        requests=requests,
        seconds=seconds,
        bytes_per_response=figures["bytes"] / max(requests, 1),
        errors={
            name: int(figures[name]) for name in ("connect", "read", "write", "timeout", "status") if figures[name]
        },
        p50_ms=figures["p50_us"] / 1000,
        p90_ms=figures["p90_us"] / 1000,
        p99_ms=figures["p99_us"] / 1000,
        max_ms=figures["max_us"] / 1000,
        wrapped=int(figures["wrapped"]),
        cpu=cpu,
    )


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
        print("ANALYZE …", flush=True)
        await connection.execute("ANALYZE")
        try:
            await connection.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
            relations = await connection.fetch(
                "SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'i')"
            )
            tty = sys.stdout.isatty()
            for done, (relation,) in enumerate(relations, 1):
                if tty or done == len(relations):
                    print(f"\rprewarming {done}/{len(relations)} tables and indexes …", end="", flush=True)
                await connection.execute("SELECT pg_prewarm($1::regclass)", relation)
            print()
            return f"{len(relations)} tables and indexes prewarmed (pg_prewarm)"
        except asyncpg.PostgresError as exc:
            await connection.execute("SELECT count(*) FROM ads a JOIN users u ON u.id = a.owner_id")
            return f"no pg_prewarm ({type(exc).__name__}); ads read once"
    finally:
        await connection.close()


# -- the uncached searches -------------------------------------------------------------------------


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


# -- the mixed workload ----------------------------------------------------------------------------


async def public_ad_ids(database_url: str, count: int) -> list[str]:
    """``count`` public ads, in a fixed order (the details the mixed workload asks for)."""
    import asyncpg

    from domain.ads.rules import PUBLIC_AD_SQL
    from infrastructure.database.urls import asyncpg_dsn

    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        rows = await connection.fetch(
            f"SELECT a.id FROM ads a JOIN users u ON u.id = a.owner_id WHERE {PUBLIC_AD_SQL} "
            "ORDER BY md5(a.id::text) LIMIT $1",
            count,
        )
    finally:
        await connection.close()
    return [str(row[0]) for row in rows]


class MixedWorkload:
    """The mixed workload's requests (:data:`MIXED_SHARES`): hot searches and details drawn by
    popularity, and unique searches each used once across every list made (no row finds another
    row's unique searches in the cache)."""

    def __init__(self, searches: list[str], ad_ids: list[str]) -> None:
        self._hot_searches = searches[:MIXED_HOT_SEARCHES]
        self._unique = iter(searches[MIXED_HOT_SEARCHES:])
        self._details = [f"/api/ads/{ad_id}" for ad_id in ad_ids]
        self._random = random.Random(24)
        self.reused = 0
        """Unique searches asked for once the list ran out (a small database): hot ones instead."""

    @staticmethod
    def _zipf(n: int) -> list[float]:
        return [1 / (rank**1.1) for rank in range(1, n + 1)]

    def popular(self) -> list[str]:
        """Every popular search and ad, and the category tree, once (the mixed rows' warm-up)."""
        return ["/api/categories", *self._hot_searches, *self._details]

    def paths(self, count: int) -> list[str]:
        kinds = self._random.choices([kind for kind, _ in MIXED_SHARES], [share for _, share in MIXED_SHARES], k=count)
        searches = iter(self._random.choices(self._hot_searches, self._zipf(len(self._hot_searches)), k=count))
        details = iter(self._random.choices(self._details, self._zipf(len(self._details)), k=count))
        paths = []
        for kind in kinds:
            if kind == "categories":
                paths.append("/api/categories")
            elif kind == "search":
                paths.append(next(searches))
            elif kind == "detail":
                paths.append(next(details))
            else:
                unique = next(self._unique, None)
                if unique is None:
                    self.reused += 1
                    unique = next(searches)
                paths.append(unique)
        return paths

    @staticmethod
    def searches_needed(duration: int, warmup: int) -> int:
        """Unique searches every paced row may use, at most (lists are made 20% longer than the run)."""
        unique = next(share for kind, share in MIXED_SHARES if kind == "unique") / 100
        per_mode = sum(int(rate * (duration + warmup) * 1.2 * unique) + 1 for rate in MIXED_RATES)
        return MIXED_HOT_SEARCHES + 2 * per_mode


# -- the write rows ---------------------------------------------------------------------------------

WRITE_USERS = 16
WRITE_PASSWORD = "campo-bench-2026"  # noqa: S105  # the throwaway bench users' password
LOGIN_CONNECTIONS = 4
"""Logins in flight at once in the login row (two per core)."""
WRITE_LINES = 50_000
"""Requests listed per write row (more than a row sends here: the lists do not start over)."""


def write_requests(api: Server, log_dir: Path) -> dict[str, Path]:
    """Files of whole requests (``paths.lua``'s tab-separated lines) for the write rows, made
    with :data:`WRITE_USERS` users registered on ``api`` now: logins of those users, ads published
    by them, and messages from each to the next."""
    import httpx

    tag = uuid.uuid4().hex[:8]
    with httpx.Client(base_url=api.url(), timeout=60.0) as client:
        categories = client.get("/api/categories").json()
        category = next(c["id"] for c in categories if c.get("parentId") is not None)
        users: list[tuple[str, str, str]] = []
        for number in range(WRITE_USERS):
            email = f"bench-{tag}-{number}@rural24.test"
            response = client.post(
                "/api/auth/register", json={"email": email, "password": WRITE_PASSWORD, "name": f"Bench {number}"}
            )
            response.raise_for_status()
            body = response.json()
            users.append((email, body["user"]["id"], f"Bearer {body['token']}"))
    ad = {
        "title": "Tractor Pauny 280 en muy buen estado",
        "description": "Bench: 3200 horas, cubiertas al 80%, papeles al día.",
        "price": "38000.00",
        "currency": "USD",
        "categoryId": category,
        "province": "cordoba",
        "locality": "Marcos Juárez",
        "condition": "used",
    }
    lines = {  # in the order they run: login last
        "publish": [f"POST\t/api/ads\t{token}\t{json.dumps(ad)}" for _, _, token in users],
        "send message": [
            f"POST\t/api/messages/send\t{token}\t"
            + json.dumps({"recipientId": users[(number + 1) % len(users)][1], "content": "Hola, ¿sigue disponible?"})
            for number, (_, _, token) in enumerate(users)
        ],
        "login": [
            f"POST\t/api/auth/login\t\t{json.dumps({'email': email, 'password': WRITE_PASSWORD})}"
            for email, _, _ in users
        ],
    }
    files = {}
    for name, requests in lines.items():
        repeated = (requests * (WRITE_LINES // len(requests) + 1))[:WRITE_LINES]
        files[name] = _write_paths(log_dir, name.replace(" ", "-"), repeated)
    return files


def check_same_answers(api: Server, bare: Server, paths: Sequence[str]) -> int:
    """Both servers return the same ads in the same order: the bare route runs the same SQL."""
    import httpx

    checked = 0
    with httpx.Client(timeout=10.0) as client:
        for path in paths:
            ours = client.get(api.url(path))
            ceiling = client.get(bare.url(path))
            ours.raise_for_status()
            ceiling.raise_for_status()
            ids = [row["id"] for row in ours.json()["results"]]
            if ids != [row["id"] for row in ceiling.json()["results"]]:
                msg = f"the bare route answers {path} differently from the API"
                raise RuntimeError(msg)
            checked += bool(ids)
    return checked


# -- the run ---------------------------------------------------------------------------------------


@dataclass
class Row:
    scenario: str
    name: str
    target: Target
    warmup: Target
    ceiling: str | None = None
    """The name of the row this one is divided by."""
    measurement: Measurement | None = None
    offered: int | None = None
    """Requests a second offered (paced rows): the ratio is the achieved rate to it."""


@dataclass
class Run:
    """What one run started, so that everything is stopped whatever happens."""

    log_dir: Path
    servers: list[Server] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, server: Server) -> Server:
        self.servers.append(server)
        return server


def _fetch_bodies(api: Server) -> dict[str, tuple[str, bytes]]:
    """The paths and bodies the cached rows ask for, as the memory-mode API serves them (one GET each)."""
    import httpx

    with httpx.Client(timeout=30.0) as client:
        first = client.get(api.url(f"{SEARCH_PATH}?pageSize=1"))
        first.raise_for_status()
        ad_path = f"/api/ads/{first.json()['results'][0]['id']}"
        wanted = {"search": SEARCH_PATH, "ad": ad_path, "categories": "/api/categories"}
        bodies = {}
        for name, path in wanted.items():
            response = client.get(api.url(path), headers={"Accept": "application/json"})
            response.raise_for_status()
            bodies[name] = (path, response.content)
    return bodies


def _check_ok(rows: Sequence[Row]) -> None:
    """Every single-path target answers 200 before it is loaded (wrk counts only statuses ≥ 400)."""
    import httpx

    with httpx.Client(timeout=30.0) as client:
        for row in rows:
            if row.target.paths_file is None:
                status = client.get(row.target.server.url(row.target.path)).status_code
                if status != 200:
                    msg = f"{row.name}: GET {row.target.path} answered {status}, not 200"
                    raise RuntimeError(msg)


def _git_revision() -> str:
    def git(*args: str) -> str:
        completed = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)  # noqa: S603, S607
        return completed.stdout.strip()

    revision = git("rev-parse", "--short", "HEAD") or "unknown"
    return revision + (" (with uncommitted changes)" if git("status", "--porcelain", "--untracked-files=no") else "")


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def _fmt(value: float, digits: int = 1) -> str:
    return "-" if value != value else f"{value:,.{digits}f}"  # nan: not measured


COLUMNS = (
    "scenario",
    "RPS",
    "p50 ms",
    "p90 ms",
    "p99 ms",
    "errors",
    "KB/resp",
    "ratio",
    "server %",
    "pg %",
    "redis %",
    "wrk %",
    "other %",
)


def _cells(row: Row, by_name: dict[str, Row]) -> list[str]:
    m = row.measurement
    assert m is not None
    ratio = ""
    if row.ceiling is not None:
        ceiling = by_name[row.ceiling].measurement
        assert ceiling is not None
        ratio = f"{m.rps / ceiling.rps:.2f}x {row.ceiling}" if ceiling.rps else "-"
    elif row.offered is not None:
        ratio = f"{m.rps / row.offered:.2f}x offered {row.offered:,}/s"
    return [
        row.name,
        _fmt(m.rps, 0),
        _fmt(m.p50_ms, 2),
        _fmt(m.p90_ms, 2),
        _fmt(m.p99_ms, 2),
        str(m.error_count),
        _fmt(m.bytes_per_response / 1024, 1),
        ratio,
        *(_fmt(m.cpu[name], 0) for name in ("server", "postgres", "redis", "wrk", "other")),
    ]


def report(
    rows: Sequence[Row], meta: dict[str, Any], notes: Sequence[str], results: Path = RESULTS
) -> tuple[Path, Path]:
    """Print the table; write it as markdown and JSON into ``results``; return both paths."""
    by_name = {row.name: row for row in rows}
    table = [_cells(row, by_name) for row in rows if row.measurement is not None]
    widths = [max(len(column), *(len(cells[i]) for cells in table)) for i, column in enumerate(COLUMNS)]
    heading = (
        f"{meta['ads']:,} ads, {meta['connections']} connections, {meta['duration_s']} s per scenario "
        f"(after {meta['warmup_s']} s of warm-up), wrk -t1; {meta['cpus']} CPUs ({meta['cpu_model']}); "
        f"{meta['revision']}"
    )
    print()
    print(heading)
    print(
        "  ".join(
            column.rjust(w) if i else column.ljust(w) for i, (column, w) in enumerate(zip(COLUMNS, widths, strict=True))
        )
    )
    print("-" * (sum(widths) + 2 * (len(widths) - 1)))
    for cells in table:
        print(
            "  ".join(
                cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(cells, widths, strict=True))
            )
        )
    legend = (
        "errors: socket errors, timeouts and statuses ≥ 400; KB/resp: bytes read per response, headers "
        "included; ratio: RPS / RPS of the named ceiling in this run; CPU: % of one core over the run "
        "(server: its process tree; wrk: its rusage; other: the rest of the machine; -: not measured)"
    )
    print(legend)
    for note in notes:
        print(f"note: {note}")

    results.mkdir(parents=True, exist_ok=True)
    stamp = meta["started"].replace(":", "").replace("-", "")[:15]
    markdown = results / f"wrk-{stamp}.md"
    lines = [
        f"# wrk benchmark, {meta['started']}",
        "",
        heading,
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "|".join("---" if i == 0 else "---:" for i in range(len(COLUMNS))) + "|",
        *("| " + " | ".join(cells) + " |" for cells in table),
        "",
        legend,
        "",
        *(f"- {note}" for note in notes),
    ]
    markdown.write_text("\n".join(lines) + "\n")
    document = {
        "meta": meta,
        "notes": list(notes),
        "rows": [
            {
                "scenario": row.scenario,
                "name": row.name,
                "path": row.target.path or (str(row.target.paths_file) if row.target.paths_file else ""),
                "ceiling": row.ceiling,
                "offered": row.offered,
                "rps": row.measurement.rps,
                **{k: v for k, v in asdict(row.measurement).items() if k != "cpu"},
                "cpu_percent": row.measurement.cpu,
            }
            for row in rows
            if row.measurement is not None
        ],
    }
    data = results / f"wrk-{stamp}.json"
    data.write_text(json.dumps(_no_nan(document), indent=2, allow_nan=False) + "\n")
    return markdown, data


def _no_nan(value: Any) -> Any:
    """JSON has no NaN: unmeasured CPU becomes null."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: _no_nan(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_no_nan(v) for v in value]
    return value


def _write_paths(log_dir: Path, name: str, paths: Sequence[str]) -> Path:
    target = log_dir / f"{name}.paths"
    target.write_text("\n".join(paths) + "\n")
    return target


def build_rows(
    args: argparse.Namespace,
    run: Run,
    database_url: str,
    redis_url: str | None,
    redis_prefix: str,
    uncached_lists: tuple[list[str], list[str]] | None,
    mixed: MixedWorkload | None = None,
) -> list[Row]:
    """Start the servers the chosen scenarios need, fetch the ceilings' bytes, and name every row."""
    chosen = args.scenarios
    api = run.add(start_api("api-memory", database_url, run.log_dir, args.pool_size, None))
    api_redis = None
    if "hot-search-redis" in chosen:
        assert redis_url is not None
        api_redis = run.add(
            start_api("api-redis", database_url, run.log_dir, args.pool_size, (redis_url, redis_prefix))
        )
    api_redis_two = None
    if mixed is not None and redis_url is not None:
        api_redis_two = run.add(
            start_api("api-redis-2", database_url, run.log_dir, args.pool_size, (redis_url, redis_prefix), workers=2)
        )
    bare_search = None
    if "uncached" in chosen:
        bare_search = run.add(
            start_bare(
                "bare-asyncpg",
                "bench.bare_search_app:app",
                {"BENCH_DATABASE_URL": database_url, "BENCH_POOL_SIZE": str(args.pool_size)},
                run.log_dir,
            )
        )
    api.wait_ready("/api/health")
    bodies = _fetch_bodies(api)
    bytes_dir = run.log_dir / "bytes"
    bytes_dir.mkdir()
    for name, (_, body) in bodies.items():
        (bytes_dir / f"{name}.json").write_bytes(body)
    ceiling_env = {"BENCH_BYTES_DIR": str(bytes_dir)}
    if api_redis is not None and redis_url is not None:
        import redis

        client = redis.Redis.from_url(redis_url)
        try:
            for name, (_, body) in bodies.items():
                client.set(f"{redis_prefix}:bench:{name}", body)
        finally:
            client.close()  # type: ignore[no-untyped-call]  # redis-py leaves close() unannotated
        ceiling_env |= {"BENCH_REDIS_URL": redis_url, "BENCH_REDIS_PREFIX": f"{redis_prefix}:bench"}
    ceilings = run.add(start_bare("bare-ceilings", "bench.ceilings_app:app", ceiling_env, run.log_dir))
    ceilings.wait_ready("/struct")
    if api_redis is not None:
        api_redis.wait_ready("/api/health")
    run.notes.append(
        f"cached bodies: search {len(bodies['search'][1]) / 1024:.1f} KB ({SEARCH_PATH}), "
        f"ad {len(bodies['ad'][1]) / 1024:.1f} KB, categories {len(bodies['categories'][1]) / 1024:.1f} KB"
    )

    rows: list[Row] = []

    def pair(scenario: str, name: str, target: Target, ceiling: str, ceiling_target: Target) -> None:
        rows.append(Row(scenario, name, target, target, ceiling))
        rows.append(Row(scenario, ceiling, ceiling_target, ceiling_target))

    if "hot-search" in chosen:
        pair(
            "hot-search",
            "hot search, memory",
            Target(api, SEARCH_PATH),
            "bare bytes (search)",
            Target(ceilings, "/bytes/search"),
        )
    if api_redis is not None:
        pair(
            "hot-search-redis",
            "hot search, Redis",
            Target(api_redis, SEARCH_PATH),
            "bare Redis GET",
            Target(ceilings, "/redis/search"),
        )
    if "health" in chosen:
        pair("health", "/api/health", Target(api, "/api/health"), "bare Struct", Target(ceilings, "/struct"))
    if bare_search is not None and uncached_lists is not None:
        bare_search.wait_ready(f"{SEARCH_PATH}?pageSize=1")
        warmup_paths, measured_paths = uncached_lists
        checked = check_same_answers(api, bare_search, warmup_paths[:20])
        run.notes.append(f"the bare asyncpg route returned the same ads as the API for {checked} searches")
        warmup_file = _write_paths(run.log_dir, "uncached-warmup", warmup_paths[20:])
        measured_file = _write_paths(run.log_dir, "uncached", measured_paths)
        rows.append(
            Row(
                "uncached",
                f"uncached search ({args.mix})",
                Target(api, paths_file=measured_file),
                Target(api, paths_file=warmup_file),
                "bare asyncpg",
            )
        )
        rows.append(
            Row(
                "uncached",
                "bare asyncpg",
                Target(bare_search, paths_file=measured_file),
                Target(bare_search, paths_file=warmup_file),
            )
        )
    if "ad-detail" in chosen:
        ad_path = bodies["ad"][0]
        pair("ad-detail", "ad detail, hot", Target(api, ad_path), "bare bytes (ad)", Target(ceilings, "/bytes/ad"))
    if mixed is not None:
        if api_redis_two is not None:
            api_redis_two.wait_ready("/api/health")
        # warm-up: every popular search and ad once (as fast as answered), as a running site has them
        warm = _write_paths(run.log_dir, "mixed-warmup", mixed.popular())
        for server, mode in ((api, "memory"), (api_redis_two, "Redis, 2 workers")):
            if server is None:
                continue
            for rate in MIXED_RATES:
                name = f"mixed {rate:,}/s, {mode}"
                measured = _write_paths(
                    run.log_dir, f"mixed-{rate}-{server.name}", mixed.paths(int(rate * args.duration * 1.2) + 1)
                )
                connections = max(args.connections, rate * MIXED_THINK_MS // 1000)
                rows.append(
                    Row(
                        "mixed",
                        name,
                        Target(server, paths_file=measured, rate=rate, connections=connections),
                        Target(server, paths_file=warm),
                        offered=rate,
                    )
                )
        if mixed.reused:
            run.notes.append(f"mixed: {mixed.reused:,} unique searches were repeats (too few distinct ones)")
    if "categories" in chosen:
        pair(
            "categories",
            "/api/categories",
            Target(api, "/api/categories"),
            "bare bytes (categories)",
            Target(ceilings, "/bytes/categories"),
        )
    if "writes" in chosen:  # last: publishing moves the search generation (every search page misses)
        for name, requests in write_requests(api, run.log_dir).items():
            # a login is one argon2 verification (~0.2 s, several threads): LOGIN_CONNECTIONS at once,
            # or a backlog of them would still be running through the rows after it
            connections = LOGIN_CONNECTIONS if name == "login" else None
            target = Target(api, paths_file=requests, connections=connections)
            rows.append(Row("writes", name, target, target))
    return rows


@contextlib.contextmanager
def _redis_for_run(wanted: bool | None, notes: list[str]) -> Iterator[tuple[str | None, int | None]]:
    """``(url, pid)`` of ``$REDIS_URL`` (pid None) or of a redis-server started here; ``(None, None)``
    when Redis was not asked for, or (by default) when there is none."""
    if wanted is False:
        yield None, None
        return
    from tests.harness.redis import RedisUnavailable, start_redis

    try:
        service = start_redis()
    except RedisUnavailable as exc:
        if wanted:
            raise
        notes.append(f"no Redis ({exc}): the Redis rows are left out")
        yield None, None
        return
    try:
        yield service.url, service.server.pid if service.server is not None else None
    finally:
        service.stop()


def _forget_keys(redis_url: str, prefix: str) -> None:
    """Delete this run's keys from a Redis we did not start (``$REDIS_URL`` may be shared)."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        for key in client.scan_iter(match=f"{prefix}:*", count=1000):
            client.delete(key)
    finally:
        client.close()  # type: ignore[no-untyped-call]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--ads", type=int, default=100_000, help="ads to seed (default 100000)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per scenario (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up before each run (default 2)")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections (default 64)")
    parser.add_argument("--pool-size", type=int, default=10, help="database connections per server (default 10)")
    parser.add_argument("--max-page", type=int, default=10, help="deepest page the uncached searches ask for")
    parser.add_argument(
        "--mix",
        choices=MIXES,
        default="all",
        help="uncached searches: all (every filter, sort, q; default) or light (index-ordered only)",
    )
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help=f"comma-separated subset of {','.join(SCENARIOS)} (default: all)",
    )
    parser.add_argument(
        "--redis",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="Redis rows: --redis requires a Redis, --no-redis leaves them out (default: when one can be had)",
    )
    parser.add_argument("--database-url", help="use this database instead of a throwaway PostgreSQL")
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder of the reports (default bench/results)")
    args = parser.parse_args()
    args.scenarios = [name.strip() for name in args.scenarios.split(",") if name.strip()]
    unknown = sorted(set(args.scenarios) - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(unknown)}")
    if args.duration < 1 or args.warmup < 1 or args.connections < 1 or args.ads < 0 or args.pool_size < 1:
        parser.error("--duration, --warmup, --connections and --pool-size must be positive, --ads not negative")
    if args.redis is False:
        args.scenarios = [name for name in args.scenarios if name not in REDIS_SCENARIOS]

    # A SIGTERM (timeout, CI) must still run the clean-up below, as Ctrl-C does (even when started
    # in the background by a shell that set SIGINT to be ignored).
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.path[:0] = [str(ROOT), str(ROOT / "src")]

    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from demo.seed import seed_demo_data
    from infrastructure.database.migrations import migrate
    from tests.harness.postgres import PostgresCluster

    wrk = ensure_wrk()
    started = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    run = Run(Path(tempfile.mkdtemp(prefix="rural24-wrk-bench-")))
    cluster: PostgresCluster | None = None
    redis_prefix = f"rural24-bench-{os.getpid()}"
    failed = True
    try:
        if args.database_url:
            database_url, postgres_pid = args.database_url, None
        else:
            print("starting a throwaway PostgreSQL …", flush=True)
            cluster = PostgresCluster("wrk-bench")
            cluster.start()
            asyncio.run(cluster.create_database("rural24_bench"))
            database_url, postgres_pid = cluster.dsn("rural24_bench"), cluster.postmaster_pid
        print("migrating …", flush=True)
        migrate(database_url)
        existing = asyncio.run(_live_ads(database_url))
        if existing < args.ads:
            print(f"seeding {args.ads - existing:,} ads …", flush=True)
            asyncio.run(seed_demo_data(database_url, ads=args.ads - existing, seed=24, progress=True))
        ads = asyncio.run(_live_ads(database_url))
        run.notes.append(asyncio.run(_prepare_database(database_url)))

        uncached_lists = None
        mixed = None
        if {"uncached", "mixed"} & set(args.scenarios):
            print("listing distinct searches …", flush=True)
            counts = asyncio.run(live_counts(database_url))
            warmup_size = UNCACHED_RPS_BOUND * args.warmup + 20
            uncached_size = warmup_size + UNCACHED_RPS_BOUND * args.duration if "uncached" in args.scenarios else 0
            mixed_size = MixedWorkload.searches_needed(args.duration, args.warmup) if "mixed" in args.scenarios else 0
            # one list, cut in two: no mixed search is one the uncached rows already cached
            paths = search_paths(counts, args.mix, args.max_page, uncached_size + mixed_size)
            if uncached_size:
                uncached_lists = (paths[:warmup_size], paths[warmup_size:uncached_size])
                run.notes.append(f"uncached ({args.mix}): {uncached_size - warmup_size:,} distinct searches")
            if mixed_size:
                mixed = MixedWorkload(paths[uncached_size:], asyncio.run(public_ad_ids(database_url, MIXED_HOT_ADS)))
                run.notes.append(
                    "mixed: "
                    + ", ".join(f"{share}% {kind}" for kind, share in MIXED_SHARES)
                    + f" (Zipf over {MIXED_HOT_SEARCHES} searches and {MIXED_HOT_ADS} ads, each asked once in"
                    " the warm-up); Poisson arrivals, a mean wait of"
                    f" {MIXED_THINK_MS} ms per connection (rate x {MIXED_THINK_MS / 1000:g} connections,"
                    " bench/wrk/paced.lua); Redis mode with 2 workers"
                )

        wants_redis = args.redis if (REDIS_SCENARIOS | {"mixed"}) & set(args.scenarios) else False
        with _redis_for_run(wants_redis, run.notes) as (redis_url, redis_pid):
            if redis_url is None:
                args.scenarios = [name for name in args.scenarios if name not in REDIS_SCENARIOS]
            try:
                print("starting the servers …", flush=True)
                rows = build_rows(args, run, database_url, redis_url, redis_prefix, uncached_lists, mixed)
                _check_ok(rows)
                watched = Watched(postgres_pid, redis_pid)
                columns = (TextColumn("{task.description:<36}"), BarColumn(), TimeRemainingColumn())
                common: dict[str, Any] = {"connections": args.connections, "watched": watched, "log_dir": run.log_dir}
                with Progress(*columns) as progress:
                    for row in rows:
                        slug = row.name.replace(" ", "-").replace("/", "").replace(",", "")
                        run_wrk(wrk, f"warm-up {slug}", row.warmup, duration=args.warmup, progress=progress, **common)
                        row.measurement = run_wrk(
                            wrk, slug, row.target, duration=args.duration, progress=progress, **common
                        )
                        if row.measurement.wrapped:
                            run.notes.append(f"{row.name}: the list of searches ran out and started over")
            finally:
                for server in reversed(run.servers):  # before their Redis keys go (or their Redis)
                    server.stop()
                if redis_url is not None and redis_pid is None:
                    _forget_keys(redis_url, redis_prefix)
        meta = {
            "started": started,
            "ads": ads,
            "connections": args.connections,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "cpus": os.cpu_count(),
            "cpu_model": _cpu_model(),
            "kernel": platform.release(),
            "python": platform.python_version(),
            "wrk": _wrk_version(wrk),
            "revision": _git_revision(),
            "pool_size": args.pool_size,
        }
        for row in rows:
            if row.measurement is not None and row.measurement.errors:
                run.notes.append(f"{row.name} errors: {row.measurement.errors}")
        markdown, data = report(rows, meta, run.notes, args.results)
        print(f"saved {markdown} and {data}")
        failed = False
    finally:
        for server in reversed(run.servers):
            server.stop()
        if cluster is not None:
            cluster.stop()
        if failed:
            print(f"server logs kept in {run.log_dir}", file=sys.stderr)
        else:
            shutil.rmtree(run.log_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
