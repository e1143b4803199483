"""Pure rules of messaging: what a message may contain and how it is previewed."""

from __future__ import annotations

from uuid import UUID

MAX_CONTENT_LENGTH = 2000
PREVIEW_LENGTH = 50


def clean_content(content: str) -> str:
    """Surrounding whitespace removed; inner line breaks are the sender's and stay."""
    return content.strip()


def content_problem(content: str) -> str | None:
    """Why a (cleaned) content is refused, or ``None`` when it can be sent."""
    if not content:
        return "the message cannot be blank"
    if len(content) > MAX_CONTENT_LENGTH:
        return f"the message takes at most {MAX_CONTENT_LENGTH} characters"
    return None


def preview(content: str, length: int = PREVIEW_LENGTH) -> str:
    """One line of at most ``length`` characters: whitespace collapsed, ``…`` when cut."""
    line = " ".join(content.split())
    if len(line) <= length:
        return line
    return line[: length - 1].rstrip() + "…"


def ordered_pair(a: UUID, b: UUID) -> tuple[UUID, UUID]:
    """The pair as stored (``user_low_id < user_high_id``), the order PostgreSQL compares UUIDs in."""
    return (a, b) if a.bytes < b.bytes else (b, a)
