"""What the console shows of an incident's mitigations: each request with its decisions (signatures checked),
who could decide what is waiting and whether they are on call now, and the classes one may ask for.

Also `MitigationReader`, the read side the window uses off the GUI thread, and `precheck`, which tells a leader
before they type their passphrase whether they may decide at all.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from console.clock import Clock
from console.db import Database, reachable
from console.dto import PersonRef
from console.incident_detail import person_ref
from console.mitigations.rights_store import NO_RIGHTS, stored_rights
from console.mitigations.sign_off import DecisionDraft, decision_draft
from console.mitigations.rules import refusal
from console.mitigations.signed import check_decision, mitigation_ref
from console.oncall import OnCallLookup
from models.enums import AskState, MitigationState, Severity
from models.incident import Incident
from models.mitigation import Mitigation, MitigationAsk, MitigationDecision, SigningKey
from models.org import Person, Service
from models.policy import Leave, Rotation

LIVE = (MitigationState.ACTIVE, MitigationState.EXPIRED)


@dataclass(frozen=True)
class ClassInfo:
    name: str
    description: str
    max_minutes: int


@dataclass(frozen=True)
class Approver:
    person: PersonRef
    on_call: str  # the rotation they are on call for now, or ""
    away: str  # why they cannot be reached (leave), or ""
    has_key: bool  # a signing key registered in this database


@dataclass(frozen=True)
class DecisionItem:
    kind: str
    verdict: str
    reason: str
    by: PersonRef | None
    at: datetime
    valid: bool
    problem: str


@dataclass(frozen=True)
class AskItem:
    id: int
    kind: str
    minutes: int
    reason: str
    requested_by: PersonRef | None
    requested_at: datetime


@dataclass(frozen=True)
class MitigationItem:
    id: int
    ref: str
    action: str
    action_class: str
    services: tuple[str, ...]
    regions: tuple[str, ...]
    tenants: tuple[str, ...]
    risk: str
    evidence: str
    revert_plan: str
    minutes: int
    state: MitigationState
    requested_by: PersonRef | None
    requested_at: datetime
    approved_at: datetime | None
    expires_at: datetime | None
    ended_at: datetime | None
    end_reason: str
    pending: AskItem | None
    decisions: tuple[DecisionItem, ...]
    approvers: tuple[Approver, ...]  # who could decide what is pending now

    @property
    def live(self) -> bool:
        return self.state in LIVE


@dataclass(frozen=True)
class MitigationsView:
    incident_id: int
    severity: Severity
    items: tuple[MitigationItem, ...]
    classes: tuple[ClassInfo, ...]
    services: tuple[str, ...]  # every service, for the scope
    default_services: tuple[str, ...]  # the incident's own
    no_rights: str  # why nobody can approve anything here, or ""


def mitigations_view(session: Session, *, incident_id: int, at: datetime) -> MitigationsView:
    """Return an incident's mitigations as of `at`."""
    incident = session.get_one(Incident, incident_id)
    rights = stored_rights(session)
    # Roles loaded with the people: person_ref reads them, and lazily that was a query per person.
    people = {p.id: p for p in session.execute(select(Person).options(selectinload(Person.roles))).scalars()}
    refs = {i: person_ref(p) for i, p in people.items()}
    rows = session.execute(select(Mitigation).where(Mitigation.incident_id == incident_id)
                           .order_by(Mitigation.id.desc())).scalars().all()
    asks = {a.id: a for a in session.execute(select(MitigationAsk).where(
        MitigationAsk.incident_id == incident_id)).scalars()}
    decisions = session.execute(select(MitigationDecision).where(MitigationDecision.incident_id == incident_id)
                                .order_by(MitigationDecision.id)).scalars().all()
    # Who is on call, away or has a key matters only for who could decide what waits: most reloads have nothing.
    waiting = rights is not None and any(a.state is AskState.PENDING for a in asks.values())
    on_call = _on_call_now(session, at=at) if waiting else {}
    away = set(session.execute(select(Leave.person_id).where(Leave.starts_at <= at, Leave.ends_at > at))
               .scalars()) if waiting else set()
    keyed = set(session.execute(select(SigningKey.person_id).where(SigningKey.revoked_at.is_(None)))
                .scalars()) if waiting else set()
    by_handle = {p.handle: p for p in people.values()}
    items = []
    for row in rows:
        scope = json.loads(row.scope)
        pending = next((a for a in asks.values() if a.mitigation_id == row.id and a.state is AskState.PENDING), None)
        approvers: tuple[Approver, ...] = ()
        if pending is not None and rights is not None:
            holders = rights.holders_for(action_class=row.action_class, services=scope["services"],
                                         severity=incident.severity)
            approvers = tuple(Approver(person=refs[by_handle[h].id], on_call=on_call.get(by_handle[h].id, ""),  # type: ignore[arg-type]
                                       away="on leave" if by_handle[h].id in away else "",
                                       has_key=by_handle[h].id in keyed)
                              for h in holders if h in by_handle and by_handle[h].active)
        items.append(MitigationItem(
            id=row.id, ref=mitigation_ref(row.id), action=row.action, action_class=row.action_class,
            services=tuple(scope["services"]), regions=tuple(scope["regions"]), tenants=tuple(scope["tenants"]),
            risk=row.risk.value, evidence=row.evidence, revert_plan=row.revert_plan, minutes=row.minutes,
            state=row.state, requested_by=refs.get(row.requested_by), requested_at=row.requested_at,
            approved_at=row.approved_at, expires_at=row.expires_at, ended_at=row.ended_at, end_reason=row.end_reason,
            pending=None if pending is None else AskItem(
                id=pending.id, kind=pending.kind.value, minutes=pending.minutes, reason=pending.reason,
                requested_by=refs.get(pending.requested_by), requested_at=pending.requested_at),
            decisions=tuple(_decision(session, d, asks, refs) for d in decisions
                            if asks[d.ask_id].mitigation_id == row.id),
            approvers=approvers))
    service = session.get_one(Service, incident.service_id)
    return MitigationsView(
        incident_id=incident_id, severity=incident.severity, items=tuple(items),
        classes=tuple(ClassInfo(c.name, c.description, c.max_minutes) for c in rights.classes) if rights else (),
        services=tuple(session.execute(select(Service.name).order_by(Service.name)).scalars()),
        default_services=(service.name,), no_rights="" if rights else NO_RIGHTS)


def _decision(session: Session, decision: MitigationDecision, asks: dict[int, MitigationAsk],
              refs: dict[int, PersonRef | None]) -> DecisionItem:
    check = check_decision(session, decision=decision)
    return DecisionItem(kind=asks[decision.ask_id].kind.value, verdict=decision.verdict.value, reason=decision.reason,
                        by=refs.get(decision.decided_by), at=decision.decided_at, valid=check.valid,
                        problem=check.reason)


def _on_call_now(session: Session, *, at: datetime) -> dict[int, str]:
    lookup = OnCallLookup(session, at=at)
    found: dict[int, str] = {}
    for rotation in session.execute(select(Rotation).order_by(Rotation.name)).scalars():
        entry = lookup.rotation(rotation)
        if entry is not None:
            found.setdefault(entry.person_id, rotation.name)
    return found


def precheck(session: Session, *, ask_id: int, leader_id: int) -> str | None:
    """Return why this leader may not decide this ask (four eyes, no right), or None when they may."""
    ask = session.get(MitigationAsk, ask_id)
    if ask is None:
        return f"there is no request #{ask_id}"
    mitigation = session.get_one(Mitigation, ask.mitigation_id)
    leader = session.get_one(Person, leader_id)
    stop = refusal(ask=ask, mitigation=mitigation, incident=session.get_one(Incident, mitigation.incident_id),
                   leader_id=leader_id, leader_handle=leader.handle, rights=stored_rights(session))
    return None if stop is None else str(stop)


@dataclass(frozen=True)
class LiveMitigation:
    """An approved mitigation still in place, for the expiry banner."""

    id: int
    incident_id: int
    ref: str
    action: str
    expires_at: datetime | None


@dataclass(frozen=True)
class SigningKeyInfo:
    public_key: str
    created_at: datetime


class MitigationReader:
    """Mitigation reads in short transactions; safe to call from any worker thread."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db, self.clock = db, clock

    def view(self, *, incident_id: int) -> MitigationsView:
        with reachable(self._db), self._db.reader() as session:
            return mitigations_view(session, incident_id=incident_id, at=self.clock.now())

    def draft(self, *, ask_id: int) -> DecisionDraft:
        with reachable(self._db), self._db.reader() as session:
            return decision_draft(session, ask_id=ask_id)

    def precheck(self, *, ask_id: int, leader_id: int) -> str | None:
        with reachable(self._db), self._db.reader() as session:
            return precheck(session, ask_id=ask_id, leader_id=leader_id)

    def registered_keys(self, *, person_id: int) -> tuple[SigningKeyInfo, ...]:
        """Return a person's signing keys that are not revoked."""
        with reachable(self._db), self._db.reader() as session:
            return tuple(SigningKeyInfo(k.public_key, k.created_at) for k in session.execute(
                select(SigningKey).where(SigningKey.person_id == person_id, SigningKey.revoked_at.is_(None))
                .order_by(SigningKey.id)).scalars())

    def live_mitigations(self) -> tuple[LiveMitigation, ...]:
        """Return every approved mitigation not yet reverted, soonest expiry first."""
        with reachable(self._db), self._db.reader() as session:
            return tuple(LiveMitigation(m.id, m.incident_id, mitigation_ref(m.id), m.action, m.expires_at)
                         for m in session.execute(select(Mitigation).where(Mitigation.state.in_(LIVE))
                                                  .order_by(Mitigation.expires_at)).scalars())
