"""Signals in, the right people engaged, with reasons: dedup, flaps, blast radius, dependents, executives,
severity from the sender or the rules; one request all-or-nothing."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from console import commands
from console.commands.routing import route_signals
from console.errors import InvalidInput
from console.ingest.events import EventAction, SignalEvent, SignalKind, SignalSource
from console.routing.policy import default_policy
from console.routing.rules import RuleEngine
from models.enums import DecisionKind, IncidentStatus, PageReason, PersonRole, Severity
from models.incident import Incident, IncidentService, Signal
from models.org import Person, PersonRoleGrant
from models.routing import Decision, Page


def _alert(clock, service: str, key: str, *, action=EventAction.TRIGGER, severity="critical") -> SignalEvent:  # type: ignore[no-untyped-def]
    return SignalEvent(source=SignalSource.ALERTMANAGER, action=action, dedup_key=key, service=service,
                       summary=f"{service} 5xx above 5%", severity_hint=severity, value=None,
                       observed_at=clock.now(), kind=SignalKind.ALERT, labels={}, attributes={}, raw_ref="")


def _incidents(db) -> list[Incident]:  # type: ignore[no-untyped-def]
    with db.reader() as s:
        return list(s.execute(select(Incident).order_by(Incident.id)).scalars())


def _decisions(db, incident: int) -> list[str]:  # type: ignore[no-untyped-def]
    with db.reader() as s:
        return list(s.execute(select(Decision.summary).where(Decision.incident_id == incident)).scalars())


def test_an_alert_opens_an_incident_with_the_reason_and_repeats_join_it(db, uow, org, clock) -> None:  # type: ignore[no-untyped-def]
    route_signals(uow, events=[_alert(clock, "checkout", "abc")])
    clock.advance(minutes=1)
    route_signals(uow, events=[_alert(clock, "checkout", "abc")])
    [incident] = _incidents(db)
    assert incident.severity is Severity.SEV1 and incident.fingerprint == "alertmanager:abc"
    assert any("rated it 'critical', which the taxonomy maps to SEV1" in d for d in _decisions(db, incident.id))
    with db.reader() as s:
        assert s.execute(select(func.count()).select_from(Signal).where(Signal.incident_id == incident.id)).scalar() == 2


def test_resolved_at_the_source_is_noted_but_only_a_person_resolves(db, uow, org, clock) -> None:  # type: ignore[no-untyped-def]
    route_signals(uow, events=[_alert(clock, "checkout", "abc")])
    route_signals(uow, events=[_alert(clock, "checkout", "abc", action=EventAction.RESOLVE)])
    assert _incidents(db)[0].status is IncidentStatus.TRIGGERED


def test_a_flapping_alert_reopens_its_incident_instead_of_opening_a_stream(db, uow, org, clock) -> None:  # type: ignore[no-untyped-def]
    route_signals(uow, events=[_alert(clock, "checkout", "flappy")])
    first = _incidents(db)[0].id
    commands.resolve(uow, actor_id=org.alice, incident_id=first, summary="looked fine")
    clock.advance(minutes=4)
    route_signals(uow, events=[_alert(clock, "checkout", "flappy")])
    assert [(i.id, i.status) for i in _incidents(db)] == [(first, IncidentStatus.TRIGGERED)]
    assert any("fired again 4 min after it was resolved" in d for d in _decisions(db, first))
    commands.resolve(uow, actor_id=org.alice, incident_id=first, summary="really fixed")
    clock.advance(minutes=16)
    route_signals(uow, events=[_alert(clock, "checkout", "flappy")])
    assert len(_incidents(db)) == 2  # outside the flap window: a new incident


def test_downstream_alerts_are_grouped_under_the_foundational_incident(db, uow, org, clock) -> None:  # type: ignore[no-untyped-def]
    route_signals(uow, events=[_alert(clock, "identity", "idp-down")])
    route_signals(uow, events=[_alert(clock, "checkout", "checkout-502")])
    [incident] = _incidents(db)  # no second incident: checkout's alert joined identity's
    with db.reader() as s:
        assert s.execute(select(IncidentService.service_id).where(IncidentService.incident_id == incident.id)
                         ).scalars().all() == [org.checkout]
    assert any("checkout depends on identity (foundational)" in d and "grouped there" in d
               for d in _decisions(db, incident.id))


def test_a_foundational_fault_tells_dependents_and_a_sev1_reaches_executives(db, uow, org, clock) -> None:  # type: ignore[no-untyped-def]
    with db.writer() as s:
        leader = Person(handle="vpe", name="Vera Pe", email="vpe@example.com", title="VP Engineering",
                        timezone="UTC", active=True)
        s.add(leader)
        s.flush()
        s.add(PersonRoleGrant(person_id=leader.id, role=PersonRole.LEADER))
        s.commit()
        leader_id = leader.id
    route_signals(uow, events=[_alert(clock, "identity", "idp-down")])
    with db.reader() as s:
        pages = s.execute(select(Page.person_id, Page.reason, Page.why)).all()
    assert (leader_id, PageReason.EXECUTIVE) in {(p[0], p[1]) for p in pages}
    # Bob is on call for identity (no escalation policy: paged directly) and so for its dependent checkout too:
    # woken once, as its owner's on-call. Dependents owned by other teams: tests/test_engagement.py.
    assert [p[1] for p in pages if p[0] == org.bob] == [PageReason.ON_CALL]


def test_a_request_with_an_unknown_service_writes_nothing(db, uow, org, clock) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput, match=r"events\[1\]\.service: unknown service 'billing'"):
        route_signals(uow, events=[_alert(clock, "checkout", "ok"), _alert(clock, "billing", "nope")])
    assert _incidents(db) == []


def test_metric_samples_open_an_incident_through_the_policy_rules(db, uow, org, clock) -> None:  # type: ignore[no-untyped-def]
    engine = RuleEngine(policy=default_policy())

    def sample(value: float) -> SignalEvent:
        return SignalEvent(source=SignalSource.GENERIC, action=EventAction.TRIGGER, dedup_key="identity-availability",
                           service="identity", summary="", severity_hint=None, value=value,
                           observed_at=clock.now(), kind=SignalKind.METRIC, labels={"metric": "availability"},
                           attributes={}, raw_ref="")

    for _ in range(5):
        route_signals(uow, events=[sample(99.95)], engine=engine)
        clock.advance(minutes=1)
    assert _incidents(db) == []
    for _ in range(6):
        route_signals(uow, events=[sample(92.0)], engine=engine)
        clock.advance(minutes=1)
    [incident] = _incidents(db)
    assert incident.severity is Severity.SEV1
    with db.reader() as s:
        decision = s.execute(select(Decision).where(Decision.incident_id == incident.id,
                                                    Decision.kind == DecisionKind.SEVERITY)).scalar_one()
    assert decision.rule_id == "availability-foundational" and decision.policy_version == default_policy().version
    assert "99" in decision.summary  # the threshold, in words anyone can read


def test_the_same_alert_sent_to_two_routers_at_once_opens_one_incident(db_url, db, uow, org, clock) -> None:  # type: ignore[no-untyped-def]
    """Alertmanager in an HA pair sends every notification twice; two ingest servers route them at the same time."""
    import threading

    from console.db import open_database
    from console.uow import UnitOfWork

    routers = [UnitOfWork(open_database(db_url), clock) for _ in range(2)]
    errors: list[BaseException] = []
    for round_ in range(5):
        start = threading.Barrier(len(routers))

        def route(u: UnitOfWork, key: str = f"ha-{round_}") -> None:
            try:
                start.wait(timeout=30)
                route_signals(u, events=[_alert(clock, "checkout", key)])
            except BaseException as error:  # noqa: BLE001 - reported below
                errors.append(error)

        threads = [threading.Thread(target=route, args=(u,)) for u in routers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    for u in routers:
        u.db.dispose()
    assert errors == []
    assert len(_incidents(db)) == 5  # one per alert, each alert's second copy joined the first
