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
    if current == wanted:
        return
    if wanted not in _TRANSITIONS.get(current, frozenset()):
        hint = " (renew it instead)" if current == "expired" else ""
        raise ForbiddenTransition(f"an ad that is {current} cannot become {wanted}{hint}")


def check_price(price: Decimal | None) -> Decimal | None:
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
    return status == "expired" or (status == "active" and expires_at - now <= RENEW_WINDOW)


def is_public(
    *, status: str, deleted: bool, suspended: bool, expires_at: datetime, seller_blocked: bool, now: datetime
) -> bool:
    """What anyone may see: the same rule the search SQL applies."""
    return status == "active" and not deleted and not suspended and not seller_blocked and expires_at > now
