"""Route incoming signals: deduplicate, group under an upstream foundational incident, reopen on a flap, or
open an incident with the severity the taxonomy gives; tell dependents and executives; explain every step.

One request's events are one transaction: all taken, or none (the ingest server's promise)."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import select

from console import decisions
from console.changes import Changes
from console.commands._common import impact_level
from console.commands._incident_ops import SignalInput, apply_attach_signal, apply_change_severity, apply_open
from console.commands.escalation import apply_restart
from console.dto import incident_ref
from console.errors import InvalidInput
from console.escalation import is_night
from console.ingest.events import EventAction, SignalEvent
from console.oncall import on_call_for_team
from console.routing.graph import dependents, upstream_incident
from console.routing.rules import RuleEngine, Sample
from console.uow import Transaction, UnitOfWork
from models.enums import (
    AuditAction, ChangeEntity, DecisionKind, IncidentOrigin, IncidentStatus, PageReason, PersonRole, Severity,
    SignalKind, TimelineKind,
)
from models.incident import Incident, IncidentService
from models.org import Person, PersonRoleGrant, Service
from models.routing import Page

FLAP_WINDOW = timedelta(minutes=15)
# The sender's own word for how bad it is -> the taxonomy's level; anything else falls back to SEV3 (and says so).
HINT_SEVERITY = {
    "critical": Severity.SEV1, "sev1": Severity.SEV1, "p1": Severity.SEV1,
    "error": Severity.SEV2, "high": Severity.SEV2, "major": Severity.SEV2, "page": Severity.SEV2, "sev2": Severity.SEV2,
    "warning": Severity.SEV3, "medium": Severity.SEV3, "minor": Severity.SEV3, "sev3": Severity.SEV3,
    "info": Severity.SEV4, "low": Severity.SEV4, "sev4": Severity.SEV4,
}
DEFAULT_SEVERITY = Severity.SEV3


def route_signals(uow: UnitOfWork, *, events: Sequence[SignalEvent], engine: RuleEngine | None = None) -> Changes:
    """Take one request's signals in one transaction and act on each, with the reason recorded."""
    with uow.transaction(actor_id=None) as tx:
        services = {s.name: s for s in tx.session.execute(select(Service)).scalars()}
        for n, event in enumerate(events):  # all checked before anything is written
            if (event.service or "") not in services:
                known = ", ".join(sorted(services)[:20])
                raise InvalidInput(f"events[{n}].service: unknown service {event.service!r} (known: {known})")
        router = _Router(tx, services, engine)
        for event in events:
            router.route(event)
    return tx.changes()


class _Router:
    def __init__(self, tx: Transaction, services: dict[str, Service], engine: RuleEngine | None) -> None:
        self.tx, self.services, self.engine = tx, services, engine

    def route(self, event: SignalEvent) -> None:
        service = self.services[event.service or ""]
        if event.kind in (SignalKind.METRIC, SignalKind.SENTIMENT) or event.labels.get("metric"):
            self._evaluate(event, service)
            return
        fingerprint = f"{event.source}:{event.dedup_key}"
        current = self._open_incident(fingerprint)
        if event.action is not EventAction.TRIGGER:
            if current is not None:  # the source says it is over, or acknowledged there: noted, never auto-closed
                word = "resolved" if event.action is EventAction.RESOLVE else "acknowledged"
                self.tx.timeline(current, kind=TimelineKind.SIGNAL, text=f"{word} at the source ({event.source}): "
                                                                         f"{event.summary}")
                self.tx.touch_incident(current)
            return
        if current is not None:
            apply_attach_signal(self.tx, incident_id=current.id, signal=_signal(event))
            return
        self._trigger(event, service, fingerprint, severity=_hint_severity(event), why=_hint_reason(event))

    def _trigger(self, event: SignalEvent, service: Service, fingerprint: str, *, severity: Severity, why: str,
                 rule_id: str = "severity-hint", policy_version: str = "sender") -> None:
        if (flapped := self._recently_resolved(fingerprint)) is not None:
            self._reopen(flapped, event)
            return
        parent = upstream_incident(self.tx.session, service=service)
        if parent is not None:
            self._group_under(parent, event, service)
            return
        incident = apply_open(self.tx, title=event.summary or f"{event.kind} on {service.name}", severity=severity,
                              service_id=service.id, origin=IncidentOrigin.SIGNAL, signal=_signal(event))
        incident.fingerprint = fingerprint
        decisions.record(self.tx, incident_id=incident.id, kind=DecisionKind.SEVERITY, rule_id=rule_id,
                         policy_version=policy_version, summary=f"{severity}: {why}",
                         inputs={"source": event.source, "hint": event.severity_hint or ""})
        if service.tier.value == "foundational":
            self._tell_dependents(incident, service)
        if impact_level(self.tx, severity).page_executives:
            self._page_executives(incident)

    def _evaluate(self, event: SignalEvent, service: Service) -> None:
        if self.engine is None or event.value is None and event.kind is SignalKind.METRIC:
            return
        metric = event.labels.get("metric") or event.kind.value
        sample = Sample(service=service.name, tier=service.tier.value, metric=metric,
                        value=event.value if event.value is not None else 0.0, at=event.observed_at,
                        attributes=dict(event.attributes))
        for decided in self.engine.observe(sample=sample):
            if decided.action.value == "raise":
                self._raise_open(service, decided)
            else:
                self._trigger(event, service, f"rule:{decided.rule_id}:{service.name}", severity=decided.severity,
                              why=decided.reason, rule_id=decided.rule_id, policy_version=decided.policy_version)

    def _raise_open(self, service: Service, decided) -> None:  # type: ignore[no-untyped-def]
        open_here = self.tx.session.execute(select(Incident).where(
            Incident.service_id == service.id, Incident.status != IncidentStatus.RESOLVED)).scalars().all()
        for incident in open_here:
            if decided.severity.rank < incident.severity.rank:  # only ever raised, never lowered
                apply_change_severity(self.tx, incident_id=incident.id, severity=decided.severity,
                                      reason=decided.reason)
                decisions.record(self.tx, incident_id=incident.id, kind=DecisionKind.SEVERITY,
                                 rule_id=decided.rule_id, policy_version=decided.policy_version,
                                 summary=decided.reason, inputs=dict(decided.inputs),
                                 thresholds=dict(decided.thresholds))

    def _open_incident(self, fingerprint: str) -> Incident | None:
        return self.tx.session.execute(select(Incident).where(
            Incident.fingerprint == fingerprint, Incident.status != IncidentStatus.RESOLVED).limit(1)).scalar()

    def _recently_resolved(self, fingerprint: str) -> Incident | None:
        return self.tx.session.execute(select(Incident).where(
            Incident.fingerprint == fingerprint, Incident.status == IncidentStatus.RESOLVED,
            Incident.resolved_at >= self.tx.now - FLAP_WINDOW).order_by(Incident.resolved_at.desc()).limit(1)
        ).scalar()

    def _reopen(self, incident: Incident, event: SignalEvent) -> None:
        gap = self.tx.now - (incident.resolved_at or self.tx.now)
        incident.status, incident.resolved_at, incident.acknowledged_at = IncidentStatus.TRIGGERED, None, None
        incident.ack_deadline = self.tx.now + timedelta(minutes=impact_level(self.tx, incident.severity).ack_minutes)
        incident.updated_at = self.tx.now
        why = (f"fired again {int(gap.total_seconds() // 60)} min after it was resolved: reopened "
               f"{incident_ref(incident.id)} instead of opening another (flap window {FLAP_WINDOW.seconds // 60} min)")
        self.tx.timeline(incident, kind=TimelineKind.STATUS_CHANGED, text=f"Reopened: {why}")
        decisions.record(self.tx, incident_id=incident.id, kind=DecisionKind.GROUPING, rule_id="flap", summary=why)
        self.tx.audit(action=AuditAction.INCIDENT_GROUP, subject_type=ChangeEntity.INCIDENT, subject_id=incident.id,
                      before={"status": IncidentStatus.RESOLVED}, after={"status": IncidentStatus.TRIGGERED})
        apply_attach_signal(self.tx, incident_id=incident.id, signal=_signal(event))
        apply_restart(self.tx, incident)

    def _group_under(self, parent: Incident, event: SignalEvent, service: Service) -> None:
        parent_service = self.tx.session.get_one(Service, parent.service_id)
        why = (f"{service.name} depends on {parent_service.name} (foundational), which has {parent.severity} "
               f"{incident_ref(parent.id)} open: grouped there instead of paging {service.team.name} separately")
        known = {i.service_id for i in parent.impacted} | {parent.service_id}
        if service.id not in known:
            self.tx.session.add(IncidentService(incident_id=parent.id, service_id=service.id))
        apply_attach_signal(self.tx, incident_id=parent.id, signal=_signal(event))
        decisions.record(self.tx, incident_id=parent.id, kind=DecisionKind.GROUPING, rule_id="blast-radius",
                         summary=why, inputs={"service": service.name, "fingerprint": event.dedup_key})
        self.tx.audit(action=AuditAction.INCIDENT_GROUP, subject_type=ChangeEntity.INCIDENT, subject_id=parent.id,
                      before={}, after={"grouped": service.name})

    def _tell_dependents(self, incident: Incident, service: Service) -> None:
        told: set[int] = set()
        for dependent_id in sorted(dependents(self.tx.session, service_id=service.id)):
            dependent = self.tx.session.get_one(Service, dependent_id)
            for on_call in on_call_for_team(self.tx.session, team_id=dependent.team_id, at=self.tx.now):
                if on_call.person_id in told:
                    continue
                told.add(on_call.person_id)
                self._page(incident, on_call.person_id, PageReason.DEPENDENCY,
                           f"{service.name} (foundational) has {incident.severity} {incident_ref(incident.id)}: "
                           f"{dependent.name}, which you are on call for ({on_call.rotation}), depends on it")

    def _page_executives(self, incident: Incident) -> None:
        leaders = self.tx.session.execute(select(Person).join(PersonRoleGrant).where(
            PersonRoleGrant.role == PersonRole.LEADER, Person.active.is_(True))).scalars()
        for leader in leaders:
            self._page(incident, leader.id, PageReason.EXECUTIVE,
                       f"{incident.severity} reaches the executive tier in the impact policy")

    def _page(self, incident: Incident, person_id: int, reason: PageReason, why: str) -> None:
        person = self.tx.session.get_one(Person, person_id)
        self.tx.session.add(Page(incident_id=incident.id, person_id=person.id, reason=reason, step=None, why=why,
                                 paged_at=self.tx.now, night=is_night(person, self.tx.now)))
        self.tx.timeline(incident, kind=TimelineKind.PAGED, text=f"Told {person.name}: {why}")
        decisions.record(self.tx, incident_id=incident.id, kind=DecisionKind.ROUTING, rule_id=reason.value,
                         summary=f"Told {person.name}: {why}", inputs={"person_id": person.id})


def _signal(event: SignalEvent) -> SignalInput:
    return SignalInput(source=event.source.value, dedup_key=event.dedup_key, kind=SignalKind(event.kind.value),
                       summary=event.summary or event.dedup_key, observed_at=event.observed_at, value=event.value)


def _hint_severity(event: SignalEvent) -> Severity:
    return HINT_SEVERITY.get((event.severity_hint or "").strip().lower(), DEFAULT_SEVERITY)


def _hint_reason(event: SignalEvent) -> str:
    hint = (event.severity_hint or "").strip()
    if hint.lower() in HINT_SEVERITY:
        return f"the sender ({event.source}) rated it {hint!r}, which the taxonomy maps to {_hint_severity(event)}"
    return f"the sender ({event.source}) gave no severity the taxonomy knows ({hint or 'none'}): {DEFAULT_SEVERITY} " \
           f"until a person or a rule says otherwise"
