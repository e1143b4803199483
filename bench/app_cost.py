"""The application's own cost per request, without a server, a socket or a load generator (a
benchmark, not a test).

Calls the app's ASGI callable in a loop with a fixed GET (after its lifespan started and a warm-up)
and prints microseconds per request: the minimum and the median of several rounds (the minimum is
the figure to compare: the machine's noise only adds). What wrk measures minus this is the server
(granian) and the network. ``--profile`` runs one round under cProfile and prints the heaviest
cumulative entries; for a sampling profile of a real server use py-spy on ``rural24 serve``.

Needs a migrated, seeded database (``make seed``, or the one ``make bench`` leaves) and, with
``--redis``, a Redis; production settings, limits out of the way, ``LOG_LEVEL`` as given.

    .venv/bin/python bench/app_cost.py --database-url postgresql://postgres@127.0.0.1:5432/rural24_bench \
        [--redis redis://127.0.0.1:6379/6] [--log-level warning] [--requests 3000] /api/ads/search
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "src")]


def _environment(args: argparse.Namespace) -> dict[str, str]:
    env = {
        "APP_ENV": "production",
        "APP_NAME": "rural24-app-cost",
        "DATABASE_URL": args.database_url,
        "JWT_SECRET": "app-cost-" + "c" * 40,
        "RATE_LIMIT_API": "100000000/minute",
        "RATE_LIMIT_SEARCH": "100000000/minute",
        "MEDIA_STORAGE_URL": "file:///tmp/rural24-app-cost-media",
        "ALLOW_LOCAL_MEDIA": "true",
        "ALLOW_CONSOLE_EMAIL": "true",
        "FRONTEND_URL": "http://127.0.0.1:3000",
        "LOG_LEVEL": args.log_level,
    }
    if args.redis:
        env |= {"REDIS_ENABLED": "true", "REDIS_URL": args.redis}
    return env


async def measure(args: argparse.Namespace) -> None:
    from infrastructure.settings import load_settings
    from rural24.app import create_app

    app = create_app(load_settings(_environment(args)))
    path, _, query = args.path.partition("?")
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query.encode(),
        "headers": [(b"host", b"127.0.0.1"), (b"user-agent", b"app-cost")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    async def run(n: int) -> None:
        for _ in range(n):
            await app({**scope, "state": {}, "headers": list(scope["headers"])}, receive, send)  # type: ignore[arg-type]

    # the lifespan in this loop, as a server runs it (pools and clients belong to this loop)
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    lifespan = asyncio.create_task(
        app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, inbox.get, outbox.put)  # type: ignore[arg-type]
    )
    await inbox.put({"type": "lifespan.startup"})
    started_up = await outbox.get()
    if started_up["type"] != "lifespan.startup.complete":
        sys.exit(f"app_cost: the app did not start: {started_up.get('message', started_up)}")
    try:
        await run(1)
        if statuses != [200]:
            sys.exit(f"app_cost: GET {args.path} answered {statuses}")
        await run(500)  # warm-up: caches filled, code paths hot
        statuses.clear()
        rounds: list[float] = []
        profile = cProfile.Profile() if args.profile else None
        for _ in range(1 if profile else args.rounds):
            started = time.perf_counter()
            if profile:
                profile.enable()
            await run(args.requests)
            if profile:
                profile.disable()
            rounds.append((time.perf_counter() - started) / args.requests * 1e6)
        if set(statuses) != {200}:
            sys.exit(f"app_cost: statuses {sorted(set(statuses))}")
        print(
            f"{args.path} ({'Redis' if args.redis else 'memory'}, LOG_LEVEL={args.log_level}): "
            f"min {min(rounds):.1f} µs, median {statistics.median(rounds):.1f} µs per request "
            f"({len(rounds)} rounds of {args.requests})"
        )
        if profile:
            pstats.Stats(profile).sort_stats("cumulative").print_stats(40)
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        await outbox.get()
        await lifespan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", help="a GET path and query, e.g. /api/ads/search")
    parser.add_argument(
        "--database-url", default=os.environ.get("DATABASE_URL"), required="DATABASE_URL" not in os.environ
    )
    parser.add_argument("--redis", default=None, help="Redis mode on this URL")
    parser.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--profile", action="store_true", help="one round under cProfile")
    asyncio.run(measure(parser.parse_args()))


if __name__ == "__main__":
    main()
