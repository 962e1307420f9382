"""What each incident command does inside a transaction it is given: the `apply_*` functions.

commands/incidents.py wraps each in its own transaction; the demo feed (commands/demo.py) reuses them. Each
one validates its input, changes the rows, and appends the timeline event, the audit entry and the change-log
mark (signals: commands/_signal_ops.py). Appends (notes, signals) do not update the incident row: they must not bump its version and turn
someone else's acknowledge or resolve into a false conflict.
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

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
from console import decisions
from console.dto import incident_ref
from console.errors import InvalidInput, InvalidTransition
from console.commands._engage import apply_engage as engage
from console.commands._signal_ops import SignalInput, attach_signal_row
from console.commands.escalation import apply_stop as stop_escalation
from console.uow import Transaction
from models.enums import (
    AuditAction,
    ChangeEntity,
    DecisionKind,
    IncidentOrigin,
    IncidentRole,
    IncidentStatus,
    Severity,
    TimelineKind,
)
from models.incident import Incident, IncidentService, RoleAssignment
from models.org import Person
from models.routing import Decision

ENTITY = ChangeEntity.INCIDENT
# Statuses an operator may set directly; acknowledged and resolved have their own commands.
SETTABLE_STATUSES = (IncidentStatus.MITIGATING, IncidentStatus.MONITORING)


def _touch(tx: Transaction, incident: Incident) -> None:
    """Mark the incident row changed: one version step, and a change-log mark for other consoles."""
    incident.updated_at = tx.now
    tx.touch_incident(incident)


def _mark_acknowledged(tx: Transaction, incident: Incident, *, how: str) -> dict[str, object]:
    """Acknowledge a triggered incident in place; return the audit fields it changed.

    Whoever acknowledges an unowned incident owns it: there is never an acknowledged incident with no owner.
    """
    if tx.actor is None:
        raise InvalidInput("an acknowledgement needs a person")
    incident.status = IncidentStatus.ACKNOWLEDGED
    incident.acknowledged_at = tx.now
    if incident.owner_id is None:
        _set_role(tx, incident, role=IncidentRole.OWNER, person=tx.actor)
    late = tx.now - incident.ack_deadline
    suffix = f" ({_minutes(late)} past the deadline)" if late.total_seconds() > 0 else ""
    tx.timeline(incident, kind=TimelineKind.ACKNOWLEDGED, text=f"{how} by {tx.actor.name}{suffix}")
    stop_escalation(tx, incident, reason=f"acknowledged by {tx.actor.name}")
    return {"acknowledged_at": incident.acknowledged_at, "owner_id": incident.owner_id}


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
    severity_why: str = "",
    fingerprint: str | None = None,
) -> Incident:
    """Open a triggered incident on a service, with its first signal if any, and say why it has its severity."""
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
        fingerprint=fingerprint,
        # A person declared it at this level: theirs to change, never automation's to lower. Set here, not after
        # the insert: a second UPDATE would move the version past 1 and other consoles would see a false change.
        severity_set_by=tx.actor.id if tx.actor is not None else None,
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
        attach_signal_row(tx, incident, signal)
    tx.session.flush()
    tx.audit(
        action=AuditAction.INCIDENT_OPEN,
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
    tx.touch_incident(incident)
    tx.created_incident = incident.id
    if tx.actor is not None:
        decisions.record(tx, incident_id=incident.id, kind=DecisionKind.SEVERITY, rule_id=decisions.MANUAL,
                         by_person=True, summary=f"{severity}: declared by {tx.actor.name}"
                                                 + (f" ({severity_why})" if severity_why else ""))
    elif severity_why:
        decisions.record(tx, incident_id=incident.id, kind=DecisionKind.SEVERITY, rule_id="opened",
                         policy_version="", summary=f"{severity}: {severity_why}")
    engage(tx, incident)  # the owner rotation through its escalation policy, and whoever else the policy names
    return incident


def apply_acknowledge(tx: Transaction, *, incident_id: int, expected_version: int | None = None) -> Incident:
    """Acknowledge a triggered incident."""
    incident = load_incident(tx, incident_id, expected_version=expected_version)
    if incident.status is not IncidentStatus.TRIGGERED:
        raise InvalidTransition(
            f"{incident_ref(incident.id)} is already {incident.status}; only a triggered incident is acknowledged"
        )
    before = {"status": incident.status, "owner_id": incident.owner_id, "acknowledged_at": None}
    after = _mark_acknowledged(tx, incident, how="Acknowledged")
    tx.audit(action=AuditAction.INCIDENT_ACKNOWLEDGE, subject_type=ENTITY, subject_id=incident.id, before=before,
             after={"status": incident.status, **after})
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
    """Give an incident role (owner or commander) to a person, keeping the history."""
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
        action=AuditAction(f"incident.assign_{role.value}"),
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
    """Change the severity of an open incident, with a reason."""
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
    if tx.actor is not None:
        # A person's explicit decision: automation may raise above it with a reason, never lower it or silently undo it.
        before["severity_set_by"] = incident.severity_set_by
        incident.severity_set_by = tx.actor.id
        _record_severity_by_person(tx, incident, old=old, reason=reason)
    tx.audit(
        action=AuditAction.INCIDENT_CHANGE_SEVERITY,
        subject_type=ENTITY,
        subject_id=incident.id,
        before=before,
        after={"severity": severity, "ack_deadline": incident.ack_deadline, "reason": reason,
               **({"severity_set_by": incident.severity_set_by} if tx.actor is not None else {})},
    )
    _touch(tx, incident)
    if raised:
        engage(tx, incident)  # a higher level may wake more people (executives at SEV1, say)
    return incident


def _record_severity_by_person(tx: Transaction, incident: Incident, *, old: Severity, reason: str) -> None:
    """Store a person's severity decision; an override when it sets aside what automation decided."""
    automated = tx.session.execute(
        select(Decision.rule_id).where(Decision.incident_id == incident.id, Decision.kind == DecisionKind.SEVERITY,
                                       Decision.decided_by.is_(None)).order_by(Decision.id.desc()).limit(1)
    ).scalar()
    name = tx.actor.name if tx.actor else "the system"
    if automated is not None:
        summary = (f"{old} → {incident.severity} by {name}, overriding automation (last decided by rule "
                   f"{automated}): {reason}")
    else:
        summary = f"{old} → {incident.severity} by {name}: {reason}"
    decisions.record(tx, incident_id=incident.id, kind=DecisionKind.OVERRIDE if automated else DecisionKind.SEVERITY,
                     rule_id=decisions.MANUAL, summary=summary, by_person=True,
                     inputs={"from": old.value, "to": incident.severity.value, "overrides": automated or ""})


def apply_change_status(
    tx: Transaction, *, incident_id: int, status: IncidentStatus | str, expected_version: int | None = None
) -> Incident:
    """Move an open incident to mitigating or monitoring (acknowledging it if need be)."""
    status = parse_enum(IncidentStatus, status, field="status")
    if status not in SETTABLE_STATUSES:
        raise InvalidInput(f"status {status} is set by its own action, not by a status change")
    incident = load_incident(tx, incident_id, expected_version=expected_version)
    require_open(incident, action="change the status of")
    if incident.status is status:
        raise InvalidInput(f"{incident_ref(incident.id)} is already {status}")
    before: dict[str, object] = {"status": incident.status}
    after: dict[str, object] = {"status": status}
    if incident.status is IncidentStatus.TRIGGERED:
        # Working on it is an acknowledgement, with its owner, its time and its timeline entry.
        before |= {"owner_id": incident.owner_id, "acknowledged_at": None}
        after |= _mark_acknowledged(tx, incident, how=f"Acknowledged (marked {status})")
    old = incident.status
    incident.status = status
    tx.timeline(incident, kind=TimelineKind.STATUS_CHANGED, text=f"Status {old} → {status}")
    tx.audit(action=AuditAction.INCIDENT_CHANGE_STATUS, subject_type=ENTITY, subject_id=incident.id, before=before,
             after=after)
    _touch(tx, incident)
    return incident


def apply_note(tx: Transaction, *, incident_id: int, text: str) -> Incident:
    """Add a note to an incident's timeline (an append: no version step)."""
    text = clean_text(text, field="the note")
    incident = load_incident(tx, incident_id)
    tx.timeline(incident, kind=TimelineKind.NOTE, text=text)
    tx.audit(action=AuditAction.INCIDENT_NOTE, subject_type=ENTITY, subject_id=incident.id, before={}, after={"note": text})
    tx.touch_incident(incident)  # an append: the incident row itself is unchanged
    return incident


def apply_next_action(
    tx: Transaction, *, incident_id: int, text: str, expected_version: int | None = None
) -> Incident:
    """Set the next action of an open incident."""
    text = clean_text(text, field="the next action", limit=1000)
    incident = load_incident(tx, incident_id, expected_version=expected_version)
    require_open(incident, action="set the next action of")
    before = {"next_action": incident.next_action}
    incident.next_action = text
    tx.timeline(incident, kind=TimelineKind.NEXT_ACTION, text=f"Next action: {text}")
    tx.audit(action=AuditAction.INCIDENT_NEXT_ACTION, subject_type=ENTITY, subject_id=incident.id, before=before,
             after={"next_action": text})
    _touch(tx, incident)
    return incident


def apply_resolve(
    tx: Transaction, *, incident_id: int, summary: str, expected_version: int | None = None
) -> Incident:
    """Resolve an open incident with a summary."""
    summary = clean_text(summary, field="a resolution summary", limit=4000)
    incident = load_incident(tx, incident_id, expected_version=expected_version)
    require_open(incident, action="resolve")
    before: dict[str, object] = {"status": incident.status, "resolution": incident.resolution}
    after: dict[str, object] = {"status": IncidentStatus.RESOLVED, "resolution": summary, "resolved_at": tx.now}
    if incident.acknowledged_at is None:
        # Resolved without an acknowledgement (a false alarm, say): record when it was dealt with.
        incident.acknowledged_at = tx.now
        before["acknowledged_at"], after["acknowledged_at"] = None, tx.now
    incident.status = IncidentStatus.RESOLVED
    incident.resolved_at = tx.now
    stop_escalation(tx, incident, reason=f"resolved by {tx.actor.name if tx.actor else 'the system'}")
    incident.resolution = summary
    tx.timeline(incident, kind=TimelineKind.RESOLVED, text=f"Resolved: {summary}")
    tx.audit(action=AuditAction.INCIDENT_RESOLVE, subject_type=ENTITY, subject_id=incident.id, before=before, after=after)
    _touch(tx, incident)
    return incident
