"""Whom an incident engages, by the impact policy: paged or told per severity, rosters of standing roles,
dependents through the service graph, each person once, nobody on leave, and the reason stored for everyone."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from console import commands
from console.audit import verify_chain
from console.commands.routing import route_signals
from console.ingest.events import EventAction, SignalEvent, SignalKind, SignalSource
from models.audit import AuditEntry
from models.enums import (
    DecisionKind, EscalationState, FailureFamily, LeaveKind, PageReason, PersonRole, ServiceTier, Severity,
    TimelineKind,
)
from models.incident import Incident, TimelineEvent
from models.org import Person, PersonRoleGrant, Service, ServiceDependency, Team, TeamMember
from models.policy import Leave, Rotation, RotationLayer, RotationLayerMember
from models.routing import Decision, Escalation, Page
from tests.conftest import T0

DAY_START = T0.replace(hour=0)


def _person(db, handle: str, name: str, *roles: PersonRole, tz: str = "UTC") -> int:  # type: ignore[no-untyped-def]
    with db.writer() as s:
        person = Person(handle=handle, name=name, email=f"{handle}@example.com", title="", timezone=tz, active=True)
        s.add(person)
        s.flush()
        for role in roles:
            s.add(PersonRoleGrant(person_id=person.id, role=role))
        s.commit()
        return person.id


def _rotation(db, name: str, members: list[int], *, role: PersonRole | None = None,  # type: ignore[no-untyped-def]
              team: int | None = None) -> int:
    """A daily rotation handing off at 00:00 UTC, the first member on T0's day."""
    with db.writer() as s:
        rotation = Rotation(name=name, team_id=team, roster_role=role, layers=[RotationLayer(
            position=0, name="daily", starts_at=DAY_START, shift_minutes=24 * 60, handoff="00:00", timezone="UTC",
            members=[RotationLayerMember(position=n, person_id=p) for n, p in enumerate(members)])])
        s.add(rotation)
        s.commit()
        return rotation.id


def _leave(db, person: int, *, kind: LeaveKind = LeaveKind.PTO) -> None:  # type: ignore[no-untyped-def]
    with db.writer() as s:
        s.add(Leave(person_id=person, kind=kind, starts_at=T0 - timedelta(days=1), ends_at=T0 + timedelta(days=2)))
        s.commit()


def _alert(clock, service: str, key: str, severity: str) -> SignalEvent:  # type: ignore[no-untyped-def]
    return SignalEvent(source=SignalSource.ALERTMANAGER, action=EventAction.TRIGGER, dedup_key=key, service=service,
                       summary=f"{service} failing", severity_hint=severity, value=None, observed_at=clock.now(),
                       kind=SignalKind.ALERT, labels={}, attributes={}, raw_ref="")


def _route(uow, clock, service: str, severity: str, key: str = "k1") -> int:  # type: ignore[no-untyped-def]
    created = route_signals(uow, events=[_alert(clock, service, key, severity)]).created_incident
    assert created is not None
    return created


def _pages(db, incident: int) -> set[tuple[int, PageReason, bool]]:  # type: ignore[no-untyped-def]
    with db.reader() as s:
        return {(p.person_id, p.reason, p.urgent) for p in s.execute(select(Page).where(Page.incident_id == incident))
                .scalars()}


def _page_counts(db, incident: int) -> dict[tuple[int, bool], int]:  # type: ignore[no-untyped-def]
    with db.reader() as s:
        rows = s.execute(select(Page.person_id, Page.urgent, func.count()).where(Page.incident_id == incident)
                         .group_by(Page.person_id, Page.urgent)).all()
    return {(person, urgent): n for person, urgent, n in rows}


def _decisions(db, incident: int, kind: DecisionKind | None = None) -> list[Decision]:  # type: ignore[no-untyped-def]
    with db.reader() as s:
        query = select(Decision).where(Decision.incident_id == incident).order_by(Decision.id)
        if kind is not None:
            query = query.where(Decision.kind == kind)
        return list(s.execute(query).scalars())


@pytest.fixture
def staff(db, org):  # type: ignore[no-untyped-def]
    """Commanders and executives on rosters (first member on call today), two support leads, customer success."""
    dana = _person(db, "dana", "Dana Diaz", PersonRole.INCIDENT_COMMANDER)
    eve = _person(db, "eve", "Eve Ekwueme", PersonRole.INCIDENT_COMMANDER)
    wes = _person(db, "wes", "Wes West", PersonRole.LEADER)
    vic = _person(db, "vic", "Vic Vance", PersonRole.LEADER)
    sam = _person(db, "sam", "Sam Sato", PersonRole.SUPPORT_LEAD)
    sue = _person(db, "sue", "Sue Smith", PersonRole.SUPPORT_LEAD)
    cora = _person(db, "cora", "Cora Cole", PersonRole.CUSTOMER_SUCCESS)
    _rotation(db, "incident-command", [dana, eve], role=PersonRole.INCIDENT_COMMANDER)
    _rotation(db, "executive-on-call", [wes, vic], role=PersonRole.LEADER)
    return dict(dana=dana, eve=eve, wes=wes, vic=vic, sam=sam, sue=sue, cora=cora)


def test_a_sev1_pages_the_commander_and_executive_on_call_and_tells_support(db, uow, org, clock, escalating,
                                                                             staff) -> None:  # type: ignore[no-untyped-def]
    incident = _route(uow, clock, "checkout", "critical")
    assert _pages(db, incident) == {
        (org.bob, PageReason.ESCALATION, True),  # the owner rotation, through checkout's escalation policy
        (staff["dana"], PageReason.COMMANDERS, True),  # on call for incident-command; Eve and Alice are not
        (staff["wes"], PageReason.EXECUTIVE, True),  # on call for executive-on-call; Vic is not
        (org.alice, PageReason.TEAM_LEAD, False),
        (staff["sam"], PageReason.SUPPORT, False), (staff["sue"], PageReason.SUPPORT, False),
        (staff["cora"], PageReason.CUSTOMER_SUCCESS, False),
    }
    with db.reader() as s:
        assert s.get(Escalation, incident).state is EscalationState.RUNNING
        why = dict(s.execute(select(Page.person_id, Page.why).where(Page.incident_id == incident)).all())
    assert why[staff["dana"]] == ("an incident commander, on call for incident-command — the impact policy pages an "
                                  "incident commander at SEV1")
    assert why[staff["wes"]].startswith("an executive, on call for executive-on-call")
    assert "informs the support leads at SEV1" in why[staff["sam"]]


def test_every_engagement_has_its_timeline_entry_decision_and_audit_entry(db, uow, org, clock, escalating,
                                                                          staff) -> None:  # type: ignore[no-untyped-def]
    incident = _route(uow, clock, "checkout", "critical")
    with db.reader() as s:
        names = dict(s.execute(select(Person.id, Person.name)).all())
        pages = s.execute(select(Page).where(Page.incident_id == incident, Page.reason != PageReason.ESCALATION)
                          ).scalars().all()
        timeline = set(s.execute(select(TimelineEvent.text).where(TimelineEvent.incident_id == incident,
                                                                  TimelineEvent.kind == TimelineKind.PAGED)).scalars())
        audited = [json.loads(a) for a in s.execute(select(AuditEntry.after).where(
            AuditEntry.action == "incident.page", AuditEntry.subject_id == str(incident))).scalars()]
        assert verify_chain(s).intact
    routing = {d.summary: d for d in _decisions(db, incident, DecisionKind.ROUTING)}
    assert len(pages) == 6 and len(routing) == 6
    for page in pages:
        sentence = f"{'Paged' if page.urgent else 'Told'} {names[page.person_id]}, {page.why}"
        assert sentence in timeline
        decision = routing[sentence]
        assert decision.policy_version == "2026-11-27.1" and decision.decided_by is None
        assert json.loads(decision.inputs) == {"person_id": page.person_id, "severity": "SEV1",
                                               "urgent": page.urgent}
    # The escalation's own page is audited too: one entry per person engaged.
    assert sorted(a["person_id"] for a in audited) == sorted([org.bob, *(p.person_id for p in pages)])


def test_a_sev4_tells_the_owner_on_call_and_starts_no_escalation(db, uow, org, clock, escalating,
                                                                 staff) -> None:  # type: ignore[no-untyped-def]
    incident = _route(uow, clock, "checkout", "info")
    assert _pages(db, incident) == {(org.bob, PageReason.ON_CALL, False)}
    with db.reader() as s:
        assert s.get(Escalation, incident) is None
        page = s.execute(select(Page).where(Page.incident_id == incident)).scalar_one()
    assert page.why == ("on call for identity-primary, which owns checkout — the impact policy informs the owning "
                        "team's on-call at SEV4")
    assert page.night is False and page.acknowledged_at is None
    clock.advance(hours=5)  # far past every tier's timeout: still nobody woken
    commands.escalation_tick(uow)
    assert _pages(db, incident) == {(org.bob, PageReason.ON_CALL, False)}


def test_raising_sev4_to_sev1_by_hand_escalates_and_pages_executives_once(db, uow, org, clock, escalating,
                                                                          staff) -> None:  # type: ignore[no-untyped-def]
    incident = _route(uow, clock, "checkout", "info")
    commands.change_severity(uow, actor_id=org.alice, incident_id=incident, severity="SEV2", reason="customers see it")
    after_sev2 = _pages(db, incident)
    assert (staff["wes"], PageReason.EXECUTIVE, False) in after_sev2  # executives are only told at SEV2
    assert (staff["dana"], PageReason.COMMANDERS, True) in after_sev2
    assert (org.bob, PageReason.ESCALATION, True) in after_sev2  # told at SEV4, woken now
    commands.change_severity(uow, actor_id=org.alice, incident_id=incident, severity="SEV1", reason="payments down")
    counts = _page_counts(db, incident)
    assert counts[(staff["wes"], False)] == 1 and counts[(staff["wes"], True)] == 1  # told, then woken: once each
    assert counts[(staff["dana"], True)] == 1 and (staff["dana"], False) not in counts
    assert counts[(org.bob, False)] == 1 and counts[(org.bob, True)] == 1
    assert all(n == 1 for n in counts.values()), counts
    # Lowered and raised again: nobody is engaged a second time, and the running escalation is not restarted.
    commands.change_severity(uow, actor_id=org.alice, incident_id=incident, severity="SEV3", reason="contained")
    commands.change_severity(uow, actor_id=org.alice, incident_id=incident, severity="SEV1", reason="it is back")
    assert _page_counts(db, incident) == counts
    with db.reader() as s:
        escalation = s.get(Escalation, incident)
        assert escalation.state is EscalationState.RUNNING and escalation.step == 1


def test_a_persons_severity_change_is_recorded_as_an_override_of_automation(db, uow, org, clock, escalating,
                                                                            staff) -> None:  # type: ignore[no-untyped-def]
    routed = _route(uow, clock, "checkout", "info")
    commands.change_severity(uow, actor_id=org.alice, incident_id=routed, severity="SEV1", reason="payments down")
    manual = commands.open_incident(uow, actor_id=org.alice, title="Slow logins", severity="SEV3",
                                    service_id=org.identity).created_incident
    commands.change_severity(uow, actor_id=org.bob, incident_id=manual, severity="SEV2", reason="spreading")
    with db.reader() as s:
        assert s.get(Incident, routed).severity_set_by == org.alice
        assert s.get(Incident, manual).severity_set_by == org.bob
    [override] = [d for d in _decisions(db, routed) if d.decided_by is not None]
    assert override.kind is DecisionKind.OVERRIDE and override.decided_by == org.alice
    assert override.summary == ("SEV4 → SEV1 by Alice Ames, overriding automation (last decided by rule "
                                "severity-hint): payments down")
    by_hand = [d for d in _decisions(db, manual) if d.decided_by is not None][-1]
    assert by_hand.kind is DecisionKind.SEVERITY and by_hand.summary == "SEV3 → SEV2 by Bob Burns: spreading"


def test_an_incident_with_a_commander_wakes_no_other_commander(db, uow, org, clock, escalating,
                                                               staff) -> None:  # type: ignore[no-untyped-def]
    incident = commands.open_incident(uow, actor_id=org.alice, title="Card payments failing", severity="SEV1",
                                      service_id=org.checkout, commander_id=org.alice).created_incident
    reasons = {reason for _, reason, _ in _pages(db, incident)}
    assert PageReason.COMMANDERS not in reasons and PageReason.EXECUTIVE in reasons


def test_without_a_roster_every_holder_of_the_role_is_engaged(db, uow, org, clock, escalating) -> None:  # type: ignore[no-untyped-def]
    wes = _person(db, "wes", "Wes West", PersonRole.LEADER)
    vic = _person(db, "vic", "Vic Vance", PersonRole.LEADER)
    gone = _person(db, "gone", "Gone Gray", PersonRole.LEADER)
    with db.writer() as s:
        s.get(Person, gone).active = False  # left the company: never engaged
        s.commit()
    incident = _route(uow, clock, "checkout", "critical")
    pages = _pages(db, incident)
    assert {p for p, reason, _ in pages if reason is PageReason.EXECUTIVE} == {wes, vic}
    # Alice holds the incident commander role and leads the team: paged once as a commander, not also told as lead.
    assert [(r, u) for p, r, u in pages if p == org.alice] == [(PageReason.COMMANDERS, True)]


def test_a_leader_on_leave_is_not_paged_and_a_decision_says_so(db, uow, org, clock, escalating) -> None:  # type: ignore[no-untyped-def]
    wes = _person(db, "wes", "Wes West", PersonRole.LEADER)
    vic = _person(db, "vic", "Vic Vance", PersonRole.LEADER)
    _leave(db, wes, kind=LeaveKind.HOLIDAY)
    incident = _route(uow, clock, "checkout", "critical")
    assert {p for p, reason, _ in _pages(db, incident) if reason is PageReason.EXECUTIVE} == {vic}
    assert "Wes West not paged: on leave (an executive)" in [d.summary for d in _decisions(db, incident)]


def test_a_roster_on_call_on_leave_is_covered_by_the_next_on_the_roster(db, uow, org, clock, escalating,
                                                                        staff) -> None:  # type: ignore[no-untyped-def]
    _leave(db, staff["wes"])
    incident = _route(uow, clock, "checkout", "critical")
    executives = {p for p, reason, _ in _pages(db, incident) if reason is PageReason.EXECUTIVE}
    assert executives == {staff["vic"]}


def test_when_nobody_on_a_roster_can_answer_a_decision_says_so(db, uow, org, clock, escalating, staff) -> None:  # type: ignore[no-untyped-def]
    _leave(db, staff["dana"])
    _leave(db, staff["eve"])
    incident = _route(uow, clock, "checkout", "critical")
    assert PageReason.COMMANDERS not in {reason for _, reason, _ in _pages(db, incident)}
    assert org.alice not in {p for p, r, _ in _pages(db, incident) if r is PageReason.COMMANDERS}  # not every holder
    summaries = [d.summary for d in _decisions(db, incident, DecisionKind.ROUTING)]
    assert ("Nobody paged as an incident commander: nobody on incident-command can answer as an incident commander "
            "now; the impact policy pages them at SEV1") in summaries


def test_a_team_lead_on_leave_is_not_told_and_a_decision_says_so(db, uow, org, clock, escalating, staff) -> None:  # type: ignore[no-untyped-def]
    _leave(db, org.alice)
    incident = _route(uow, clock, "checkout", "critical")
    assert org.alice not in {p for p, _, _ in _pages(db, incident)}
    assert ("Alice Ames not told: on leave (the lead of Identity, which owns checkout)"
            in [d.summary for d in _decisions(db, incident)])


def test_escalation_never_pages_a_team_lead_on_leave(db, uow, org, clock, escalating) -> None:  # type: ignore[no-untyped-def]
    _leave(db, org.alice)
    incident = commands.open_incident(uow, actor_id=org.bob, title="Card payments failing", severity="SEV3",
                                      service_id=org.checkout).created_incident
    clock.advance(minutes=5)
    commands.escalation_tick(uow)  # tier 2: the lead of Identity, who is away
    with db.reader() as s:
        paged = s.execute(select(Page.person_id).where(Page.incident_id == incident, Page.urgent.is_(True))
                          ).scalars().all()
    assert org.alice not in paged
    with db.reader() as s:
        skipped = s.execute(select(Decision.summary).where(Decision.incident_id == incident,
                                                           Decision.summary.like("Tier 2%"))).scalar_one()
    assert "Alice Ames is on leave (pto)" in skipped and "going on to the next tier" in skipped


def test_a_foundational_fault_pages_every_dependent_on_call_through_the_graph(db, uow, org, clock) -> None:  # type: ignore[no-untyped-def]
    pia = _person(db, "pia", "Pia Park")
    wil = _person(db, "wil", "Wil Wong")
    with db.writer() as s:
        payments, web = Team(name="Payments", description=""), Team(name="Web", description="")
        s.add_all([payments, web])
        s.flush()
        s.add_all([TeamMember(team_id=payments.id, person_id=pia), TeamMember(team_id=web.id, person_id=wil)])
        billing = Service(name="billing", description="", tier=ServiceTier.CORE, family=FailureFamily.PAYMENTS,
                          team_id=payments.id)
        storefront = Service(name="storefront", description="", tier=ServiceTier.EDGE,
                             family=FailureFamily.UPTIME, team_id=web.id)
        s.add_all([billing, storefront])
        s.flush()
        s.add_all([ServiceDependency(service_id=billing.id, depends_on_id=org.identity),
                   ServiceDependency(service_id=storefront.id, depends_on_id=billing.id)])  # identity, two hops up
        s.commit()
        payments_id, web_id = payments.id, web.id
    _rotation(db, "payments-primary", [pia], team=payments_id)
    _rotation(db, "web-primary", [wil], team=web_id)
    sev1 = _route(uow, clock, "identity", "critical", key="idp-down")
    pages = _pages(db, sev1)
    assert {(pia, PageReason.DEPENDENCY, True), (wil, PageReason.DEPENDENCY, True)} <= pages
    with db.reader() as s:
        why = dict(s.execute(select(Page.person_id, Page.why).where(Page.incident_id == sev1)).all())
    assert why[pia].startswith("on call for payments-primary, and billing depends on identity (foundational)")
    assert why[wil].startswith("on call for web-primary, and storefront depends on identity (foundational)")
    commands.resolve(uow, actor_id=org.alice, incident_id=sev1, summary="failed over")
    clock.advance(hours=1)
    sev2 = _route(uow, clock, "identity", "major", key="idp-slow")
    assert {(pia, PageReason.DEPENDENCY, False), (wil, PageReason.DEPENDENCY, False)} <= _pages(db, sev2)


def test_nobody_is_paged_twice_when_the_on_call_is_also_a_dependent_on_call(db, uow, org, clock,
                                                                             escalating) -> None:  # type: ignore[no-untyped-def]
    from models.org import Service as ServiceRow

    with db.writer() as s:  # identity escalates too: Bob is its on-call and checkout's (which depends on identity)
        s.get(ServiceRow, org.identity).escalation_policy_id = escalating
        s.commit()
    incident = _route(uow, clock, "identity", "critical", key="idp-down")
    assert [(r, u) for p, r, u in _pages(db, incident) if p == org.bob] == [(PageReason.ESCALATION, True)]
    assert _page_counts(db, incident)[(org.bob, True)] == 1


def test_a_service_without_an_escalation_policy_still_wakes_its_on_call_once_and_says_why(db, uow, org,
                                                                                         clock) -> None:  # type: ignore[no-untyped-def]
    incident = _route(uow, clock, "checkout", "warning")
    # Bob is on call for the owning team: paged directly, since there are no tiers to page him through.
    assert _pages(db, incident) == {(org.bob, PageReason.ON_CALL, True), (org.alice, PageReason.TEAM_LEAD, False)}
    assert ("checkout has no escalation policy: there are no tiers to page one after another if nobody acknowledges"
            in [d.summary for d in _decisions(db, incident, DecisionKind.ESCALATION)])
    assert any(d.startswith("Paged Bob Burns, on call for identity-primary")
               for d in [d.summary for d in _decisions(db, incident, DecisionKind.ROUTING)])


def test_a_page_at_night_is_marked_but_being_told_at_night_is_not(db, uow, org, clock, escalating) -> None:  # type: ignore[no-untyped-def]
    wes = _person(db, "wes", "Wes West", PersonRole.LEADER, tz="Pacific/Auckland")  # 10:00 UTC is 23:00 there
    sam = _person(db, "sam", "Sam Sato", PersonRole.SUPPORT_LEAD, tz="Pacific/Auckland")
    day = _person(db, "day", "Day Dale", PersonRole.LEADER, tz="Europe/London")  # 10:00 there
    incident = _route(uow, clock, "checkout", "critical")
    with db.reader() as s:
        night = dict(s.execute(select(Page.person_id, Page.night).where(Page.incident_id == incident)).all())
    assert night[wes] is True and night[sam] is False and night[day] is False


def test_the_demo_sev1_on_a_foundational_service_engages_the_rosters(db, uow, clock) -> None:  # type: ignore[no-untyped-def]
    commands.seed_demo(uow)
    incident = _route(uow, clock, "edge-gateway", "critical", key="edge-down")
    with db.reader() as s:
        names = dict(s.execute(select(Person.id, Person.handle)).all())
        rows = s.execute(select(Page.person_id, Page.reason, Page.urgent).where(Page.incident_id == incident)).all()
    engaged = {(names[p], reason, urgent) for p, reason, urgent in rows}
    commanders = {h for h, r, _ in engaged if r is PageReason.COMMANDERS}
    executives = {h for h, r, _ in engaged if r is PageReason.EXECUTIVE}
    assert len(commanders) == 1 and len(executives) == 1  # the one on call on each roster, not every holder
    assert {(h, u) for h, r, u in engaged if r is PageReason.SUPPORT} == {("gmorris", False), ("dreyes", False)}
    assert {(h, u) for h, r, u in engaged if r is PageReason.CUSTOMER_SUCCESS} == {("lfernandez", False)}
    dependents = {h for h, r, u in engaged if r is PageReason.DEPENDENCY and u}
    assert dependents  # web-app, public-api and checkout depend on edge-gateway
    assert len(rows) == len({p for p, _, _ in rows})  # each person once


@pytest.mark.parametrize("severity", ["SEV1", "SEV2", "SEV3", "SEV4"])
def test_each_level_engages_exactly_whom_the_policy_names(db, uow, org, clock, escalating, staff,
                                                          severity: str) -> None:  # type: ignore[no-untyped-def]
    incident = commands.open_incident(uow, actor_id=None, title="Checkout errors", severity=severity,
                                      service_id=org.checkout).created_incident
    engaged = {(reason, urgent) for _, reason, urgent in _pages(db, incident)}
    expected = {
        "SEV1": {(PageReason.ESCALATION, True), (PageReason.COMMANDERS, True), (PageReason.EXECUTIVE, True),
                 (PageReason.TEAM_LEAD, False), (PageReason.SUPPORT, False), (PageReason.CUSTOMER_SUCCESS, False)},
        "SEV2": {(PageReason.ESCALATION, True), (PageReason.COMMANDERS, True), (PageReason.EXECUTIVE, False),
                 (PageReason.TEAM_LEAD, False), (PageReason.SUPPORT, False), (PageReason.CUSTOMER_SUCCESS, False)},
        "SEV3": {(PageReason.ESCALATION, True), (PageReason.TEAM_LEAD, False), (PageReason.SUPPORT, False)},
        "SEV4": {(PageReason.ON_CALL, False)},
    }[severity]
    assert engaged == expected


def test_a_ticket_rule_opens_a_sev4_that_wakes_nobody(db, uow, org, clock, escalating) -> None:  # type: ignore[no-untyped-def]
    from console.routing.policy import default_policy
    from console.routing.rules import RuleEngine

    engine = RuleEngine(policy=default_policy())
    for _ in range(6 * 12 + 1):  # 0.3% errors every 5 min for six hours: a 3x burn, only the budget-drain rule
        route_signals(uow, engine=engine, events=[SignalEvent(
            source=SignalSource.GENERIC, action=EventAction.TRIGGER, dedup_key="checkout-errors", service="checkout",
            summary="", severity_hint=None, value=0.3, observed_at=clock.now(), kind=SignalKind.METRIC,
            labels={"metric": "error_rate"}, attributes={}, raw_ref="")])
        clock.advance(minutes=5)
    with db.reader() as s:
        [incident] = s.execute(select(Incident)).scalars().all()
        rule = s.execute(select(Decision.rule_id).where(Decision.incident_id == incident.id,
                                                        Decision.kind == DecisionKind.SEVERITY)).scalar_one()
        assert s.get(Escalation, incident.id) is None
    assert (incident.severity, rule) == (Severity.SEV4, "slo-budget-drain")
    assert _pages(db, incident.id) == {(org.bob, PageReason.ON_CALL, False)}
