"""When each audience is next due an update: the level's cadence counted from the last update that counted,
or from the moment the incident opened when there has been none. A resolved incident is due nothing."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta


def due_times(*, opened_at: datetime, resolved: bool, cadence: Iterable[tuple[str, int]],
              last: Mapping[str, datetime]) -> dict[str, datetime]:
    """Return when each scheduled audience is next due an update."""
    if resolved:
        return {}
    return {audience: max(opened_at, last.get(audience, opened_at)) + timedelta(minutes=minutes)
            for audience, minutes in cadence}


def soonest(*, due: Mapping[str, datetime]) -> tuple[str, datetime] | None:
    """Return the audience due first and when, or None when nothing is scheduled."""
    if not due:
        return None
    audience = min(due, key=lambda a: (due[a], a))
    return audience, due[audience]
