"""Engage the people the impact policy names for an incident's severity: page those it says to wake, tell those it
says to inform, each once per incident, never anyone on leave, and say why for every one.

Runs inside the command that opens an incident or raises its severity; the owner rotation is paged through the
service's escalation policy (which then escalates on its own), everyone else directly.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select

from console import decisions
from console.commands.escalation import apply_start
from console.escalation import is_night
from console.commands._common import on_call_now
from console.oncall import OnCall
from console.policy_store import stored_policy
from console.routing.definitions import Policy, SeverityLevel
from console.routing.graph import dependents
from console.routing.vocabulary import Recipient
from console.uow import Transaction
from models.enums import AuditAction, ChangeEntity, DecisionKind, PageReason, PersonRole, TimelineKind
from models.incident import Incident
from models.org import Person, PersonRoleGrant, Service, Team
from models.policy import Leave, Rotation
from models.routing import Escalation, Page

_REASON = {
    Recipient.OWNER_ROTATION: PageReason.ON_CALL, Recipient.TEAM_LEAD: PageReason.TEAM_LEAD,
    Recipient.DEPENDENT_ROTATIONS: PageReason.DEPENDENCY, Recipient.INCIDENT_COMMANDERS: PageReason.COMMANDERS,
    Recipient.SUPPORT_LEADS: PageReason.SUPPORT, Recipient.CUSTOMER_SUCCESS: PageReason.CUSTOMER_SUCCESS,
    Recipient.EXECUTIVE_ROSTER: PageReason.EXECUTIVE,
}
_ROLE = {Recipient.INCIDENT_COMMANDERS: PersonRole.INCIDENT_COMMANDER, Recipient.SUPPORT_LEADS: PersonRole.SUPPORT_LEAD,
         Recipient.CUSTOMER_SUCCESS: PersonRole.CUSTOMER_SUCCESS, Recipient.EXECUTIVE_ROSTER: PersonRole.LEADER}
_ROLE_WORDS = {Recipient.INCIDENT_COMMANDERS: "an incident commander", Recipient.SUPPORT_LEADS: "a support lead",
               Recipient.CUSTOMER_SUCCESS: "in customer success", Recipient.EXECUTIVE_ROSTER: "an executive"}
# How the impact policy's recipients read in a sentence.
LABEL = {
    Recipient.OWNER_ROTATION: "the owning team's on-call", Recipient.TEAM_LEAD: "the owning team's lead",
    Recipient.DEPENDENT_ROTATIONS: "the on-call of every dependent service",
    Recipient.INCIDENT_COMMANDERS: "an incident commander", Recipient.SUPPORT_LEADS: "the support leads",
    Recipient.CUSTOMER_SUCCESS: "customer success", Recipient.EXECUTIVE_ROSTER: "the executive roster",
}


@dataclass(frozen=True)
class _Candidate:
    person_id: int
    why: str


def apply_engage(tx: Transaction, incident: Incident) -> None:
    """Page and inform whom the policy names for the incident's severity, skipping those already engaged."""
    policy = stored_policy(tx.session)
    level = policy.level(severity=incident.severity)
    service = tx.session.get_one(Service, incident.service_id)
    escalating = Recipient.OWNER_ROTATION in level.page and _start_escalation(tx, incident)
    # A page not flushed yet has no default applied: only an explicit False means "told, not woken".
    engaged: dict[int, bool] = {}
    for page in _pages_of(tx, incident):
        engaged[page.person_id] = engaged.get(page.person_id, False) or page.urgent is not False
    away = _away_now(tx)
    for urgent, recipients in ((True, level.page), (False, level.inform)):
        for recipient in recipients:
            if recipient is Recipient.OWNER_ROTATION and urgent and escalating:
                continue  # paged through the escalation policy, tier by tier; without one, directly below
            candidates = list(_resolve(tx, incident, service, recipient))
            if not candidates and (nobody := _nobody_text(tx, incident, service, recipient)):
                # The policy names someone and nobody can be found: say so, never stay silent.
                decisions.record(tx, incident_id=incident.id, kind=DecisionKind.ROUTING, rule_id=recipient.value,
                                 policy_version=policy.version,
                                 summary=f"Nobody {'paged' if urgent else 'told'} as {LABEL[recipient]}: {nobody}; "
                                         f"the impact policy {'pages' if urgent else 'informs'} them at "
                                         f"{incident.severity}")
            for candidate in candidates:
                if engaged.get(candidate.person_id) is True or (candidate.person_id in engaged and not urgent):
                    continue  # paged already, or told already and still only to be told
                if candidate.person_id in away:
                    name = tx.session.get_one(Person, candidate.person_id).name
                    decisions.record(tx, incident_id=incident.id, kind=DecisionKind.ROUTING, rule_id=recipient.value,
                                     policy_version=policy.version,
                                     summary=f"{name} not {'paged' if urgent else 'told'}: on leave ({candidate.why})")
                    engaged[candidate.person_id] = urgent
                    continue
                _engage(tx, incident, policy=policy, level=level, recipient=recipient, candidate=candidate,
                        urgent=urgent)
                engaged[candidate.person_id] = urgent


def _start_escalation(tx: Transaction, incident: Incident) -> bool:
    """Start the service's escalation unless one exists; say whether the incident now escalates by a policy."""
    pending = any(isinstance(o, Escalation) and o.incident_id == incident.id for o in tx.session.new)
    if pending or tx.session.get(Escalation, incident.id) is not None:
        return True
    apply_start(tx, incident)
    return any(isinstance(o, Escalation) and o.incident_id == incident.id for o in tx.session.new)


def _pages_of(tx: Transaction, incident: Incident) -> list[Page]:
    stored = list(tx.session.execute(select(Page).where(Page.incident_id == incident.id)).scalars())
    # Autoflush is off inside a command: pages added earlier in this transaction are not in the query yet.
    return stored + [o for o in tx.session.new if isinstance(o, Page) and o.incident_id == incident.id]


def _resolve(tx: Transaction, incident: Incident, service: Service, recipient: Recipient) -> Iterable[_Candidate]:
    """Return the people a recipient stands for right now, each with why it is them."""
    session = tx.session
    if recipient is Recipient.OWNER_ROTATION:
        return [_Candidate(oc.person_id, f"on call for {oc.rotation}{_covering(oc)}, which owns {service.name}")
                for oc in on_call_now(tx).team(service.team_id)]
    if recipient is Recipient.TEAM_LEAD:
        team = session.get(Team, incident.team_id or service.team_id)
        lead = session.get(Person, team.lead_id) if team and team.lead_id else None
        if lead is None or not lead.active:
            return []  # no lead, or one who has left: nobody to tell (said below)
        return [_Candidate(lead.id, f"the lead of {team.name}, which owns {service.name}")]  # type: ignore[union-attr]
    if recipient is Recipient.DEPENDENT_ROTATIONS:
        found: list[_Candidate] = []
        for dependent_id in sorted(dependents(session, service_id=service.id)):
            dependent = session.get_one(Service, dependent_id)
            for oc in on_call_now(tx).team(dependent.team_id):
                found.append(_Candidate(oc.person_id, f"on call for {oc.rotation}{_covering(oc)}, and {dependent.name}"
                                                      f" depends on {service.name} ({service.tier})"))
        return found
    if recipient is Recipient.INCIDENT_COMMANDERS and incident.commander_id is not None:
        return []  # it has a commander: nobody else needs waking to command it
    role = _ROLE[recipient]
    rosters = list(session.execute(select(Rotation).where(Rotation.roster_role == role).order_by(Rotation.name))
                   .scalars())
    if rosters:  # a roster says who answers for the role now; otherwise every holder of the role is engaged
        return [_Candidate(oc.person_id, f"{_ROLE_WORDS[recipient]}, on call for {oc.rotation}{_covering(oc)}")
                for roster in rosters if (oc := on_call_now(tx).rotation(roster))]
    holders = session.execute(select(Person.id).join(PersonRoleGrant).where(
        PersonRoleGrant.role == role, Person.active.is_(True)).order_by(Person.id)).scalars()
    return [_Candidate(person_id, _ROLE_WORDS[recipient]) for person_id in holders]


def _covering(on_call: OnCall) -> str:
    """Return ' (covering: Lena Hansen is on leave (PTO))' when the person stands in for someone, else ''."""
    return f" ({on_call.note})" if on_call.note.startswith("covering") else ""


def _nobody_text(tx: Transaction, incident: Incident, service: Service, recipient: Recipient) -> str:
    """Say why a recipient the policy names has nobody to engage now ("" when nobody is expected)."""
    if recipient is Recipient.OWNER_ROTATION:
        rotations = [r.name for r in on_call_now(tx).rotations_of_team(service.team_id)]
        if not rotations:
            return f"{service.name}'s team has no on-call rotation"
        return f"nobody is on call for {', '.join(rotations)} (everyone away, or no layer on duty)"
    if recipient is Recipient.TEAM_LEAD:
        return f"{service.name}'s team has no lead in the active roster"
    if recipient in _ROLE and (rosters := _rosters_of(tx, incident, recipient)):
        return f"nobody on {rosters} can answer as {_ROLE_WORDS[recipient]} now"
    return ""


def _rosters_of(tx: Transaction, incident: Incident, recipient: Recipient) -> str:
    """Return the names of the rosters that answer for a recipient's role ("" when none, or none is needed)."""
    if recipient not in _ROLE or recipient is Recipient.INCIDENT_COMMANDERS and incident.commander_id is not None:
        return ""
    return ", ".join(tx.session.execute(select(Rotation.name).where(Rotation.roster_role == _ROLE[recipient])
                                        .order_by(Rotation.name)).scalars())


def _away_now(tx: Transaction) -> set[int]:
    """Return everyone on leave at this moment (one query, however many people the level names)."""
    return set(tx.session.execute(select(Leave.person_id).where(Leave.starts_at <= tx.now,
                                                                Leave.ends_at > tx.now)).scalars())


def _engage(tx: Transaction, incident: Incident, *, policy: Policy, level: SeverityLevel, recipient: Recipient,
            candidate: _Candidate, urgent: bool) -> None:
    person = tx.session.get_one(Person, candidate.person_id)
    verb = "Paged" if urgent else "Told"
    why = (f"{candidate.why} — the impact policy {'pages' if urgent else 'informs'} {LABEL[recipient]} at "
           f"{incident.severity}")
    tx.session.add(Page(incident_id=incident.id, person_id=person.id, reason=_REASON[recipient], step=None, why=why,
                        paged_at=tx.now, urgent=urgent,
                        night=urgent and is_night(person=person, at=tx.now, fatigue=policy.fatigue)))
    tx.timeline(incident, kind=TimelineKind.PAGED, text=f"{verb} {person.name}, {why}")
    decisions.record(tx, incident_id=incident.id, kind=DecisionKind.ROUTING, rule_id=recipient.value,
                     policy_version=policy.version, summary=f"{verb} {person.name}, {why}",
                     inputs={"person_id": person.id, "severity": incident.severity.value, "urgent": urgent},
                     thresholds={"page": [r.value for r in level.page], "inform": [r.value for r in level.inform]})
    tx.audit(action=AuditAction.INCIDENT_PAGE, subject_type=ChangeEntity.INCIDENT, subject_id=incident.id,
             before={}, after={"person_id": person.id, "urgent": urgent, "why": why})
    tx.touch_incident(incident)
