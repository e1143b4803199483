"""Pure rules of ads: visibility, lifecycle transitions, prices."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from domain.ads.errors import ForbiddenTransition, InvalidAd

RENEW_WINDOW = timedelta(days=3)
"""An ad may be renewed once it expires within this window (or has expired)."""
EXPIRY_WARNING = timedelta(days=3)

# owner-driven status changes; "expired" is set by the expiry job and left only through renew
_TRANSITIONS: dict[str, frozenset[str]] = {
    "active": frozenset({"paused", "sold"}),
    "paused": frozenset({"active", "sold"}),
    "sold": frozenset(),
    "expired": frozenset(),
}


def check_transition(current: str, wanted: str) -> None:
    """Refuse (:class:`ForbiddenTransition`) an owner's status change the lifecycle does not allow;
    asking for the status the ad already has is allowed (and changes nothing)."""
    if current == wanted:
        return
    if wanted not in _TRANSITIONS.get(current, frozenset()):
        hint = " (renew it instead)" if current == "expired" else ""
        raise ForbiddenTransition(f"an ad that is {current} cannot become {wanted}{hint}")


def check_price(price: Decimal | None) -> Decimal | None:
    """The price with 2 decimals, or :class:`InvalidAd` (field ``price``) when no column can hold it."""
    if price is None:
        return None
    if not price.is_finite() or price < 0:
        raise InvalidAd("price", "the price must be a positive amount")
    exponent = price.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        raise InvalidAd("price", "the price takes at most 2 decimals")
    if price >= Decimal("10000000000000"):
        raise InvalidAd("price", "the price is too large")
    return price.quantize(Decimal("0.01"))


def can_renew(status: str, expires_at: datetime, now: datetime) -> bool:
    """An expired ad, or an active one within :data:`RENEW_WINDOW` of its expiry."""
    return status == "expired" or (status == "active" and expires_at - now <= RENEW_WINDOW)


# -- the public-ad rule ---------------------------------------------------------------------------
# What anyone may see: an active ad, neither deleted nor suspended, not expired, whose seller is not
# blocked. Written twice side by side, once in SQL and once in Python; tests/unit/test_ad_rules.py
# and tests/integration/test_public_ad_rule.py check that both agree on every case.


def _own_flags(alias: str) -> str:
    return f"{alias}status = 'active' AND {alias}deleted_at IS NULL AND {alias}suspended_at IS NULL"


LIVE_AD_SQL = _own_flags("")
"""The part of the public-ad rule an index predicate can hold, over the ``ads`` columns without
alias: an index ``WHERE`` must be immutable, so neither ``now()`` (expiry) nor the seller's row
(blocking) can be in it. Every ``ix_ads_live_*`` index is partial on it, and :data:`PUBLIC_AD_SQL`
starts with the same conditions so that the planner can use those indexes."""

PUBLIC_AD_SQL = f"{_own_flags('a.')} AND a.expires_at > now() AND u.blocked_at IS NULL"
"""The public-ad rule in SQL, for ``ads a JOIN users u ON u.id = a.owner_id`` (``u`` is the seller)."""


def is_public(
    *, status: str, deleted: bool, suspended: bool, expires_at: datetime, seller_blocked: bool, now: datetime
) -> bool:
    """The public-ad rule in Python: :data:`PUBLIC_AD_SQL` on one ad, with ``now`` the clock its
    expiry is compared to."""
    return status == "active" and not deleted and not suspended and expires_at > now and not seller_blocked
