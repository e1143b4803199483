"""Every search plan reaches ``ads`` through an index and reads about a page of it: EXPLAIN over
seeded ads.

One database for the module: copied from the migrated template, seeded with ``RURAL24_PLAN_ADS``
realistic ads (``seed_demo_data``; 100 000 by default, ``make explain-1m`` runs 1 000 000), plus
images, favorites and reports so that the tables hanging from ``ads`` are not empty, then
vacuumed and analysed. Each search shape is built exactly as the handler
builds it (``normalise_search`` → ``build_search_sql``) and explained twice:

* ``custom``: ``EXPLAIN`` with the arguments bound — the plan of a statement's first executions;
* ``generic``: ``PREPARE`` + ``EXPLAIN EXECUTE`` under ``plan_cache_mode = force_generic_plan``
  — asyncpg caches prepared statements, and after five executions PostgreSQL may switch a
  statement to its generic plan, which knows nothing of the values.

A sequential scan of ``ads`` (or of the other big tables, ``ad_images`` and ``favorites``) fails
the test; sequential scans of small tables (``categories``, ``users`` in a hash join) are
printed (``pytest -rP``) but allowed.

No sequential scan is not enough: at 1 000 000 ads a plan may walk an index in the sort's order
and throw away a fifth of the table before it has a page. Each search shape is therefore also run
under ``EXPLAIN ANALYZE`` (custom plan) and the ``ads`` rows it examined (``bench/search_explain.py``'s
:func:`examined_rows`: index entries read plus heap rows a filter threw away) must stay within
:data:`ROWS_PER_ROW` per row the query had to produce (the page, one more, and what ``OFFSET``
skips): a bound on reading O(page), which at any size separates a range scan from a walk through
other filters' rows.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

import pytest

from bench.search_explain import examined_rows
from demo.seed import seed_demo_data
from domain.accounts import queries as account_queries
from domain.ads import commands as ad_commands
from domain.ads import queries as ad_queries
from domain.ads.queries import (
    WALK_ROWS_PER_ROW,
    CategoryTree,
    SearchAds,
    build_search_sql,
    normalise_search,
    search_ads,
)
from domain.catalog.queries import ListCategories, list_categories
from domain.catalog.reference import PROVINCE_CODES
from infrastructure.database.reads import READ_SESSION_SETTINGS, ReadSide
from tests.harness.postgres import ClusterPair

pytestmark = pytest.mark.postgres

ADS = int(os.environ.get("RURAL24_PLAN_ADS", "100000"))
"""How many ads to seed: CI's 100 000 by default; ``make explain-1m`` sets 1 000 000."""
ROWS_PER_ROW = 20
"""The most ``ads`` rows a search may examine per row it had to produce (see the module docstring).
Full text may add its bounded walk (``WALK_ROWS_PER_ROW`` per row); ``sort=relevance`` ranks at most
``RELEVANCE_CANDIDATES`` matches but finds them as the planner chooses, and is not bounded per row
(docs/performance.md)."""
PlanMode = Literal["custom", "generic"]
PLAN_MODES: tuple[PlanMode, ...] = ("custom", "generic")

# Tables big enough that a sequential scan of them is a bug at any realistic size.
BIG_TABLES = frozenset({"ads", "ad_images", "favorites"})
INDEX_ACCESS = frozenset({"Index Scan", "Index Only Scan", "Bitmap Heap Scan"})


# -- the seeded database ---------------------------------------------------------------------------


@dataclass
class Seeded:
    cluster: ClusterPair
    name: str
    tree: CategoryTree
    reads: ReadSide
    busy_owner: UUID
    """The seller with the most ads (own-ads list, seller profile)."""
    fan: UUID
    """A user with saved ads."""
    some_ad: UUID
    cursors: dict[str, str] = field(default_factory=dict)
    """Shape id → ``nextCursor`` of that shape's first page."""


# Two images for every other ad, 50 favorites for each seller, 500 open reports: enough rows
# that the planner treats these tables as what they become in production.
_EXTRA_ROWS = """
INSERT INTO ad_images (id, ad_id, position, status, original_key, content_type, byte_size, sizes,
                       created_at, updated_at)
SELECT gen_random_uuid(), a.id, p.position, 'ready', 'originals/' || a.id || '/' || p.position, 'image/jpeg',
       250000, jsonb_build_object('400', 'ads/' || a.id || '/' || p.position || '-400.webp'),
       a.created_at, a.created_at
FROM (SELECT id, created_at, row_number() OVER (ORDER BY id) AS n FROM ads) a
CROSS JOIN (VALUES (0), (1)) AS p(position)
WHERE a.n % 2 = 0;

INSERT INTO favorites (user_id, ad_id, created_at)
SELECT u.id, a.id, a.created_at + interval '1 hour'
FROM (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n, count(*) OVER () AS users FROM users) u
JOIN (SELECT id, created_at, row_number() OVER (ORDER BY id) AS n FROM ads) a
  ON a.n % u.users = u.n AND a.n <= u.users * 50;

INSERT INTO reports (id, ad_id, reporter_id, reason, created_at, updated_at)
SELECT gen_random_uuid(), a.id, u.id, 'spam', a.created_at, a.created_at
FROM (SELECT id, created_at, row_number() OVER (ORDER BY id DESC) AS n FROM ads) a
JOIN (SELECT id, row_number() OVER (ORDER BY id) AS n FROM users) u ON u.n = a.n
WHERE a.n <= 500;
"""


@pytest.fixture(scope="module")
async def seeded(pg_cluster: ClusterPair, template_database: str, pytestconfig: pytest.Config) -> AsyncIterator[Seeded]:
    name = f"plans_{uuid.uuid4().hex[:12]}"
    primary = pg_cluster.primary
    await primary.create_database(name, template=template_database)
    reads = ReadSide(primary.dsn(name), pool_size=2)
    try:
        # A million ads take minutes: their progress bar goes to the terminal, past pytest's capture.
        capture = pytestconfig.pluginmanager.getplugin("capturemanager")
        with capture.global_and_fixture_disabled() if ADS >= 1_000_000 else contextlib.nullcontext():
            report = await seed_demo_data(primary.dsn(name), ads=ADS, seed=7, progress=ADS >= 1_000_000)
        assert report.ads_created == ADS
        async with primary.connection(name) as connection:
            await connection.execute(_EXTRA_ROWS)
            await connection.execute("VACUUM ANALYZE")
            busy_owner = await connection.fetchval(
                "SELECT owner_id FROM ads GROUP BY owner_id ORDER BY count(*) DESC, owner_id LIMIT 1"
            )
            fan = await connection.fetchval("SELECT user_id FROM favorites ORDER BY user_id LIMIT 1")
            some_ad = await connection.fetchval("SELECT id FROM ads ORDER BY id LIMIT 1 OFFSET 5000")
        await reads.start()
        tree = CategoryTree(await list_categories(ListCategories(), reads))
        yield Seeded(pg_cluster, name, tree, reads, busy_owner, fan, some_ad)
    finally:
        await reads.close()
        await primary.drop_database(name)


# -- plan walking ---------------------------------------------------------------------------------


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every node of an EXPLAIN (FORMAT JSON) plan tree: init plans and sub plans included."""
    yield plan
    for child in plan.get("Plans", ()):
        yield from _nodes(child)


def _index_names(node: dict[str, Any]) -> set[str]:
    """The indexes a scan node reads: its own, or those of the bitmap index scans under it."""
    return {n["Index Name"] for n in _nodes(node) if "Index Name" in n}


@dataclass(frozen=True)
class Access:
    node_type: str
    relation: str
    indexes: frozenset[str]

    def __str__(self) -> str:
        via = "+".join(sorted(self.indexes)) or "no index"
        return f"{self.node_type} on {self.relation} ({via})"


def render(plan_json: str) -> str:
    """A plan as an indented outline: node, table, index, conditions and filters."""
    (top,) = json.loads(plan_json)
    lines: list[str] = []

    def visit(node: dict[str, Any], depth: int) -> None:
        text = node["Node Type"]
        if "Relation Name" in node:
            text += f" on {node['Relation Name']}"
        if "Index Name" in node:
            text += f" using {node['Index Name']}"
        text += f"  (cost={node.get('Total Cost')} rows={node.get('Plan Rows')})"
        details = [f"{key}: {node[key]}" for key in ("Sort Key", "Index Cond", "Recheck Cond", "Filter") if key in node]
        lines.append("  " * depth + "-> " + text)
        lines.extend("  " * depth + "     " + detail for detail in details)
        for child in node.get("Plans", ()):
            visit(child, depth + 1)

    visit(top["Plan"], 0)
    return "\n".join(lines)


def table_accesses(plan_json: str) -> list[Access]:
    """The scan nodes of a plan, each with its table and the indexes it uses."""
    (top,) = json.loads(plan_json)
    accesses = [
        Access(node["Node Type"], node["Relation Name"], frozenset(_index_names(node)))
        for node in _nodes(top["Plan"])
        if "Relation Name" in node and node["Node Type"] != "ModifyTable"
    ]
    assert accesses, f"the plan reads no table at all:\n{plan_json}"
    return accesses


async def explain(seeded: Seeded, sql: str, args: list[Any], mode: PlanMode, *, analyze: bool = False) -> str:
    """The plan as JSON; ``analyze`` runs it (custom plans only) and adds what each node read."""
    async with seeded.cluster.primary.connection(seeded.name) as connection:
        for setting, value in READ_SESSION_SETTINGS.items():  # the read side's session settings
            await connection.execute(f"SET {setting} = {value}")
        if mode == "custom":
            options = "ANALYZE, BUFFERS, FORMAT JSON" if analyze else "FORMAT JSON"
            return str(await connection.fetchval(f"EXPLAIN ({options}) {sql}", *args))
        # A generic plan does not depend on the values: NULLs stand in for them.
        await connection.execute("SET plan_cache_mode = force_generic_plan")
        await connection.execute(f"PREPARE plan_under_test AS {sql}")
        values = ", ".join("NULL" for _ in args)
        execute = f"EXECUTE plan_under_test({values})" if args else "EXECUTE plan_under_test"
        return str(await connection.fetchval(f"EXPLAIN (FORMAT JSON) {execute}"))


def check_plan(plan_json: str, *, ads_index_prefix: str | tuple[str, ...] = "ix_ads_") -> list[Access]:
    """Fail on a sequential scan of a big table; ``ads`` must be read through a named index."""
    accesses = table_accesses(plan_json)
    big_seq_scans = [a for a in accesses if a.relation in BIG_TABLES and a.node_type not in INDEX_ACCESS]
    assert not big_seq_scans, f"{', '.join(map(str, big_seq_scans))}: add an index for this query.\n{render(plan_json)}"
    ads = [a for a in accesses if a.relation == "ads"]
    assert ads, f"the plan does not read ads:\n{render(plan_json)}"
    for access in ads:
        assert any(index.startswith(ads_index_prefix) for index in access.indexes), (
            f"{access}: expected an index named {ads_index_prefix}*\n{render(plan_json)}"
        )
    small = sorted({str(a) for a in accesses if a.relation not in BIG_TABLES and a.node_type == "Seq Scan"})
    print(render(plan_json))
    print("ads via:", ", ".join(sorted({str(a) for a in ads})))
    print("seq scans of small tables (allowed):", ", ".join(small) or "none")
    return accesses


def check_rows_examined(plan_json: str, offset: int, limit: int, per_row: int = ROWS_PER_ROW) -> None:
    """Fail when the search examined more than ``per_row`` ``ads`` rows per row it had to produce
    (``offset`` skipped plus at most ``limit`` returned)."""
    examined = examined_rows(plan_json, offset)
    bound = per_row * (offset + limit)
    print(
        f"ads rows examined: {examined.rows:,} for {examined.produced} produced (bound {bound:,}), "
        f"{examined.buffers:,} buffers, {examined.milliseconds:.1f} ms"
    )
    assert examined.rows <= bound, (
        f"{examined.rows:,} ads rows examined to produce {examined.produced} (at most {bound:,}): "
        f"the plan walks rows of other filters or sorts every match\n{render(plan_json)}"
    )


# -- search shapes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    id: str
    params: dict[str, Any]
    cursor: bool = False
    """Page 2 by keyset: ``cursor`` is the ``nextCursor`` of the first page of the same search."""


USD_RANGE = {"currency": "USD", "min_price": "10000", "max_price": "50000"}

SHAPES = [
    Shape("recent", {}),
    Shape("category-leaf", {"category": "tractores"}),
    Shape("category-parent", {"category": "maquinaria-agricola"}),
    Shape("province", {"province": "cordoba"}),
    Shape("category+province", {"category": "tractores", "province": "buenos-aires"}),
    Shape("category-parent+province", {"category": "hacienda", "province": "buenos-aires"}),
    Shape("q", {"q": "tractor john deere"}),
    Shape("q+province", {"q": "campo", "province": "cordoba"}),
    Shape("q-relevance", {"q": "tractor john deere", "sort": "relevance"}),
    Shape("price-range-asc", {**USD_RANGE, "sort": "price_asc"}),
    Shape("price-range-desc", {**USD_RANGE, "sort": "price_desc"}),
    Shape("currency-price-desc", {"currency": "ARS", "sort": "price_desc"}),
    Shape("price-asc", {"sort": "price_asc"}),
    Shape("price-desc", {"sort": "price_desc"}),
    Shape("category+price-asc", {"category": "tractores", "sort": "price_asc"}),
    Shape("category+price-desc", {"category": "caprinos", "sort": "price_desc"}),
    Shape("category-parent+price-asc", {"category": "servicios", "sort": "price_asc"}),
    Shape("province+price-desc", {"province": "cordoba", "sort": "price_desc"}),
    Shape("province+price-asc", {"province": "jujuy", "sort": "price_asc"}),
    Shape("category+province+price-asc", {"category": "campos", "province": "cordoba", "sort": "price_asc"}),
    Shape("category+province+price-desc", {"category": "tractores", "province": "salta", "sort": "price_desc"}),
    Shape(
        "category+province+price-floor",
        {"category": "tractores", "province": "la-pampa", "currency": "USD", "min_price": "20000", "sort": "price_asc"},
    ),
    Shape("category+condition+price-desc", {"category": "repuestos", "condition": "new", "sort": "price_desc"}),
    Shape("q+price-asc", {"q": "cosechadora", "province": "cordoba", "sort": "price_asc"}),
    Shape("q-rare", {"q": "cabras"}),
    Shape("q-rare+price-desc", {"q": "cabras", "sort": "price_desc"}),
    Shape("condition", {"condition": "new"}),
    Shape("cursor-recent", {}, cursor=True),
    Shape("cursor-price-asc", {"currency": "USD", "sort": "price_asc"}, cursor=True),
    Shape("cursor-price-desc", {"sort": "price_desc"}, cursor=True),
    Shape("cursor-category+price-asc", {"category": "tractores", "sort": "price_asc"}, cursor=True),
    Shape("cursor-relevance", {"q": "tractor", "sort": "relevance"}, cursor=True),
    Shape("page-5", {"page": 5}),
    Shape("page-200", {"page": 200}),
]


async def _cursor(seeded: Seeded, shape: Shape) -> str:
    if shape.id not in seeded.cursors:
        first = normalise_search(SearchAds(**shape.params), seeded.tree, PROVINCE_CODES)
        page = await search_ads(first, seeded.reads, seeded.tree, lambda key: key)
        assert len(page.results) == first.page_size, f"{shape.id}: the first page is not full"
        assert page.next_cursor is not None
        seeded.cursors[shape.id] = page.next_cursor
    return seeded.cursors[shape.id]


@pytest.mark.parametrize("mode", PLAN_MODES)
@pytest.mark.parametrize("shape", SHAPES, ids=[shape.id for shape in SHAPES])
async def test_search_reads_ads_through_an_index(seeded: Seeded, shape: Shape, mode: PlanMode) -> None:
    params = dict(shape.params)
    if shape.cursor:
        params["cursor"] = await _cursor(seeded, shape)
    query = normalise_search(SearchAds(**params), seeded.tree, PROVINCE_CODES)
    sql, args = build_search_sql(query, seeded.tree)
    # A search that finds its page's keys first reads the page's rows by primary key afterwards.
    accesses = check_plan(await explain(seeded, sql, args, mode), ads_index_prefix=("ix_ads_", "pk_ads"))
    assert any(index.startswith("ix_ads_") for a in accesses if a.relation == "ads" for index in a.indexes)
    if mode == "custom" and query.sort != "relevance":
        offset = 0 if query.cursor else (query.page - 1) * query.page_size
        per_row = ROWS_PER_ROW + (WALK_ROWS_PER_ROW if query.q else 0)
        check_rows_examined(await explain(seeded, sql, args, mode, analyze=True), offset, query.page_size + 1, per_row)


# -- the other queries on ads ----------------------------------------------------------------------


def _expire_sql() -> str:
    # The expiry job's statement, in the $n style asyncpg sends it in.
    return str(ad_commands._EXPIRE.text).replace(":now", "$1")


OTHER_QUERIES: dict[str, tuple[str, str | tuple[str, ...]]] = {
    # name: (SQL, expected index prefix for ads); arguments come from _other_args
    "own-ads": (ad_queries._OWN_ADS_SQL, "ix_ads_owner_created"),
    "favorites": (ad_queries._FAVORITES_SQL, "pk_ads"),
    # a batch's ids through the expiry index, then each row by primary key
    "expire-ads": (_expire_sql(), ("ix_ads_active_expires_at", "pk_ads")),
    "detail": (ad_queries._DETAIL_SQL, "pk_ads"),
    "open-reports": (ad_queries._REPORTS_SQL, "pk_ads"),
    "seller-profile": (account_queries._SELLER_SQL, "ix_ads_owner_created"),
}


def _other_args(name: str, seeded: Seeded) -> list[Any]:
    return {
        "own-ads": [seeded.busy_owner, 50, 0],
        "favorites": [seeded.fan, 50, 0],
        "expire-ads": [datetime.now(UTC)],
        "detail": [seeded.some_ad],
        "open-reports": [50, 0],
        "seller-profile": [seeded.busy_owner],
    }[name]


@pytest.mark.parametrize("mode", PLAN_MODES)
@pytest.mark.parametrize("name", list(OTHER_QUERIES))
async def test_other_ads_queries_use_their_index(seeded: Seeded, name: str, mode: PlanMode) -> None:
    sql, index = OTHER_QUERIES[name]
    accesses = check_plan(await explain(seeded, sql, _other_args(name, seeded), mode), ads_index_prefix=index)
    first = index if isinstance(index, str) else index[0]  # the query's own index is among them
    assert any(i.startswith(first) for a in accesses if a.relation == "ads" for i in a.indexes)


# -- the walker itself -------------------------------------------------------------------------------


def test_the_walker_catches_a_sequential_scan_of_ads() -> None:
    plan = json.dumps(
        [
            {
                "Plan": {
                    "Node Type": "Limit",
                    "Plans": [
                        {
                            "Node Type": "Nested Loop",
                            "Plans": [
                                {"Node Type": "Seq Scan", "Relation Name": "ads", "Alias": "a"},
                                {"Node Type": "Index Scan", "Relation Name": "users", "Index Name": "pk_users"},
                            ],
                        }
                    ],
                }
            }
        ]
    )
    with pytest.raises(AssertionError, match="Seq Scan on ads"):
        check_plan(plan)


def test_the_walker_reads_bitmap_scans_and_sub_plans() -> None:
    plan = json.dumps(
        [
            {
                "Plan": {
                    "Node Type": "Sort",
                    "Plans": [
                        {
                            "Node Type": "Bitmap Heap Scan",
                            "Relation Name": "ads",
                            "Plans": [{"Node Type": "Bitmap Index Scan", "Index Name": "ix_ads_live_search_document"}],
                        },
                        {"Node Type": "Seq Scan", "Relation Name": "categories", "Parent Relationship": "SubPlan"},
                    ],
                }
            }
        ]
    )
    accesses = check_plan(plan)
    assert Access("Bitmap Heap Scan", "ads", frozenset({"ix_ads_live_search_document"})) in accesses
    assert Access("Seq Scan", "categories", frozenset()) in accesses


def test_the_row_count_catches_a_walk_through_other_rows() -> None:
    # The plan of the issue: tractores in one province by price, walking a price index of every
    # category and throwing away 210 248 rows to return 51.
    walk = {
        "Node Type": "Index Scan",
        "Relation Name": "ads",
        "Index Name": "ix_ads_live_price",
        "Actual Rows": 51,
        "Actual Loops": 1,
        "Rows Removed by Filter": 210_248,
    }
    plan = json.dumps([{"Plan": {"Node Type": "Limit", "Actual Rows": 51, "Plans": [walk]}, "Execution Time": 1.0}])
    assert examined_rows(plan).rows == 210_299
    with pytest.raises(AssertionError, match="210,299 ads rows examined to produce 51"):
        check_rows_examined(plan, 0, 51)
    # a bitmap of every match counts its entries, the heap scan what its filter threw away
    heap = {
        "Node Type": "Bitmap Heap Scan",
        "Relation Name": "ads",
        "Actual Rows": 900,
        "Actual Loops": 1,
        "Rows Removed by Filter": 100,
        "Plans": [{"Node Type": "Bitmap Index Scan", "Index Name": "ix_ads_live_search_document", "Actual Rows": 1000}],
    }
    plan = json.dumps([{"Plan": {"Node Type": "Sort", "Actual Rows": 51, "Plans": [heap]}, "Execution Time": 1.0}])
    assert examined_rows(plan, offset=50).rows == 1100
    assert examined_rows(plan, offset=50).produced == 101
    check_rows_examined(plan, 50, 51)  # 1 100 rows for 101: within 20 per row


def test_the_expiry_statement_is_the_one_the_job_runs() -> None:
    sql = _expire_sql()
    assert "UPDATE ads" in sql
    assert "$1" in sql
    assert ":now" not in sql
