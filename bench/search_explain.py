"""Search plans at scale: ``EXPLAIN (ANALYZE, BUFFERS)`` of the uncached searches on a seeded database.

The uncached benchmark's list of distinct searches (``bench/wrk_bench.py``: every filter combination
with every sort, pages 1-10; ``q`` with and without a province) is sampled, each search is built as
the handler builds it (``normalise_search`` → ``build_search_sql``) and run once under
``EXPLAIN (ANALYZE, BUFFERS)`` on one connection with the read side's session settings. For each
group (filters, full text) it prints p50/p90/p95 of the execution time, of the ``ads`` rows examined
per row the query had to produce (:func:`examined_rows`) and of the buffers touched, then the worst
searches. One connection, no load: this compares plans, not throughput (``make bench`` does that).

    .venv/bin/python bench/search_explain.py --database-url postgresql://… [--searches 300]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

ROOT = Path(__file__).resolve().parent.parent

ADS_INDEX_PREFIXES = ("ix_ads_", "pk_ads")


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", ()):
        yield from _nodes(child)


@dataclass(frozen=True)
class Examined:
    """What one ``EXPLAIN ANALYZE`` of a search read from ``ads``."""

    rows: int
    """Index entries read (index scans, bitmap index scans) plus heap rows thrown away by a filter."""
    produced: int
    """Rows the query had to produce: those returned plus those skipped by ``OFFSET``."""
    milliseconds: float
    buffers: int
    """Shared buffers hit or read by the whole statement."""

    @property
    def per_row(self) -> float:
        return self.rows / max(self.produced, 1)


def examined_rows(plan_json: str | list[Any], offset: int = 0) -> Examined:
    """Rows of ``ads`` an ``EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)`` examined.

    Per node, ``Actual Rows`` and ``Rows Removed by …`` are averages over ``Actual Loops``, so both
    are multiplied back. An index scan of ``ads`` examines the rows it returns plus those its filter
    removed; a bitmap index scan on an ``ads`` index examines every entry it puts in the bitmap (the
    heap scan above it then only adds what its filter or recheck removed); a sequential scan examines
    every row it reads."""
    (top,) = json.loads(plan_json) if isinstance(plan_json, str) else plan_json
    examined = 0.0
    for node in _nodes(top["Plan"]):
        loops = node.get("Actual Loops", 1)
        removed = node.get("Rows Removed by Filter", 0) + node.get("Rows Removed by Index Recheck", 0)
        kind = node["Node Type"]
        if kind == "Bitmap Index Scan" and str(node.get("Index Name", "")).startswith(ADS_INDEX_PREFIXES):
            examined += node["Actual Rows"] * loops
        elif node.get("Relation Name") == "ads":
            fetched = 0 if kind == "Bitmap Heap Scan" else node["Actual Rows"]
            examined += (fetched + removed) * loops
    plan = top["Plan"]
    produced = plan["Actual Rows"] + offset
    buffers = plan.get("Shared Hit Blocks", 0) + plan.get("Shared Read Blocks", 0)
    return Examined(round(examined), produced, float(top["Execution Time"]), buffers)


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def _run(args: argparse.Namespace) -> None:
    import asyncpg
    import msgspec

    from bench.wrk_bench import live_counts, search_paths
    from domain.ads.queries import CategoryTree, SearchAds, build_search_sql, normalise_search
    from domain.catalog.queries import ListCategories, list_categories
    from domain.catalog.reference import PROVINCE_CODES
    from infrastructure.database.reads import READ_SESSION_SETTINGS, ReadSide
    from infrastructure.database.urls import asyncpg_dsn

    reads = ReadSide(args.database_url, pool_size=1)
    await reads.start()
    try:
        tree = CategoryTree(await list_categories(ListCategories(), reads))
    finally:
        await reads.close()
    counts = await live_counts(args.database_url)
    paths = search_paths(counts, "all", args.max_page, args.searches * 4)
    random.Random(args.seed).shuffle(paths)
    if args.show:  # one search's plan as text, to read
        paths = [f"?{args.show}"]
    connection = await asyncpg.connect(asyncpg_dsn(args.database_url), server_settings=READ_SESSION_SETTINGS)
    results: dict[str, list[tuple[str, Examined]]] = {"filters": [], "full text": []}
    try:
        for path in paths[: args.searches]:
            params = dict(parse_qsl(urlsplit(path).query))
            converted = {key: int(value) if key in ("page", "pageSize") else value for key, value in params.items()}
            query = normalise_search(msgspec.convert(converted, SearchAds), tree, PROVINCE_CODES)
            sql, sql_args = build_search_sql(query, tree)
            if args.show:
                for line in await connection.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", *sql_args):
                    print(line[0])
                return
            plan = await connection.fetchval(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}", *sql_args)
            offset = 0 if query.cursor else (query.page - 1) * query.page_size
            group = "full text" if query.q else "filters"
            results[group].append((urlsplit(path).query or "(none)", examined_rows(plan, offset)))
    finally:
        await connection.close()
    live = sum(n for key, n in counts.items() if key == ())
    print(f"{live:,} live ads, {args.searches} searches (custom plans, one connection)\n")
    print("| group | searches | p50 ms | p90 ms | p95 ms | p50 rows/row | p90 rows/row | max rows/row | p90 buffers |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for group, rows in results.items():
        if not rows:
            continue
        times = [e.milliseconds for _, e in rows]
        ratios = [e.per_row for _, e in rows]
        buffers = [float(e.buffers) for _, e in rows]
        print(
            f"| {group} | {len(rows)} | {statistics.median(times):.1f} | {_percentile(times, 0.9):.1f} | "
            f"{_percentile(times, 0.95):.1f} | {statistics.median(ratios):.1f} | {_percentile(ratios, 0.9):.1f} | "
            f"{max(ratios):.1f} | {_percentile(buffers, 0.9):,.0f} |"
        )
    print("\nworst searches (ads rows examined per row produced):")
    everything = sorted((e.per_row, q, e) for rows in results.values() for q, e in rows)
    for ratio, query_string, e in reversed(everything[-args.worst :]):
        print(f"  {ratio:9.1f}  {e.rows:>9,} rows  {e.milliseconds:8.1f} ms  {query_string}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--database-url", required=True, help="a migrated, seeded database")
    parser.add_argument("--searches", type=int, default=300, help="searches to explain (default 300)")
    parser.add_argument("--max-page", type=int, default=10, help="deepest page asked for (default 10)")
    parser.add_argument("--seed", type=int, default=11, help="sampling seed (default 11)")
    parser.add_argument("--show", metavar="QUERY", help="print the analysed plan of one search (its query string)")
    parser.add_argument("--worst", type=int, default=12, help="worst searches to list (default 12)")
    args = parser.parse_args()
    if args.searches < 1 or args.max_page < 1:
        parser.error("--searches and --max-page must be positive")
    sys.path[:0] = [str(ROOT), str(ROOT / "src")]
    try:
        asyncio.run(_run(args))
    except (OSError, ConnectionError) as exc:
        print(f"search_explain: {exc}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
