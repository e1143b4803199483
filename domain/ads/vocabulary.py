"""The words of the ads context, once: each a ``Literal`` type (the API's enums, the read models'
fields) and the tuple of its values (the tables' check constraints), derived from one another."""

from __future__ import annotations

from typing import Final, Literal, get_args

AdStatus = Literal["active", "paused", "sold", "expired"]
"""The ``ads.status`` values; suspension and deletion are flags of their own."""
OwnerStatus = Literal["active", "paused", "sold"]
"""The statuses an owner may ask for; ``expired`` is set by the expiry job and left only by renewing."""
Currency = Literal["ARS", "USD"]
Condition = Literal["new", "used"]
ReportReason = Literal["spam", "prohibited", "fraud", "duplicate", "miscategorized", "other"]
ImageStatus = Literal["processing", "ready", "failed"]
AlertFrequency = Literal["instant", "daily"]
"""How a saved search alerts: an email as each matching ad is published, or one a day."""

AD_STATUSES: Final[tuple[str, ...]] = get_args(AdStatus)
CURRENCIES: Final[tuple[str, ...]] = get_args(Currency)
CONDITIONS: Final[tuple[str, ...]] = get_args(Condition)
REPORT_REASONS: Final[tuple[str, ...]] = get_args(ReportReason)
IMAGE_STATUSES: Final[tuple[str, ...]] = get_args(ImageStatus)
ALERT_FREQUENCIES: Final[tuple[str, ...]] = get_args(AlertFrequency)
