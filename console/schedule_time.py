"""Wall-clock arithmetic for on-call schedules: local handoffs across daylight-saving changes, daily windows.

Everything returned is a UTC instant. Handoffs are counted in local wall-clock time, so a 24-hour shift that
spans a spring-forward night lasts 23 real hours and one that spans a fall-back night lasts 25.
"""
from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_DAY = timedelta(days=1)
_SECOND = timedelta(seconds=1)


def zone_named(*, name: str) -> ZoneInfo:
    """Return the IANA time zone of that name, or raise ValueError naming it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"unknown time zone {name!r}") from error


def wall_clock(*, instant: datetime, zone: ZoneInfo) -> datetime:
    """Return the naive local wall-clock time of an aware instant in a zone."""
    return instant.astimezone(zone).replace(tzinfo=None)


# Timelines ask for the same handoffs and window edges over and over, and a zone's rules never change in-process.
@lru_cache(maxsize=8192)
def to_instant(*, wall: datetime, zone: ZoneInfo) -> datetime:
    """Return the UTC instant a naive local wall-clock time names in a zone."""
    # A repeated (fall-back) time means its first occurrence (fold=0). A skipped (spring-forward) time means
    # the moment the clock jumps: zoneinfo's own answer would put 02:30 after 03:00 and reorder handoffs.
    early = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if wall_clock(instant=early, zone=zone) == wall:
        return early
    late = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    low, high = min(early, late).replace(microsecond=0), max(early, late)
    after = high.astimezone(zone).utcoffset()
    # The jump lies between the two readings; zones change offset on whole seconds, so bisect in seconds.
    below, above = 0, int((high - low) / _SECOND) + 1
    while above - below > 1:
        middle = (below + above) // 2
        if (low + middle * _SECOND).astimezone(zone).utcoffset() == after:
            above = middle
        else:
            below = middle
    return low + above * _SECOND


def handoff_at(*, base: datetime, shift: timedelta, index: int, zone: ZoneInfo) -> datetime:
    """Return the UTC instant of handoff number `index` of a rotation whose handoff 0 is the wall time `base`."""
    return to_instant(wall=base + index * shift, zone=zone)


def shift_index(*, base: datetime, shift: timedelta, zone: ZoneInfo, at: datetime) -> int:
    """Return the number of the shift containing `at` (negative before handoff 0), without walking the shifts."""
    index = (wall_clock(instant=at, zone=zone) - base) // shift
    # The wall clock runs back an hour in autumn and skipped times map to the jump, so the division can be one
    # shift off near a change; handoffs are in order, so stepping settles it (and passes zero-length shifts).
    while handoff_at(base=base, shift=shift, index=index, zone=zone) > at:
        index -= 1
    while handoff_at(base=base, shift=shift, index=index + 1, zone=zone) <= at:
        index += 1
    return index


def window_on(
    *, opens: time, closes: time, weekdays: frozenset[int], zone: ZoneInfo, day: date
) -> tuple[datetime, datetime] | None:
    """Return the daily window that opens on a local date, or None if that weekday has none."""
    if day.weekday() not in weekdays:
        return None
    # A window that closes at or before it opens runs past midnight; equal times mean the whole day.
    closing_day = day + _DAY if closes <= opens else day
    start = to_instant(wall=datetime.combine(day, opens), zone=zone)
    end = to_instant(wall=datetime.combine(closing_day, closes), zone=zone)
    return (start, end) if start < end else None


def local_date(*, instant: datetime, zone: ZoneInfo) -> date:
    """Return the local calendar date of an instant in a zone."""
    return instant.astimezone(zone).date()
