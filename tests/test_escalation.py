"""Escalation driven by the manual clock: tiers paged on time, never twice, stopped by an acknowledgement,
repeated, leave respected, snapshotted, escalated by hand, and safe with two consoles ticking at once."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from console import commands
from console.db import open_database
from console.uow import UnitOfWork
from models.enums import DecisionKind, EscalationState, LeaveKind, PageReason, TimelineKind
from models.incident import TimelineEvent
from models.org import Person
from models.policy import EscalationTier, Leave
from models.routing import Decision, Escalation, Page


def _open(uow, org) -> int:  # type: ignore[no-untyped-def]
    return commands.open_incident(uow, actor_id=org.alice, title="Card payments failing", severity="SEV1",
                                  service_id=org.checkout).created_incident  # type: ignore[return-value]


def _pages(db, incident: int) -> list[tuple[int, int | None, bool]]:  # type: ignore[no-untyped-def]
    """The escalation's pages (the impact policy's own pages at SEV1, commanders and the like, are tested elsewhere)."""
    with db.reader() as s:
        rows = s.execute(select(Page).where(Page.incident_id == incident, Page.reason == PageReason.ESCALATION)
                         .order_by(Page.id)).scalars()
        return [(p.person_id, p.step, p.acknowledged_at is not None) for p in rows]


def test_tiers_are_paged_on_time_and_never_twice(db, uow, org, clock, escalating) -> None:  # type: ignore[no-untyped-def]
    incident = _open(uow, org)
    assert _pages(db, incident) == [(org.bob, 1, False)]  # tier 1 at once: Bob is on call today
    with db.reader() as s:
        why = s.execute(select(Page.why).where(Page.reason == PageReason.ESCALATION)).scalar_one()
        assert "tier 1 of Checkout escalation" in why and "on call for identity-primary" in why
        assert s.execute(select(TimelineEvent.kind).where(TimelineEvent.kind == TimelineKind.PAGED)).first()
    clock.advance(minutes=4, seconds=59)
    commands.escalation_tick(uow)
    assert len(_pages(db, incident)) == 1  # not yet
    clock.advance(seconds=1)
    commands.escalation_tick(uow)
    commands.escalation_tick(uow)  # a second tick at the same moment pages nobody again
    assert _pages(db, incident) == [(org.bob, 1, False), (org.alice, 2, False)]  # tier 2: the team lead


def test_an_acknowledgement_stops_the_paging(db, uow, org, clock, escalating) -> None:  # type: ignore[no-untyped-def]
    incident = _open(uow, org)
    clock.advance(minutes=2)
    commands.acknowledge(uow, actor_id=org.bob, incident_id=incident)
    clock.advance(hours=2)
    commands.escalation_tick(uow)
    assert _pages(db, incident) == [(org.bob, 1, True)]
    with db.reader() as s:
        escalation = s.get(Escalation, incident)
        assert escalation.state is EscalationState.STOPPED and "acknowledged by Bob Burns" in escalation.stop_reason


def test_it_repeats_then_says_it_is_exhausted(db, uow, org, clock, escalating) -> None:  # type: ignore[no-untyped-def]
    incident = _open(uow, org)
    for minutes in (5, 10, 5, 10):
        clock.advance(minutes=minutes)
        commands.escalation_tick(uow)
    assert [p[0] for p in _pages(db, incident)] == [org.bob, org.alice, org.bob, org.alice]
    with db.reader() as s:
        assert "round 2" in s.execute(select(Page.why).where(Page.step == 3)).scalar_one()
        assert s.get(Escalation, incident).state is EscalationState.STOPPED
        summaries = s.execute(select(Decision.summary).where(Decision.incident_id == incident)).scalars().all()
    assert any("exhausted" in text for text in summaries)


def test_a_person_on_leave_is_never_paged(db, uow, org, clock, escalating) -> None:  # type: ignore[no-untyped-def]
    with db.writer() as s:
        s.add(Leave(person_id=org.bob, kind=LeaveKind.PTO, starts_at=clock.now() - timedelta(days=1),
                    ends_at=clock.now() + timedelta(days=1)))
        s.commit()
    incident = _open(uow, org)
    assert _pages(db, incident)[0][0] == org.carol
    with db.reader() as s:
        assert "covering: Bob Burns is on leave (PTO)" in s.execute(select(Page.why).where(Page.reason == PageReason.ESCALATION)).scalar_one()


def test_a_running_escalation_keeps_the_policy_it_started_with(db, uow, org, clock, escalating) -> None:  # type: ignore[no-untyped-def]
    incident = _open(uow, org)
    with db.writer() as s:  # someone edits the policy mid-incident: a 60-minute first tier
        tier = s.execute(select(EscalationTier).where(EscalationTier.policy_id == escalating,
                                                      EscalationTier.position == 0)).scalar_one()
        tier.ack_timeout_minutes = 60
        s.commit()
    clock.advance(minutes=5)
    commands.escalation_tick(uow)
    assert [p[0] for p in _pages(db, incident)] == [org.bob, org.alice]


def test_escalate_now_pages_the_next_tier_by_hand_with_the_reason(db, uow, org, clock, escalating) -> None:  # type: ignore[no-untyped-def]
    incident = _open(uow, org)
    commands.acknowledge(uow, actor_id=org.bob, incident_id=incident)
    commands.escalate_now(uow, actor_id=org.bob, incident_id=incident)  # more hands, after the acknowledgement
    assert [p[0] for p in _pages(db, incident)] == [org.bob, org.alice]
    with db.reader() as s:
        manual = s.execute(select(Decision).where(Decision.decided_by == org.bob,
                                                  Decision.kind == DecisionKind.ESCALATION)).scalar_one()
        assert "escalated by hand by Bob Burns" in manual.summary


def test_a_page_at_night_is_marked_for_fatigue(db, uow, org, clock, escalating) -> None:  # type: ignore[no-untyped-def]
    with db.writer() as s:
        s.get(Person, org.bob).timezone = "Pacific/Auckland"  # 10:00 UTC is 23:00 there
        s.commit()
    incident = _open(uow, org)
    with db.reader() as s:
        assert s.execute(select(Page.night).where(Page.incident_id == incident, Page.person_id == org.bob)).scalar_one() is True


def test_two_consoles_ticking_at_once_page_nobody_twice(db_url, db, uow, org, clock, escalating) -> None:  # type: ignore[no-untyped-def]
    incidents = [_open(uow, org) for _ in range(20)]
    clock.advance(minutes=5)
    consoles = [UnitOfWork(open_database(db_url), clock) for _ in range(3)]
    errors: list[BaseException] = []

    def tick(u: UnitOfWork) -> None:
        try:
            commands.escalation_tick(u)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=tick, args=(u,)) for u in consoles]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    for incident in incidents:
        assert [p[0] for p in _pages(db, incident)] == [org.bob, org.alice]
    for u in consoles:
        u.db.dispose()


def test_the_demo_seed_leaves_no_acknowledged_incident_escalating(db, uow) -> None:  # type: ignore[no-untyped-def]
    """Seeding opens and acknowledges incidents in one transaction: the stop must see what the open created."""
    from models.enums import IncidentStatus
    from models.incident import Incident

    commands.seed_demo(uow)
    with db.reader() as s:
        for incident in s.execute(select(Incident)).scalars():
            escalation = s.get(Escalation, incident.id)
            if incident.status is not IncidentStatus.TRIGGERED and escalation is not None:
                assert escalation.state is EscalationState.STOPPED, incident.title
                pages = s.execute(select(Page).where(Page.incident_id == incident.id)).scalars().all()
                assert all(p.acknowledged_at is not None for p in pages if p.urgent), incident.title
