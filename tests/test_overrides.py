"""A person overrides automation, with a reason, and automation never silently reverses it: a service split off a
blast radius stays split, a stopped escalation pages nobody else, and a severity a person lowered is not raised
again by the rule they overrode (another rule may raise it, and says why)."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from console import commands
from console.commands.routing import route_signals
from console.errors import InvalidInput, InvalidTransition
from console.ingest.events import EventAction, SignalEvent, SignalKind, SignalSource
from console.routing.policy import default_policy
from console.routing.rules import RuleEngine
from models.audit import AuditEntry
from models.enums import DecisionKind, EscalationState, IncidentStatus, PageReason, Severity, TimelineKind
from models.incident import Incident, IncidentService, Signal, TimelineEvent
from models.routing import Decision, Escalation, Page


def _alert(clock, service: str, key: str, severity: str = "critical") -> SignalEvent:  # type: ignore[no-untyped-def]
    return SignalEvent(source=SignalSource.ALERTMANAGER, action=EventAction.TRIGGER, dedup_key=key, service=service,
                       summary=f"{service}: {key}", severity_hint=severity, value=None, observed_at=clock.now(),
                       kind=SignalKind.ALERT, labels={}, attributes={}, raw_ref="")


def _incident(db, incident_id: int) -> Incident:  # type: ignore[no-untyped-def]
    with db.reader() as s:
        return s.get_one(Incident, incident_id)


def _decisions(db, incident_id: int) -> list[Decision]:  # type: ignore[no-untyped-def]
    with db.reader() as s:
        return list(s.execute(select(Decision).where(Decision.incident_id == incident_id).order_by(Decision.id))
                    .scalars())


def _signals(db, incident_id: int) -> list[str]:  # type: ignore[no-untyped-def]
    with db.reader() as s:
        return list(s.execute(select(Signal.dedup_key).where(Signal.incident_id == incident_id).order_by(Signal.id))
                    .scalars())


def _audit_count(db) -> int:  # type: ignore[no-untyped-def]
    with db.reader() as s:
        return s.execute(select(func.count()).select_from(AuditEntry)).scalar_one()


# --- taking a service out of a blast radius ---------------------------------------------------------------------

@pytest.fixture
def grouped(uow, org, clock):  # type: ignore[no-untyped-def]
    """A SEV1 on identity, with a checkout alert grouped under it."""
    parent = route_signals(uow, events=[_alert(clock, "identity", "idp-down")]).created_incident
    clock.advance(minutes=1)
    route_signals(uow, events=[_alert(clock, "checkout", "co-502")])
    return parent


def test_ungrouping_moves_the_services_signals_into_an_incident_of_its_own(db, uow, org, clock, escalating,
                                                                           grouped) -> None:  # type: ignore[no-untyped-def]
    assert _signals(db, grouped) == ["idp-down", "co-502"]
    clock.advance(minutes=2)
    changes = commands.ungroup_service(uow, actor_id=org.alice, incident_id=grouped, service_id=org.checkout,
                                       reason="checkout has its own fault: a bad deploy")
    child = changes.created_incident
    assert child is not None and child != grouped and changes.incidents == {grouped, child}
    split = _incident(db, child)
    assert (split.service_id, split.severity, split.status) == (org.checkout, Severity.SEV1, IncidentStatus.TRIGGERED)
    assert split.title == "checkout: co-502" and split.fingerprint == "alertmanager:co-502"
    assert _signals(db, child) == ["co-502"] and _signals(db, grouped) == ["idp-down"]
    with db.reader() as s:
        assert s.get(IncidentService, (grouped, org.checkout)) is None
        # The split incident pages checkout's own escalation policy.
        assert s.execute(select(Page.person_id).where(Page.incident_id == child,
                                                      Page.reason == PageReason.ESCALATION)).scalars().all() == [org.bob]
        note = s.execute(select(TimelineEvent.text).where(TimelineEvent.incident_id == grouped,
                                                          TimelineEvent.kind == TimelineKind.NOTE)).scalar_one()
        audit = s.execute(select(AuditEntry).where(AuditEntry.action == "incident.override")).scalar_one()
    assert note == f"checkout split off into INC-{child} by Alice Ames: checkout has its own fault: a bad deploy"
    assert audit.actor_id == org.alice and json.loads(audit.after) == {
        "split_into": child, "signals": 1, "reason": "checkout has its own fault: a bad deploy"}
    [on_parent] = [d for d in _decisions(db, grouped) if d.kind is DecisionKind.OVERRIDE]
    assert on_parent.decided_by == org.alice and on_parent.rule_id == "ungroup"
    assert f"Alice Ames took checkout out of INC-{grouped}'s blast radius (INC-{child} opened for it)" in on_parent.summary
    assert any(d.kind is DecisionKind.OVERRIDE and d.summary.startswith(f"Split from INC-{grouped} by Alice Ames")
               for d in _decisions(db, child))


def test_after_ungrouping_the_service_is_never_grouped_under_the_parent_again(db, uow, org, clock,
                                                                              grouped) -> None:  # type: ignore[no-untyped-def]
    child = commands.ungroup_service(uow, actor_id=org.alice, incident_id=grouped, service_id=org.checkout,
                                     reason="separate fault").created_incident
    clock.advance(minutes=3)
    route_signals(uow, events=[_alert(clock, "checkout", "co-502")])  # the same alert fires again
    assert _signals(db, child) == ["co-502", "co-502"]
    clock.advance(minutes=3)
    changes = route_signals(uow, events=[_alert(clock, "checkout", "co-timeout")])  # another checkout alert
    assert _signals(db, grouped) == ["idp-down"]  # neither reached the parent
    with db.reader() as s:
        assert s.get(IncidentService, (grouped, org.checkout)) is None
    assert grouped not in changes.incidents
    assert not any(d.rule_id == "blast-radius" and json.loads(d.inputs).get("fingerprint") == "co-timeout"
                   for d in _decisions(db, grouped))
    # While the split incident is open, checkout's alerts are its: no third incident pages the team again.
    assert _signals(db, child) == ["co-502", "co-502", "co-timeout"] and changes.created_incident is None
    assert any(d.kind is DecisionKind.GROUPING and f"split off INC-{grouped}" in d.summary
               for d in _decisions(db, child))


def test_every_alert_that_was_split_off_joins_the_split_incident_when_it_fires_again(db, uow, org, clock,
                                                                                     grouped) -> None:  # type: ignore[no-untyped-def]
    clock.advance(minutes=1)
    route_signals(uow, events=[_alert(clock, "checkout", "co-timeout")])  # a second checkout alert, grouped too
    assert _signals(db, grouped) == ["idp-down", "co-502", "co-timeout"]
    child = commands.ungroup_service(uow, actor_id=org.alice, incident_id=grouped, service_id=org.checkout,
                                     reason="separate fault").created_incident
    assert _signals(db, child) == ["co-502", "co-timeout"]
    clock.advance(minutes=3)
    route_signals(uow, events=[_alert(clock, "checkout", "co-502")])  # the first of the two fires again
    with db.reader() as s:
        assert s.execute(select(func.count()).select_from(Incident)).scalar_one() == 2
    assert _signals(db, child) == ["co-502", "co-timeout", "co-502"]


def test_once_the_split_incident_is_resolved_a_new_alert_opens_its_own(db, uow, org, clock, grouped) -> None:  # type: ignore[no-untyped-def]
    child = commands.ungroup_service(uow, actor_id=org.alice, incident_id=grouped, service_id=org.checkout,
                                     reason="separate fault").created_incident
    commands.resolve(uow, actor_id=org.alice, incident_id=child, summary="rolled back")
    clock.advance(minutes=30)
    created = route_signals(uow, events=[_alert(clock, "checkout", "co-disk")]).created_incident
    assert created not in (None, grouped, child)
    assert _signals(db, grouped) == ["idp-down"]  # still not grouped under the parent


def test_other_services_are_still_grouped_after_one_is_split_off(db, uow, org, clock, grouped) -> None:  # type: ignore[no-untyped-def]
    from models.enums import FailureFamily, ServiceTier
    from models.org import Service, ServiceDependency

    with db.writer() as s:
        search = Service(name="search", description="", tier=ServiceTier.CORE, family=FailureFamily.UPTIME,
                         team_id=org.team)
        s.add(search)
        s.flush()
        s.add(ServiceDependency(service_id=search.id, depends_on_id=org.identity))
        s.commit()
    commands.ungroup_service(uow, actor_id=org.alice, incident_id=grouped, service_id=org.checkout, reason="own fault")
    route_signals(uow, events=[_alert(clock, "search", "search-5xx")])
    assert _signals(db, grouped) == ["idp-down", "search-5xx"]


def test_ungrouping_is_refused_with_a_clear_message_and_writes_nothing(db, uow, org, clock, grouped) -> None:  # type: ignore[no-untyped-def]
    before = _audit_count(db)
    with pytest.raises(InvalidInput, match=f"identity is not grouped under INC-{grouped}; nothing to split off"):
        commands.ungroup_service(uow, actor_id=org.alice, incident_id=grouped, service_id=org.identity, reason="x")
    with pytest.raises(InvalidInput, match="a reason for splitting the service off is required"):
        commands.ungroup_service(uow, actor_id=org.alice, incident_id=grouped, service_id=org.checkout, reason="  ")
    commands.resolve(uow, actor_id=org.alice, incident_id=grouped, summary="fixed")
    with pytest.raises(InvalidTransition, match=f"cannot split a service off INC-{grouped}: it is already resolved"):
        commands.ungroup_service(uow, actor_id=org.alice, incident_id=grouped, service_id=org.checkout, reason="x")
    assert _audit_count(db) == before + 1  # only the resolve
    assert _signals(db, grouped) == ["idp-down", "co-502"]


# --- stopping an escalation -------------------------------------------------------------------------------------

def _open_checkout(uow, org) -> int:  # type: ignore[no-untyped-def]
    return commands.open_incident(uow, actor_id=org.carol, title="Checkout errors", severity="SEV3",
                                  service_id=org.checkout).created_incident  # type: ignore[return-value]


def _escalation_pages(db, incident: int) -> list[int]:  # type: ignore[no-untyped-def]
    with db.reader() as s:
        return list(s.execute(select(Page.person_id).where(Page.incident_id == incident,
                                                           Page.reason == PageReason.ESCALATION).order_by(Page.id))
                    .scalars())


def test_a_stopped_escalation_pages_no_further_tier(db, uow, org, clock, escalating) -> None:  # type: ignore[no-untyped-def]
    stopped, running = _open_checkout(uow, org), _open_checkout(uow, org)
    clock.advance(minutes=2)
    commands.stop_escalation(uow, actor_id=org.alice, incident_id=stopped, reason="Bob is on it in the war room")
    clock.advance(minutes=10)  # past tier 1's five minutes
    commands.escalation_tick(uow)
    assert _escalation_pages(db, stopped) == [org.bob]
    assert _escalation_pages(db, running) == [org.bob, org.alice]  # the same policy, not stopped: tier 2 paged
    with db.reader() as s:
        escalation = s.get_one(Escalation, stopped)
        note = s.execute(select(TimelineEvent.text).where(TimelineEvent.incident_id == stopped,
                                                          TimelineEvent.kind == TimelineKind.NOTE)).scalar_one()
        audit = s.execute(select(AuditEntry).where(AuditEntry.action == "incident.override")).scalar_one()
    assert escalation.state is EscalationState.STOPPED and escalation.step_due_at is None
    assert escalation.stop_reason == "stopped by hand by Alice Ames: Bob is on it in the war room"
    assert note == "Escalation stopped by Alice Ames: Bob is on it in the war room"
    assert audit.actor_id == org.alice and json.loads(audit.after)["escalation"] == "stopped"
    override = [d for d in _decisions(db, stopped) if d.kind is DecisionKind.OVERRIDE]
    assert [(d.rule_id, d.decided_by, d.summary) for d in override] == [
        ("stop-escalation", org.alice, "Alice Ames stopped the escalation at step 1: Bob is on it in the war room")]
    assert _incident(db, stopped).status is IncidentStatus.TRIGGERED  # stopping paging is not acknowledging


def test_stopping_is_refused_when_nothing_is_escalating(db, uow, org, clock, escalating) -> None:  # type: ignore[no-untyped-def]
    incident = _open_checkout(uow, org)
    commands.stop_escalation(uow, actor_id=org.alice, incident_id=incident, reason="on it")
    with pytest.raises(InvalidTransition, match=f"^INC-{incident} is not escalating; nothing to stop$"):
        commands.stop_escalation(uow, actor_id=org.alice, incident_id=incident, reason="again")
    unescalated = commands.open_incident(uow, actor_id=org.alice, title="Slow logins", severity="SEV3",
                                         service_id=org.identity).created_incident  # identity has no policy
    with pytest.raises(InvalidTransition, match=f"^INC-{unescalated} is not escalating; nothing to stop$"):
        commands.stop_escalation(uow, actor_id=org.alice, incident_id=unescalated, reason="on it")
    acknowledged = _open_checkout(uow, org)
    commands.acknowledge(uow, actor_id=org.bob, incident_id=acknowledged)
    with pytest.raises(InvalidTransition, match="is not escalating"):
        commands.stop_escalation(uow, actor_id=org.alice, incident_id=acknowledged, reason="on it")
    commands.resolve(uow, actor_id=org.alice, incident_id=acknowledged, summary="done")
    with pytest.raises(InvalidTransition, match="cannot stop the escalation of .* it is already resolved"):
        commands.stop_escalation(uow, actor_id=org.alice, incident_id=acknowledged, reason="on it")


def test_stopping_needs_a_reason_and_a_refusal_leaves_it_running(db, uow, org, clock, escalating) -> None:  # type: ignore[no-untyped-def]
    incident = _open_checkout(uow, org)
    with pytest.raises(InvalidInput, match="a reason for stopping the escalation is required"):
        commands.stop_escalation(uow, actor_id=org.alice, incident_id=incident, reason="")
    clock.advance(minutes=5)
    commands.escalation_tick(uow)
    assert _escalation_pages(db, incident) == [org.bob, org.alice]


# --- a person's severity against the rules ------------------------------------------------------------------------

class _Feed:
    """Metric samples and qualitative reports for one service through route_signals, one a minute."""

    def __init__(self, uow, clock, service: str) -> None:  # type: ignore[no-untyped-def]
        self.uow, self.clock, self.service = uow, clock, service
        self.engine = RuleEngine(policy=default_policy())

    def send(self, metric: str, value: float, attributes: dict[str, str] | None = None) -> None:
        kind = SignalKind.SENTIMENT if metric == "sentiment" else SignalKind.METRIC
        event = SignalEvent(source=SignalSource.GENERIC, action=EventAction.TRIGGER,
                            dedup_key=f"{self.service}-{metric}", service=self.service, summary="",
                            severity_hint=None, value=value, observed_at=self.clock.now(), kind=kind,
                            labels={"metric": metric}, attributes=attributes or {}, raw_ref="")
        route_signals(self.uow, events=[event], engine=self.engine)
        self.clock.advance(minutes=1)

    def accounts_fire_again(self) -> None:
        """Let affected-accounts-wide clear (out of its 15 min window, then false for its 10 min) and hold again."""
        for _ in range(30):
            self.send("affected_accounts", 0)
        self.send("affected_accounts", 150)


@pytest.fixture
def lowered(db, uow, org, clock, escalating):  # type: ignore[no-untyped-def]
    """A checkout SEV3 that rule affected-accounts-wide raised to SEV1, and Alice lowered again to SEV3."""
    incident = route_signals(uow, events=[_alert(clock, "checkout", "co-502", severity="warning")]).created_incident
    feed = _Feed(uow, clock, "checkout")
    feed.send("affected_accounts", 150)
    assert _incident(db, incident).severity is Severity.SEV1
    commands.change_severity(uow, actor_id=org.alice, incident_id=incident, severity="SEV3",
                             reason="the accounts are internal test tenants")
    return incident, feed


def test_the_rule_a_person_overrode_does_not_raise_again_and_says_why(db, uow, org, lowered) -> None:  # type: ignore[no-untyped-def]
    incident, feed = lowered
    feed.accounts_fire_again()
    assert _incident(db, incident).severity is Severity.SEV3
    kept = _decisions(db, incident)[-1]
    assert (kept.kind, kept.rule_id, kept.decided_by) == (DecisionKind.SEVERITY, "affected-accounts-wide", None)
    assert ("kept SEV3, which Alice Ames set after this rule raised it before: change it by hand if the new "
            "evidence warrants it") in kept.summary
    with db.reader() as s:
        notes = s.execute(select(TimelineEvent.text).where(TimelineEvent.incident_id == incident,
                                                           TimelineEvent.kind == TimelineKind.NOTE)).scalars().all()
    assert notes == ["Rule affected-accounts-wide holds again; severity left at SEV3 as Alice Ames set it"]


def test_the_overridden_rule_stays_overridden_however_often_it_fires(db, uow, org, lowered) -> None:  # type: ignore[no-untyped-def]
    incident, feed = lowered
    for _ in range(3):
        feed.accounts_fire_again()
        assert _incident(db, incident).severity is Severity.SEV3
    with db.reader() as s:
        notes = s.execute(select(func.count()).select_from(TimelineEvent).where(
            TimelineEvent.incident_id == incident, TimelineEvent.kind == TimelineKind.NOTE)).scalar_one()
    assert notes == 3


def test_the_kept_severity_names_who_set_it_not_who_last_overrode_something_else(db, uow, org, lowered) -> None:  # type: ignore[no-untyped-def]
    incident, feed = lowered
    commands.stop_escalation(uow, actor_id=org.bob, incident_id=incident, reason="I have it")
    feed.accounts_fire_again()
    assert _incident(db, incident).severity is Severity.SEV3
    assert "kept SEV3, which Alice Ames set after this rule raised it before" in _decisions(db, incident)[-1].summary


def test_a_different_rule_may_raise_what_a_person_lowered_with_its_reason(db, uow, org, lowered) -> None:  # type: ignore[no-untyped-def]
    incident, feed = lowered
    feed.send("sentiment", 0, {"value": "negative", "strategic": "true", "account": "Acme GmbH"})
    assert _incident(db, incident).severity is Severity.SEV2
    raised = _decisions(db, incident)
    by_rule = [d for d in raised if d.rule_id == "strategic-account-unhappy"]
    assert [d.kind for d in by_rule] == [DecisionKind.SEVERITY]
    assert by_rule[0].summary.startswith("Strategic account Acme GmbH reports negative sentiment about checkout")
    with db.reader() as s:
        change = s.execute(select(TimelineEvent.text).where(
            TimelineEvent.incident_id == incident, TimelineEvent.kind == TimelineKind.SEVERITY_CHANGED)
            .order_by(TimelineEvent.id.desc()).limit(1)).scalar_one()
    assert change.startswith("Severity SEV3 → SEV2: Strategic account Acme GmbH reports negative sentiment")


def test_a_rule_never_lowers_what_a_person_raised(db, uow, org, clock) -> None:  # type: ignore[no-untyped-def]
    incident = route_signals(uow, events=[_alert(clock, "checkout", "co-502", severity="warning")]).created_incident
    commands.change_severity(uow, actor_id=org.alice, incident_id=incident, severity="SEV1", reason="payments down")
    feed = _Feed(uow, clock, "checkout")
    feed.send("sentiment", 0, {"value": "negative", "strategic": "true", "account": "Acme GmbH"})  # a SEV2 rule
    assert _incident(db, incident).severity is Severity.SEV1
    assert not [d for d in _decisions(db, incident) if d.rule_id == "strategic-account-unhappy"
                and d.kind is DecisionKind.SEVERITY]


def test_without_a_persons_override_the_same_rule_raises_again(db, uow, org, clock) -> None:  # type: ignore[no-untyped-def]
    """The control: when nobody overrode the rule, it raises a severity that went down by other means."""
    incident = route_signals(uow, events=[_alert(clock, "checkout", "co-502", severity="warning")]).created_incident
    feed = _Feed(uow, clock, "checkout")
    feed.send("affected_accounts", 150)
    assert _incident(db, incident).severity is Severity.SEV1
    with db.writer() as s:  # an earlier level, as another tool wrote it: nobody's decision
        s.get_one(Incident, incident).severity = Severity.SEV3
        s.commit()
    feed.accounts_fire_again()
    assert _incident(db, incident).severity is Severity.SEV1
