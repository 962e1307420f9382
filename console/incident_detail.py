"""One incident in depth for the detail panel: facts, who is on call, the timeline, everyone engaged with why and
how tired they are, the escalation ladder, and every decision with its rule, inputs and policy version."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from console.dto import (
    DecisionItem,
    EscalationInfo,
    IncidentDetail,
    IncidentRow,
    LadderStep,
    OnCallEntry,
    PageItem,
    PersonRef,
    TimelineItem,
)
from console.escalation import Snapshot
from console.fatigue import fatigue_counts
from console.oncall import on_call_for_team
from console.policy_store import stored_policy
from models.enums import EscalationState, PageReason
from models.incident import Incident, IncidentService, Signal, TimelineEvent
from models.org import Person, Service, Team
from models.policy import EscalationPolicy
from models.routing import Decision, Escalation, Page


def person_ref(person: Person | None) -> PersonRef | None:
    """Return a person as the GUI sees them."""
    if person is None:
        return None
    return PersonRef(person.id, person.handle, person.name, person.title, person.role_set)


def build_detail(session: Session, *, incident: Incident, row: IncidentRow, at: datetime) -> IncidentDetail:
    """Return everything the detail panel shows about one incident, on-call and fatigue as of `at`."""
    incident_id = incident.id
    service = session.get_one(Service, incident.service_id)
    team = session.get(Team, incident.team_id) if incident.team_id else service.team
    people: dict[int, Person] = {}

    def person(pid: int | None) -> Person | None:
        if pid is None:
            return None
        if pid not in people:
            people[pid] = session.get_one(Person, pid)
        return people[pid]

    on_call = tuple(
        OnCallEntry(person=person_ref(person(oc.person_id)), rotation=oc.rotation, until=oc.until, note=oc.note)  # type: ignore[arg-type]
        for oc in on_call_for_team(session, team_id=service.team_id, at=at)
    )
    impacted = session.execute(
        select(Service.name)
        .join(IncidentService, IncidentService.service_id == Service.id)
        .where(IncidentService.incident_id == incident_id)
        .order_by(Service.name)
    ).scalars()
    events = session.execute(
        select(TimelineEvent).where(TimelineEvent.incident_id == incident_id).order_by(TimelineEvent.at, TimelineEvent.id)
    ).scalars()
    timeline = tuple(
        TimelineItem(at=e.at, kind=e.kind, actor=(p.name if (p := person(e.actor_id)) else "system"), text=e.text)
        for e in events
    )
    signal_count = session.execute(select(func.count(Signal.id)).where(Signal.incident_id == incident_id)).scalar() or 0
    page_rows = list(session.execute(select(Page).where(Page.incident_id == incident_id).order_by(Page.id)).scalars())
    policy = stored_policy(session)
    woken = {p.person_id for p in page_rows if p.urgent}
    tired = fatigue_counts(session, person_ids=woken, at=at, fatigue=policy.fatigue)
    pages = tuple(
        PageItem(person=person(p.person_id).name, why=p.why, paged_at=p.paged_at,  # type: ignore[union-attr]
                 acknowledged_at=p.acknowledged_at, night=p.night, urgent=p.urgent, reason=p.reason.value,
                 step=p.step, fatigue=tired[p.person_id].text if p.person_id in tired else "",
                 over_limit=p.person_id in tired and tired[p.person_id].over_limit)
        for p in page_rows
    )
    found = session.execute(
        select(Decision).where(Decision.incident_id == incident_id).order_by(Decision.at, Decision.id)
    ).scalars()
    explained = tuple(
        DecisionItem(at=d.at, kind=d.kind.value, summary=d.summary,
                     by=(p.name if (p := person(d.decided_by)) else ""), rule_id=d.rule_id,
                     policy_version=d.policy_version, inputs=d.inputs, thresholds=d.thresholds)
        for d in found
    )
    lead = person(team.lead_id) if team else None
    return IncidentDetail(
        row=row,
        owner=person_ref(person(incident.owner_id)),
        commander=person_ref(person(incident.commander_id)),
        team=team.name if team else "",
        team_lead=lead.name if lead else "",
        service_tier=service.tier.value,
        impacted_services=tuple(impacted),
        customer_impact=incident.customer_impact,
        next_action=incident.next_action,
        resolution=incident.resolution,
        acknowledged_at=incident.acknowledged_at,
        resolved_at=incident.resolved_at,
        on_call=on_call,
        timeline=timeline,
        signal_count=signal_count,
        pages=pages,
        escalation=_escalation_info(session, incident_id=incident_id, pages=pages),
        escalation_policy=policy_row.name if (policy_row := (
            session.get(EscalationPolicy, service.escalation_policy_id) if service.escalation_policy_id else None))
        else "",
        decisions=explained,
        parent_id=incident.parent_id,
        severity_set_by=setter.name if (setter := person(incident.severity_set_by)) else "",
    )


def _escalation_info(session: Session, *, incident_id: int, pages: tuple[PageItem, ...]) -> EscalationInfo | None:
    escalation = session.get(Escalation, incident_id)
    if escalation is None:
        return None
    # This run's pages only: after a flap reopened the incident, the last run's step 2 is not this run's.
    pages = tuple(p for p in pages if p.paged_at >= escalation.started_at)
    snapshot = Snapshot.from_json(escalation.snapshot)
    running = escalation.state is EscalationState.RUNNING
    next_tier = ""
    if running and escalation.step < snapshot.steps:
        tier = snapshot.tiers[escalation.step % len(snapshot.tiers)]
        next_tier = f"tier {tier.position + 1} ({tier.label})"
    return EscalationInfo(policy=escalation.policy_name, running=running,
                          next_due_at=escalation.step_due_at if running else None, next_tier=next_tier,
                          stop_reason=escalation.stop_reason,
                          ladder=_ladder(snapshot=snapshot, taken=escalation.step, running=running, pages=pages))


def _ladder(*, snapshot: Snapshot, taken: int, running: bool, pages: tuple[PageItem, ...]) -> tuple[LadderStep, ...]:
    """Every step of the escalation in order: what happened at those taken, and what comes next."""
    by_step = {p.step: p for p in pages if p.reason == PageReason.ESCALATION.value and p.step is not None}
    steps = []
    for number in range(1, snapshot.steps + 1):
        tier = snapshot.tiers[(number - 1) % len(snapshot.tiers)]
        page = by_step.get(number)
        if page is not None:
            state = "paged"
        elif number <= taken:
            state = "skipped"
        elif running:
            state = "next" if number == taken + 1 else "later"
        else:
            state = "not reached"
        steps.append(LadderStep(step=number, tier=tier.position + 1, round=(number - 1) // len(snapshot.tiers) + 1,
                                label=tier.label, timeout_minutes=tier.ack_timeout_minutes, state=state,
                                person=page.person if page else "", paged_at=page.paged_at if page else None,
                                acknowledged_at=page.acknowledged_at if page else None))
    return tuple(steps)


