"""Mitigation commands: request one, withdraw it, ask for more time, revert it, page a leader who could approve.

Approving and rejecting are in console/commands/mitigation_decide.py (signed decisions), and so is the tick
that reminds before an approved mitigation expires and marks it expired after.
"""
from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy import select

from console.audit import canonical_json
from console.changes import Changes
from console.commands._common import clean_text, load_incident, load_person, parse_enum, require_open
from console.errors import Conflict, InvalidInput, InvalidTransition, NotFound
from console.mitigations.rights_store import required_rights
from console.mitigations.signed import mitigation_ref
from console.uow import Transaction, UnitOfWork
from models.enums import (
    AskKind,
    AskState,
    AuditAction,
    ChangeEntity,
    MitigationRisk,
    MitigationState,
    PageReason,
    TimelineKind,
)
from models.incident import Incident
from models.mitigation import Mitigation, MitigationAsk
from models.org import Service
from models.routing import Page

MAX_SCOPE = 50
SCOPE_ITEM = 100
LIVE = (MitigationState.ACTIVE, MitigationState.EXPIRED)


def request_mitigation(uow: UnitOfWork, *, actor_id: int, incident_id: int, action: str, action_class: str,
                       services: Sequence[str], regions: Sequence[str] = (), tenants: Sequence[str] = (),
                       risk: str, evidence: str, revert_plan: str, minutes: int,
                       idempotency_key: str | None = None) -> Changes:
    """Ask for a temporary mitigation on an incident; a leader holding the right must approve it."""
    with uow.transaction(actor_id=actor_id, idempotency_key=idempotency_key) as tx:
        apply_request(tx, incident=load_incident(tx, incident_id), action=action, action_class=action_class,
                      services=services, regions=regions, tenants=tenants, risk=risk, evidence=evidence,
                      revert_plan=revert_plan, minutes=minutes)
    return tx.changes()


def apply_request(tx: Transaction, *, incident: Incident, action: str, action_class: str, services: Sequence[str],
                  regions: Sequence[str], tenants: Sequence[str], risk: str, evidence: str, revert_plan: str,
                  minutes: int) -> Mitigation:
    """Record a mitigation request by the transaction's actor, waiting for a leader's decision."""
    assert tx.actor is not None, "a mitigation is requested by a person"
    action = clean_text(action, field="the action (what will be done)", limit=500)
    evidence = clean_text(evidence, field="the evidence (why this will help)")
    revert_plan = clean_text(revert_plan, field="the revert plan (how to undo it)")
    level = parse_enum(MitigationRisk, risk, field="risk")
    require_open(incident, action="request a mitigation on")
    kind = required_rights(tx.session).action_class(name=action_class)
    _check_minutes(minutes, limit=kind.max_minutes, what=f"a {kind.name} mitigation")
    scope = {"services": _services(tx, services), "regions": _items(regions, field="regions"),
             "tenants": _items(tenants, field="tenants")}
    mitigation = Mitigation(incident_id=incident.id, action=action, action_class=kind.name,
                            scope=canonical_json(scope), risk=level, evidence=evidence, revert_plan=revert_plan,
                            minutes=minutes, state=MitigationState.REQUESTED, requested_by=tx.actor.id,
                            requested_at=tx.now, end_reason="")
    tx.session.add(mitigation)
    tx.session.flush()
    tx.session.add(MitigationAsk(mitigation_id=mitigation.id, incident_id=incident.id, kind=AskKind.INITIAL,
                                 requested_by=tx.actor.id, requested_at=tx.now, minutes=minutes, reason="",
                                 state=AskState.PENDING))
    tx.timeline(incident, kind=TimelineKind.MITIGATION,
                text=f"{tx.actor.name} asked to {action} ({kind.name}, {level} risk, for {_span(minutes)}): "
                     f"{mitigation_ref(mitigation.id)} awaits a leader's approval")
    tx.audit(action=AuditAction.MITIGATION_REQUEST, subject_type=ChangeEntity.INCIDENT, subject_id=incident.id,
             before={}, after={"mitigation": mitigation.id, "action": action, "class": kind.name, "scope": scope,
                               "risk": level, "evidence": evidence, "revert_plan": revert_plan, "minutes": minutes})
    tx.touch_incident(incident)
    return mitigation


def withdraw_mitigation(uow: UnitOfWork, *, actor_id: int, mitigation_id: int, reason: str,
                        idempotency_key: str | None = None) -> Changes:
    """Withdraw a request nobody has decided yet (no longer needed, or asked wrongly)."""
    reason = clean_text(reason, field="a reason for withdrawing", limit=2000)
    with uow.transaction(actor_id=actor_id, idempotency_key=idempotency_key) as tx:
        mitigation, incident = load_mitigation(tx, mitigation_id)
        if mitigation.state is not MitigationState.REQUESTED:
            raise InvalidTransition(f"{mitigation_ref(mitigation.id)} is {mitigation.state}: only a request not yet "
                                    "decided can be withdrawn")
        _end(tx, incident, mitigation, state=MitigationState.WITHDRAWN, action=AuditAction.MITIGATION_WITHDRAW,
             verb="withdrew", reason=reason)
    return tx.changes()


def request_extension(uow: UnitOfWork, *, actor_id: int, mitigation_id: int, minutes: int, reason: str,
                      idempotency_key: str | None = None) -> Changes:
    """Ask for more time on an approved mitigation; like the mitigation itself, a leader must approve it."""
    reason = clean_text(reason, field="a reason for the extension", limit=2000)
    with uow.transaction(actor_id=actor_id, idempotency_key=idempotency_key) as tx:
        mitigation, incident = load_mitigation(tx, mitigation_id)
        if mitigation.state not in LIVE:
            raise InvalidTransition(f"{mitigation_ref(mitigation.id)} is {mitigation.state}: only an approved "
                                    "mitigation can be extended")
        if pending_asks(tx, mitigation.id):
            raise InvalidTransition(f"{mitigation_ref(mitigation.id)} already has an extension waiting for a "
                                    "decision")
        kind = required_rights(tx.session).action_class(name=mitigation.action_class)
        _check_minutes(minutes, limit=kind.max_minutes, what="an extension")
        tx.session.add(MitigationAsk(mitigation_id=mitigation.id, incident_id=incident.id, kind=AskKind.EXTENSION,
                                     requested_by=actor_id, requested_at=tx.now, minutes=minutes, reason=reason,
                                     state=AskState.PENDING))
        tx.timeline(incident, kind=TimelineKind.MITIGATION,
                    text=f"{tx.actor_label} asked to extend {mitigation_ref(mitigation.id)} by {_span(minutes)}: "
                         f"{reason} (awaits a leader's approval)")
        tx.audit(action=AuditAction.MITIGATION_EXTEND_REQUEST, subject_type=ChangeEntity.INCIDENT,
                 subject_id=incident.id, before={"mitigation": mitigation.id, "expires_at": mitigation.expires_at},
                 after={"mitigation": mitigation.id, "minutes": minutes, "reason": reason})
        tx.touch_incident(incident)
    return tx.changes()


def revert_mitigation(uow: UnitOfWork, *, actor_id: int, mitigation_id: int, reason: str,
                      idempotency_key: str | None = None) -> Changes:
    """Record that an approved mitigation was undone (its revert plan carried out)."""
    reason = clean_text(reason, field="what was done to revert it", limit=2000)
    with uow.transaction(actor_id=actor_id, idempotency_key=idempotency_key) as tx:
        mitigation, incident = load_mitigation(tx, mitigation_id)
        if mitigation.state not in LIVE:
            raise InvalidTransition(f"{mitigation_ref(mitigation.id)} is {mitigation.state}: only an approved "
                                    "mitigation can be reverted")
        _end(tx, incident, mitigation, state=MitigationState.REVERTED, action=AuditAction.MITIGATION_REVERT,
             verb="reverted", reason=reason)
    return tx.changes()


def page_approver(uow: UnitOfWork, *, actor_id: int, mitigation_id: int, person_id: int,
                  idempotency_key: str | None = None) -> Changes:
    """Page a leader who holds the right to decide a waiting request."""
    with uow.transaction(actor_id=actor_id, idempotency_key=idempotency_key) as tx:
        mitigation, incident = load_mitigation(tx, mitigation_id)
        require_open(incident, action="page an approver for")
        asks = pending_asks(tx, mitigation.id)
        if not asks:
            raise InvalidTransition(f"{mitigation_ref(mitigation.id)} has nothing waiting for a decision")
        leader = load_person(tx, person_id, what="the leader to page")
        rights = required_rights(tx.session)
        refusal = rights.refusal(leader=leader.handle, action_class=mitigation.action_class,
                                 services=json.loads(mitigation.scope)["services"], severity=incident.severity)
        if refusal:
            raise InvalidInput(f"paging {leader.name} would not help: {refusal}")
        why = (f"asked by {tx.actor_label} to decide {mitigation_ref(mitigation.id)} ({mitigation.action}, "
               f"{mitigation.action_class}): {leader.name} holds the decision right")
        tx.session.add(Page(incident_id=incident.id, person_id=leader.id, reason=PageReason.MANUAL, step=None,
                            why=why, paged_at=tx.now, urgent=True, night=False))
        tx.timeline(incident, kind=TimelineKind.PAGED, text=f"Paged {leader.name}, {why}")
        tx.audit(action=AuditAction.INCIDENT_PAGE, subject_type=ChangeEntity.INCIDENT, subject_id=incident.id,
                 before={}, after={"person_id": leader.id, "urgent": True, "why": why})
        tx.touch_incident(incident)
    return tx.changes()


def load_mitigation(tx: Transaction, mitigation_id: int, *, expected_version: int | None = None
                    ) -> tuple[Mitigation, Incident]:
    """Load a mitigation and its incident for change."""
    mitigation = tx.session.get(Mitigation, mitigation_id, with_for_update=True)
    if mitigation is None:
        raise NotFound(f"mitigation {mitigation_ref(mitigation_id)} does not exist")
    if expected_version is not None and mitigation.version != expected_version:
        raise Conflict(f"{mitigation_ref(mitigation_id)} changed since you looked at it; review it and try again")
    return mitigation, load_incident(tx, mitigation.incident_id)


def pending_asks(tx: Transaction, mitigation_id: int) -> list[MitigationAsk]:
    return list(tx.session.execute(select(MitigationAsk).where(
        MitigationAsk.mitigation_id == mitigation_id, MitigationAsk.state == AskState.PENDING)
        .with_for_update()).scalars())


def _end(tx: Transaction, incident: Incident, mitigation: Mitigation, *, state: MitigationState,
         action: AuditAction, verb: str, reason: str) -> None:
    """End a mitigation (withdrawn, reverted): anything still waiting on it is withdrawn with it."""
    before = mitigation.state
    for ask in pending_asks(tx, mitigation.id):
        ask.state = AskState.WITHDRAWN  # a decision on something ended means nothing
    mitigation.state, mitigation.ended_at, mitigation.ended_by = state, tx.now, tx.actor_id
    mitigation.end_reason = reason
    tx.timeline(incident, kind=TimelineKind.MITIGATION,
                text=f"{tx.actor_label} {verb} {mitigation_ref(mitigation.id)} ({mitigation.action}): {reason}")
    tx.audit(action=action, subject_type=ChangeEntity.INCIDENT, subject_id=incident.id,
             before={"mitigation": mitigation.id, "state": before},
             after={"mitigation": mitigation.id, "state": mitigation.state, "reason": reason})
    tx.touch_incident(incident)


def _check_minutes(minutes: int, *, limit: int, what: str) -> None:
    if not isinstance(minutes, int) or isinstance(minutes, bool) or minutes < 1:
        raise InvalidInput("the duration is a whole number of minutes, at least 1")
    if minutes > limit:
        raise InvalidInput(f"{what} may last at most {_span(limit)} under the decision rights; "
                           f"{_span(minutes)} was asked")


def _services(tx: Transaction, names: Sequence[str]) -> list[str]:
    wanted = _items(names, field="services")
    if not wanted:
        raise InvalidInput("name at least one service the mitigation touches")
    known = set(tx.session.execute(select(Service.name).where(Service.name.in_(wanted))).scalars())
    if missing := [n for n in wanted if n not in known]:
        raise InvalidInput(f"scope: there is no service {', '.join(missing)}")
    return wanted


def _items(values: Sequence[str], *, field: str) -> list[str]:
    items = sorted({" ".join(str(v).split()) for v in values if str(v).strip()})
    if len(items) > MAX_SCOPE:
        raise InvalidInput(f"scope: at most {MAX_SCOPE} {field}, {len(items)} given")
    if long := [i for i in items if len(i) > SCOPE_ITEM]:
        raise InvalidInput(f"scope: {field} names are at most {SCOPE_ITEM} characters ({long[0][:30]}…)")
    return items


def _span(minutes: int) -> str:
    hours, rest = divmod(minutes, 60)
    return f"{hours} h {rest} min" if hours and rest else f"{hours} h" if hours else f"{rest} min"
