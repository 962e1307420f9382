"""Route incoming signals: deduplicate, group under an upstream foundational incident, reopen on a flap, or
open an incident with the severity the taxonomy gives; the impact policy then says whom to page and inform.
Every step is explained in a stored decision.

Signals come from the ingest server (`route_signals`: one request's events in one transaction, all taken or
none) and from rows any client wrote straight into the signals table (commands/signal_rows.py).
"""
from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, text, tuple_

from console import decisions
from console.changes import Changes
from console.commands._common import impact_level
from console.commands._incident_ops import apply_change_severity, apply_open
from console.commands._signal_ops import SignalInput, apply_attach_signal, apply_attach_signal_to
from console.commands.escalation import apply_restart
from console.dto import incident_ref
from console.errors import InvalidInput
from console.ingest.events import EventAction, SignalEvent
from console.routing.graph import service_edges, upstream_incident
from console.routing.rules import Decision as RuleDecision
from console.routing.rules import RuleEngine, Sample
from console.uow import Transaction, UnitOfWork
from models.enums import (
    AuditAction, ChangeEntity, DecisionKind, IncidentOrigin, IncidentStatus, Severity, SignalKind, TimelineKind,
)
from models.incident import Incident, IncidentService, Signal
from models.org import Person, Service
from models.routing import Decision

FLAP_WINDOW = timedelta(minutes=15)
UNGROUP_RULE = "ungroup"  # rule id of a person's decision to take a service out of a blast radius
# The sender's own word for how bad it is -> the taxonomy's level; anything else falls back to SEV3 (and says so).
HINT_SEVERITY = {
    "critical": Severity.SEV1, "sev1": Severity.SEV1, "p1": Severity.SEV1,
    "error": Severity.SEV2, "high": Severity.SEV2, "major": Severity.SEV2, "page": Severity.SEV2, "sev2": Severity.SEV2,
    "p2": Severity.SEV2,
    "warning": Severity.SEV3, "medium": Severity.SEV3, "minor": Severity.SEV3, "sev3": Severity.SEV3,
    "p3": Severity.SEV3,
    "info": Severity.SEV4, "low": Severity.SEV4, "sev4": Severity.SEV4, "p4": Severity.SEV4,
}
DEFAULT_SEVERITY = Severity.SEV3
# Advisory locks per fingerprint live in their own key space (the audit chain's lock is a single bigint key).
FINGERPRINT_LOCK_SPACE = 0x1CC
FINGERPRINT_LOCK = text("SELECT count(pg_advisory_xact_lock(:space, hashtext(fp))) "
                        "FROM (SELECT unnest(CAST(:fingerprints AS text[])) AS fp ORDER BY 1) AS sorted")


@dataclass(frozen=True)
class _Observation:
    """One signal to route, from an ingest event or from a row in the signals table."""

    source: str
    action: EventAction
    dedup_key: str
    service: Service
    kind: SignalKind
    summary: str
    severity_hint: str | None
    value: float | None
    observed_at: datetime
    metric: str | None
    attributes: Mapping[str, str] = field(default_factory=dict)
    row_id: int | None = None  # the pending row this came from


def route_signals(uow: UnitOfWork, *, events: Sequence[SignalEvent], engine: RuleEngine | None = None) -> Changes:
    """Take one request's signals in one transaction and act on each, with the reason recorded."""
    with _rules_follow(engine):
        return _route_events(uow, events=events, engine=engine)


@contextmanager
def _rules_follow(engine: RuleEngine | None) -> Iterator[None]:
    """Keep the rule engine's decisions only if the transaction that acted on them commits: a rule that fired in
    a transaction that failed fires again when the sender retries."""
    if engine is None:
        yield
        return
    engine.begin()
    try:
        yield
    except BaseException:
        engine.rollback()
        raise
    engine.commit()


def _route_events(uow: UnitOfWork, *, events: Sequence[SignalEvent], engine: RuleEngine | None) -> Changes:
    with uow.transaction(actor_id=None) as tx:
        named = sorted({event.service or "" for event in events})
        services = {s.name: s for s in tx.session.execute(select(Service).where(Service.name.in_(named))).scalars()}
        for n, event in enumerate(events):  # all checked before anything is written
            if (event.service or "") not in services:
                known = ", ".join(tx.session.execute(select(Service.name).order_by(Service.name).limit(20)).scalars())
                raise InvalidInput(f"events[{n}].service: unknown service {event.service!r} (known: {known})")
        router = _Router(tx, engine)
        observations = [_from_event(event, services[event.service or ""]) for event in events]
        router.lock_fingerprints(observations)
        router.prefetch(observations)
        for observation in observations:
            router.route(observation)
    return tx.changes()


def lock_fingerprints(tx: Transaction, *, fingerprints: set[str]) -> None:
    """On PostgreSQL, hold a lock per alert fingerprint until commit, so that two routers given the same alert at
    once (two ingest servers behind Alertmanager's HA pair, a console and a server) open one incident, and a
    person splitting a service off never races a router attaching that service's alerts."""
    if not fingerprints or tx.session.get_bind().dialect.name != "postgresql":
        return  # SQLite: BEGIN IMMEDIATE already lets one writer in at a time
    # Sorted, so two batches with the same alerts in another order wait for each other instead of deadlocking;
    # one statement for the whole batch, as each round trip costs more than the lock.
    tx.session.execute(FINGERPRINT_LOCK, {"space": FINGERPRINT_LOCK_SPACE, "fingerprints": sorted(fingerprints)})


def _from_event(event: SignalEvent, service: Service) -> _Observation:
    return _Observation(
        source=event.source.value, action=event.action, dedup_key=event.dedup_key, service=service,
        kind=SignalKind(event.kind.value), summary=event.summary or event.dedup_key,
        severity_hint=event.severity_hint, value=event.value, observed_at=event.observed_at,
        metric=event.labels.get("metric"), attributes=dict(event.attributes),
    )


class _Router:
    """Routes one transaction's signals; it remembers what it looked up, as the batch may hit the same incidents."""

    def __init__(self, tx: Transaction, engine: RuleEngine | None) -> None:
        self.tx, self.engine = tx, engine
        self._by_fingerprint: dict[str, Incident | None] = {}  # open incidents, as this transaction leaves them
        self._edges: list[tuple[int, int]] | None = None
        self._parents: dict[int, Incident | None] = {}  # service -> the open foundational incident upstream
        self._grouped: dict[int, set[int]] = {}  # incident -> its services, with those grouped in this transaction

    def prefetch(self, items: Sequence[_Observation | Signal]) -> None:
        """Look up, in two queries, the open incident every alert of the batch belongs to."""
        wanted = {f"{item.source}:{item.dedup_key}": (item.source, item.dedup_key) for item in items}
        for fingerprint in set(self._by_fingerprint) & set(wanted):
            del wanted[fingerprint]
        if wanted:
            self._by_fingerprint.update(self._find_open(wanted))

    def _find_open(self, wanted: dict[str, tuple[str, str]]) -> dict[str, Incident | None]:
        """Return the open incident of each fingerprint: the one it opened, else the one its signals joined
        (grouped under a foundational incident, split off by a person, attached by a rule)."""
        found: dict[str, Incident | None] = dict.fromkeys(wanted)
        for incident in self.tx.session.execute(select(Incident).where(
                Incident.fingerprint.in_(sorted(wanted)), Incident.status != IncidentStatus.RESOLVED)).scalars():
            found[incident.fingerprint] = incident  # type: ignore[index]
        rest = [pair for fingerprint, pair in wanted.items() if found[fingerprint] is None]
        if rest:
            # The newest signal of each alert says where it went last (after a split: where the signals moved).
            # Routed signals only: a row waiting in the table (this very one, perhaps) has not gone anywhere yet.
            newest = (select(func.max(Signal.id)).where(tuple_(Signal.source, Signal.dedup_key).in_(rest),
                                                        Signal.incident_id.is_not(None))
                      .group_by(Signal.source, Signal.dedup_key))
            joined = self.tx.session.execute(
                select(Signal.source, Signal.dedup_key, Incident).join(Incident, Incident.id == Signal.incident_id)
                .where(Signal.id.in_(newest), Incident.status != IncidentStatus.RESOLVED))
            for source, key, incident in joined:
                found[f"{source}:{key}"] = incident
        return found

    def lock_fingerprints(self, items: Sequence[_Observation | Signal]) -> None:
        """Hold a lock per alert until commit (see lock_fingerprints)."""
        lock_fingerprints(self.tx, fingerprints={f"{item.source}:{item.dedup_key}" for item in items})

    def route(self, obs: _Observation) -> None:
        if obs.kind in (SignalKind.METRIC, SignalKind.SENTIMENT) or obs.metric:
            self._evaluate(obs)
            return
        fingerprint = f"{obs.source}:{obs.dedup_key}"
        current = self._open_incident(fingerprint, source=obs.source, key=obs.dedup_key)
        if obs.action is not EventAction.TRIGGER:
            if current is not None:  # the source says it is over, or acknowledged there: noted, never auto-closed
                word = "resolved" if obs.action is EventAction.RESOLVE else "acknowledged"
                self.tx.timeline(current, kind=TimelineKind.SIGNAL, text=f"{word} at the source ({obs.source}): "
                                                                         f"{obs.summary}")
                self.tx.touch_incident(current)
            return
        if current is not None:
            apply_attach_signal_to(self.tx, incident=current, signal=_signal(obs))
            return
        self._trigger(obs, fingerprint, severity=_hint_severity(obs), why=_hint_reason(obs))

    def _trigger(self, obs: _Observation, fingerprint: str, *, severity: Severity, why: str,
                 rule_id: str = "severity-hint", policy_version: str = "sender", title: str | None = None) -> None:
        if (flapped := self._recently_resolved(fingerprint)) is not None:
            self._reopen(flapped, obs)
            return
        service = obs.service
        parent = self._upstream(service)
        if parent is not None:
            split = self._ungrouped(parent, service)
            if not split:
                self._group_under(parent, obs)
                return
            if (child := self._open_split(split)) is not None:
                # A person split the service off into its own incident: while that is open, its alerts are there.
                apply_attach_signal(self.tx, incident_id=child.id, signal=_signal(obs))
                decisions.record(self.tx, incident_id=child.id, kind=DecisionKind.GROUPING, rule_id=UNGROUP_RULE,
                                 summary=f"{service.name} was split off {incident_ref(parent.id)} by hand: this alert "
                                         f"joined {incident_ref(child.id)} instead of opening another",
                                 inputs={"service": service.name, "fingerprint": obs.dedup_key})
                return
        title = title or obs.summary or f"{obs.kind} on {service.name}"
        incident = apply_open(self.tx, title=title[:300], severity=severity, service_id=service.id,
                              origin=IncidentOrigin.SIGNAL, signal=_signal(obs), fingerprint=fingerprint)
        self._by_fingerprint[fingerprint] = incident  # the next signal of this batch with this key joins it
        self._parents.clear()  # it may be a foundational incident that later signals of the batch group under
        decisions.record(self.tx, incident_id=incident.id, kind=DecisionKind.SEVERITY, rule_id=rule_id,
                         policy_version=policy_version, summary=f"{severity}: {why}",
                         inputs={"source": obs.source, "hint": obs.severity_hint or ""})

    def _evaluate(self, obs: _Observation) -> None:
        if self.engine is None or obs.value is None and obs.kind is SignalKind.METRIC:
            return
        service = obs.service
        sample = Sample(service=service.name, tier=service.tier.value, metric=obs.metric or obs.kind.value,
                        value=obs.value if obs.value is not None else 0.0, at=obs.observed_at,
                        attributes=dict(obs.attributes))
        for decided in self.engine.observe(sample=sample):
            if decided.action.value == "raise":
                self._raise_open(service, decided)
                continue
            fingerprint = f"rule:{decided.rule_id}:{service.name}"
            if (current := self._open_incident(fingerprint) or self._open_on(service)) is not None:
                # The rule fired again, or the service already has an incident open: one problem, one incident.
                apply_attach_signal(self.tx, incident_id=current.id, signal=_signal(obs, summary=decided.reason))
                self._raise(current, decided)
                continue
            rule = self.engine.policy.rule(rule_id=decided.rule_id)
            self._trigger(obs, fingerprint, severity=decided.severity, why=decided.reason, rule_id=decided.rule_id,
                          policy_version=decided.policy_version,
                          title=f"{service.name}: {rule.description.rstrip('.')}")

    def _raise_open(self, service: Service, decided: RuleDecision) -> None:
        open_here = self.tx.session.execute(select(Incident).where(
            Incident.service_id == service.id, Incident.status != IncidentStatus.RESOLVED)).scalars().all()
        for incident in open_here:
            self._raise(incident, decided)

    def _raise(self, incident: Incident, decided: RuleDecision) -> None:
        """Raise an incident to the rule's severity, never lower it, and never undo a person's override silently."""
        if decided.severity.rank >= incident.severity.rank:
            return
        if (kept_by := self._overridden_by(incident, rule_id=decided.rule_id)) is not None:
            decisions.record(self.tx, incident_id=incident.id, kind=DecisionKind.SEVERITY, rule_id=decided.rule_id,
                             policy_version=decided.policy_version, inputs=dict(decided.inputs),
                             thresholds=dict(decided.thresholds),
                             summary=f"{decided.reason}; kept {incident.severity}, which {kept_by} set after this rule "
                                     f"raised it before: change it by hand if the new evidence warrants it")
            self.tx.timeline(incident, kind=TimelineKind.NOTE,
                             text=f"Rule {decided.rule_id} holds again; severity left at {incident.severity} as "
                                  f"{kept_by} set it")
            return
        apply_change_severity(self.tx, incident_id=incident.id, severity=decided.severity, reason=decided.reason)
        decisions.record(self.tx, incident_id=incident.id, kind=DecisionKind.SEVERITY, rule_id=decided.rule_id,
                         policy_version=decided.policy_version, summary=decided.reason, inputs=dict(decided.inputs),
                         thresholds=dict(decided.thresholds))

    def _overridden_by(self, incident: Incident, *, rule_id: str) -> str | None:
        """Return who last set the severity by hand after this rule first acted on the incident, if anyone did."""
        if incident.severity_set_by is None:
            return None
        # A person's severity decisions only: stopping an escalation or splitting a service off is not one.
        rows = self.tx.session.execute(select(Decision.rule_id, Decision.decided_by).where(
            Decision.incident_id == incident.id, Decision.kind.in_((DecisionKind.SEVERITY, DecisionKind.OVERRIDE)),
            or_(Decision.decided_by.is_(None), Decision.rule_id == decisions.MANUAL))
            .order_by(Decision.id)).all()
        rule_acted, person = False, None
        for decided_rule, decided_by in rows:
            if decided_by is None:
                # Once a person decided after the rule acted, the rule's later decisions are the notes that it held
                # again (recorded above); they must not wipe the person's decision out.
                rule_acted = rule_acted or decided_rule == rule_id
            elif rule_acted:
                person = decided_by
        return self.tx.session.get_one(Person, person).name if person is not None else None

    def _open_incident(self, fingerprint: str, *, source: str = "", key: str = "") -> Incident | None:
        if fingerprint not in self._by_fingerprint:
            pair = (source, key) if source else tuple(fingerprint.split(":", 1))
            self._by_fingerprint.update(self._find_open({fingerprint: pair}))  # type: ignore[dict-item]
        return self._by_fingerprint[fingerprint]

    def _upstream(self, service: Service) -> Incident | None:
        if service.id not in self._parents:
            if self._edges is None:
                self._edges = service_edges(self.tx.session)
            self._parents[service.id] = upstream_incident(self.tx.session, service=service, edges=self._edges)
        return self._parents[service.id]

    def _open_on(self, service: Service) -> Incident | None:
        return self.tx.session.execute(select(Incident).where(
            Incident.service_id == service.id, Incident.status != IncidentStatus.RESOLVED,
            Incident.parent_id.is_(None)).order_by(Incident.severity, Incident.opened_at).limit(1)).scalar()

    def _recently_resolved(self, fingerprint: str) -> Incident | None:
        return self.tx.session.execute(select(Incident).where(
            Incident.fingerprint == fingerprint, Incident.status == IncidentStatus.RESOLVED,
            Incident.resolved_at >= self.tx.now - FLAP_WINDOW).order_by(Incident.resolved_at.desc()).limit(1)
        ).scalar()

    def _ungrouped(self, parent: Incident, service: Service) -> list[int]:
        """Return the incidents a person split this service off the parent into (empty: never split off)."""
        found = self.tx.session.execute(select(Decision.inputs).where(
            Decision.incident_id == parent.id, Decision.kind == DecisionKind.OVERRIDE,
            Decision.rule_id == UNGROUP_RULE).order_by(Decision.id)).scalars()
        return [data.get("incident_id") for data in map(json.loads, found) if data.get("service") == service.name]

    def _open_split(self, incident_ids: list[int]) -> Incident | None:
        """Return the newest of these split-off incidents that is still open, if any."""
        for incident_id in reversed(incident_ids):
            incident = self.tx.session.get(Incident, incident_id) if incident_id is not None else None
            if incident is not None and incident.status is not IncidentStatus.RESOLVED:
                return incident
        return None

    def _reopen(self, incident: Incident, obs: _Observation) -> None:
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
        apply_attach_signal(self.tx, incident_id=incident.id, signal=_signal(obs))
        apply_restart(self.tx, incident)
        self._by_fingerprint[incident.fingerprint or ""] = incident  # the next signal of this batch joins it
        self.tx.session.flush()  # and so do queries that look for it open

    def _group_under(self, parent: Incident, obs: _Observation) -> None:
        service = obs.service
        grouped = self._grouped.setdefault(parent.id, {i.service_id for i in parent.impacted} | {parent.service_id})
        apply_attach_signal_to(self.tx, incident=parent, signal=_signal(obs))
        self._by_fingerprint[f"{obs.source}:{obs.dedup_key}"] = parent  # its repeats in this batch join it too
        if service.id in grouped:
            return  # in the blast radius already, with the reason recorded when it joined: the alert is noted
        grouped.add(service.id)
        self.tx.session.add(IncidentService(incident_id=parent.id, service_id=service.id))
        parent_service = self.tx.session.get_one(Service, parent.service_id)
        why = (f"{service.name} depends on {parent_service.name} (foundational), which has {parent.severity} "
               f"{incident_ref(parent.id)} open: grouped there instead of paging {service.team.name} separately")
        decisions.record(self.tx, incident_id=parent.id, kind=DecisionKind.GROUPING, rule_id="blast-radius",
                         summary=why, inputs={"service": service.name, "fingerprint": obs.dedup_key})
        self.tx.audit(action=AuditAction.INCIDENT_GROUP, subject_type=ChangeEntity.INCIDENT, subject_id=parent.id,
                      before={}, after={"grouped": service.name})


def _signal(obs: _Observation, *, summary: str | None = None) -> SignalInput:
    return SignalInput(source=obs.source, dedup_key=obs.dedup_key, kind=obs.kind,
                       summary=summary or obs.summary or obs.dedup_key, observed_at=obs.observed_at, value=obs.value,
                       severity_hint=obs.severity_hint, attributes=dict(obs.attributes), service_id=obs.service.id,
                       row_id=obs.row_id)


def _hint_severity(obs: _Observation) -> Severity:
    return HINT_SEVERITY.get((obs.severity_hint or "").strip().lower(), DEFAULT_SEVERITY)


def _hint_reason(obs: _Observation) -> str:
    hint = (obs.severity_hint or "").strip()
    if hint.lower() in HINT_SEVERITY:
        return f"the sender ({obs.source}) rated it {hint!r}, which the taxonomy maps to {_hint_severity(obs)}"
    return (f"the sender ({obs.source}) gave no severity the taxonomy knows ({hint or 'none'}): {DEFAULT_SEVERITY} "
            f"until a person or a rule says otherwise")
