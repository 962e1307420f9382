"""Rows any client writes straight into the signals table (a script, psql, another tool) are routed like ingested
signals, each once: into an incident with the reason, or set aside with the reason when they cannot be routed,
never retried forever, and never twice when two consoles route at once."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from console import commands
from console.audit import verify_chain
from console.commands.signal_rows import has_pending_signals, route_pending_signals
from console.db import open_database
from console.routing.policy import default_policy
from console.routing.rules import RuleEngine
from console.uow import UnitOfWork
from models.audit import AuditEntry
from models.enums import DecisionKind, Severity, TimelineKind
from models.incident import Incident, Signal, TimelineEvent
from models.routing import Decision

_INSERT = text(
    "INSERT INTO signals (source, dedup_key, kind, service_id, summary, value, observed_at, incident_id, "
    "severity_hint, attributes) VALUES (:source, :key, :kind, :service, :summary, :value, :at, :incident, "
    ":hint, :attributes)")


def _insert(db, *, service: int | None, key: str = "co-502", kind: str = "alert", source: str = "script",  # type: ignore[no-untyped-def]
            hint: str | None = "critical", value: float | None = None, at: str = "2026-11-27 10:00:00+00:00",
            incident: int | None = None, attributes: str = "{}", summary: str = "checkout 5xx above 5%") -> int:
    """Write a row the way any SQL client would, outside the console's commands."""
    with db.engine.begin() as conn:
        conn.execute(_INSERT, dict(source=source, key=key, kind=kind, service=service, summary=summary, value=value,
                                   at=at, incident=incident, hint=hint, attributes=attributes))
        return conn.execute(text("SELECT max(id) FROM signals")).scalar_one()


def _count(db, model, *where) -> int:  # type: ignore[no-untyped-def]
    with db.reader() as s:
        return s.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def _row(db, row_id: int) -> Signal:  # type: ignore[no-untyped-def]
    with db.reader() as s:
        return s.get_one(Signal, row_id)


def _incidents(db) -> list[Incident]:  # type: ignore[no-untyped-def]
    with db.reader() as s:
        return list(s.execute(select(Incident).order_by(Incident.id)).scalars())


def test_an_alert_row_written_with_sql_is_routed_into_an_incident_with_the_reason(db, uow, org, clock) -> None:  # type: ignore[no-untyped-def]
    row_id = _insert(db, service=org.checkout, attributes='{"region": "eu-west-1"}')
    assert has_pending_signals(uow)
    clock.advance(seconds=2)
    changes = route_pending_signals(uow)
    [incident] = _incidents(db)
    assert changes.created_incident == incident.id
    assert (incident.service_id, incident.severity, incident.fingerprint) == (org.checkout, Severity.SEV1,
                                                                            "script:co-502")
    row = _row(db, row_id)
    assert row.incident_id == incident.id and row.routed_at == clock.now()
    assert row.attributes == '{"region": "eu-west-1"}'
    assert _count(db, Signal) == 1  # the row itself was routed, not copied
    with db.reader() as s:
        reasons = s.execute(select(Decision.summary).where(Decision.incident_id == incident.id,
                                                           Decision.kind == DecisionKind.SEVERITY)).scalars().all()
    assert reasons == ["SEV1: the sender (script) rated it 'critical', which the taxonomy maps to SEV1"]
    assert not has_pending_signals(uow)


def test_a_second_run_routes_nothing_again(db, uow, org, clock) -> None:  # type: ignore[no-untyped-def]
    _insert(db, service=org.checkout)
    route_pending_signals(uow)
    counts = (_count(db, Incident), _count(db, Decision), _count(db, AuditEntry), _count(db, TimelineEvent))
    clock.advance(minutes=1)
    changes = route_pending_signals(uow)
    assert changes.incidents == frozenset() and changes.created_incident is None
    assert (_count(db, Incident), _count(db, Decision), _count(db, AuditEntry), _count(db, TimelineEvent)) == counts


def test_rows_with_the_same_key_join_one_incident(db, uow, org, clock) -> None:  # type: ignore[no-untyped-def]
    first = _insert(db, service=org.checkout)
    second = _insert(db, service=org.checkout, at="2026-11-27 10:01:00+00:00")
    route_pending_signals(uow)
    [incident] = _incidents(db)
    assert _row(db, first).incident_id == _row(db, second).incident_id == incident.id
    clock.advance(minutes=2)
    later = _insert(db, service=org.checkout, at="2026-11-27 10:02:00+00:00")
    route_pending_signals(uow)
    assert _row(db, later).incident_id == incident.id and len(_incidents(db)) == 1


def test_one_request_with_a_repeated_alert_opens_one_incident(db, uow, org, clock) -> None:  # type: ignore[no-untyped-def]
    from console.commands.routing import route_signals
    from console.ingest.events import EventAction, SignalEvent, SignalKind, SignalSource

    alert = SignalEvent(source=SignalSource.ALERTMANAGER, action=EventAction.TRIGGER, dedup_key="co-502",
                        service="checkout", summary="checkout 5xx", severity_hint="critical", value=None,
                        observed_at=clock.now(), kind=SignalKind.ALERT, labels={}, attributes={}, raw_ref="")
    route_signals(uow, events=[alert, alert])
    [incident] = _incidents(db)
    assert _count(db, Signal, Signal.incident_id == incident.id) == 2


def test_a_flapping_row_repeated_in_one_batch_reopens_its_incident_once(db, uow, org, clock, escalating) -> None:  # type: ignore[no-untyped-def]
    from models.enums import IncidentStatus, PageReason
    from models.routing import Page

    _insert(db, service=org.checkout, hint="warning")
    route_pending_signals(uow)
    [incident] = _incidents(db)
    commands.resolve(uow, actor_id=org.alice, incident_id=incident.id, summary="looked fine")
    clock.advance(minutes=4)
    again = [_insert(db, service=org.checkout, hint="warning", at="2026-11-27 10:04:00+00:00") for _ in range(2)]
    route_pending_signals(uow)
    [reopened] = _incidents(db)
    assert reopened.status is IncidentStatus.TRIGGERED
    assert [_row(db, r).incident_id for r in again] == [incident.id, incident.id]
    reopenings = _count(db, TimelineEvent, TimelineEvent.incident_id == incident.id,
                        TimelineEvent.kind == TimelineKind.STATUS_CHANGED)
    assert reopenings == 1
    # Tier 1 paged when it opened and once when it reopened: never twice for one reopening.
    assert _count(db, Page, Page.incident_id == incident.id, Page.reason == PageReason.ESCALATION) == 2


def test_a_row_written_against_an_incident_stays_there(db, uow, org, clock) -> None:  # type: ignore[no-untyped-def]
    incident = commands.open_incident(uow, actor_id=org.alice, title="Checkout errors", severity="SEV2",
                                      service_id=org.checkout).created_incident
    row_id = _insert(db, service=org.identity, key="other", incident=incident, summary="seen from the EU edge")
    changes = route_pending_signals(uow)
    assert changes.incidents == {incident} and len(_incidents(db)) == 1
    row = _row(db, row_id)
    assert row.incident_id == incident and row.routed_at == clock.now()
    with db.reader() as s:
        texts = s.execute(select(TimelineEvent.text).where(TimelineEvent.incident_id == incident,
                                                           TimelineEvent.kind == TimelineKind.SIGNAL)).scalars().all()
    assert texts == ["alert from script: seen from the EU edge"]


def _set_aside(db, row_id: int) -> list[str]:  # type: ignore[no-untyped-def]
    with db.reader() as s:
        return list(s.execute(select(Decision.summary).where(Decision.signal_id == row_id,
                                                             Decision.rule_id == "unroutable")).scalars())


def test_a_row_with_no_service_is_set_aside_with_the_reason_and_never_retried(db, uow, org, clock) -> None:  # type: ignore[no-untyped-def]
    lost = _insert(db, service=None, key="who-knows")
    good = _insert(db, service=org.checkout)
    route_pending_signals(uow)
    assert _set_aside(db, lost) == [f"signal #{lost} from script names no service: not routed"]
    assert _row(db, lost).routed_at == clock.now() and _row(db, lost).incident_id is None
    assert _row(db, good).incident_id is not None  # the rest of the batch was routed
    assert not has_pending_signals(uow)
    clock.advance(minutes=1)
    route_pending_signals(uow)
    assert len(_set_aside(db, lost)) == 1


@pytest.mark.parametrize("attributes", ["not json", "[1, 2]", "null", '"eu"'])
def test_a_row_with_attributes_that_are_not_a_json_object_is_set_aside(db, uow, org, clock,
                                                                       attributes: str) -> None:  # type: ignore[no-untyped-def]
    bad = _insert(db, service=org.checkout, attributes=attributes)
    route_pending_signals(uow)
    [why] = _set_aside(db, bad)
    assert why.startswith(f"signal #{bad} from script has attributes that are not a JSON object of strings: ")
    assert attributes in why
    assert _incidents(db) == [] and not has_pending_signals(uow)


@pytest.mark.parametrize("kind", ["page", "Alert", ""])
def test_a_row_of_an_unknown_kind_is_set_aside_and_does_not_block_the_others(db, uow, org, clock,
                                                                             kind: str) -> None:  # type: ignore[no-untyped-def]
    bad = _insert(db, service=org.checkout, kind=kind, key="odd")
    good = _insert(db, service=org.checkout)
    route_pending_signals(uow)
    [why] = _set_aside(db, bad)
    assert why.startswith(f"signal #{bad} cannot be read") and repr(kind) in why
    assert _row_routed_at(db, bad) is not None
    assert _row(db, good).incident_id is not None
    assert not has_pending_signals(uow)
    route_pending_signals(uow)
    assert len(_set_aside(db, bad)) == 1


def _row_routed_at(db, row_id: int) -> str | None:  # type: ignore[no-untyped-def]
    """The raw routed_at of a row the ORM cannot load."""
    with db.engine.connect() as conn:
        return conn.execute(text("SELECT routed_at FROM signals WHERE id = :id"), {"id": row_id}).scalar()


def test_a_row_with_a_time_no_one_can_read_is_set_aside(db, uow, org, clock) -> None:  # type: ignore[no-untyped-def]
    if db.backend == "postgresql":  # its timestamptz column refuses the row at INSERT: nothing to route
        with pytest.raises(DBAPIError, match="not a time"):
            _insert(db, service=org.checkout, at="not a time")
        return
    bad = _insert(db, service=org.checkout, at="not a time", key="odd")
    good = _insert(db, service=org.checkout)
    route_pending_signals(uow)
    [why] = _set_aside(db, bad)
    assert why.startswith(f"signal #{bad} cannot be read") and "not a time" in why
    assert _row(db, good).incident_id is not None and not has_pending_signals(uow)


def test_rows_are_routed_oldest_first_in_batches(db, uow, org, clock) -> None:  # type: ignore[no-untyped-def]
    rows = [_insert(db, service=org.checkout, key=f"k{n}") for n in range(3)]
    route_pending_signals(uow, limit=2)
    assert [_row(db, r).routed_at is not None for r in rows] == [True, True, False]
    assert has_pending_signals(uow)
    route_pending_signals(uow, limit=2)
    assert all(_row(db, r).routed_at is not None for r in rows) and not has_pending_signals(uow)


def test_metric_rows_are_judged_by_the_policy_rules(db, uow, org, clock) -> None:  # type: ignore[no-untyped-def]
    engine = RuleEngine(policy=default_policy())
    rows = [_insert(db, service=org.identity, key="identity-availability", kind="metric", hint=None, value=92.0,
                    at=f"2026-11-27 10:0{minute}:00+00:00", attributes='{"metric": "availability"}', summary="")
            for minute in range(4)]
    route_pending_signals(uow, engine=engine)
    [incident] = _incidents(db)
    assert (incident.service_id, incident.severity) == (org.identity, Severity.SEV1)
    with db.reader() as s:
        rule = s.execute(select(Decision.rule_id).where(Decision.incident_id == incident.id,
                                                        Decision.kind == DecisionKind.SEVERITY)).scalar_one()
    assert rule == "availability-foundational"
    assert [_row(db, r).incident_id for r in rows] == [incident.id, None, None, None]  # the sample that fired
    assert not has_pending_signals(uow)


def test_a_metric_row_below_every_threshold_opens_nothing(db, uow, org, clock) -> None:  # type: ignore[no-untyped-def]
    engine = RuleEngine(policy=default_policy())
    row = _insert(db, service=org.identity, key="identity-availability", kind="metric", hint=None, value=99.99,
                  attributes='{"metric": "availability"}', summary="")
    route_pending_signals(uow, engine=engine)
    assert _incidents(db) == [] and _row(db, row).routed_at is not None


def test_two_consoles_routing_at_once_route_each_row_once(db_url, db, uow, org, clock) -> None:  # type: ignore[no-untyped-def]
    rows = [_insert(db, service=org.checkout, key=f"alert-{n}") for n in range(40)]
    consoles = [UnitOfWork(open_database(db_url), clock) for _ in range(2)]
    start = threading.Barrier(len(consoles))
    errors: list[BaseException] = []

    def route(u: UnitOfWork) -> None:
        try:
            start.wait(timeout=30)
            for _ in range(10_000):  # a bound, not a wait: stops once nothing is pending
                if not has_pending_signals(u):
                    return
                route_pending_signals(u, limit=7)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=route, args=(u,)) for u in consoles]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for u in consoles:
        u.db.dispose()
    assert errors == []
    incidents = _incidents(db)
    assert len(incidents) == len(rows)  # a row routed twice would open a second incident
    with db.reader() as s:
        per_incident = dict(s.execute(select(Signal.incident_id, func.count()).group_by(Signal.incident_id)).all())
        opened = s.execute(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "incident.open")).scalar_one()
        assert verify_chain(s).intact
    assert per_incident == {i.id: 1 for i in incidents}
    assert opened == len(rows)
