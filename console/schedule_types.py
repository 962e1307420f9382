"""The values of the on-call schedule engine: rotations, layers, overrides and leave in; answers out.

All frozen, none tied to the database. Instants are normalised to UTC on the way in: two aware datetimes
that share one ZoneInfo compare by wall clock alone in Python, which is wrong across a fall-back hour.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from console.schedule_time import UTC, to_instant, wall_clock, zone_named

PersonId = int
EVERY_DAY = frozenset(range(7))


def as_utc(*, value: datetime, what: str) -> datetime:
    """Return an aware datetime in UTC, or raise ValueError saying which value was naive."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got {value.isoformat()}")
    return value.astimezone(UTC)


def _check_window(*, starts_at: datetime, ends_at: datetime, what: str) -> tuple[datetime, datetime]:
    """Return a window's ends in UTC, or raise ValueError if either is naive or it is empty."""
    start = as_utc(value=starts_at, what=f"{what} starts_at")
    end = as_utc(value=ends_at, what=f"{what} ends_at")
    if end <= start:
        raise ValueError(f"{what} ends at {end.isoformat()}, not after it starts at {start.isoformat()}")
    return start, end


@dataclass(frozen=True)
class Restriction:
    """A daily window in the layer's local time (weekdays 0 = Monday) on which the window opens."""

    opens: time
    closes: time
    weekdays: frozenset[int] = EVERY_DAY

    def __post_init__(self) -> None:
        if self.opens.tzinfo is not None or self.closes.tzinfo is not None:
            raise ValueError("restriction times are local wall-clock times: give them without a tzinfo")
        object.__setattr__(self, "weekdays", frozenset(self.weekdays))
        if not self.weekdays or not self.weekdays <= EVERY_DAY:
            raise ValueError(f"restriction weekdays must be a non-empty subset of 0..6, got {sorted(self.weekdays)}")


@dataclass(frozen=True)
class Layer:
    """Members take turns of `shift`, handing off at the local `handoff` time in `zone`, from `start` on."""

    name: str
    members: tuple[PersonId, ...]
    start: datetime
    shift: timedelta
    handoff: time
    zone: str
    restriction: Restriction | None = None
    # Derived once, so that answering "who is on call" never re-parses the zone or the anchor.
    tz: ZoneInfo = field(init=False, repr=False, compare=False)
    base: datetime = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "members", tuple(self.members))
        if self.shift <= timedelta(0):
            raise ValueError(f"layer {self.name!r}: shift must be positive, got {self.shift}")
        if self.handoff.tzinfo is not None:
            raise ValueError(f"layer {self.name!r}: handoff is a local wall-clock time: give it without a tzinfo")
        tz = zone_named(name=self.zone)
        start = as_utc(value=self.start, what=f"layer {self.name!r} start")
        base = datetime.combine(wall_clock(instant=start, zone=tz).date(), self.handoff)
        if to_instant(wall=base, zone=tz) != start:
            local = wall_clock(instant=start, zone=tz)
            raise ValueError(
                f"layer {self.name!r}: start {local:%Y-%m-%d %H:%M} {self.zone} is not at the handoff time "
                f"{self.handoff:%H:%M}; start is the first handoff"
            )
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "tz", tz)
        object.__setattr__(self, "base", base)


@dataclass(frozen=True)
class Rotation:
    """A schedule of layers; where several are on duty, the later layer wins (PagerDuty-style)."""

    id: int
    name: str
    layers: tuple[Layer, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))


@dataclass(frozen=True)
class Override:
    """Someone takes a rotation for a window, in place of whoever the layers say."""

    rotation_id: int
    person_id: PersonId
    starts_at: datetime
    ends_at: datetime

    def __post_init__(self) -> None:
        start, end = _check_window(starts_at=self.starts_at, ends_at=self.ends_at, what="override")
        object.__setattr__(self, "starts_at", start)
        object.__setattr__(self, "ends_at", end)


@dataclass(frozen=True)
class Leave:
    """A person is away (a `LeaveKind` value: pto, holiday, sick) and is never on call in this window."""

    person_id: PersonId
    starts_at: datetime
    ends_at: datetime
    kind: str

    def __post_init__(self) -> None:
        start, end = _check_window(starts_at=self.starts_at, ends_at=self.ends_at, what="leave")
        object.__setattr__(self, "starts_at", start)
        object.__setattr__(self, "ends_at", end)


class Source(StrEnum):
    """How a person came to be on call."""

    LAYER = "layer"
    OVERRIDE = "override"


@dataclass(frozen=True)
class OnCall:
    """Who answers for a rotation, since and until when, and why, in words."""

    rotation_id: int
    person_id: PersonId
    layer: str | None
    since: datetime
    until: datetime
    source: Source
    covering_for: PersonId | None
    reason: str


@dataclass(frozen=True)
class Slot:
    """A stretch of a timeline during which one person is on call for one reason."""

    rotation_id: int
    person_id: PersonId
    layer: str | None
    starts_at: datetime
    ends_at: datetime
    source: Source
    covering_for: PersonId | None
    reason: str


class GapCause(StrEnum):
    """Why nobody is on call."""

    ON_LEAVE = "on_leave"
    NO_LAYER_ON_DUTY = "no_layer_on_duty"
    NO_LAYERS = "no_layers"


@dataclass(frozen=True)
class Gap:
    """A stretch during which nobody available is on call for a rotation."""

    rotation_id: int
    starts_at: datetime
    ends_at: datetime
    cause: GapCause
    reason: str


@dataclass(frozen=True)
class Shift:
    """One turn of a person: a layer's handoff-to-handoff window, or an override's window (layer None)."""

    person_id: PersonId
    layer: str | None
    starts_at: datetime
    ends_at: datetime
