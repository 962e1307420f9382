"""Signals on incidents inside a transaction it is given: what a signal carries, and attaching it.

An append: the incident row is left as it is (no version step), so a repeat of an alert never turns someone
else's acknowledge or resolve into a false conflict.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from console.audit import canonical_json
from console.commands._common import load_incident, require_open
from console.uow import Transaction
from models.enums import AuditAction, ChangeEntity, SignalKind, TimelineKind
from models.incident import Incident, Signal


@dataclass(frozen=True)
class SignalInput:
    """One observation that opened or joined an incident."""

    source: str
    dedup_key: str
    kind: SignalKind
    summary: str
    observed_at: datetime
    value: float | None = None
    severity_hint: str | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)
    service_id: int | None = None  # the service it was about, when not the incident's own (blast radius)
    # A row someone wrote straight into the signals table, now routed: it is updated, not copied.
    row_id: int | None = None


def attach_signal_row(tx: Transaction, incident: Incident, signal: SignalInput) -> None:
    """Write the signal against the incident (or route the row it came from there), with its timeline event."""
    row = tx.session.get_one(Signal, signal.row_id) if signal.row_id is not None else Signal(
        source=signal.source,
        dedup_key=signal.dedup_key,
        kind=signal.kind,
        service_id=signal.service_id or incident.service_id,
        summary=signal.summary,
        value=signal.value,
        observed_at=signal.observed_at,
        severity_hint=signal.severity_hint,
        attributes=canonical_json(dict(signal.attributes)),
    )
    row.incident_id, row.routed_at = incident.id, tx.now
    tx.session.add(row)
    tx.timeline(incident, kind=TimelineKind.SIGNAL, text=f"{signal.kind} from {signal.source}: {signal.summary}")


def apply_attach_signal(tx: Transaction, *, incident_id: int, signal: SignalInput) -> Incident:
    """Record a signal against an open incident (an append: no version step)."""
    return apply_attach_signal_to(tx, incident=load_incident(tx, incident_id), signal=signal)


def apply_attach_signal_to(tx: Transaction, *, incident: Incident, signal: SignalInput) -> Incident:
    """Record a signal against an incident already loaded in this transaction (routing has just looked it up)."""
    # No row lock: an append leaves the incident row as it is, so it cannot be lost to another writer.
    require_open(incident, action="attach a signal to")
    attach_signal_row(tx, incident, signal)
    tx.audit(
        action=AuditAction.INCIDENT_SIGNAL,
        subject_type=ChangeEntity.INCIDENT,
        subject_id=incident.id,
        before={},
        after={"source": signal.source, "dedup_key": signal.dedup_key, "summary": signal.summary},
    )
    tx.touch_incident(incident)  # an append: the incident row itself is unchanged
    return incident
