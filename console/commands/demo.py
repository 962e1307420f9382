"""Demo commands: seed the demo organisation into an empty database, and take one step of the live demo feed.

Seeding is one transaction: the organisation, a handful of incidents already in flight, the demo marker and
one `demo.seed` audit entry. The incidents' histories are played through the ordinary apply_* functions by
simulated colleagues, back-dated so the queue looks lived-in (ages, a late acknowledgement, a timeline).
A feed step reads a snapshot, lets the pure planner (console/demo/feed.py) choose, and carries the step out in
one transaction; if the operator acted on the incident meanwhile, the step does nothing.
"""
from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo
from enum import StrEnum

from sqlalchemy import select

from console.changes import Changes
from console.commands._common import load_incident
from console.commands.policy import apply_load
from console.commands.rights import apply_rights_load
from console.routing.rights import DEFAULT_PATH as RIGHTS_PATH
from console.comms.context import ORGANISATION_KEY
from console.routing.policy import DEFAULT_PATH
from console.commands._incident_ops import (
    apply_acknowledge,
    apply_assign,
    apply_change_severity,
    apply_change_status,
    apply_next_action,
    apply_note,
    apply_open,
    apply_resolve,
)
from console.commands._signal_ops import SignalInput, apply_attach_signal
from console.demo.feed import (
    DEMO_ORIGIN,
    Acknowledge,
    AddNote,
    AttachSignal,
    ChangeSeverity,
    ChangeStatus,
    Idle,
    OpenIncident,
    Resolve,
    SetNextAction,
    Step,
    plan_step,
    repeat_summary,
)
from console.demo.organisation import DemoOrganisation, SignalSpec, default_organisation
from console.demo.specs import LayerSpec
from console.demo.snapshot import read_snapshot
from console.errors import Conflict, InvalidInput, InvalidTransition
from console.oncall import on_call_for_team
from console.queries import DEMO_KEY
from console.uow import Transaction, UnitOfWork
from models.audit import Meta
from models.enums import AuditAction, ChangeEntity, IncidentRole, IncidentStatus, PersonRole, SignalKind
from models.incident import Incident
from models.org import Person, PersonRoleGrant, Service, ServiceDependency, Team, TeamMember
from models.policy import (
    EscalationPolicy,
    EscalationTier,
    ImpactLevel,
    IncidentType,
    Leave,
    Override,
    Rotation,
    RotationLayer,
    RotationLayerMember,
)

SEED_ENTITY = ChangeEntity.ORGANISATION


class _Beat(StrEnum):
    """One thing that happens in a seeded incident's back-story."""

    OPEN = "open"
    ACK = "ack"
    COMMANDER = "commander"
    NEXT = "next"
    NOTE = "note"
    SIGNAL = "signal"
    MITIGATING = IncidentStatus.MITIGATING.value
    MONITORING = IncidentStatus.MONITORING.value


# How far each seeded incident's story has got: (fraction of the time since acknowledgement, what happens).
_STORY: dict[IncidentStatus, tuple[tuple[float, _Beat], ...]] = {
    IncidentStatus.TRIGGERED: (),
    IncidentStatus.ACKNOWLEDGED: ((0.6, _Beat.NOTE),),
    IncidentStatus.MITIGATING: ((0.1, _Beat.SIGNAL), (0.3, _Beat.MITIGATING), (0.55, _Beat.NOTE), (0.85, _Beat.NOTE)),
    IncidentStatus.MONITORING: ((0.15, _Beat.MITIGATING), (0.3, _Beat.NOTE), (0.45, _Beat.NEXT), (0.6, _Beat.NOTE),
                                (0.8, _Beat.MONITORING), (0.9, _Beat.NOTE)),
}


def seed_demo(uow: UnitOfWork, *, organisation: DemoOrganisation | None = None) -> Changes:
    """Seed the demo organisation and its incidents in flight into an empty database."""
    org = organisation or default_organisation()
    with uow.transaction(actor_id=None) as tx:
        if tx.session.execute(select(Person.id).limit(1)).first() is not None:
            raise InvalidInput(f"{uow.db.display_url} already holds an organisation; "
                               "seed-demo only seeds an empty database")
        counts = _insert_organisation(tx, org)
        apply_load(tx, path=DEFAULT_PATH, reason="demo organisation seeded")  # the shipped impact policy
        tx.session.flush()  # the rights name people and services: they must be visible to its queries
        apply_rights_load(tx, path=RIGHTS_PATH, reason="demo organisation seeded")  # and the shipped rights
        tx.session.merge(Meta(key=DEMO_KEY, value=tx.now.isoformat()))
        tx.session.merge(Meta(key=ORGANISATION_KEY, value=org.name))  # signs communications
        counts["incidents"] = _play_seed_incidents(tx, org)
        counts["mitigations"] = _seed_mitigation_request(tx)
        tx.audit(action=AuditAction.DEMO_SEED, subject_type=SEED_ENTITY, subject_id="demo", before={}, after=counts)
        tx.touch(SEED_ENTITY, 0)
    return tx.changes()


def _seed_mitigation_request(tx: Transaction) -> int:
    """Leave one rollback waiting for a leader on the most severe open incident, so the sign-off can be tried."""
    from console.commands.mitigations import apply_request

    tx.session.flush()
    incident = tx.session.execute(select(Incident).where(Incident.status != IncidentStatus.RESOLVED,
                                                         Incident.owner_id.is_not(None))
                                  .order_by(Incident.severity, Incident.id).limit(1)).scalar()
    if incident is None:
        return 0
    service = tx.session.get_one(Service, incident.service_id)
    tx.actor = tx.session.get_one(Person, incident.owner_id)
    try:
        apply_request(tx, incident=incident, action=f"Roll back {service.name} to the release before this morning's",
                      action_class="rollback", services=[service.name], regions=["eu-west-1"], tenants=[],
                      risk="medium", evidence=f"The {service.name} error rate rose within minutes of this morning's "
                      "deploy reaching eu-west-1; the canary in us-east-1 shows the same pattern.",
                      revert_plan="Redeploy this morning's release once the fix has passed staging.", minutes=120)
    finally:
        tx.actor = None
    return 1


def load_shipped_rights_on_demo(uow: UnitOfWork) -> Changes:
    """Give a demo database seeded before decision rights existed the shipped rights; others are left alone."""
    from console.mitigations.rights_store import stored_rights
    from console.queries import is_demo

    with uow.db.reader() as session:
        if not is_demo(session) or stored_rights(session) is not None:
            return Changes()
    with uow.transaction(actor_id=None) as tx:
        apply_rights_load(tx, path=RIGHTS_PATH, reason="shipped decision rights for the demo organisation")
    return tx.changes()


def _insert_organisation(tx: Transaction, org: DemoOrganisation) -> dict[str, int]:
    """Insert every row of the organisation, with times relative to the transaction's time."""
    s, now = tx.session, tx.now
    s.add_all(ImpactLevel(**vars(level)) for level in org.impact_levels)
    people = {p.handle: Person(handle=p.handle, name=p.name, email=p.email, title=p.title, timezone=p.timezone,
                               active=True) for p in org.people}
    s.add_all(people.values())
    s.flush()
    s.add_all(PersonRoleGrant(person_id=people[p.handle].id, role=role)
              for p in org.people for role in sorted(p.roles))
    teams = {t.name: Team(name=t.name, description=t.description, lead_id=people[t.lead].id) for t in org.teams}
    s.add_all(teams.values())
    s.flush()
    s.add_all(TeamMember(team_id=teams[t.name].id, person_id=people[h].id) for t in org.teams for h in t.members)
    rotations = {
        r.name: Rotation(name=r.name, team_id=teams[r.team].id if r.team else None, roster_role=r.roster, layers=[
            _layer(spec, position=i, seed_day=now, people=people) for i, spec in enumerate(r.layers)])
        for r in org.rotations
    }
    s.add_all(rotations.values())
    s.flush()
    s.add_all(Override(rotation_id=rotations[o.rotation].id, person_id=people[o.person].id, reason=o.reason,
                       starts_at=now + timedelta(hours=o.starts_hours), ends_at=now + timedelta(hours=o.ends_hours))
              for o in org.overrides)
    s.add_all(Leave(person_id=people[lv.person].id, kind=lv.kind, starts_at=now + timedelta(days=lv.starts_days),
                    ends_at=now + timedelta(days=lv.ends_days)) for lv in org.leave)
    policies = {
        p.name: EscalationPolicy(name=p.name, team_id=teams[p.team].id, repeat=p.repeat, tiers=[
            EscalationTier(position=i, ack_timeout_minutes=t.ack_timeout_minutes, target=t.target,
                           rotation_id=rotations[t.rotation].id if t.rotation else None,
                           person_id=people[t.person].id if t.person else None)
            for i, t in enumerate(p.tiers)])
        for p in org.escalation_policies
    }
    s.add_all(policies.values())
    s.flush()
    services = {v.name: Service(name=v.name, description=v.description, tier=v.tier, family=v.family,
                                team_id=teams[v.team].id, escalation_policy_id=policies[v.escalation_policy].id,
                                runbook_url=v.runbook_url)
                for v in org.services}
    s.add_all(services.values())
    s.flush()
    s.add_all(ServiceDependency(service_id=services[v.name].id, depends_on_id=services[d].id)
              for v in org.services for d in v.depends_on)
    s.add_all(IncidentType(name=t.name, family=t.family, default_severity=t.default_severity,
                           description=t.description, runbook_url=t.runbook_url,
                           owner_team_id=teams[t.owner_team].id if t.owner_team else None)
              for t in org.incident_types)
    s.flush()
    return {"impact_levels": len(org.impact_levels), "people": len(people), "teams": len(teams),
            "rotations": len(rotations), "overrides": len(org.overrides), "leave": len(org.leave),
            "escalation_policies": len(policies), "services": len(services),
            "service_dependencies": sum(len(v.depends_on) for v in org.services),
            "incident_types": len(org.incident_types)}


def _layer(spec: LayerSpec, *, position: int, seed_day: datetime, people: dict[str, Person]) -> RotationLayer:
    """Build a layer whose first handoff is `start_days` from the seed day, at its local handoff time."""
    zone = ZoneInfo(spec.timezone)
    day = seed_day.astimezone(zone).date() + timedelta(days=spec.start_days)
    hours, minutes = (int(x) for x in spec.handoff.split(":"))
    # A handoff inside a spring-forward gap would not exist that day; the schedule engine moves it to the jump.
    start = datetime.combine(day, time(hours, minutes), tzinfo=zone).astimezone(UTC)
    opens, closes = spec.restrict.split("-") if spec.restrict else (None, None)
    return RotationLayer(position=position, name=spec.name, starts_at=start, shift_minutes=spec.shift_hours * 60,
                         handoff=spec.handoff, timezone=spec.timezone, restrict_opens=opens, restrict_closes=closes,
                         restrict_weekdays=spec.weekdays if spec.restrict else None,
                         members=[RotationLayerMember(position=i, person_id=people[h].id)
                                  for i, h in enumerate(spec.members)])


def _play_seed_incidents(tx: Transaction, org: DemoOrganisation) -> int:
    """Play every seeded incident's history in time order, each action by the colleague who would have taken it."""
    seed_now = tx.now
    events: list[tuple[datetime, int, int, _Beat]] = []  # when, which seeded incident, order within it, what
    for index, spec in enumerate(org.seed_incidents):
        opened = seed_now - timedelta(minutes=spec.opened_minutes_ago)
        events.append((opened, index, 0, _Beat.OPEN))
        if spec.status is IncidentStatus.TRIGGERED:
            continue
        acked = opened + timedelta(minutes=spec.ack_after_minutes)
        events += [(acked, index, 1, _Beat.ACK), (acked + timedelta(seconds=30), index, 2, _Beat.COMMANDER),
                   (acked + timedelta(minutes=1), index, 3, _Beat.NEXT)]
        window = seed_now - timedelta(seconds=30) - (acked + timedelta(minutes=1))
        events += [(acked + timedelta(minutes=1) + window * fraction, index, order, what)
                   for order, (fraction, what) in enumerate(_STORY[spec.status], start=4)]
    player = _SeedPlayer(tx, org)
    try:
        for at, index, _, what in sorted(events):
            tx.now = at
            player.play(index, what)
    finally:
        # Later writes in this transaction (the demo.seed entry, the change log) happen at the seed time.
        tx.now, tx.actor = seed_now, None
    return len(player.incident_ids)


class _SeedPlayer:
    """Carries out one seeded incident's actions, remembering which notes and next actions it has used."""

    def __init__(self, tx: Transaction, org: DemoOrganisation) -> None:
        self.tx, self.org = tx, org
        session = tx.session
        self.people: dict[str, int] = dict(session.execute(select(Person.handle, Person.id)).all())
        self.services = {s.name: s for s in session.execute(select(Service)).scalars()}
        self.types: dict[str, int] = dict(session.execute(select(IncidentType.name, IncidentType.id)).all())
        self.reporters = [p.handle for p in org.people if PersonRole.SUPPORT_LEAD in p.roles]
        self.scenarios = {s.key: s for s in org.scenarios}
        self.incident_ids: dict[int, int] = {}
        self.used: dict[tuple[int, _Beat], int] = defaultdict(int)

    def _act_as(self, person_id: int | None) -> None:
        self.tx.actor = self.tx.session.get(Person, person_id) if person_id is not None else None

    def _next_text(self, index: int, kind: _Beat, texts: tuple[str, ...]) -> str | None:
        position = self.used[(index, kind)]
        self.used[(index, kind)] += 1
        return texts[position] if position < len(texts) else None

    def play(self, index: int, what: _Beat) -> None:
        tx, spec = self.tx, self.org.seed_incidents[index]
        scenario = self.scenarios[spec.scenario]
        service = self.services[scenario.service]
        if what is _Beat.OPEN:
            reported = scenario.signal.kind in (SignalKind.TICKET, SignalKind.SENTIMENT) and self.reporters
            self._act_as(self.people[self.reporters[index % len(self.reporters)]] if reported else None)
            incident = apply_open(
                tx, title=scenario.title, severity=scenario.severity, service_id=service.id,
                customer_impact=scenario.customer_impact, type_id=self.types.get(scenario.type or ""),
                origin=DEMO_ORIGIN, signal=_signal_input(scenario.signal, dedup_key=f"demo:{scenario.key}", at=tx.now),
                severity_why=f"the customer impact of demo scenario {scenario.key!r}",
            )
            self.incident_ids[index] = incident.id
            return
        incident_id = self.incident_ids[index]
        owner = tx.session.get_one(Incident, incident_id).owner_id
        if what is _Beat.ACK:
            on_call = on_call_for_team(tx.session, team_id=service.team_id, at=tx.now)
            self._act_as(on_call[0].person_id if on_call else service.team.lead_id)
            apply_acknowledge(tx, incident_id=incident_id)
        elif what is _Beat.COMMANDER and spec.commander:
            self._act_as(self.people[spec.commander])
            apply_assign(tx, incident_id=incident_id, role=IncidentRole.COMMANDER,
                         person_id=self.people[spec.commander])
        elif what is _Beat.SIGNAL:
            self._act_as(None)
            repeat = replace(scenario.signal, summary=repeat_summary(signal=scenario.signal))
            apply_attach_signal(tx, incident_id=incident_id,
                                signal=_signal_input(repeat, dedup_key=f"demo:{scenario.key}", at=tx.now))
        elif what in (_Beat.MITIGATING, _Beat.MONITORING):
            self._act_as(owner)
            apply_change_status(tx, incident_id=incident_id, status=IncidentStatus(what))
        elif what is _Beat.NEXT and (text := self._next_text(index, what, scenario.next_actions)):
            self._act_as(owner)
            apply_next_action(tx, incident_id=incident_id, text=text)
        elif what is _Beat.NOTE and (text := self._next_text(index, what, scenario.notes)):
            self._act_as(owner)
            apply_note(tx, incident_id=incident_id, text=text)


def _signal_input(signal: SignalSpec, *, dedup_key: str, at: datetime) -> SignalInput:
    return SignalInput(source=signal.source, dedup_key=dedup_key, kind=signal.kind, summary=signal.summary,
                       value=signal.value, observed_at=at)


# --- the live feed -------------------------------------------------------------------------------------------------


def demo_step(uow: UnitOfWork, *, rng: random.Random, operator_id: int | None = None,
              organisation: DemoOrganisation | None = None) -> Changes:
    """Take one step of the live demo as a simulated colleague; return no changes if there was nothing to do."""
    catalogue = (organisation or default_organisation()).scenarios
    now = uow.clock.now()
    with uow.db.reader() as session:
        snapshot = read_snapshot(session, at=now, operator_id=operator_id)
    step = plan_step(snapshot=snapshot, rng=rng, now=now, catalogue=catalogue)
    if isinstance(step, Idle):
        return Changes()
    try:
        with uow.transaction(actor_id=step.actor_id) as tx:
            _carry_out(tx, step)
    except (Conflict, InvalidTransition):
        # Someone (most likely the operator) acted on the incident since the snapshot: theirs wins.
        return Changes()
    return tx.changes()


def _carry_out(tx: Transaction, step: Step) -> None:
    """Apply a planned step inside the caller's transaction, refusing it if the incident moved on since planning."""
    if isinstance(step, OpenIncident):
        apply_open(tx, title=step.title, severity=step.severity, service_id=step.service_id, type_id=step.type_id,
                   customer_impact=step.customer_impact, origin=DEMO_ORIGIN,
                   signal=_signal_input(step.signal, dedup_key=step.dedup_key, at=tx.now),
                   severity_why="the customer impact the demo scenario describes")
    elif isinstance(step, Acknowledge):
        apply_acknowledge(tx, incident_id=step.incident_id, expected_version=step.expected_version)
    elif isinstance(step, ChangeStatus):
        apply_change_status(tx, incident_id=step.incident_id, status=step.status,
                            expected_version=step.expected_version)
    elif isinstance(step, ChangeSeverity):
        apply_change_severity(tx, incident_id=step.incident_id, severity=step.severity, reason=step.reason,
                              expected_version=step.expected_version)
    elif isinstance(step, SetNextAction):
        apply_next_action(tx, incident_id=step.incident_id, text=step.text, expected_version=step.expected_version)
    elif isinstance(step, Resolve):
        apply_resolve(tx, incident_id=step.incident_id, summary=step.summary, expected_version=step.expected_version)
    elif isinstance(step, (AddNote, AttachSignal)):
        # These two apply_* take no version; check it here so an operator's action since the snapshot wins.
        load_incident(tx, step.incident_id, expected_version=step.expected_version)
        if isinstance(step, AddNote):
            apply_note(tx, incident_id=step.incident_id, text=step.text)
        else:
            apply_attach_signal(tx, incident_id=step.incident_id,
                                signal=_signal_input(step.signal, dedup_key=step.dedup_key, at=tx.now))
    else:
        raise InvalidInput(f"demo step {step!r} is not one the feed knows how to carry out")
