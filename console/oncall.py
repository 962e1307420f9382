"""Who is on call when: rotations turn over every shift, overrides take precedence, people on leave are skipped."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.policy import Leave, Override, Rotation


@dataclass(frozen=True)
class OnCall:
    rotation_id: int
    rotation: str
    person_id: int
    until: datetime
    note: str


def _on_leave(session: Session, person_id: int, at: datetime) -> bool:
    hit = session.execute(
        select(Leave.id).where(Leave.person_id == person_id, Leave.starts_at <= at, Leave.ends_at > at).limit(1)
    ).first()
    return hit is not None


def on_call_for_rotation(session: Session, *, rotation: Rotation, at: datetime) -> OnCall | None:
    """Return who answers for the rotation at `at`, or None when nobody available can."""
    shift = timedelta(hours=rotation.shift_hours)
    index = (at - rotation.anchor) // shift
    shift_end = rotation.anchor + (index + 1) * shift
    override = session.execute(
        select(Override)
        .where(Override.rotation_id == rotation.id, Override.starts_at <= at, Override.ends_at > at)
        .order_by(Override.starts_at.desc())
        .limit(1)
    ).scalar()
    if override is not None and not _on_leave(session, override.person_id, at):
        return OnCall(rotation.id, rotation.name, override.person_id, override.ends_at, "override")
    members = [m.person_id for m in rotation.members]
    if not members:
        return None
    # A person on leave is never paged: the next member in order who is not away covers.
    for step in range(len(members)):
        candidate = members[(index + step) % len(members)]
        if not _on_leave(session, candidate, at):
            note = "" if step == 0 else "covering: scheduled person is on leave"
            return OnCall(rotation.id, rotation.name, candidate, shift_end, note)
    return None


def on_call_for_team(session: Session, *, team_id: int, at: datetime) -> list[OnCall]:
    """Return who is on call now on each of a team's rotations."""
    rotations = session.execute(select(Rotation).where(Rotation.team_id == team_id).order_by(Rotation.name)).scalars()
    found = (on_call_for_rotation(session, rotation=r, at=at) for r in rotations)
    return [entry for entry in found if entry is not None]
