"""Who is on call when, from the database: a rotation's layers, overrides and leave read into the schedule
engine (console/schedule.py), which hands off at local wall-clock times across daylight-saving changes,
lets the later layer and any override win, and never puts a person on leave on call.

`RotationSchedule` is one rotation as the engine sees it, loaded once and asked several questions (now, next,
gaps, a person's shift). The module-level functions are the shapes the rest of console/ asks for.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from console import schedule
from models.org import Person
from models.policy import Leave, Override, Rotation, RotationLayer

log = logging.getLogger(__name__)

# Overrides and leave that ended this long before the moment asked about cannot change the answer.
LOOKBACK = timedelta(days=8)
GAP_HORIZON = timedelta(days=7)
MAX_TURNS_JOINED = 8  # consecutive turns of one person shown as one stretch (an override, cover, their own turn)


@dataclass(frozen=True)
class OnCall:
    """Who answers for a rotation, since and until when, and why."""

    rotation_id: int
    rotation: str
    person_id: int
    since: datetime
    until: datetime
    note: str  # short: "" for an ordinary turn, "override", "covering: Lena Hansen is on leave (PTO)"
    reason: str  # the engine's full sentence: layer, until when, who is covered, overrides skipped
    layer: str | None  # None for an override


@dataclass(frozen=True)
class CoverageGap:
    rotation_id: int
    rotation: str
    starts_at: datetime
    ends_at: datetime
    reason: str


def _clock(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def _usable_layer(row: RotationLayer, rotation: Rotation, inactive: set[int]) -> schedule.Layer | None:
    """Return a layer as the engine takes it, without people who left; None (and a log line) if it is broken."""
    try:
        layer = _layer(row)
    except ValueError as error:
        # One mis-edited layer must not stop paging for every incident: the rest of the rotation still answers,
        # and a rotation left with no layer shows as a coverage gap.
        log.error("rotation %s: layer %r is ignored: %s", rotation.name, row.name, error)
        return None
    if inactive & set(layer.members):
        return replace(layer, members=tuple(m for m in layer.members if m not in inactive))
    return layer


def _layer(row: RotationLayer) -> schedule.Layer:
    restriction = None
    if row.restrict_opens and row.restrict_closes:
        days = frozenset(int(d) for d in (row.restrict_weekdays or "0123456"))
        restriction = schedule.Restriction(opens=_clock(row.restrict_opens), closes=_clock(row.restrict_closes),
                                           weekdays=days)
    return schedule.Layer(name=row.name, members=tuple(m.person_id for m in row.members), start=row.starts_at,
                          shift=timedelta(minutes=row.shift_minutes), handoff=_clock(row.handoff), zone=row.timezone,
                          restriction=restriction)


@dataclass(frozen=True)
class RotationSchedule:
    """One rotation with the overrides and leave around a moment, ready for the schedule engine."""

    name: str
    rotation: schedule.Rotation
    overrides: tuple[schedule.Override, ...]
    leaves: tuple[schedule.Leave, ...]
    names: dict[int, str]

    @property
    def rotation_id(self) -> int:
        return self.rotation.id

    def on_call(self, *, at: datetime) -> OnCall | None:
        """Return who is on call at `at` and until when they stay on call, or None when nobody available is."""
        found = schedule.on_call(rotation=self.rotation, overrides=self.overrides, leaves=self.leaves, at=at,
                                 names=self.names)
        if found is None:
            return None
        # The engine's turn ends where its reason changes (covering for someone, then their own turn); a person
        # asking "until when?" means until someone else takes over.
        until = found.until
        for _ in range(MAX_TURNS_JOINED):
            later = schedule.on_call(rotation=self.rotation, overrides=self.overrides, leaves=self.leaves, at=until)
            if later is None or later.person_id != found.person_id:
                break
            until = later.until
        return replace(self._entry(found), until=until)

    def next_on_call(self, *, after: datetime) -> OnCall | None:
        """Return the next person to take over after whoever is on call at `after`, and from when."""
        found = schedule.next_on_call(rotation=self.rotation, overrides=self.overrides, leaves=self.leaves,
                                      after=after, names=self.names, horizon=timedelta(days=60))
        return None if found is None else self._entry(found)

    def gaps(self, *, start: datetime, end: datetime) -> tuple[CoverageGap, ...]:
        """Return the stretches from `start` to `end` when nobody available is on call, with the reason."""
        return tuple(
            CoverageGap(self.rotation.id, self.name, g.starts_at, g.ends_at, g.reason)
            for g in schedule.coverage_gaps(rotation=self.rotation, overrides=self.overrides, leaves=self.leaves,
                                            start=start, end=end, names=self.names)
        )

    def shift_of(self, *, person_id: int, at: datetime) -> schedule.Shift | None:
        """Return the person's turn on this rotation that contains `at`, if they are on one."""
        return schedule.shift_of(rotation=self.rotation, person_id=person_id, at=at, overrides=self.overrides)

    def _entry(self, found: schedule.OnCall) -> OnCall:
        if found.covering_for is not None:
            note = next((part for part in found.reason.split("; ") if part.startswith("covering")), "covering")
        elif found.source is schedule.Source.OVERRIDE:
            note = "override"
        elif len(self.rotation.layers) > 1:
            note = f"layer {found.layer}"
        else:
            note = ""
        return OnCall(rotation_id=self.rotation.id, rotation=self.name, person_id=found.person_id,
                      since=found.since, until=found.until, note=note, reason=found.reason, layer=found.layer)


def inactive_people(session: Session) -> set[int]:
    """Return the people who left (never on call, whatever a rotation still says)."""
    return set(session.execute(select(Person.id).where(Person.active.is_(False))).scalars())


def load_schedule(session: Session, *, rotation: Rotation, around: datetime,
                  inactive: set[int] | None = None) -> RotationSchedule:
    """Read one rotation, its overrides and the leave of everyone who may stand in, as of `around`."""
    since = around - LOOKBACK
    if inactive is None:
        inactive = inactive_people(session)
    layers = tuple(layer for row in rotation.layers if (layer := _usable_layer(row, rotation, inactive)) is not None)
    overrides = tuple(
        schedule.Override(rotation_id=rotation.id, person_id=o.person_id, starts_at=o.starts_at, ends_at=o.ends_at)
        for o in session.execute(select(Override).where(Override.rotation_id == rotation.id, Override.ends_at > since)
                                 .order_by(Override.starts_at, Override.id)).scalars()
        if o.person_id not in inactive
    )
    people = {p for layer in layers for p in layer.members} | {o.person_id for o in overrides}
    leaves = tuple(
        schedule.Leave(person_id=leave.person_id, starts_at=leave.starts_at, ends_at=leave.ends_at,
                       kind=leave.kind.value)
        for leave in session.execute(select(Leave).where(Leave.person_id.in_(people), Leave.ends_at > since)
                                     .order_by(Leave.starts_at, Leave.id)).scalars()
    ) if people else ()
    names = dict(session.execute(select(Person.id, Person.name).where(Person.id.in_(people))).all()) if people else {}
    return RotationSchedule(name=rotation.name, rotation=schedule.Rotation(id=rotation.id, name=rotation.name,
                                                                           layers=layers),
                            overrides=overrides, leaves=leaves, names=names)


def team_rotations(session: Session, *, team_id: int) -> list[Rotation]:
    """Return a team's rotations, by name."""
    return list(session.execute(select(Rotation).where(Rotation.team_id == team_id).order_by(Rotation.name)).scalars())


def on_call_for_rotation(session: Session, *, rotation: Rotation, at: datetime) -> OnCall | None:
    """Return who answers for the rotation at `at`, or None when nobody available can."""
    return load_schedule(session, rotation=rotation, around=at).on_call(at=at)


def on_call_for_team(session: Session, *, team_id: int, at: datetime) -> list[OnCall]:
    """Return who is on call now on each of a team's rotations."""
    return OnCallLookup(session, at=at).team(team_id)


class OnCallLookup:
    """Who is on call at one moment, each rotation worked out once: a command that opens an incident, or a tick
    that pages a hundred, asks about the same few rotations again and again."""

    def __init__(self, session: Session, *, at: datetime) -> None:
        self._session, self.at = session, at
        self._answers: dict[int, tuple[str, OnCall | None]] = {}
        self._teams: dict[int, list[Rotation]] = {}
        self._inactive: set[int] | None = None

    def rotation(self, rotation: Rotation) -> OnCall | None:
        """Return who answers for the rotation now, or None when nobody available can."""
        if rotation.id not in self._answers:
            if self._inactive is None:
                self._inactive = inactive_people(self._session)
            found = load_schedule(self._session, rotation=rotation, around=self.at,
                                  inactive=self._inactive).on_call(at=self.at)
            self._answers[rotation.id] = (rotation.name, found)
        return self._answers[rotation.id][1]

    def rotation_by_id(self, rotation_id: int) -> tuple[str, OnCall | None] | None:
        """Return a rotation's name and who answers for it now; None if the rotation no longer exists."""
        if rotation_id not in self._answers:
            rotation = self._session.get(Rotation, rotation_id)
            if rotation is None:
                return None
            self.rotation(rotation)
        return self._answers[rotation_id]

    def rotations_of_team(self, team_id: int) -> list[Rotation]:
        """Return a team's rotations (read once)."""
        if team_id not in self._teams:
            self._teams[team_id] = team_rotations(self._session, team_id=team_id)
        return self._teams[team_id]

    def team(self, team_id: int) -> list[OnCall]:
        """Return who is on call now on each of a team's rotations."""
        return [found for rotation in self.rotations_of_team(team_id) if (found := self.rotation(rotation)) is not None]


def coverage_gaps(session: Session, *, at: datetime, horizon: timedelta = GAP_HORIZON,
                  rotations: Iterable[Rotation] | None = None) -> list[CoverageGap]:
    """Return every stretch in the coming `horizon` when a rotation has nobody available, soonest first."""
    chosen = rotations if rotations is not None else session.execute(select(Rotation).order_by(Rotation.name)).scalars()
    gaps = [gap for rotation in chosen
            for gap in load_schedule(session, rotation=rotation, around=at).gaps(start=at, end=at + horizon)]
    return sorted(gaps, key=lambda g: (g.starts_at, g.rotation))


def rotations_of(session: Session, *, person_id: int) -> list[Rotation]:
    """Return the rotations in which a person is a layer member or has an override."""
    in_layers = select(RotationLayer.rotation_id).where(RotationLayer.members.any(person_id=person_id))
    overridden = select(Override.rotation_id).where(Override.person_id == person_id)
    return list(session.execute(select(Rotation).where(or_(Rotation.id.in_(in_layers), Rotation.id.in_(overridden)))
                                .order_by(Rotation.name)).scalars())
