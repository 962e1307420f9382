"""Commands on incidents: open, acknowledge, ownership, severity, status, notes, next action, resolve.

Each runs its `apply_*` (commands/_incident_ops.py) in one transaction with its timeline event, audit entry
and change-log rows, and returns the Changes it made. Every command takes an optional idempotency key:
an action replayed from the outbox after a lost connection is then applied exactly once.
"""
from __future__ import annotations

from console.changes import Changes
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
from console.uow import UnitOfWork
from models.enums import IncidentRole, IncidentStatus, Severity

__all__ = [
    "SignalInput", "acknowledge", "add_note", "assign_commander", "assign_owner", "attach_signal", "change_severity",
    "change_status", "open_incident", "resolve", "set_next_action", "take_ownership",
]


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
    idempotency_key: str | None = None,
) -> Changes:
    """Open a new incident on a service, triggered and waiting for acknowledgement."""
    with uow.transaction(actor_id=actor_id, idempotency_key=idempotency_key) as tx:
        apply_open(
            tx, title=title, severity=severity, service_id=service_id, customer_impact=customer_impact,
            owner_id=owner_id, commander_id=commander_id, impacted_service_ids=tuple(impacted_service_ids),
            signal=signal,
        )
    return tx.changes()


def attach_signal(uow: UnitOfWork, *, actor_id: int | None, incident_id: int, signal: SignalInput,
                  idempotency_key: str | None = None) -> Changes:
    """Record a signal against an open incident."""
    with uow.transaction(actor_id=actor_id, idempotency_key=idempotency_key) as tx:
        apply_attach_signal(tx, incident_id=incident_id, signal=signal)
    return tx.changes()


def acknowledge(uow: UnitOfWork, *, actor_id: int, incident_id: int, expected_version: int | None = None,
                idempotency_key: str | None = None) -> Changes:
    """Acknowledge a triggered incident; an unowned incident becomes the acknowledger's."""
    with uow.transaction(actor_id=actor_id, idempotency_key=idempotency_key) as tx:
        apply_acknowledge(tx, incident_id=incident_id, expected_version=expected_version)
    return tx.changes()


def assign_owner(uow: UnitOfWork, *, actor_id: int, incident_id: int, owner_id: int,
                 expected_version: int | None = None, idempotency_key: str | None = None) -> Changes:
    """Make a person the accountable owner of an incident."""
    with uow.transaction(actor_id=actor_id, idempotency_key=idempotency_key) as tx:
        apply_assign(tx, incident_id=incident_id, role=IncidentRole.OWNER, person_id=owner_id,
                     expected_version=expected_version)
    return tx.changes()


def take_ownership(uow: UnitOfWork, *, actor_id: int, incident_id: int, expected_version: int | None = None,
                   idempotency_key: str | None = None) -> Changes:
    """Make the operator the owner of an incident."""
    return assign_owner(uow, actor_id=actor_id, incident_id=incident_id, owner_id=actor_id,
                        expected_version=expected_version, idempotency_key=idempotency_key)


def assign_commander(uow: UnitOfWork, *, actor_id: int, incident_id: int, commander_id: int,
                     expected_version: int | None = None, idempotency_key: str | None = None) -> Changes:
    """Make a person the incident commander."""
    with uow.transaction(actor_id=actor_id, idempotency_key=idempotency_key) as tx:
        apply_assign(tx, incident_id=incident_id, role=IncidentRole.COMMANDER, person_id=commander_id,
                     expected_version=expected_version)
    return tx.changes()


def change_severity(uow: UnitOfWork, *, actor_id: int, incident_id: int, severity: Severity | str, reason: str,
                    expected_version: int | None = None, idempotency_key: str | None = None) -> Changes:
    """Change an open incident's severity; a reason is required and goes on the timeline."""
    with uow.transaction(actor_id=actor_id, idempotency_key=idempotency_key) as tx:
        apply_change_severity(tx, incident_id=incident_id, severity=severity, reason=reason,
                              expected_version=expected_version)
    return tx.changes()


def change_status(uow: UnitOfWork, *, actor_id: int, incident_id: int, status: IncidentStatus | str,
                  expected_version: int | None = None, idempotency_key: str | None = None) -> Changes:
    """Move an open incident to mitigating or monitoring."""
    with uow.transaction(actor_id=actor_id, idempotency_key=idempotency_key) as tx:
        apply_change_status(tx, incident_id=incident_id, status=status, expected_version=expected_version)
    return tx.changes()


def add_note(uow: UnitOfWork, *, actor_id: int, incident_id: int, text: str,
             idempotency_key: str | None = None) -> Changes:
    """Add a note to an incident's timeline (resolved incidents too, for the post-incident record)."""
    with uow.transaction(actor_id=actor_id, idempotency_key=idempotency_key) as tx:
        apply_note(tx, incident_id=incident_id, text=text)
    return tx.changes()


def set_next_action(uow: UnitOfWork, *, actor_id: int, incident_id: int, text: str,
                    expected_version: int | None = None, idempotency_key: str | None = None) -> Changes:
    """Set what happens next on an open incident."""
    with uow.transaction(actor_id=actor_id, idempotency_key=idempotency_key) as tx:
        apply_next_action(tx, incident_id=incident_id, text=text, expected_version=expected_version)
    return tx.changes()


def resolve(uow: UnitOfWork, *, actor_id: int, incident_id: int, summary: str,
            expected_version: int | None = None, idempotency_key: str | None = None) -> Changes:
    """Resolve an open incident with a summary of what fixed it."""
    with uow.transaction(actor_id=actor_id, idempotency_key=idempotency_key) as tx:
        apply_resolve(tx, incident_id=incident_id, summary=summary, expected_version=expected_version)
    return tx.changes()
