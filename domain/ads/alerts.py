"""Saved-search alerts as commands: the emails about new ads that match saved searches.

Instant searches are matched as an ad is published (the publish records the job that runs
:func:`queue_instant_alerts`); daily ones once a day (:func:`queue_daily_alerts`). Each email is
queued in the outbox with a dedupe key, so a retried job queues nothing twice.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec

from domain.ads.emails import saved_search_email
from domain.ads.saved_searches import Match, daily_matches, dedupe_key, match_new_ad
from domain.shared.emails import QueueEmail
from domain.shared.unit_of_work import Command, UnitOfWork


class InstantAlerts(msgspec.Struct, frozen=True):
    """The instant saved searches a newly published ad matches."""

    ad_id: UUID


class DailyAlerts(msgspec.Struct, frozen=True):
    """The daily saved searches due, each with the new ads it matches since its last alert."""


async def _queue(uow: UnitOfWork, matches: list[Match], day: datetime | None) -> int:
    queued = 0
    for match in matches:
        subject, body = saved_search_email(match.user_name, match.search_name, match.titles)
        email = QueueEmail(
            kind="saved_search", dedupe_key=dedupe_key(match, day), to=match.email, subject=subject, body=body
        )
        if await uow.add_email(email) is not None:
            queued += 1
    return queued


async def queue_instant_alerts(command: Command[InstantAlerts], uow: UnitOfWork) -> int:
    """One email per instant search the ad matches (deduplicated per search and ad); returns how
    many were queued."""
    matches = await match_new_ad(command.payload.ad_id, await uow.session.connection())
    return await _queue(uow, matches, None)


async def queue_daily_alerts(command: Command[DailyAlerts], uow: UnitOfWork) -> int:
    """One email per daily search due that matches new ads (deduplicated per search and day);
    marks the searches alerted. Returns how many emails were queued."""
    matches = await daily_matches(uow.now, await uow.session.connection())
    return await _queue(uow, matches, uow.now)
