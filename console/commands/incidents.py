"""Commands on incidents: open, acknowledge, ownership, severity, status, notes, next action, resolve.

Each public command runs in one transaction with its timeline event, audit entry and change-log row, and
returns the Changes it made. The `apply_*` functions do the work inside a caller's transaction so that the
demo feed (commands/demo.py) can reuse them without a second commit.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from console.changes import Changes
from console.commands._common import (
    clean_text,
    impact_level,
    load_incident,
    load_person,
    load_service,
    parse_enum,
    person_name,
    require_open,
)
from console.dto import incident_ref
from console.errors import InvalidInput, InvalidTransition
from console.uow import Transaction, UnitOfWork
from models.enums import IncidentOrigin, IncidentRole, IncidentStatus, Severity, SignalKind, TimelineKind
from models.incident import Incident, IncidentService, RoleAssignment, Signal
from models.org import Person

ENTITY = "incident"
# Statuses an operator may set directly; acknowledged and resolved have their own commands.
SETTABLE_STATUSES = (IncidentStatus.MITIGATING, IncidentStatus.MONITORING)


@dataclass(frozen=True)
class SignalInput:
    """One observation that opened or joined an incident."""

    source: str
    dedup_key: str
    kind: SignalKind
    summary: str
    observed_at: datetime
    value: float | None = None


def _touch(tx: Transaction, incident: Incident) -> None:
    incident.updated_at = tx.now
    tx.touch(ENTITY, incident.id)


def _set_role(tx: Transaction, incident: Incident, *, role: IncidentRole, person: Person | None) -> None:
    """Close the current holder's assignment and open the new one, keeping the history."""
    current = select(RoleAssignment).where(
        RoleAssignment.incident_id == incident.id, RoleAssignment.role == role, RoleAssignment.renounced_at.is_(None)
    )
    pending = (a for a in tx.session.new if isinstance(a, RoleAssignment) and a.incident_id == incident.id
               and a.role is role and a.renounced_at is None)
    for assignment in [*tx.session.execute(current).scalars(), *pending]:
        assignment.renounced_at = tx.now
    if person is not None:
        tx.session.add(RoleAssignment(incident_id=incident.id, role=role, person_id=person.id, assumed_at=tx.now))
    if role is IncidentRole.OWNER:
        incident.owner_id = person.id if person else None
    else:
        incident.commander_id = person.id if person else None


def apply_open(
    tx: Transaction,
    *,
    title: str,
    severity: Severity | str,
    service_id: int,
    customer_impact: str = "",
    owner_id: int | None = None,
    commander_id: int | None = None,
    type_id: int | None = None,
    impacted_service_ids: tuple[int, ...] = (),
    origin: IncidentOrigin = IncidentOrigin.MANUAL,
    signal: SignalInput | None = None,
) -> Incident:
    title = clean_text(title, field="title", limit=300)
    severity = parse_enum(Severity, severity, field="severity")
    service = load_service(tx, service_id)
    level = impact_level(tx, severity)
    owner = load_person(tx, owner_id, what="owner") if owner_id is not None else None
    commander = load_person(tx, commander_id, what="commander") if commander_id is not None else None
    incident = Incident(
        title=title,
        severity=severity,
        status=IncidentStatus.TRIGGERED,
        service_id=service.id,
        type_id=type_id,
        team_id=service.team_id,
        customer_impact=clean_text(customer_impact, field="customer impact", required=False),
        next_action="",
        origin=origin,
        opened_at=tx.now,
        ack_deadline=tx.now + timedelta(minutes=level.ack_minutes),
        updated_at=tx.now,
    )
    tx.session.add(incident)
    tx.session.flush()
    for extra in sorted(set(impacted_service_ids) - {service.id}):
        load_service(tx, extra)
        tx.session.add(IncidentService(incident_id=incident.id, service_id=extra))
    if owner is not None:
        _set_role(tx, incident, role=IncidentRole.OWNER, person=owner)
    if commander is not None:
        _set_role(tx, incident, role=IncidentRole.COMMANDER, person=commander)
    opened_by = tx.actor.name if tx.actor else "the system"
    tx.timeline(incident, kind=TimelineKind.OPENED, text=f"{severity} opened on {service.name} by {opened_by}: {title}")
    if signal is not None:
        _attach_signal(tx, incident, signal)
    tx.session.flush()
    tx.audit(
        action="incident.open",
        subject_type=ENTITY,
        subject_id=incident.id,
        before={},
        after={
            "title": title,
            "severity": severity,
            "service_id": service.id,
            "owner_id": incident.owner_id,
            "commander_id": incident.commander_id,
            "customer_impact": incident.customer_impact,
            "origin": origin,
        },
    )
    tx.touch(ENTITY, incident.id)
    tx.created_incident = incident.id
    return incident


def _attach_signal(tx: Transaction, incident: Incident, signal: SignalInput) -> None:
    tx.session.add(
        Signal(
            source=signal.source,
            dedup_key=signal.dedup_key,
            kind=signal.kind,
            service_id=incident.service_id,
            summary=signal.summary,
            value=signal.value,
            observed_at=signal.observed_at,
            incident_id=incident.id,
        )
    )
    tx.timeline(incident, kind=TimelineKind.SIGNAL, text=f"{signal.kind} from {signal.source}: {signal.summary}")


def apply_attach_signal(tx: Transaction, *, incident_id: int, signal: SignalInput) -> Incident:
    incident = load_incident(tx, incident_id)
    require_open(incident, action="attach a signal to")
    _attach_signal(tx, incident, signal)
    tx.audit(
        action="incident.signal",
        subject_type=ENTITY,
        subject_id=incident.id,
        before={},
        after={"source": signal.source, "dedup_key": signal.dedup_key, "summary": signal.summary},
    )
    _touch(tx, incident)
    return incident


def apply_acknowledge(tx: Transaction, *, incident_id: int, expected_version: int | None = None) -> Incident:
    incident = load_incident(tx, incident_id, expected_version=expected_version)
    if incident.status is not IncidentStatus.TRIGGERED:
        raise InvalidTransition(
            f"{incident_ref(incident.id)} is already {incident.status}; only a triggered incident is acknowledged"
        )
    if tx.actor is None:
        raise InvalidInput("an acknowledgement needs a person")
    before = {"status": incident.status, "owner_id": incident.owner_id}
    incident.status = IncidentStatus.ACKNOWLEDGED
    incident.acknowledged_at = tx.now
    # Whoever acknowledges an unowned incident owns it: there is never an acknowledged incident with no owner.
    if incident.owner_id is None:
        _set_role(tx, incident, role=IncidentRole.OWNER, person=tx.actor)
    late = tx.now - incident.ack_deadline
    suffix = f" ({_minutes(late)} past the deadline)" if late.total_seconds() > 0 else ""
    tx.timeline(incident, kind=TimelineKind.ACKNOWLEDGED, text=f"Acknowledged by {tx.actor.name}{suffix}")
    tx.audit(
        action="incident.acknowledge",
        subject_type=ENTITY,
        subject_id=incident.id,
        before=before,
        after={"status": incident.status, "owner_id": incident.owner_id},
    )
    _touch(tx, incident)
    return incident


def _minutes(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes} min" if minutes else f"{int(delta.total_seconds())} s"


def apply_assign(
    tx: Transaction,
    *,
    incident_id: int,
    role: IncidentRole,
    person_id: int,
    expected_version: int | None = None,
) -> Incident:
    incident = load_incident(tx, incident_id, expected_version=expected_version)
    require_open(incident, action=f"change the {role} of")
    person = load_person(tx, person_id, what=role.value)
    current_id = incident.owner_id if role is IncidentRole.OWNER else incident.commander_id
    if current_id == person.id:
        raise InvalidInput(f"{person.name} is already the {role} of INC-{incident.id}")
    previous = tx.session.get(Person, current_id) if current_id else None
    _set_role(tx, incident, role=role, person=person)
    kind = TimelineKind.OWNER_CHANGED if role is IncidentRole.OWNER else TimelineKind.COMMANDER_CHANGED
    text = f"{role.value.capitalize()}: {person_name(previous)} → {person.name}"
    if tx.actor is not None:
        text += " (took it)" if tx.actor.id == person.id else f" (assigned by {tx.actor.name})"
    tx.timeline(incident, kind=kind, text=text)
    tx.audit(
        action=f"incident.assign_{role.value}",
        subject_type=ENTITY,
        subject_id=incident.id,
        before={f"{role.value}_id": current_id},
        after={f"{role.value}_id": person.id},
    )
    _touch(tx, incident)
    return incident


def apply_change_severity(
    tx: Transaction,
    *,
    incident_id: int,
    severity: Severity | str,
    reason: str,
    expected_version: int | None = None,
) -> Incident:
    severity = parse_enum(Severity, severity, field="severity")
    reason = clean_text(reason, field="a reason for the severity change", limit=2000)
    incident = load_incident(tx, incident_id, expected_version=expected_version)
    require_open(incident, action="change the severity of")
    if incident.severity is severity:
        raise InvalidInput(f"{incident_ref(incident.id)} is already {severity}")
    level = impact_level(tx, severity)
    before = {"severity": incident.severity, "ack_deadline": incident.ack_deadline}
    raised = severity.rank < incident.severity.rank
    if incident.status is IncidentStatus.TRIGGERED:
        if raised:
            # A raised severity may only shorten the time left to acknowledge, counted from now at the latest.
            incident.ack_deadline = min(incident.ack_deadline, tx.now + timedelta(minutes=level.ack_minutes))
        else:
            incident.ack_deadline = incident.opened_at + timedelta(minutes=level.ack_minutes)
    old = incident.severity
    incident.severity = severity
    tx.timeline(incident, kind=TimelineKind.SEVERITY_CHANGED, text=f"Severity {old} → {severity}: {reason}")
    tx.audit(
        action="incident.change_severity",
        subject_type=ENTITY,
        subject_id=incident.id,
        before=before,
        after={"severity": severity, "ack_deadline": incident.ack_deadline, "reason": reason},
    )
    _touch(tx, incident)
    return incident


def apply_change_status(
    tx: Transaction, *, incident_id: int, status: IncidentStatus | str, expected_version: int | None = None
) -> Incident:
    status = parse_enum(IncidentStatus, status, field="status")
    if status not in SETTABLE_STATUSES:
        raise InvalidInput(f"status {status} is set by its own action, not by a status change")
    incident = load_incident(tx, incident_id, expected_version=expected_version)
    require_open(incident, action="change the status of")
    if incident.status is status:
        raise InvalidInput(f"{incident_ref(incident.id)} is already {status}")
    before = {"status": incident.status}
    if incident.acknowledged_at is None:
        # Working on it is an acknowledgement; keep the ack time honest rather than leaving it empty.
        incident.acknowledged_at = tx.now
    old = incident.status
    incident.status = status
    tx.timeline(incident, kind=TimelineKind.STATUS_CHANGED, text=f"Status {old} → {status}")
    tx.audit(action="incident.change_status", subject_type=ENTITY, subject_id=incident.id, before=before,
             after={"status": status})
    _touch(tx, incident)
    return incident


def apply_note(tx: Transaction, *, incident_id: int, text: str) -> Incident:
    text = clean_text(text, field="the note")
    incident = load_incident(tx, incident_id)
    tx.timeline(incident, kind=TimelineKind.NOTE, text=text)
    tx.audit(action="incident.note", subject_type=ENTITY, subject_id=incident.id, before={}, after={"note": text})
    _touch(tx, incident)
    return incident


def apply_next_action(
    tx: Transaction, *, incident_id: int, text: str, expected_version: int | None = None
) -> Incident:
    text = clean_text(text, field="the next action", limit=1000)
    incident = load_incident(tx, incident_id, expected_version=expected_version)
    require_open(incident, action="set the next action of")
    before = {"next_action": incident.next_action}
    incident.next_action = text
    tx.timeline(incident, kind=TimelineKind.NEXT_ACTION, text=f"Next action: {text}")
    tx.audit(action="incident.next_action", subject_type=ENTITY, subject_id=incident.id, before=before,
             after={"next_action": text})
    _touch(tx, incident)
    return incident


def apply_resolve(
    tx: Transaction, *, incident_id: int, summary: str, expected_version: int | None = None
) -> Incident:
    summary = clean_text(summary, field="a resolution summary", limit=4000)
    incident = load_incident(tx, incident_id, expected_version=expected_version)
    require_open(incident, action="resolve")
    before = {"status": incident.status, "resolution": incident.resolution}
    if incident.acknowledged_at is None:
        incident.acknowledged_at = tx.now
    incident.status = IncidentStatus.RESOLVED
    incident.resolved_at = tx.now
    incident.resolution = summary
    tx.timeline(incident, kind=TimelineKind.RESOLVED, text=f"Resolved: {summary}")
    tx.audit(action="incident.resolve", subject_type=ENTITY, subject_id=incident.id, before=before,
             after={"status": incident.status, "resolution": summary})
    _touch(tx, incident)
    return incident


# --- public commands: one transaction each -------------------------------------------------------------


def open_incident(
    uow: UnitOfWork,
    *,
    actor_id: int | None,
    title: str,
    severity: Severity | str,
    service_id: int,
    customer_impact: str = "",
    owner_id: int | None = None,
    commander_id: int | None = None,
    impacted_service_ids: tuple[int, ...] = (),
    signal: SignalInput | None = None,
) -> Changes:
    """Open a new incident on a service, triggered and waiting for acknowledgement."""
    with uow.transaction(actor_id=actor_id) as tx:
        apply_open(
            tx, title=title, severity=severity, service_id=service_id, customer_impact=customer_impact,
            owner_id=owner_id, commander_id=commander_id, impacted_service_ids=impacted_service_ids, signal=signal,
        )
    return tx.changes()


def attach_signal(uow: UnitOfWork, *, actor_id: int | None, incident_id: int, signal: SignalInput) -> Changes:
    """Record a signal against an open incident."""
    with uow.transaction(actor_id=actor_id) as tx:
        apply_attach_signal(tx, incident_id=incident_id, signal=signal)
    return tx.changes()


def acknowledge(uow: UnitOfWork, *, actor_id: int, incident_id: int, expected_version: int | None = None) -> Changes:
    """Acknowledge a triggered incident; an unowned incident becomes the acknowledger's."""
    with uow.transaction(actor_id=actor_id) as tx:
        apply_acknowledge(tx, incident_id=incident_id, expected_version=expected_version)
    return tx.changes()


def assign_owner(
    uow: UnitOfWork, *, actor_id: int, incident_id: int, owner_id: int, expected_version: int | None = None
) -> Changes:
    """Make a person the accountable owner of an incident."""
    with uow.transaction(actor_id=actor_id) as tx:
        apply_assign(tx, incident_id=incident_id, role=IncidentRole.OWNER, person_id=owner_id,
                     expected_version=expected_version)
    return tx.changes()


def take_ownership(uow: UnitOfWork, *, actor_id: int, incident_id: int, expected_version: int | None = None) -> Changes:
    """Make the operator the owner of an incident."""
    return assign_owner(uow, actor_id=actor_id, incident_id=incident_id, owner_id=actor_id,
                        expected_version=expected_version)


def assign_commander(
    uow: UnitOfWork, *, actor_id: int, incident_id: int, commander_id: int, expected_version: int | None = None
) -> Changes:
    """Make a person the incident commander."""
    with uow.transaction(actor_id=actor_id) as tx:
        apply_assign(tx, incident_id=incident_id, role=IncidentRole.COMMANDER, person_id=commander_id,
                     expected_version=expected_version)
    return tx.changes()


def change_severity(
    uow: UnitOfWork,
    *,
    actor_id: int,
    incident_id: int,
    severity: Severity | str,
    reason: str,
    expected_version: int | None = None,
) -> Changes:
    """Change an open incident's severity; a reason is required and goes on the timeline."""
    with uow.transaction(actor_id=actor_id) as tx:
        apply_change_severity(tx, incident_id=incident_id, severity=severity, reason=reason,
                              expected_version=expected_version)
    return tx.changes()


def change_status(
    uow: UnitOfWork, *, actor_id: int, incident_id: int, status: IncidentStatus | str, expected_version: int | None = None
) -> Changes:
    """Move an open incident to mitigating or monitoring."""
    with uow.transaction(actor_id=actor_id) as tx:
        apply_change_status(tx, incident_id=incident_id, status=status, expected_version=expected_version)
    return tx.changes()


def add_note(uow: UnitOfWork, *, actor_id: int, incident_id: int, text: str) -> Changes:
    """Add a note to an incident's timeline (resolved incidents too, for the post-incident record)."""
    with uow.transaction(actor_id=actor_id) as tx:
        apply_note(tx, incident_id=incident_id, text=text)
    return tx.changes()


def set_next_action(
    uow: UnitOfWork, *, actor_id: int, incident_id: int, text: str, expected_version: int | None = None
) -> Changes:
    """Set what happens next on an open incident."""
    with uow.transaction(actor_id=actor_id) as tx:
        apply_next_action(tx, incident_id=incident_id, text=text, expected_version=expected_version)
    return tx.changes()


def resolve(
    uow: UnitOfWork, *, actor_id: int, incident_id: int, summary: str, expected_version: int | None = None
) -> Changes:
    """Resolve an open incident with a summary of what fixed it."""
    with uow.transaction(actor_id=actor_id) as tx:
        apply_resolve(tx, incident_id=incident_id, summary=summary, expected_version=expected_version)
    return tx.changes()
