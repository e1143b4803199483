"""Checked field types: the one definition of what text and amounts the API accepts.

Every request Struct and every query/header parameter builds on these, so a rule lives once and
flows into the OpenAPI schema (``pattern``, lengths, descriptions) as well as into decoding.

Text. A single-line value (a title, a name, an email, a filter, a cursor) refuses every control
character: C0 (U+0000 to U+001F, NUL included), DEL, C1 (U+0080 to U+009F: no legitimate use in typed
text, and invisible), the line/paragraph separators U+2028/U+2029, lone surrogates (they cannot be
stored as UTF-8) and the non-characters U+FFFE/U+FFFF. Prose (an ad's description, a message, a
report) refuses the same except that it keeps ``\\n``, ``\\r``, ``\\t`` and U+2028/U+2029.

Patterns end with ``(?![\\s\\S])`` rather than ``$``: in Python ``$`` also matches before a final
newline (``"a\\n"`` would pass), and ``\\Z`` is not valid in the ECMA dialect OpenAPI uses.

Amounts. A price or price filter is a JSON *string* of a decimal number: digits, optionally a
point and one or two decimals, at most 13 integer digits, so 0 ≤ amount ≤ 9 999 999 999 999.99
(the ``NUMERIC(15,2)`` column). JSON numbers are refused: a binary float cannot carry ``0.10``
exactly, and an exponent (``1e999999``) would be a number no column can hold.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Final, TypeGuard

from msgspec import Meta

_NEVER: Final = r"\x7f-\x9f\ud800-\udfff\ufffe\uffff"  # DEL, C1, lone surrogates, non-characters
_END: Final = r"(?![\s\S])"

LINE_PATTERN: Final = rf"^[^\x00-\x1f{_NEVER}\u2028\u2029]*{_END}"
"""One line of text: no control characters at all."""
PROSE_PATTERN: Final = rf"^[^\x00-\x08\x0b\x0c\x0e-\x1f{_NEVER}]*{_END}"
"""Prose: line breaks and tabs, but no other control character."""
AMOUNT_PATTERN: Final = rf"^[0-9]{{1,13}}(?:\.[0-9]{{1,2}})?{_END}"
"""A non-negative decimal with at most 13 integer digits and 2 decimals."""
CURSOR_PATTERN: Final = rf"^[A-Za-z0-9_-]*{_END}"
"""An opaque paging cursor: URL-safe base64 without padding."""
_EMAIL_CHAR: Final = rf"[^@\s\x00-\x1f{_NEVER}\u2028\u2029]"
_BLANK: Final = r"(?:(?![\x00-\x1f\u2028\u2029])\s)*"  # spaces, not line breaks or other controls
EMAIL_PATTERN: Final = rf"^{_BLANK}{_EMAIL_CHAR}{{1,64}}@{_EMAIL_CHAR}+\.{_EMAIL_CHAR}{{2,}}{_BLANK}{_END}"
"""An email address as ``domain.accounts.rules.is_valid_email`` takes it, surrounding spaces allowed (ignored)."""
TOKEN_PATTERN: Final = rf"^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?{_END}"
"""A client-chosen key (``Idempotency-Key``): printable ASCII, no surrounding blanks."""

MAX_AMOUNT: Final = Decimal("9999999999999.99")

PATTERN_MESSAGES: Final[dict[str, str]] = {
    LINE_PATTERN: "must be one line of text without control characters",
    PROSE_PATTERN: "must not contain control characters (line breaks and tabs are allowed)",
    AMOUNT_PATTERN: (
        'must be a decimal string from "0" to "9999999999999.99" with at most 2 decimals (for example "45000.00")'
    ),
    CURSOR_PATTERN: "is not a cursor from a previous page",
    TOKEN_PATTERN: "may only hold printable ASCII characters",
    EMAIL_PATTERN: "not a valid email address",
}
"""What a failed pattern means, in words (the error answer never shows the regular expression)."""

Line = Annotated[str, Meta(pattern=LINE_PATTERN)]
"""Single-line text; combine with another ``Meta`` for lengths and a description."""
Prose = Annotated[str, Meta(pattern=PROSE_PATTERN)]
"""Multi-line text (``\\n``, ``\\r``, ``\\t`` allowed)."""
Amount = Annotated[
    str,
    Meta(
        pattern=AMOUNT_PATTERN,
        description=(
            'A decimal string in `currency`, 0 to "9999999999999.99", at most 2 decimals (`"45000.00"`); '
            "JSON numbers are refused."
        ),
        examples=["45000.00"],
    ),
]

_AMOUNT = re.compile(AMOUNT_PATTERN)


def to_amount(text: str) -> Decimal:
    """An :data:`Amount` already checked by the boundary → its ``Decimal`` with 2 decimals."""
    return Decimal(text).quantize(Decimal("0.01"))


def is_amount(value: object) -> TypeGuard[str]:
    """Whether ``value`` is a string the :data:`Amount` pattern accepts (a search's price bound, a
    price inside a cursor: both reach here without the schema's check)."""
    return isinstance(value, str) and _AMOUNT.match(value) is not None
