"""Read side of ads: queries, read models shaped for the screens, SQL straight into Structs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from msgspec import Meta

from domain.ads.rules import PUBLIC_AD_SQL, is_public
from domain.ads.vocabulary import AdStatus, Condition, Currency, ImageStatus, ReportReason
from domain.catalog.provinces import province_problem
from domain.catalog.queries import CategoryRead
from domain.shared import cursors
from domain.shared.errors import InvalidInput
from domain.shared.fields import MAX_AMOUNT, Amount, Line, is_amount, to_amount
from domain.shared.ports import ReadConnection, Row
from domain.shared.structs import CamelStruct, ReadModel
from domain.shared.text import fold_accents

MediaUrl = Callable[[str], str]
"""Media key → public URL (the media storage decides)."""

MAX_PAGE_SIZE = 50
MAX_QUERY_LENGTH = 200
MAX_PAGE = 200  # deep OFFSET pages cost the database; the cursor has no such limit
MAX_CATEGORY_LENGTH = 120
MAX_PROVINCE_LENGTH = 32
WALK_ROWS_PER_ROW = 50
"""Full text in a sort order walks at most this many rows of the order's index per row it needs."""
RELEVANCE_CANDIDATES = 1000
"""``sort=relevance`` ranks the first this many matches in the ``recent`` order (featured, then
newest), not every match: ranking reads each candidate's document, and a frequent word matches
one ad in six (docs/performance.md). Paging ends after them, as GitHub's search ends at 1 000."""
MAX_RANK = 1e6
"""``ts_rank`` is a ``real`` well below this; a cursor rank beyond it was not made by us."""

SortOrder = Literal["recent", "price_asc", "price_desc", "relevance"]


# -- read models ------------------------------------------------------------------------------


class CategoryRef(ReadModel):
    id: UUID
    slug: str
    name: str


class SellerRef(ReadModel):
    id: UUID
    name: str


class AdSummary(ReadModel):
    """One search result (and one row of the own-ads and favorites lists)."""

    id: UUID
    title: str
    price: Decimal | None
    currency: Currency
    province: str
    locality: str
    category: CategoryRef
    thumbnail_url: str | None
    is_featured: bool
    created_at: datetime
    seller: SellerRef


class OwnAdSummary(ReadModel):
    """``GET /api/me/ads``: every status, with what the owner needs to manage the ad."""

    id: UUID
    title: str
    price: Decimal | None
    currency: Currency
    province: str
    locality: str
    category: CategoryRef
    thumbnail_url: str | None
    is_featured: bool
    status: AdStatus
    suspended: bool
    expires_at: datetime
    created_at: datetime
    updated_at: datetime


class AdImageRead(ReadModel):
    id: UUID
    status: ImageStatus
    urls: dict[str, str]
    """Width (``"1200"``, ``"400"``) → URL of the optimized WebP; empty until ready."""


class SellerSummary(ReadModel):
    id: UUID
    name: str
    province: str | None
    member_since: datetime


class AdDetail(ReadModel):
    """``GET /api/ads/{id}``. ``deleted`` and ``suspended`` only ever show to the owner and admins."""

    id: UUID
    title: str
    description: str
    price: Decimal | None
    currency: Currency
    province: str
    locality: str
    condition: Condition | None
    status: AdStatus
    is_featured: bool
    category: CategoryRef
    seller: SellerSummary
    images: list[AdImageRead]
    expires_at: datetime
    created_at: datetime
    updated_at: datetime
    deleted: bool
    suspended: bool


class SearchPage(ReadModel):
    results: list[AdSummary]
    page: int
    page_size: int
    next_cursor: str | None


class VisibleAd(msgspec.Struct, frozen=True):
    """A detail and who may see it: the app decides public/private answers from this."""

    detail: AdDetail
    revision: int
    owner_id: UUID
    public: bool


# -- queries ------------------------------------------------------------------------------------


class SearchFilters(CamelStruct, forbid_unknown_fields=True, omit_defaults=True):
    """The filters of ``GET /api/ads/search``, with the same checks (prices are decimal strings);
    a saved search keeps them."""

    q: Annotated[Line, Meta(max_length=MAX_QUERY_LENGTH)] | None = None
    category: Annotated[Line, Meta(max_length=MAX_CATEGORY_LENGTH)] | None = None
    province: Annotated[Line, Meta(max_length=MAX_PROVINCE_LENGTH)] | None = None
    min_price: Amount | None = None
    max_price: Amount | None = None
    currency: Currency | None = None
    condition: Condition | None = None


class SearchAds(SearchFilters):
    """``GET /api/ads/search``: the filters and the page asked for. :func:`normalise_search` makes
    equivalent searches equal, so that they share a cache entry."""

    sort: SortOrder = "recent"
    page: Annotated[int, Meta(ge=1, le=MAX_PAGE)] = 1
    page_size: Annotated[int, Meta(ge=1, le=MAX_PAGE_SIZE)] = MAX_PAGE_SIZE
    cursor: str | None = None


class SearchRejected(InvalidInput):
    """A search that cannot be run as asked (422): ``field`` names the parameter."""

    source = "query"


class CategoryTree:
    """The catalog's categories indexed for search: a slug or id → the ids it covers."""

    def __init__(self, categories: Sequence[CategoryRead]) -> None:
        self._by_key: dict[str, CategoryRead] = {}
        self._children: dict[UUID, list[UUID]] = {}
        for category in categories:
            self._by_key[category.slug] = category
            self._by_key[str(category.id)] = category
            if category.parent_id is not None:
                self._children.setdefault(category.parent_id, []).append(category.id)

    def resolve(self, key: str) -> UUID | None:
        """A slug or id → the category's id (``None`` when unknown)."""
        category = self._by_key.get(key.strip().lower())
        return None if category is None else category.id

    def covering(self, key: str) -> list[UUID] | None:
        """The category and its sub-categories, or ``None`` when unknown."""
        category = self._by_key.get(key.strip().lower())
        if category is None:
            return None
        ids = [category.id]
        stack = list(self._children.get(category.id, []))
        while stack:
            child = stack.pop()
            ids.append(child)
            stack.extend(self._children.get(child, []))
        return sorted(ids)


def normalise_search(query: SearchAds, categories: CategoryTree, provinces: frozenset[str]) -> SearchAds:
    """Validate and canonicalise; raise :class:`SearchRejected` for what cannot be run."""
    q = " ".join(fold_accents(query.q).split()) if query.q else None
    if q is not None and len(q) > MAX_QUERY_LENGTH:
        raise SearchRejected("q", f"q takes at most {MAX_QUERY_LENGTH} characters")
    category = None
    if query.category:
        category_id = categories.resolve(query.category)
        if category_id is None:
            raise SearchRejected("category", f"unknown category {query.category!r}")
        category = str(category_id)  # slug or id: one cache entry
    province = query.province.strip().lower() if query.province else None
    if province is not None and (problem := province_problem(province, provinces)):
        raise SearchRejected("province", problem)
    min_price, max_price = _amount("minPrice", query.min_price), _amount("maxPrice", query.max_price)
    if (min_price is not None or max_price is not None) and query.currency is None:
        raise SearchRejected("currency", "minPrice and maxPrice compare prices within one currency: add currency")
    if min_price is not None and max_price is not None and min_price > max_price:
        raise SearchRejected("minPrice", "minPrice is above maxPrice")
    if query.sort == "relevance" and not q:
        raise SearchRejected("sort", "sort=relevance needs q")
    sort: SortOrder = query.sort
    if query.cursor is not None:
        _decode_cursor(query.cursor, sort)  # reject a bad cursor before it reaches the cache key
    return SearchAds(
        q=q or None,
        category=category,
        province=province,
        min_price=None if min_price is None else str(min_price),
        max_price=None if max_price is None else str(max_price),
        currency=query.currency,
        condition=query.condition,
        sort=sort,
        page=1 if query.cursor else query.page,
        page_size=query.page_size,
        cursor=query.cursor,
    )


def _amount(name: str, bound: object) -> Decimal | None:
    """A price bound as a ``Decimal`` with 2 decimals; refused unless it is an :data:`Amount`."""
    if bound is None:
        return None
    if not is_amount(bound):
        raise SearchRejected(name, f"{name} must be an amount from 0 to {MAX_AMOUNT}")
    return to_amount(bound)


def cache_key(query: SearchAds) -> bytes:
    """Canonical bytes of a normalised search (defaults omitted, fixed field order)."""
    return msgspec.json.encode(query)


# Keyset cursors (domain.shared.cursors): the sort order, then the sort key of the last row.


def _encode_cursor(sort: SortOrder, row: Row) -> str:
    if sort == "recent":
        values: list[Any] = [bool(row["is_featured"]), row["created_at"].isoformat(), str(row["id"])]
    elif sort == "relevance":
        values = [float(row["rank"]), str(row["id"])]
    else:
        price = row["price"]
        values = [None if price is None else str(price), str(row["id"])]
    return cursors.encode([sort, *values])


def _decode_cursor(cursor: str, sort: SortOrder) -> list[Any]:
    try:
        decoded = cursors.decode(cursor)
    except cursors.BadCursor:
        raise SearchRejected("cursor", "not a cursor from a previous page") from None
    if not decoded or decoded[0] != sort:
        raise SearchRejected("cursor", "the cursor belongs to another sort order")
    values: list[Any] = decoded[1:]
    # Every value is range-checked: it becomes a SQL parameter, and one the column cannot hold
    # (a price of 1e999999, a rank of 1e308, a naive time) would fail in PostgreSQL, not here.
    try:
        if sort == "recent" and len(values) == 3 and isinstance(values[0], bool):
            return [values[0], cursors.read_time(values[1]), cursors.read_id(values[2])]
        if sort == "relevance" and len(values) == 2 and type(values[0]) in (int, float):
            rank = float(values[0])
            if 0 <= rank <= MAX_RANK:
                return [rank, cursors.read_id(values[1])]
        elif sort in ("price_asc", "price_desc") and len(values) == 2:
            if values[0] is None:
                return [None, cursors.read_id(values[1])]
            if is_amount(values[0]):
                return [to_amount(values[0]), cursors.read_id(values[1])]
    except cursors.BadCursor:
        pass
    raise SearchRejected("cursor", "not a cursor from a previous page")


_SUMMARY_COLUMNS = """
a.id, a.title, a.price, a.currency, a.province_code, a.locality,
c.id AS category_id, c.slug AS category_slug, c.name AS category_name,
(SELECT i.sizes->>'400' FROM ad_images i
  WHERE i.ad_id = a.id AND i.status = 'ready' ORDER BY i.position LIMIT 1) AS thumbnail,
a.is_featured, a.created_at, u.id AS seller_id, u.name AS seller_name
"""

_ORDER = {
    "recent": "a.is_featured DESC, a.created_at DESC, a.id DESC",
    "price_asc": "a.price ASC NULLS LAST, a.id ASC",
    "price_desc": "a.price DESC NULLS LAST, a.id DESC",
}

# the same orders over the columns of a union of branches (build_search_sql)
_PAGE_ORDER = {sort: order.replace("a.", "page.") for sort, order in _ORDER.items()}

# q is folded in Python with the alphabet the search document folds with in SQL.
_TSQUERY = "websearch_to_tsquery('spanish', $1)"


def _summary(row: Row, media_url: MediaUrl) -> AdSummary:
    thumbnail = row["thumbnail"]
    return AdSummary(
        row["id"],
        row["title"],
        row["price"],
        row["currency"],
        row["province_code"],
        row["locality"],
        CategoryRef(row["category_id"], row["category_slug"], row["category_name"]),
        media_url(thumbnail) if thumbnail else None,
        row["is_featured"],
        row["created_at"],
        SellerRef(row["seller_id"], row["seller_name"]),
    )


def build_search_sql(query: SearchAds, categories: CategoryTree) -> tuple[str, list[Any]]:
    """The SQL and arguments of a normalised search (exposed for the EXPLAIN test)."""
    args: list[Any] = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    where = [PUBLIC_AD_SQL]
    subtree: list[str] = []  # one condition per category of a parent's subtree
    match = ""
    if query.q:
        tsquery = _TSQUERY.replace("$1", arg(query.q))
        match = f"a.search_document @@ {tsquery}"
        where.append(match)
    if query.category:
        ids = categories.covering(query.category) or []
        if len(ids) == 1 or query.q:  # full text: see _full_text_sql
            where.append(f"a.category_id = {arg(ids[0])}" if len(ids) == 1 else f"a.category_id = ANY({arg(ids)})")
        else:
            subtree = [f"a.category_id = {arg(category_id)}" for category_id in ids]
    if query.province:
        where.append(f"a.province_code = {arg(query.province)}")
    if query.currency:
        where.append(f"a.currency = {arg(query.currency)}")
    if query.min_price is not None:
        where.append(f"a.price >= {arg(to_amount(query.min_price))}")
    if query.max_price is not None:
        where.append(f"a.price <= {arg(to_amount(query.max_price))}")
    if query.condition:
        where.append(f"a.condition = {arg(query.condition)}")
    branches = [[*where, condition] for condition in subtree] or [where]
    if query.cursor and query.sort != "relevance":
        values = _decode_cursor(query.cursor, query.sort)
        if query.sort in ("price_asc", "price_desc") and values[0] is not None:
            # the priced rows after the cursor, then the NULL tail: two ranges of the price index
            price, last_id = values
            op = ">" if query.sort == "price_asc" else "<"
            after = f"(a.price, a.id) {op} ({arg(price)}, {arg(last_id)})"
            branches = [b for branch in branches for b in ([*branch, after], [*branch, "a.price IS NULL"])]
        else:
            branches = [[*branch, _keyset(query.sort, values, arg)] for branch in branches]
    limit = arg(query.page_size + 1)  # one more row tells whether there is a next page
    offset = "" if query.cursor else f" OFFSET {arg((query.page - 1) * query.page_size)}"
    if query.sort == "relevance":
        return _relevance_sql(where, match, query.cursor, arg, limit, offset), args
    if len(branches) == 1 and not match:
        sql = f"{_select(branches[0])} ORDER BY {_ORDER[query.sort]} LIMIT {limit}{offset}"
        return sql, args
    # The rows needed (those OFFSET skips, the page and one more) are found first as keys only;
    # the page's columns (thumbnails: a sub-query per row) are read for the page alone.
    needed = arg(query.page_size + 1 + (0 if query.cursor else (query.page - 1) * query.page_size))
    if match and len(branches) == 1:
        keys = _full_text_keys(query.sort, branches[0], match, needed)
    else:
        # Each branch reads one range of an index in the sort's order, for the rows needed at most;
        # the sort above orders branches times that many keys.
        keys = (
            "WITH keys AS ("
            + " UNION ALL ".join(
                f"({_keys_select(branch)} ORDER BY {_ORDER[query.sort]} LIMIT {needed})" for branch in branches
            )
            + ") "
        )
    sql = (
        f"{keys}SELECT {_SUMMARY_COLUMNS} FROM (SELECT * FROM keys page ORDER BY {_PAGE_ORDER[query.sort]} "
        f"LIMIT {limit}{offset}) k JOIN ads a ON a.id = k.id JOIN users u ON u.id = a.owner_id "
        f"JOIN categories c ON c.id = a.category_id ORDER BY {_ORDER[query.sort]}"
    )
    return sql, args


def _select(where: list[str]) -> str:
    return (
        f"SELECT {_SUMMARY_COLUMNS} FROM ads a "
        "JOIN users u ON u.id = a.owner_id JOIN categories c ON c.id = a.category_id "
        f"WHERE {' AND '.join(where)}"
    )


_KEY_COLUMNS = "a.id, a.is_featured, a.created_at, a.price"
"""What every sort but ``relevance`` orders by."""


def _keys_select(where: list[str]) -> str:
    return f"SELECT {_KEY_COLUMNS} FROM ads a JOIN users u ON u.id = a.owner_id WHERE {' AND '.join(where)}"


def _full_text_keys(sort: SortOrder, where: list[str], match: str, needed: str) -> str:
    """Full text in a sort order: a bounded walk of the order's index, else the GIN index and a sort.

    How often a term matches in a given order is what the planner cannot know: it assumes terms
    spread evenly, but "semilla" is frequent and among the cheapest ads, so at 1M ads ``price_desc``
    walked 416 289 rows for page 10. So the statement decides at run time: walk the first
    :data:`WALK_ROWS_PER_ROW` times the rows needed of the order's index and keep the matches; when they
    are enough (a frequent term), they are the answer. Only when they are not does the second
    branch run (a one-time filter on the walk's count): every match through the GIN index, sorted
    as keys (a rare term, or one rare at that end of the order)."""
    rest = [condition for condition in where if condition != match]
    walked = (
        f"SELECT {_KEY_COLUMNS}, a.search_document FROM ads a JOIN users u ON u.id = a.owner_id "
        f"WHERE {' AND '.join(rest)} ORDER BY {_ORDER[sort]} LIMIT {needed} * {WALK_ROWS_PER_ROW}"
    )
    return (
        f"WITH found AS MATERIALIZED (SELECT a.id, a.is_featured, a.created_at, a.price FROM ({walked}) a "
        f"WHERE {match} ORDER BY {_ORDER[sort]} LIMIT {needed}), "
        f"keys AS (SELECT * FROM found WHERE (SELECT count(*) FROM found) >= {needed} "
        f"UNION ALL {_keys_select([*where, f'(SELECT count(*) FROM found) < {needed}'])}) "
    )


def _relevance_sql(
    where: list[str], match: str, cursor: str | None, arg: Callable[[Any], str], limit: str, offset: str
) -> str:
    """``sort=relevance``: the first :data:`RELEVANCE_CANDIDATES` matches in the ``recent`` order,
    ranked by ``ts_rank``; the cursor is a keyset on (rank, id) among them. Ranking every match read
    each one's document: at 1M ads ``q=campo`` ranked 455 205 rows for one page.

    The candidates are left to the planner (recency index with the match as a filter, or the GIN
    index and a top-N sort), not to :func:`_full_text_keys`' bounded walk: for the recency order it
    estimates a word's frequency well, and a walk that must find 1 000 matches before it gives up
    read all of a mid-frequency word's matches as well (measured: no gain at 1M)."""
    candidates = (
        f"WITH candidates AS ({_keys_select(where)} ORDER BY {_ORDER['recent']} LIMIT {arg(RELEVANCE_CANDIDATES)})"
    )
    tsquery = match.removeprefix("a.search_document @@ ")
    after = ""
    if cursor:
        rank, last_id = _decode_cursor(cursor, "relevance")
        after = f"WHERE (ranked.rank, ranked.id) < ({arg(rank)}::real, {arg(last_id)}) "
    return (
        f"{candidates}, ranked AS (SELECT a.id, ts_rank(a.search_document, {tsquery}) AS rank "
        "FROM candidates k JOIN ads a ON a.id = k.id) "
        f"SELECT {_SUMMARY_COLUMNS}, k.rank FROM (SELECT * FROM ranked {after}"
        f"ORDER BY ranked.rank DESC, ranked.id DESC LIMIT {limit}{offset}) k "
        "JOIN ads a ON a.id = k.id JOIN users u ON u.id = a.owner_id JOIN categories c ON c.id = a.category_id "
        "ORDER BY k.rank DESC, a.id DESC"
    )


def _keyset(sort: SortOrder, values: list[Any], arg: Callable[[Any], str]) -> str:
    """The rows after the cursor, as one comparison an index in the sort's order starts its scan at."""
    if sort == "recent":
        featured, created_at, last_id = values
        return f"(a.is_featured, a.created_at, a.id) < ({arg(featured)}, {arg(created_at)}, {arg(last_id)})"
    _, last_id = values  # already in the NULL tail ("a convenir", NULLS LAST)
    return f"a.price IS NULL AND a.id {'>' if sort == 'price_asc' else '<'} {arg(last_id)}"


async def search_ads(
    query: SearchAds,
    db: ReadConnection,
    categories: CategoryTree,
    media_url: MediaUrl,
) -> SearchPage:
    sql, args = build_search_sql(query, categories)
    rows = await db.fetch(sql, *args)
    has_more = len(rows) > query.page_size
    rows = rows[: query.page_size]
    next_cursor = _encode_cursor(query.sort, rows[-1]) if has_more and rows else None
    return SearchPage([_summary(row, media_url) for row in rows], query.page, query.page_size, next_cursor)


_DETAIL_SQL = """
SELECT a.id, a.title, a.description, a.price, a.currency, a.province_code, a.locality, a.condition,
       a.status, a.is_featured, a.expires_at, a.created_at, a.updated_at, a.revision, a.owner_id,
       a.deleted_at IS NOT NULL AS deleted, a.suspended_at IS NOT NULL AS suspended,
       now() AS checked_at,
       c.id AS category_id, c.slug AS category_slug, c.name AS category_name,
       u.name AS seller_name, u.province_code AS seller_province, u.created_at AS seller_since,
       u.blocked_at IS NOT NULL AS seller_blocked,
       COALESCE((SELECT json_agg(json_build_object('id', i.id, 'status', i.status, 'sizes', i.sizes)
                                 ORDER BY i.position)
                 FROM ad_images i WHERE i.ad_id = a.id AND i.status <> 'failed'), '[]') AS images
FROM ads a JOIN users u ON u.id = a.owner_id JOIN categories c ON c.id = a.category_id
WHERE a.id = $1
"""


async def get_ad(ad_id: UUID, db: ReadConnection, media_url: MediaUrl) -> VisibleAd | None:
    row = await db.fetchrow(_DETAIL_SQL, ad_id)
    if row is None:
        return None
    images = [
        AdImageRead(
            UUID(image["id"]),
            image["status"],
            {width: media_url(key) for width, key in (image["sizes"] or {}).items()},
        )
        for image in msgspec.json.decode(row["images"])
    ]
    detail = AdDetail(
        row["id"],
        row["title"],
        row["description"],
        row["price"],
        row["currency"],
        row["province_code"],
        row["locality"],
        row["condition"],
        row["status"],
        row["is_featured"],
        CategoryRef(row["category_id"], row["category_slug"], row["category_name"]),
        SellerSummary(row["owner_id"], row["seller_name"], row["seller_province"], row["seller_since"]),
        images,
        row["expires_at"],
        row["created_at"],
        row["updated_at"],
        row["deleted"],
        row["suspended"],
    )
    public = is_public(
        status=row["status"],
        deleted=row["deleted"],
        suspended=row["suspended"],
        expires_at=row["expires_at"],
        seller_blocked=row["seller_blocked"],
        now=row["checked_at"],  # the database's clock, as PUBLIC_AD_SQL compares with now()
    )
    return VisibleAd(detail, row["revision"], row["owner_id"], public)


_OWN_ADS_SQL = """
SELECT a.id, a.title, a.price, a.currency, a.province_code, a.locality,
       c.id AS category_id, c.slug AS category_slug, c.name AS category_name,
       (SELECT i.sizes->>'400' FROM ad_images i
         WHERE i.ad_id = a.id AND i.status = 'ready' ORDER BY i.position LIMIT 1) AS thumbnail,
       a.is_featured, a.status, a.suspended_at IS NOT NULL AS suspended, a.expires_at, a.created_at, a.updated_at
FROM ads a JOIN categories c ON c.id = a.category_id
WHERE a.owner_id = $1 AND a.deleted_at IS NULL
ORDER BY a.created_at DESC
LIMIT $2 OFFSET $3
"""


async def list_own_ads(
    owner_id: UUID, page: int, page_size: int, db: ReadConnection, media_url: MediaUrl
) -> list[OwnAdSummary]:
    """Served by ``ix_ads_owner_created``."""
    rows = await db.fetch(_OWN_ADS_SQL, owner_id, page_size, (page - 1) * page_size)
    return [
        OwnAdSummary(
            row["id"],
            row["title"],
            row["price"],
            row["currency"],
            row["province_code"],
            row["locality"],
            CategoryRef(row["category_id"], row["category_slug"], row["category_name"]),
            media_url(row["thumbnail"]) if row["thumbnail"] else None,
            row["is_featured"],
            row["status"],
            row["suspended"],
            row["expires_at"],
            row["created_at"],
            row["updated_at"],
        )
        for row in rows
    ]


_FAVORITES_SQL = f"""
SELECT {_SUMMARY_COLUMNS}
FROM favorites f
JOIN ads a ON a.id = f.ad_id JOIN users u ON u.id = a.owner_id JOIN categories c ON c.id = a.category_id
WHERE f.user_id = $1 AND {PUBLIC_AD_SQL}
ORDER BY f.created_at DESC
LIMIT $2 OFFSET $3
"""


async def list_favorites(
    user_id: UUID, page: int, page_size: int, db: ReadConnection, media_url: MediaUrl
) -> list[AdSummary]:
    """Saved ads that are still live, newest saved first (``ix_favorites_user_created``)."""
    rows = await db.fetch(_FAVORITES_SQL, user_id, page_size, (page - 1) * page_size)
    return [_summary(row, media_url) for row in rows]


class OpenReport(ReadModel):
    id: UUID
    ad_id: UUID
    ad_title: str
    reason: ReportReason
    detail: str | None
    reporter_id: UUID
    created_at: datetime


_REPORTS_SQL = """
SELECT r.id, r.ad_id, a.title, r.reason, r.detail, r.reporter_id, r.created_at
FROM reports r JOIN ads a ON a.id = r.ad_id
WHERE r.resolved_at IS NULL
ORDER BY r.created_at DESC
LIMIT $1 OFFSET $2
"""


async def list_open_reports(page: int, page_size: int, db: ReadConnection) -> list[OpenReport]:
    """``GET /api/admin/reports`` (``ix_reports_open_created``)."""
    rows = await db.fetch(_REPORTS_SQL, page_size, (page - 1) * page_size)
    return [OpenReport(row[0], row[1], row[2], row[3], row[4], row[5], row[6]) for row in rows]
