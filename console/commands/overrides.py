"""A person overrides an automated decision, with a reason, audited: take a service out of an incident's blast
radius (it gets its own incident and its own people), or stop an escalation from paging anyone else.

Changing the severity and reassigning the owner are overrides too; they are the ordinary commands
(`change_severity`, `assign_owner`), which record the person's decision beside automation's.
Automation reads these decisions back and never silently reverses them (commands/routing.py).
"""
from __future__ import annotations

from sqlalchemy import select

from console import decisions
from console.changes import Changes
from console.commands._common import clean_text, load_incident, load_service, require_open
from console.commands._incident_ops import apply_open
from console.commands.escalation import stop_with_reason
from console.commands.routing import UNGROUP_RULE, lock_fingerprints
from console.dto import incident_ref
from console.errors import InvalidInput, InvalidTransition
from console.uow import Transaction, UnitOfWork
from models.enums import AuditAction, ChangeEntity, DecisionKind, EscalationState, IncidentOrigin, TimelineKind
from models.incident import IncidentService, Signal
from models.routing import Escalation


def ungroup_service(uow: UnitOfWork, *, actor_id: int, incident_id: int, service_id: int, reason: str,
                    idempotency_key: str | None = None) -> Changes:
    """Take a grouped service out of an incident: its signals move to a new incident that pages its own team."""
    reason = clean_text(reason, field="a reason for splitting the service off", limit=2000)
    with uow.transaction(actor_id=actor_id, idempotency_key=idempotency_key) as tx:
        # The service's alerts first, the incident row after: a router attaching one of them holds that alert's
        # lock and then needs the incident row; taking them in the same order means neither waits for the other.
        _lock_alerts_of(tx, incident_id=incident_id, service_id=service_id)
        parent = load_incident(tx, incident_id)
        require_open(parent, action="split a service off")
        service = load_service(tx, service_id)
        link = tx.session.get(IncidentService, (parent.id, service.id))
        if link is None:
            raise InvalidInput(f"{service.name} is not grouped under {incident_ref(parent.id)}; nothing to split off")
        tx.session.delete(link)
        moved = list(tx.session.execute(select(Signal).where(Signal.incident_id == parent.id,
                                                             Signal.service_id == service.id)
                                        .order_by(Signal.observed_at, Signal.id)).scalars())
        title = moved[-1].summary if moved else f"{service.name} impact, split from {incident_ref(parent.id)}"
        child = apply_open(tx, title=title[:300], severity=parent.severity, service_id=service.id,
                           origin=IncidentOrigin.SIGNAL, severity_why=f"as {incident_ref(parent.id)}, split from it",
                           # its repeats join the new incident (routing also follows each moved signal there)
                           fingerprint=f"{moved[-1].source}:{moved[-1].dedup_key}" if moved else None)
        for signal in moved:
            signal.incident_id = child.id
        name = tx.actor.name if tx.actor else "someone"
        decisions.record(tx, incident_id=parent.id, kind=DecisionKind.OVERRIDE, rule_id=UNGROUP_RULE, by_person=True,
                         inputs={"service": service.name, "incident_id": child.id},
                         summary=f"{name} took {service.name} out of {incident_ref(parent.id)}'s blast radius "
                                 f"({incident_ref(child.id)} opened for it): {reason}; its alerts are no longer "
                                 f"grouped here")
        decisions.record(tx, incident_id=child.id, kind=DecisionKind.OVERRIDE, rule_id=UNGROUP_RULE, by_person=True,
                         inputs={"service": service.name, "from_incident_id": parent.id},
                         summary=f"Split from {incident_ref(parent.id)} by {name}, at {parent.severity} as there; "
                                 f"{len(moved)} signal(s) moved here: {reason}")
        tx.timeline(parent, kind=TimelineKind.NOTE,
                    text=f"{service.name} split off into {incident_ref(child.id)} by {name}: {reason}")
        tx.audit(action=AuditAction.INCIDENT_OVERRIDE, subject_type=ChangeEntity.INCIDENT, subject_id=parent.id,
                 before={"grouped": service.name}, after={"split_into": child.id, "signals": len(moved),
                                                          "reason": reason})
        tx.touch_incident(parent)
    return tx.changes()


def _lock_alerts_of(tx: Transaction, *, incident_id: int, service_id: int) -> None:
    """Lock every alert of the service on the incident (PostgreSQL), until the set stops growing."""
    locked: set[str] = set()
    for _ in range(3):  # a router may attach a new alert of the service while the locks are taken: look again
        found = {f"{source}:{key}" for source, key in tx.session.execute(
            select(Signal.source, Signal.dedup_key).where(Signal.incident_id == incident_id,
                                                         Signal.service_id == service_id).distinct())}
        if found <= locked:
            return
        lock_fingerprints(tx, fingerprints=found - locked)
        locked |= found


def stop_escalation(uow: UnitOfWork, *, actor_id: int, incident_id: int, reason: str,
                    idempotency_key: str | None = None) -> Changes:
    """Stop paging further tiers of an incident's escalation, with a reason (the right people are on it)."""
    reason = clean_text(reason, field="a reason for stopping the escalation", limit=2000)
    with uow.transaction(actor_id=actor_id, idempotency_key=idempotency_key) as tx:
        incident = load_incident(tx, incident_id)
        require_open(incident, action="stop the escalation of")
        escalation = tx.session.get(Escalation, incident.id, with_for_update=True)
        if escalation is None or escalation.state is not EscalationState.RUNNING:
            raise InvalidTransition(f"{incident_ref(incident.id)} is not escalating; nothing to stop")
        name = tx.actor.name if tx.actor else "someone"
        stop_with_reason(tx, escalation, incident, f"stopped by hand by {name}: {reason}")
        decisions.record(tx, incident_id=incident.id, kind=DecisionKind.OVERRIDE, rule_id="stop-escalation",
                         by_person=True, inputs={"step": escalation.step},
                         summary=f"{name} stopped the escalation at step {escalation.step}: {reason}")
        tx.timeline(incident, kind=TimelineKind.NOTE, text=f"Escalation stopped by {name}: {reason}")
        tx.audit(action=AuditAction.INCIDENT_OVERRIDE, subject_type=ChangeEntity.INCIDENT, subject_id=incident.id,
                 before={"escalation": EscalationState.RUNNING},
                 after={"escalation": EscalationState.STOPPED, "reason": reason})
    return tx.changes()
