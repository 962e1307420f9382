"""The ownership tree as the ownership panel shows it: services by tier with their owners, dependencies, escalation
tiers, who is on call now and next (with their pager fatigue), coverage gaps in the coming 7 days, the rosters
and the incident types; and an incident's blast radius in that tree. Read-side only: frozen DTOs, no Qt.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from console.db import Database, reachable
from console.errors import NotFound
from console.escalation import snapshot_for
from console.fatigue import FatigueCount, fatigue_counts
from console.oncall import GAP_HORIZON, OnCall, RotationSchedule, inactive_people, load_schedule
from console.policy_store import stored_policy
from console.routing.graph import closure, service_edges
from models.enums import PersonRole, ServiceTier, Severity
from models.incident import Incident, IncidentService
from models.org import Person, Service, Team
from models.policy import IncidentType, Rotation


@dataclass(frozen=True, slots=True)
class Duty:
    """One person answering for a rotation, now or next; fatigue is counted for whoever is on call now."""

    person_id: int
    person: str
    since: datetime
    until: datetime
    note: str  # "", "override", "covering: Lena Hansen is on leave (PTO)", "layer emea"
    reason: str  # the schedule engine's full sentence
    fatigue: str = ""  # "7 pages this shift (2 at night): over the limit of 6"
    pages: int = 0
    over_limit: bool = False


@dataclass(frozen=True, slots=True)
class Gap:
    """A stretch when nobody available is on call for a rotation."""

    rotation: str
    starts_at: datetime
    ends_at: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class RotationDuty:
    """A rotation with who is on call now and next, and its coverage gaps in the coming 7 days."""

    rotation_id: int
    rotation: str
    now: Duty | None
    next: Duty | None
    gaps: tuple[Gap, ...]
    roster_role: PersonRole | None = None


@dataclass(frozen=True, slots=True)
class ServiceNode:
    id: int
    name: str
    tier: ServiceTier
    description: str
    runbook_url: str
    team: str
    lead: str  # "" when the team has no lead
    depends_on: tuple[str, ...]
    depended_on_by: tuple[str, ...]
    escalation_policy: str  # "" when the service has none
    escalation: tuple[str, ...]  # one line a tier: "rotation payments-primary, 5 min to acknowledge"
    escalation_repeat: int
    rotations: tuple[RotationDuty, ...]  # the owning team's rotations, by name

    @property
    def gaps(self) -> tuple[Gap, ...]:
        return tuple(gap for rotation in self.rotations for gap in rotation.gaps)


@dataclass(frozen=True, slots=True)
class TierGroup:
    tier: ServiceTier
    services: tuple[ServiceNode, ...]

    @property
    def title(self) -> str:
        return self.tier.value.capitalize()


@dataclass(frozen=True, slots=True)
class IncidentTypeNode:
    id: int
    name: str
    family: str
    default_severity: Severity
    owner_team: str  # "" when no team owns it
    runbook_url: str
    description: str


@dataclass(frozen=True, slots=True)
class OwnershipTree:
    at: datetime
    tiers: tuple[TierGroup, ...]  # foundational, core, edge: every tier, even an empty one
    rosters: tuple[RotationDuty, ...]  # the incident-commander and executive rosters
    incident_types: tuple[IncidentTypeNode, ...]
    gaps: tuple[Gap, ...]  # every rotation's, soonest first

    def services(self) -> Iterator[ServiceNode]:
        """Yield every service, tier by tier."""
        for group in self.tiers:
            yield from group.services

    def service(self, service_id: int) -> ServiceNode | None:
        """Return one service by id, if it is in the tree."""
        return next((s for s in self.services() if s.id == service_id), None)


@dataclass(frozen=True, slots=True)
class BlastRadius:
    """The services an incident reaches: its own, those it impacts, and everything downstream of them."""

    incident_id: int
    origin_id: int
    origin: str
    impacted_ids: frozenset[int]
    downstream_ids: frozenset[int]
    services: tuple[tuple[int, str], ...]  # (id, name) of every service in the radius, origin included, by name

    @property
    def service_ids(self) -> frozenset[int]:
        return frozenset(service_id for service_id, _ in self.services)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for _, name in self.services)


def _duty(entry: OnCall | None, names: dict[int, str], count: FatigueCount | None = None) -> Duty | None:
    if entry is None:
        return None
    return Duty(person_id=entry.person_id, person=names.get(entry.person_id, f"person {entry.person_id}"),
                since=entry.since, until=entry.until, note=entry.note, reason=entry.reason,
                fatigue=count.text if count else "", pages=count.pages if count else 0,
                over_limit=count is not None and count.over_limit)


class _Rotations:
    """Every rotation's schedule loaded once per read: several services share a team and so its rotations."""

    def __init__(self, session: Session, *, at: datetime) -> None:
        self.at = at
        self.rotations = list(session.execute(select(Rotation).order_by(Rotation.name)).scalars())
        inactive = inactive_people(session)  # once for every rotation, not once each
        self.schedules: dict[int, RotationSchedule] = {
            r.id: load_schedule(session, rotation=r, around=at, inactive=inactive) for r in self.rotations}
        self.now = {r.id: self.schedules[r.id].on_call(at=at) for r in self.rotations}
        on_now = {entry.person_id for entry in self.now.values() if entry is not None}
        self.fatigue = fatigue_counts(session, person_ids=on_now, at=at, fatigue=stored_policy(session).fatigue)
        self.names: dict[int, str] = dict(session.execute(select(Person.id, Person.name)).all())
        self.duties = {r.id: self._duty_of(r) for r in self.rotations}

    def _duty_of(self, rotation: Rotation) -> RotationDuty:
        schedule, now = self.schedules[rotation.id], self.now[rotation.id]
        count = self.fatigue.get(now.person_id) if now is not None else None
        gaps = tuple(Gap(rotation=g.rotation, starts_at=g.starts_at, ends_at=g.ends_at, reason=g.reason)
                     for g in schedule.gaps(start=self.at, end=self.at + GAP_HORIZON))
        return RotationDuty(rotation_id=rotation.id, rotation=rotation.name, now=_duty(now, self.names, count),
                            next=_duty(schedule.next_on_call(after=self.at), self.names), gaps=gaps,
                            roster_role=rotation.roster_role)

    def of_team(self, team_id: int) -> tuple[RotationDuty, ...]:
        return tuple(self.duties[r.id] for r in self.rotations if r.team_id == team_id)

    def all_gaps(self) -> tuple[Gap, ...]:
        gaps = (gap for duty in self.duties.values() for gap in duty.gaps)
        return tuple(sorted(gaps, key=lambda g: (g.starts_at, g.rotation)))


def _escalation(session: Session, service: Service) -> tuple[str, tuple[str, ...], int]:
    snapshot = snapshot_for(session, service=service)
    if snapshot is None:
        return "", (), 0
    lines = tuple(f"{t.label}, {t.ack_timeout_minutes} min to acknowledge" for t in snapshot.tiers)
    return snapshot.policy, lines, snapshot.repeat


def ownership_tree(session: Session, *, at: datetime) -> OwnershipTree:
    """Read the whole ownership tree, with on-call, fatigue and coverage gaps as of `at`."""
    rotations = _Rotations(session, at=at)
    services = list(session.execute(select(Service).order_by(Service.name)).scalars())
    names = {s.id: s.name for s in services}
    teams = {t.id: t for t in session.execute(select(Team)).scalars()}
    upstream: dict[int, list[str]] = defaultdict(list)
    downstream: dict[int, list[str]] = defaultdict(list)
    for service_id, depends_on in service_edges(session):
        upstream[service_id].append(names[depends_on])
        downstream[depends_on].append(names[service_id])
    # A team's services share its policy: snapshot it once (its "lead of" tier names the service's team).
    escalations: dict[tuple[int | None, int], tuple[str, tuple[str, ...], int]] = {}
    nodes: dict[ServiceTier, list[ServiceNode]] = {tier: [] for tier in ServiceTier}
    for service in services:
        team = teams[service.team_id]
        key = (service.escalation_policy_id, team.id)
        if key not in escalations:
            escalations[key] = _escalation(session, service)
        policy, tiers, repeat = escalations[key]
        nodes[service.tier].append(ServiceNode(
            id=service.id, name=service.name, tier=service.tier, description=service.description,
            runbook_url=service.runbook_url, team=team.name, lead=rotations.names.get(team.lead_id or 0, ""),
            depends_on=tuple(sorted(upstream[service.id])), depended_on_by=tuple(sorted(downstream[service.id])),
            escalation_policy=policy, escalation=tiers, escalation_repeat=repeat, rotations=rotations.of_team(team.id)))
    types = tuple(
        IncidentTypeNode(id=t.id, name=t.name, family=t.family.value, default_severity=t.default_severity,
                         owner_team=teams[t.owner_team_id].name if t.owner_team_id in teams else "",
                         runbook_url=t.runbook_url, description=t.description)
        for t in session.execute(select(IncidentType).order_by(IncidentType.name)).scalars()
    )
    rosters = tuple(rotations.duties[r.id] for r in rotations.rotations if r.roster_role is not None)
    return OwnershipTree(at=at, tiers=tuple(TierGroup(tier, tuple(nodes[tier])) for tier in ServiceTier),
                         rosters=rosters, incident_types=types, gaps=rotations.all_gaps())


def blast_radius(session: Session, *, incident_id: int) -> BlastRadius:
    """Return the services an incident reaches: its own, those it impacts, and all downstream of either."""
    incident = session.get(Incident, incident_id)
    if incident is None:
        raise NotFound(f"incident INC-{incident_id} does not exist")
    impacted = frozenset(session.execute(
        select(IncidentService.service_id).where(IncidentService.incident_id == incident_id)).scalars()) - {
        incident.service_id}
    edges = service_edges(session)
    # A service the incident impacts passes the fault on to its own dependents, as the origin does.
    downstream = frozenset().union(*(closure(edges, s, downstream=True) for s in impacted | {incident.service_id}))
    reached = impacted | downstream | {incident.service_id}
    services = tuple((row[0], row[1]) for row in session.execute(
        select(Service.id, Service.name).where(Service.id.in_(reached)).order_by(Service.name)))
    return BlastRadius(incident_id=incident_id, origin_id=incident.service_id,
                       origin=dict(services)[incident.service_id], impacted_ids=impacted,
                       downstream_ids=downstream - impacted - {incident.service_id}, services=services)


def read_ownership(db: Database, *, at: datetime) -> OwnershipTree:
    """Read the ownership tree in one short read transaction; safe to call from a worker thread."""
    with reachable(db), db.reader() as session:
        return ownership_tree(session, at=at)


def read_blast_radius(db: Database, *, incident_id: int) -> BlastRadius:
    """Read an incident's blast radius in one short read transaction; safe to call from a worker thread."""
    with reachable(db), db.reader() as session:
        return blast_radius(session, incident_id=incident_id)

