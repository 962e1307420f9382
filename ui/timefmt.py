"""Short human durations and local times for the war-room screen."""
from __future__ import annotations

from datetime import datetime


def format_age(seconds: float) -> str:
    """Return an age such as '45s', '12m', '3h 05m', '2d 4h'."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 86400}d {s % 86400 // 3600}h"


def format_countdown(seconds: float) -> str:
    """Return a countdown such as '4:07' or '1:02:30'."""
    s = max(0, int(seconds))
    hours, rest = divmod(s, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def local_time(when: datetime | None, *, with_date: bool = False) -> str:
    """Show an aware UTC time in the operator's local time zone."""
    if when is None:
        return "—"
    local = when.astimezone()
    return local.strftime("%Y-%m-%d %H:%M:%S" if with_date else "%H:%M:%S")
