"""The pure rules of ads (no I/O): lifecycle, prices, renewal, the public-ad rule, the vocabulary,
search normalisation and the province check."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple, cast, get_args

import pytest
from sqlalchemy import Table

from domain.ads.errors import ForbiddenTransition, InvalidAd
from domain.ads.models import Ad, AdImage, Report, SavedSearch
from domain.ads.queries import CategoryTree, SearchAds, SearchRejected, cache_key, normalise_search
from domain.ads.rules import (
    LIVE_AD_SQL,
    PUBLIC_AD_SQL,
    RENEW_WINDOW,
    can_renew,
    check_price,
    check_transition,
    is_public,
)
from domain.ads.vocabulary import (
    AD_STATUSES,
    ALERT_FREQUENCIES,
    CONDITIONS,
    CURRENCIES,
    IMAGE_STATUSES,
    REPORT_REASONS,
    OwnerStatus,
)
from domain.catalog.provinces import province_problem
from domain.catalog.queries import CategoryRead
from domain.catalog.reference import PROVINCE_CODES

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)

# -- lifecycle ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "wanted"),
    [
        ("active", "paused"),
        ("active", "sold"),
        ("paused", "active"),
        ("paused", "sold"),
        *((status, status) for status in AD_STATUSES),  # asking for the status it has changes nothing
    ],
)
def test_allowed_transitions(current: str, wanted: str) -> None:
    check_transition(current, wanted)


@pytest.mark.parametrize(
    ("current", "wanted"),
    [("sold", "active"), ("sold", "paused"), ("expired", "active"), ("expired", "paused"), ("active", "expired")],
)
def test_forbidden_transitions(current: str, wanted: str) -> None:
    with pytest.raises(ForbiddenTransition) as refused:
        check_transition(current, wanted)
    assert f"an ad that is {current} cannot become {wanted}" in refused.value.detail


def test_an_expired_ad_is_told_to_renew() -> None:
    with pytest.raises(ForbiddenTransition) as refused:
        check_transition("expired", "active")
    assert refused.value.detail.endswith("(renew it instead)")
    with pytest.raises(ForbiddenTransition) as sold:
        check_transition("sold", "active")
    assert "renew" not in sold.value.detail


def test_an_owner_may_ask_for_every_status_but_expired() -> None:
    assert set(get_args(OwnerStatus)) == set(AD_STATUSES) - {"expired"}


# -- prices ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("price", "stored"),
    [
        (None, None),
        (Decimal("0"), Decimal("0.00")),
        (Decimal("45000"), Decimal("45000.00")),
        (Decimal("45000.5"), Decimal("45000.50")),
        (Decimal("9999999999999.99"), Decimal("9999999999999.99")),
    ],
)
def test_prices_are_kept_with_two_decimals(price: Decimal | None, stored: Decimal | None) -> None:
    checked = check_price(price)
    assert checked == stored
    if checked is not None:
        assert checked.as_tuple().exponent == -2


@pytest.mark.parametrize(
    ("price", "words"),
    [
        (Decimal("-1"), "positive"),
        (Decimal("NaN"), "positive"),
        (Decimal("Infinity"), "positive"),
        (Decimal("1.005"), "at most 2 decimals"),
        (Decimal("10000000000000"), "too large"),
    ],
)
def test_prices_no_column_can_hold_are_refused(price: Decimal, words: str) -> None:
    with pytest.raises(InvalidAd) as refused:
        check_price(price)
    assert refused.value.field == "price"
    assert words in refused.value.detail


# -- renewal --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expires_in", "renewable"),
    [
        ("expired", timedelta(days=-10), True),
        ("expired", timedelta(days=30), True),  # whatever its date: expired is expired
        ("active", RENEW_WINDOW, True),
        ("active", timedelta(hours=1), True),
        ("active", timedelta(days=-1), True),  # past its date, the expiry job not run yet
        ("active", RENEW_WINDOW + timedelta(seconds=1), False),
        ("paused", timedelta(hours=1), False),
        ("sold", timedelta(hours=1), False),
    ],
)
def test_renewal_window(status: str, expires_in: timedelta, renewable: bool) -> None:
    assert can_renew(status, NOW + expires_in, NOW) is renewable


# -- the public-ad rule ---------------------------------------------------------------------------


class PublicCase(NamedTuple):
    """One ad and its seller; ``public`` is what both sides of the rule must answer."""

    name: str
    status: str
    deleted: bool
    suspended: bool
    expires_in: timedelta
    seller_blocked: bool
    public: bool


_PUBLIC = PublicCase("public", "active", False, False, timedelta(days=5), False, True)

PUBLIC_CASES: list[PublicCase] = [
    _PUBLIC,
    *(_PUBLIC._replace(name=status, status=status, public=False) for status in AD_STATUSES if status != "active"),
    _PUBLIC._replace(name="deleted", deleted=True, public=False),
    _PUBLIC._replace(name="suspended", suspended=True, public=False),
    _PUBLIC._replace(name="expired by date", expires_in=timedelta(minutes=-1), public=False),
    _PUBLIC._replace(name="seller blocked", seller_blocked=True, public=False),
    _PUBLIC._replace(
        name="everything wrong",
        status="sold",
        deleted=True,
        suspended=True,
        seller_blocked=True,
        expires_in=timedelta(days=-1),
        public=False,
    ),
]
"""Shared with tests/integration/test_public_ad_rule.py, which asks PostgreSQL the same."""


@pytest.mark.parametrize("case", PUBLIC_CASES, ids=[c.name for c in PUBLIC_CASES])
def test_the_public_ad_predicate(case: PublicCase) -> None:
    answer = is_public(
        status=case.status,
        deleted=case.deleted,
        suspended=case.suspended,
        expires_at=NOW + case.expires_in,
        seller_blocked=case.seller_blocked,
        now=NOW,
    )
    assert answer is case.public


def test_an_ad_expiring_this_instant_is_no_longer_public() -> None:
    assert not is_public(status="active", deleted=False, suspended=False, expires_at=NOW, seller_blocked=False, now=NOW)


def test_the_sql_rule_starts_with_what_the_search_indexes_hold() -> None:
    # The planner uses a partial index only when the query implies its predicate: the SQL rule
    # must begin with the index predicate, column for column, on the ads alias.
    qualified = " AND ".join(f"a.{condition}" for condition in LIVE_AD_SQL.split(" AND "))
    assert PUBLIC_AD_SQL.startswith(qualified + " AND ")
    assert "now()" not in LIVE_AD_SQL
    assert "u.blocked_at IS NULL" in PUBLIC_AD_SQL
    ads = cast("Table", Ad.__table__)
    live_indexes = [index for index in ads.indexes if index.name and index.name.startswith("ix_ads_live_")]
    assert len(live_indexes) == 13
    for index in live_indexes:
        assert str(index.dialect_options["postgresql"]["where"]) == LIVE_AD_SQL


# -- vocabulary -----------------------------------------------------------------------------------


def _check(table: Any, name: str) -> str:
    return next(str(c.sqltext) for c in table.constraints if str(c.name) == f"ck_{table.name}_{name}")


@pytest.mark.parametrize(
    ("table", "constraint", "values"),
    [
        (Ad.__table__, "status_known", AD_STATUSES),
        (Ad.__table__, "currency_known", CURRENCIES),
        (Ad.__table__, "condition_known", CONDITIONS),
        (AdImage.__table__, "status_known", IMAGE_STATUSES),
        (Report.__table__, "reason_known", REPORT_REASONS),
        (SavedSearch.__table__, "frequency_known", ALERT_FREQUENCIES),
    ],
)
def test_check_constraints_list_the_vocabulary(table: Any, constraint: str, values: tuple[str, ...]) -> None:
    assert values
    text = _check(table, constraint)
    for value in values:
        assert f"'{value}'" in text
    assert text.count("'") == 2 * len(values)


# -- search normalisation -------------------------------------------------------------------------

ROOT, CHILD, OTHER = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
TREE = CategoryTree(
    [
        CategoryRead(ROOT, "maquinaria", "Maquinaria", None, 10),
        CategoryRead(CHILD, "tractores", "Tractores", ROOT, 10),
        CategoryRead(OTHER, "hacienda", "Hacienda", None, 20),
    ]
)


def normal(**params: Any) -> SearchAds:
    return normalise_search(SearchAds(**params), TREE, PROVINCE_CODES)


def test_equivalent_searches_share_one_cache_key() -> None:
    by_slug = normal(q="  Tractores   CÓRDOBA ", category="Tractores", province=" Cordoba ")
    by_id = normal(q="tractores cordoba", category=str(CHILD), province="cordoba")
    assert by_slug == by_id
    assert cache_key(by_slug) == cache_key(by_id)
    assert by_slug.q == "tractores cordoba"
    assert by_slug.category == str(CHILD)
    assert by_slug.province == "cordoba"
    assert cache_key(normal(q="tractor")) != cache_key(normal(q="vaca"))


def test_price_bounds_are_canonical_amounts() -> None:
    query = normal(currency="USD", min_price="010", max_price="50000.5")
    assert (query.min_price, query.max_price) == ("10.00", "50000.50")
    assert cache_key(query) == cache_key(normal(currency="USD", min_price="10.00", max_price="50000.50"))


def test_a_cursor_page_is_page_one() -> None:
    assert normal(page=3).page == 3
    cursor_query = normal(page=3, cursor=_recent_cursor())
    assert cursor_query.page == 1


def _recent_cursor() -> str:
    from domain.shared import cursors

    return cursors.encode(["recent", False, NOW.isoformat(), str(uuid.uuid4())])


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"q": "x" * 201}, "q"),
        ({"category": "narnia"}, "category"),
        ({"province": "narnia"}, "province"),
        ({"min_price": "5"}, "currency"),  # prices compare within one currency
        ({"max_price": "5"}, "currency"),
        ({"currency": "USD", "min_price": "10", "max_price": "5"}, "minPrice"),
        ({"currency": "USD", "min_price": "-1"}, "minPrice"),
        ({"currency": "USD", "max_price": "1e5"}, "maxPrice"),
        ({"currency": "USD", "max_price": "99999999999999"}, "maxPrice"),  # 14 integer digits
        ({"sort": "relevance"}, "sort"),  # relevance needs q
        ({"cursor": "@@@"}, "cursor"),
        ({"sort": "price_asc", "cursor": _recent_cursor()}, "cursor"),  # another sort's cursor
    ],
)
def test_searches_that_cannot_run_are_refused(params: dict[str, Any], field: str) -> None:
    with pytest.raises(SearchRejected) as refused:
        normal(**params)
    assert refused.value.field == field
    assert refused.value.source == "query"


def test_the_category_covers_its_sub_categories() -> None:
    assert TREE.covering("maquinaria") == sorted([ROOT, CHILD])
    assert TREE.covering(str(CHILD)) == [CHILD]
    assert TREE.covering("narnia") is None
    assert TREE.resolve(" TRACTORES ") == CHILD


# -- provinces ------------------------------------------------------------------------------------


def test_the_province_check() -> None:
    assert len(PROVINCE_CODES) == 24
    for code in PROVINCE_CODES:
        assert province_problem(code) is None
    assert province_problem("narnia") == "unknown province code 'narnia'"
    assert province_problem("Cordoba") is not None  # codes are lower case; callers normalise first
    assert province_problem("cordoba", frozenset()) is not None
    assert province_problem("narnia", frozenset({"narnia"})) is None
