"""Escalation, as state and rules: snapshot a service's policy when an incident starts escalating, work out
whom a tier pages right now, and say why in plain words. The commands (commands/escalation.py) apply it."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from console.oncall import OnCallLookup
from console.routing.definitions import Fatigue
from models.enums import EscalationState, TierTarget
from models.org import Person, Service, Team
from models.policy import EscalationPolicy, Leave, Rotation
from models.routing import Escalation



@dataclass(frozen=True)
class Tier:
    position: int
    ack_timeout_minutes: int
    target: TierTarget
    rotation_id: int | None
    person_id: int | None
    team_id: int | None
    label: str  # "rotation payments-primary", "Daniel Kim", "lead of Payments"


@dataclass(frozen=True)
class Snapshot:
    """A policy's tiers as they were when the escalation started: later edits do not change it."""

    policy: str
    repeat: int
    tiers: tuple[Tier, ...]

    @property
    def steps(self) -> int:
        return len(self.tiers) * (self.repeat + 1)

    def to_json(self) -> str:
        return json.dumps({"policy": self.policy, "repeat": self.repeat,
                           "tiers": [t.__dict__ | {"target": t.target.value} for t in self.tiers]}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Snapshot:
        data = json.loads(text)
        return cls(policy=data["policy"], repeat=data["repeat"],
                   tiers=tuple(Tier(**(t | {"target": TierTarget(t["target"])})) for t in data["tiers"]))


def snapshot_for(session: Session, *, service: Service) -> Snapshot | None:
    """Freeze the service's escalation policy, or None when it has none (or no tiers)."""
    if service.escalation_policy_id is None:
        return None
    policy = session.get(EscalationPolicy, service.escalation_policy_id)
    if policy is None or not policy.tiers:
        return None
    tiers = []
    for tier in policy.tiers:
        if tier.target is TierTarget.ROTATION:
            rotation = session.get(Rotation, tier.rotation_id) if tier.rotation_id else None
            label = f"rotation {rotation.name}" if rotation else "a rotation that no longer exists"
        elif tier.target is TierTarget.PERSON:
            person = session.get(Person, tier.person_id) if tier.person_id else None
            label = person.name if person else "a person who is no longer in the roster"
        else:
            team = session.get(Team, policy.team_id or service.team_id)
            label = f"lead of {team.name}" if team else "the team lead"
        tiers.append(Tier(tier.position, tier.ack_timeout_minutes, tier.target, tier.rotation_id, tier.person_id,
                          policy.team_id or service.team_id, label))
    return Snapshot(policy=policy.name, repeat=policy.repeat, tiers=tuple(tiers))


@dataclass(frozen=True)
class Target:
    person_id: int
    why: str  # "on call for payments-primary until 09:00" / "named in the policy" / "lead of Payments"


def resolve_tier(session: Session, *, tier: Tier, at: datetime,
                 on_call: OnCallLookup | None = None) -> Target | Unavailable:
    """Return who a tier pages at this moment, or why nobody can be: never someone on leave or inactive.

    A tick pages many incidents at one moment through a few rotations: pass one `on_call` lookup for all of them.
    """
    if tier.target is TierTarget.ROTATION and tier.rotation_id is not None:
        lookup = on_call if on_call is not None else OnCallLookup(session, at=at)
        answer = lookup.rotation_by_id(tier.rotation_id)
        if answer is None:
            return Unavailable("the rotation no longer exists")
        rotation_name, found = answer
        if found is None:
            return Unavailable(f"nobody is on call for {rotation_name}")
        note = f"; {found.note}" if found.note else ""
        return Target(found.person_id, f"on call for {found.rotation}{note}")
    if tier.target is TierTarget.PERSON and tier.person_id is not None:
        return _available(session, person_id=tier.person_id, at=at, why="named in the escalation policy")
    if tier.target is TierTarget.TEAM_LEAD and tier.team_id is not None:
        team = session.get(Team, tier.team_id)
        if team is None or team.lead_id is None:
            return Unavailable("the team has no lead")
        return _available(session, person_id=team.lead_id, at=at, why=f"lead of {team.name}")
    return Unavailable("the tier names nobody")


@dataclass(frozen=True)
class Unavailable:
    """Why a tier has nobody to page right now."""

    why: str


def _available(session: Session, *, person_id: int, at: datetime, why: str) -> Target | Unavailable:
    """Return the person as the target, unless they are away or no longer in the roster (then say which)."""
    person = session.get(Person, person_id)
    if person is None or not person.active:
        return Unavailable(f"{person.name if person else 'the person'} is no longer in the active roster")
    leave = session.execute(select(Leave).where(Leave.person_id == person_id, Leave.starts_at <= at,
                                                Leave.ends_at > at).limit(1)).scalar()
    if leave is not None:
        return Unavailable(f"{person.name} is on leave ({leave.kind.value}) until {leave.ends_at:%Y-%m-%d %H:%M} UTC")
    return Target(person_id, why)


def is_night(*, person: Person, at: datetime, fatigue: Fatigue) -> bool:
    """Say whether it is night where the person is, by the policy's hours (pages at night count towards fatigue)."""
    try:
        hour = at.astimezone(ZoneInfo(person.timezone or "UTC")).hour
    except (KeyError, ValueError):
        hour = at.hour
    return fatigue.is_night(hour=hour)


def due_after(*, tier: Tier, at: datetime) -> datetime:
    """When the next tier is due if nobody acknowledges this one."""
    return at + timedelta(minutes=tier.ack_timeout_minutes)


def running_due(session: Session, *, at: datetime, for_update: bool) -> list[int]:
    """Return the incidents whose escalation has a step due at `at`."""
    query = select(Escalation.incident_id).where(Escalation.state == EscalationState.RUNNING,
                                                 Escalation.step_due_at <= at).order_by(Escalation.step_due_at)
    if for_update:
        # Another console ticking at the same moment takes the others; nobody is paged twice.
        query = query.with_for_update(skip_locked=True)
    return list(session.execute(query).scalars())
