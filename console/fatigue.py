"""Pager fatigue: how many times each person was woken in their current on-call shift, and how many of those at
night, against the impact policy's limits. Being told (an "inform") does not count: nobody was woken.

A person not on a shift now is counted over the last 24 hours, so a leader or a commander paged all evening is
flagged too.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from console.oncall import load_schedule, rotations_of
from console.routing.definitions import Fatigue
from models.routing import Page

OFF_SHIFT_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class FatigueCount:
    person_id: int
    pages: int
    night_pages: int
    since: datetime  # the start of the shift counted, or 24 h ago
    on_shift: bool
    limit_pages: int
    limit_night: int

    @property
    def over_limit(self) -> bool:
        return self.pages > self.limit_pages or self.night_pages > self.limit_night

    @property
    def text(self) -> str:
        """Say it as a commander reads it: '7 pages this shift (2 at night): over the limit of 6'."""
        span = "this shift" if self.on_shift else "in 24 h"
        text = f"{self.pages} page{'s' if self.pages != 1 else ''} {span}"
        if self.night_pages:
            text += f" ({self.night_pages} at night)"
        if self.pages > self.limit_pages:
            text += f": over the limit of {self.limit_pages}"
        elif self.night_pages > self.limit_night:
            text += f": over the night limit of {self.limit_night}"
        return text


def shift_start(session: Session, *, person_id: int, at: datetime) -> datetime | None:
    """Return when the person's current on-call turn began (the earliest, if on several), or None if off shift."""
    starts = []
    for rotation in rotations_of(session, person_id=person_id):
        turn = load_schedule(session, rotation=rotation, around=at).shift_of(person_id=person_id, at=at)
        if turn is not None:
            starts.append(turn.starts_at)
    return min(starts) if starts else None


def fatigue_counts(session: Session, *, person_ids: Iterable[int], at: datetime,
                   fatigue: Fatigue) -> dict[int, FatigueCount]:
    """Count each person's pages that woke them in their current shift (or the last 24 h), and at night."""
    counts: dict[int, FatigueCount] = {}
    for person_id in sorted(set(person_ids)):
        start = shift_start(session, person_id=person_id, at=at)
        since = start if start is not None else at - OFF_SHIFT_WINDOW
        pages, nights = session.execute(
            select(func.count(Page.id), func.count(Page.id).filter(Page.night.is_(True)))
            .where(Page.person_id == person_id, Page.urgent.is_(True), Page.paged_at >= since, Page.paged_at <= at)
        ).one()
        counts[person_id] = FatigueCount(person_id=person_id, pages=pages, night_pages=nights, since=since,
                                         on_shift=start is not None, limit_pages=fatigue.max_pages_per_shift,
                                         limit_night=fatigue.max_night_pages_per_shift)
    return counts
