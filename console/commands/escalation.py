"""Escalation commands: start when an incident opens, page the next tier when nobody acknowledged in time
(an idempotent tick over database state at the clock's now), stop on acknowledgement, escalate by hand."""
from __future__ import annotations

from sqlalchemy import select

from console import decisions
from console.changes import Changes
from console.commands._common import load_incident, load_service, on_call_now, require_open
from console.errors import InvalidTransition
from console.escalation import (
    Snapshot, Unavailable, due_after, is_night, resolve_tier, running_due, snapshot_for,
)
from console.policy_store import stored_policy
from console.uow import Transaction, UnitOfWork
from models.enums import AuditAction, ChangeEntity, DecisionKind, EscalationState, PageReason, TimelineKind
from models.incident import Incident
from models.org import Person
from models.routing import Escalation, Page


def apply_start(tx: Transaction, incident: Incident) -> None:
    """Snapshot the service's policy and page its first tier now (or say why nobody is paged)."""
    service = load_service(tx, incident.service_id)
    snapshot = snapshot_for(tx.session, service=service)
    if snapshot is None:
        decisions.record(tx, incident_id=incident.id, kind=DecisionKind.ESCALATION, rule_id="no-policy",
                         summary=f"{service.name} has no escalation policy: there are no tiers to page one after "
                                 f"another if nobody acknowledges")
        return
    escalation = Escalation(incident_id=incident.id, policy_name=snapshot.policy, snapshot=snapshot.to_json(),
                            state=EscalationState.RUNNING, started_at=tx.now, step=0, step_due_at=tx.now)
    tx.session.add(escalation)
    apply_step(tx, escalation, incident)


def apply_restart(tx: Transaction, incident: Incident) -> None:
    """Start escalating again from the first tier (a reopened incident), or start afresh."""
    escalation = tx.session.get(Escalation, incident.id, with_for_update=True)
    if escalation is None:
        apply_start(tx, incident)
        return
    # A new run: the ladder shows this run's pages, from started_at on, not the last run's.
    escalation.state, escalation.step, escalation.step_due_at, escalation.stop_reason, escalation.started_at = (
        EscalationState.RUNNING, 0, tx.now, "", tx.now)
    apply_step(tx, escalation, incident)


def apply_step(tx: Transaction, escalation: Escalation, incident: Incident, *, by_hand: bool = False) -> None:
    """Page the tier due now; a tier with nobody available passes straight on to the next one."""
    snapshot = Snapshot.from_json(escalation.snapshot)
    for _ in range(snapshot.steps):
        if escalation.step >= snapshot.steps:
            stop_with_reason(tx, escalation, incident, f"escalation exhausted: nobody acknowledged after {snapshot.steps} "
                                            f"step(s) of {snapshot.policy}")
            return
        tier = snapshot.tiers[escalation.step % len(snapshot.tiers)]
        round_ = escalation.step // len(snapshot.tiers) + 1
        escalation.step += 1
        target = resolve_tier(tx.session, tier=tier, at=tx.now, on_call=on_call_now(tx))
        if isinstance(target, Unavailable):
            decisions.record(tx, incident_id=incident.id, kind=DecisionKind.ESCALATION,
                             rule_id=f"{snapshot.policy}:tier{tier.position + 1}",
                             summary=f"Tier {tier.position + 1} of {snapshot.policy} ({tier.label}) has nobody "
                                     f"available ({target.why}): going on to the next tier")
            continue
        person = tx.session.get_one(Person, target.person_id)
        why = (f"tier {tier.position + 1} of {snapshot.policy}" + (f", round {round_}" if round_ > 1 else "")
               + f": {person.name}, {target.why}")
        if by_hand:
            why += f" — escalated by hand by {tx.actor.name if tx.actor else 'the system'}"
        tx.session.add(Page(incident_id=incident.id, person_id=person.id, reason=PageReason.ESCALATION,
                            step=escalation.step, why=why, paged_at=tx.now, urgent=True,
                            night=is_night(person=person, at=tx.now, fatigue=stored_policy(tx.session).fatigue)))
        tx.timeline(incident, kind=TimelineKind.PAGED, text=f"Paged {person.name} ({why})")
        decisions.record(tx, incident_id=incident.id, kind=DecisionKind.ESCALATION,
                         rule_id=f"{snapshot.policy}:tier{tier.position + 1}", summary=f"Paged {why}",
                         inputs={"step": escalation.step, "person_id": person.id},
                         thresholds={"ack_timeout_minutes": tier.ack_timeout_minutes}, by_person=by_hand)
        tx.audit(action=AuditAction.INCIDENT_PAGE, subject_type=ChangeEntity.INCIDENT, subject_id=incident.id,
                 before={}, after={"person_id": person.id, "step": escalation.step, "why": why})
        escalation.step_due_at = due_after(tier=tier, at=tx.now)
        tx.touch_incident(incident)  # pages are appends: the incident row keeps its version
        return
    stop_with_reason(tx, escalation, incident, f"nobody in {snapshot.policy} could be paged")


def stop_with_reason(tx: Transaction, escalation: Escalation, incident: Incident, reason: str) -> None:
    """Stop a running escalation now, saying why (exhausted, acknowledged, resolved, or a person's decision)."""
    escalation.state = EscalationState.STOPPED
    escalation.stopped_at = tx.now
    escalation.step_due_at = None
    escalation.stop_reason = reason
    decisions.record(tx, incident_id=incident.id, kind=DecisionKind.ESCALATION, rule_id="stop", summary=reason)
    tx.touch_incident(incident)


def apply_stop(tx: Transaction, incident: Incident, *, reason: str) -> None:
    """Stop the escalation and mark its open pages acknowledged (an acknowledgement stops the paging)."""
    # The escalation and its pages may have been created in this same transaction (the demo seed plays a whole
    # story in one), and autoflush is off so that a command updates the incident once: look at both places.
    pending = [o for o in tx.session.new if getattr(o, "incident_id", None) == incident.id]
    escalation = next((o for o in pending if isinstance(o, Escalation)), None) or tx.session.get(
        Escalation, incident.id, with_for_update=True)
    open_pages = select(Page).where(Page.incident_id == incident.id, Page.acknowledged_at.is_(None))
    for page in [*tx.session.execute(open_pages).scalars(), *(o for o in pending if isinstance(o, Page))]:
        if page.acknowledged_at is None and page.urgent is not False:  # a person only told has nothing to answer
            page.acknowledged_at = tx.now
    if escalation is not None and escalation.state is EscalationState.RUNNING:
        stop_with_reason(tx, escalation, incident, reason)


def escalation_tick(uow: UnitOfWork) -> Changes:
    """Page every tier that is due now; running it twice at the same moment pages nobody twice."""
    with uow.transaction(actor_id=None) as tx:
        postgres = tx.session.get_bind().dialect.name == "postgresql"
        for incident_id in running_due(tx.session, at=tx.now, for_update=postgres):
            escalation = tx.session.get_one(Escalation, incident_id)
            # Every due incident is paged at one moment: each rotation is asked once (on_call_now).
            apply_step(tx, escalation, tx.session.get_one(Incident, incident_id))
    return tx.changes()


def escalate_now(uow: UnitOfWork, *, actor_id: int, incident_id: int, idempotency_key: str | None = None) -> Changes:
    """Page the next tier now, without waiting for its timeout (also after an acknowledgement: more hands)."""
    with uow.transaction(actor_id=actor_id, idempotency_key=idempotency_key) as tx:
        incident = load_incident(tx, incident_id)
        # An "escalate now" kept offline and replayed after someone resolved the incident must page nobody.
        require_open(incident, action="escalate")
        escalation = tx.session.get(Escalation, incident.id, with_for_update=True)
        if escalation is None and snapshot_for(tx.session, service=load_service(tx, incident.service_id)) is None:
            raise InvalidTransition(f"{load_service(tx, incident.service_id).name} has no escalation policy, so there "
                                    f"is no next tier to page: assign an owner (O) or a commander (C) to engage "
                                    f"someone")
        if escalation is None:
            apply_start(tx, incident)
        else:
            if escalation.state is EscalationState.STOPPED:
                # Asked for more hands after it stopped: go on from where it was, or page the top tier again.
                escalation.state = EscalationState.RUNNING
                escalation.step = min(escalation.step, Snapshot.from_json(escalation.snapshot).steps - 1)
            apply_step(tx, escalation, incident, by_hand=True)
        tx.audit(action=AuditAction.INCIDENT_ESCALATE, subject_type=ChangeEntity.INCIDENT, subject_id=incident.id,
                 before={}, after={"by_hand": True})
    return tx.changes()
