"""Read what the demo planner needs from the database: open demo incidents, services, who is on call, the roster.

Read-only; commands/demo.py hands the snapshot to the pure planner in feed.py and writes what it chooses.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from console.demo.feed import DEMO_ORIGIN, FeedIncident, FeedService, FeedSnapshot
from console.oncall import on_call_for_team
from models.enums import IncidentStatus, PersonRole, TimelineKind
from models.incident import Incident, RoleAssignment, Signal, TimelineEvent
from models.org import Person, PersonRoleGrant, Service, Team, TeamMember
from models.policy import IncidentType

_STATUS_KINDS = (TimelineKind.OPENED, TimelineKind.ACKNOWLEDGED, TimelineKind.STATUS_CHANGED)


def read_snapshot(session: Session, *, at: datetime, operator_id: int | None) -> FeedSnapshot:
    """Return what the demo planner needs: open demo incidents, services with who is on call at `at`, the roster."""
    rows = session.execute(
        select(Incident.id, Incident.version, Incident.title, Incident.status, Incident.severity, Incident.service_id,
               Incident.owner_id, Incident.commander_id, Incident.origin, Incident.opened_at, Incident.ack_deadline,
               Incident.updated_at, Incident.next_action)
        .where(Incident.origin == DEMO_ORIGIN, Incident.status != IncidentStatus.RESOLVED)
        .order_by(Incident.id)
    ).all()
    history = _history(session, opened={r.id: r.opened_at for r in rows})
    incidents = tuple(FeedIncident(**r._asdict(), **history[r.id]) for r in rows)
    types = session.execute(select(IncidentType.name, IncidentType.id).order_by(IncidentType.id)).all()
    # Only an unowned incident needs whoever is on call; working out rotations for every team costs most of a step.
    unowned = {r.service_id for r in rows if r.owner_id is None and r.commander_id is None}
    return FeedSnapshot(incidents=incidents, services=_feed_services(session, at=at, on_call_for=unowned),
                        support_leads=_holders(session, role=PersonRole.SUPPORT_LEAD),
                        incident_types=tuple((name, type_id) for name, type_id in types), operator_id=operator_id)


def _history(session: Session, *, opened: dict[int, datetime]) -> dict[int, dict[str, Any]]:
    """Return, per incident, what its timeline, role history and signals tell the planner."""
    facts: dict[int, dict[str, Any]] = {
        i: {"status_since": at, "notes": set(), "involved": set(), "severity_changed": False,
            "last_signal_at": None, "signal_count": 0} for i, at in opened.items()
    }
    ids = list(opened)
    if not ids:
        return facts
    events = select(TimelineEvent.incident_id, TimelineEvent.kind, TimelineEvent.actor_id, TimelineEvent.text,
                    TimelineEvent.at).where(TimelineEvent.incident_id.in_(ids))
    for incident_id, kind, actor_id, text, at in session.execute(events):
        fact = facts[incident_id]
        if actor_id is not None:
            fact["involved"].add(actor_id)
        if kind in _STATUS_KINDS:
            fact["status_since"] = max(fact["status_since"], at)
        elif kind is TimelineKind.NOTE:
            fact["notes"].add(text)
        elif kind is TimelineKind.SEVERITY_CHANGED:
            fact["severity_changed"] = True
        elif kind is TimelineKind.SIGNAL:
            fact["last_signal_at"] = max(fact["last_signal_at"] or at, at)
    holders = select(RoleAssignment.incident_id, RoleAssignment.person_id).where(RoleAssignment.incident_id.in_(ids))
    for incident_id, person_id in session.execute(holders):
        facts[incident_id]["involved"].add(person_id)
    counts = select(Signal.incident_id, func.count()).where(Signal.incident_id.in_(ids)).group_by(Signal.incident_id)
    for incident_id, count in session.execute(counts):
        facts[incident_id]["signal_count"] = count
    for fact in facts.values():
        fact["notes"], fact["involved"] = frozenset(fact["notes"]), frozenset(fact["involved"])
    return facts


def _feed_services(session: Session, *, at: datetime, on_call_for: set[int]) -> tuple[FeedService, ...]:
    members: dict[int, list[int]] = defaultdict(list)
    for team_id, person_id in session.execute(
            select(TeamMember.team_id, TeamMember.person_id).join(Person, Person.id == TeamMember.person_id)
            .where(Person.active.is_(True)).order_by(TeamMember.team_id, TeamMember.person_id)):
        members[team_id].append(person_id)
    active = set(session.execute(select(Person.id).where(Person.active.is_(True))).scalars())
    leads = dict(session.execute(select(Team.id, Team.lead_id)).all())
    on_call: dict[int, tuple[int, ...]] = {}
    services = []
    for service_id, name, team_id in session.execute(select(Service.id, Service.name, Service.team_id)
                                                     .order_by(Service.id)):
        if team_id not in on_call and service_id in on_call_for:
            found = on_call_for_team(session, team_id=team_id, at=at)
            on_call[team_id] = tuple(oc.person_id for oc in found if oc.person_id in active)
        lead = leads.get(team_id)
        team = tuple(([lead] if lead in members[team_id] else []) + [p for p in members[team_id] if p != lead])
        services.append(FeedService(id=service_id, name=name, on_call=on_call.get(team_id, ()), members=team))
    return tuple(services)


def _holders(session: Session, *, role: PersonRole) -> tuple[int, ...]:
    query = (select(PersonRoleGrant.person_id).join(Person, Person.id == PersonRoleGrant.person_id)
             .where(PersonRoleGrant.role == role, Person.active.is_(True)).order_by(PersonRoleGrant.person_id))
    return tuple(session.execute(query).scalars())
