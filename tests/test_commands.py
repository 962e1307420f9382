"""Every command: one commit, its audit entry on an intact chain, a change-log row; failures leave nothing."""
from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from console import commands
from console.audit import verify_chain
from console.changes import Changes
from console.errors import Conflict, InvalidInput, InvalidTransition, NotFound
from models.audit import AuditEntry, ChangeLogEntry
from models.enums import IncidentRole, IncidentStatus, Severity, SignalKind, TimelineKind
from models.incident import Incident, RoleAssignment, Signal, TimelineEvent


def _open(uow, org, **kw) -> int:  # type: ignore[no-untyped-def]
    args = dict(actor_id=org.alice, title="Login failures", severity="SEV2", service_id=org.identity)
    args.update(kw)
    return commands.open_incident(uow, **args).created_incident  # type: ignore[return-value]


def _dump(db) -> dict[str, list[tuple]]:  # type: ignore[no-untyped-def]
    """Every row of every table, so a failed command is seen to leave nothing at all behind."""
    from models.schema import metadata

    with db.reader() as s:
        return {t.name: sorted(map(tuple, s.execute(t.select()).all()), key=repr) for t in metadata.sorted_tables}


def _counts(db) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with db.reader() as s:
        return {
            model.__tablename__: s.execute(select(func.count()).select_from(model)).scalar_one()
            for model in (Incident, AuditEntry, ChangeLogEntry, TimelineEvent, RoleAssignment, Signal)
        }


COMMANDS: dict[str, Callable] = {
    "acknowledge": lambda uow, org, i: commands.acknowledge(uow, actor_id=org.bob, incident_id=i),
    "take_ownership": lambda uow, org, i: commands.take_ownership(uow, actor_id=org.bob, incident_id=i),
    "assign_owner": lambda uow, org, i: commands.assign_owner(uow, actor_id=org.alice, incident_id=i, owner_id=org.carol),
    "assign_commander": lambda uow, org, i: commands.assign_commander(
        uow, actor_id=org.alice, incident_id=i, commander_id=org.alice),
    "change_severity": lambda uow, org, i: commands.change_severity(
        uow, actor_id=org.alice, incident_id=i, severity=Severity.SEV3, reason="a workaround exists"),
    "change_status": lambda uow, org, i: commands.change_status(
        uow, actor_id=org.alice, incident_id=i, status=IncidentStatus.MITIGATING),
    "add_note": lambda uow, org, i: commands.add_note(uow, actor_id=org.bob, incident_id=i, text="rolled back 1.42"),
    "set_next_action": lambda uow, org, i: commands.set_next_action(
        uow, actor_id=org.alice, incident_id=i, text="confirm error rate < 1%"),
    "resolve": lambda uow, org, i: commands.resolve(uow, actor_id=org.alice, incident_id=i, summary="rollback fixed it"),
    "attach_signal": lambda uow, org, i: commands.attach_signal(
        uow, actor_id=None, incident_id=i, signal=commands.SignalInput(
            source="alertmanager", dedup_key="k1", kind=SignalKind.ALERT, summary="5xx > 5%",
            observed_at=uow.clock.now())),
}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_command_commits_once_with_audit_and_change_log(name, db, uow, org, commit_counter):  # type: ignore[no-untyped-def]
    incident_id = _open(uow, org)
    before = _counts(db)
    commit_counter["n"] = 0

    changes = COMMANDS[name](uow, org, incident_id)

    assert isinstance(changes, Changes)
    assert changes.incidents == {incident_id}
    assert commit_counter["n"] == 1
    after = _counts(db)
    assert after["audit_entries"] == before["audit_entries"] + 1
    with db.reader() as s:
        logged = s.execute(select(ChangeLogEntry.entity, ChangeLogEntry.entity_id)
                           .order_by(ChangeLogEntry.seq).offset(before["change_log"])).all()
    assert logged and set(logged) == {("incident", incident_id)}  # written by the database's triggers
    # Marking a triggered incident mitigating acknowledges it too: two timeline events, still one commit.
    assert after["timeline_events"] == before["timeline_events"] + (2 if name == "change_status" else 1)
    with db.reader() as s:
        entry = s.execute(select(AuditEntry).order_by(AuditEntry.id.desc())).scalars().first()
        assert entry.subject_id == str(incident_id) and entry.action.startswith("incident.")
        assert entry.at == uow.clock.now()
        assert verify_chain(s).intact


def test_a_command_moves_the_incident_version_by_exactly_one(db, uow, org):  # type: ignore[no-untyped-def]
    incident_id = _open(uow, org)
    with db.reader() as s:
        before = s.get(Incident, incident_id).version
    # Acknowledging changes status, owner, ack time and role history: still one version step for other consoles.
    commands.acknowledge(uow, actor_id=org.bob, incident_id=incident_id, expected_version=before)
    with db.reader() as s:
        assert s.get(Incident, incident_id).version == before + 1


def test_an_incident_is_opened_at_version_one_however_it_was_opened(db, uow, org, clock):  # type: ignore[no-untyped-def]
    """Declared by a person, opened by an alert, or split off a blast radius: one INSERT, no second UPDATE that
    other consoles would take for a change (and a stale version for whoever acts on it next)."""
    from console.commands.routing import route_signals
    from console.ingest.events import EventAction, SignalEvent, SignalKind as EventKind, SignalSource

    def alert(service: str, key: str) -> SignalEvent:
        return SignalEvent(source=SignalSource.ALERTMANAGER, action=EventAction.TRIGGER, dedup_key=key,
                           service=service, summary=f"{service} down", severity_hint="critical", value=None,
                           observed_at=clock.now(), kind=EventKind.ALERT, labels={}, attributes={}, raw_ref="")

    declared = _open(uow, org)
    routed = route_signals(uow, events=[alert("identity", "idp")]).created_incident
    route_signals(uow, events=[alert("checkout", "co")])  # grouped under identity's incident
    split = commands.ungroup_service(uow, actor_id=org.alice, incident_id=routed, service_id=org.checkout,
                                     reason="its own fault").created_incident
    with db.reader() as s:
        assert [s.get(Incident, i).version for i in (declared, routed, split)] == [1, 1, 1]


def test_notes_and_signals_do_not_turn_someone_elses_action_into_a_conflict(db, uow, org, clock):  # type: ignore[no-untyped-def]
    incident_id = _open(uow, org)
    with db.reader() as s:
        seen = s.get(Incident, incident_id).version
    clock.advance(seconds=20)
    commands.add_note(uow, actor_id=org.carol, incident_id=incident_id, text="customer on the phone")
    commands.attach_signal(uow, actor_id=None, incident_id=incident_id, signal=commands.SignalInput(
        source="alertmanager", dedup_key="k", kind=SignalKind.ALERT, summary="still firing", observed_at=clock.now()))
    changes = commands.acknowledge(uow, actor_id=org.bob, incident_id=incident_id, expected_version=seen)
    assert changes.versions == ((incident_id, seen + 1),)


def test_marking_a_triggered_incident_mitigating_is_a_full_acknowledgement(db, uow, org):  # type: ignore[no-untyped-def]
    incident_id = _open(uow, org)
    commands.change_status(uow, actor_id=org.bob, incident_id=incident_id, status="mitigating")
    with db.reader() as s:
        incident = s.get(Incident, incident_id)
        assert incident.owner_id == org.bob and incident.acknowledged_at == uow.clock.now()
        kinds = s.execute(select(TimelineEvent.kind).order_by(TimelineEvent.id)).scalars().all()
        assert kinds[-2:] == [TimelineKind.ACKNOWLEDGED, TimelineKind.STATUS_CHANGED]
        after = s.execute(select(AuditEntry.after).order_by(AuditEntry.id.desc())).scalars().first()
        assert '"acknowledged_at"' in after and f'"owner_id":{org.bob}' in after


def test_open_incident_is_audited_with_deadline_from_taxonomy(db, uow, org, commit_counter):  # type: ignore[no-untyped-def]
    changes = commands.open_incident(uow, actor_id=org.alice, title=" Checkout 502s ", severity="SEV1",
                                     service_id=org.checkout, customer_impact="EU customers cannot pay")
    assert commit_counter["n"] == 1
    with db.reader() as s:
        incident = s.get(Incident, changes.created_incident)
        assert incident.title == "Checkout 502s"
        assert incident.status is IncidentStatus.TRIGGERED
        assert incident.ack_deadline == uow.clock.now() + timedelta(minutes=5)
        actions = s.execute(select(AuditEntry.action).order_by(AuditEntry.id)).scalars().all()
        # The pages the impact policy asks for at SEV1 (here: Alice, commander and team lead) follow the opening.
        assert actions[0] == "incident.open" and set(actions[1:]) == {"incident.page"}
        logged = s.execute(select(ChangeLogEntry.entity_id).where(ChangeLogEntry.entity == "incident")).scalars()
        assert set(logged) == {changes.created_incident}
        assert verify_chain(s).intact


def test_acknowledge_makes_the_acknowledger_owner_and_records_lateness(db, uow, org, clock):  # type: ignore[no-untyped-def]
    incident_id = _open(uow, org, severity="SEV1")
    clock.advance(minutes=7)
    commands.acknowledge(uow, actor_id=org.bob, incident_id=incident_id)
    with db.reader() as s:
        incident = s.get(Incident, incident_id)
        assert incident.status is IncidentStatus.ACKNOWLEDGED and incident.owner_id == org.bob
        texts = s.execute(select(TimelineEvent.text).where(TimelineEvent.kind == TimelineKind.ACKNOWLEDGED)).scalars()
        assert list(texts) == ["Acknowledged by Bob Burns (2 min past the deadline)"]


def test_ownership_history_is_kept(db, uow, org):  # type: ignore[no-untyped-def]
    incident_id = _open(uow, org, owner_id=org.bob)
    commands.assign_owner(uow, actor_id=org.alice, incident_id=incident_id, owner_id=org.carol)
    with db.reader() as s:
        rows = s.execute(select(RoleAssignment).where(RoleAssignment.role == IncidentRole.OWNER)
                         .order_by(RoleAssignment.id)).scalars().all()
        assert [(r.person_id, r.renounced_at is None) for r in rows] == [(org.bob, False), (org.carol, True)]


def test_raising_severity_shortens_the_ack_deadline(db, uow, org, clock):  # type: ignore[no-untyped-def]
    incident_id = _open(uow, org, severity="SEV3")  # 30 min to acknowledge
    clock.advance(minutes=10)
    commands.change_severity(uow, actor_id=org.alice, incident_id=incident_id, severity="SEV1", reason="payments down")
    with db.reader() as s:
        assert s.get(Incident, incident_id).ack_deadline == clock.now() + timedelta(minutes=5)


def _signal(uow):  # type: ignore[no-untyped-def]
    return commands.SignalInput(source="alertmanager", dedup_key="k", kind=SignalKind.ALERT, summary="s",
                                observed_at=uow.clock.now())


_NO_SETUP = None
# label, what happens first (committed, part of the "before"), the failing call, the error, a fragment of its message
FAILURES: list[tuple[str, Callable | None, Callable, type[Exception], str]] = [
    ("severity without reason", _NO_SETUP,
     lambda uow, org, i: commands.change_severity(uow, actor_id=org.alice, incident_id=i, severity="SEV1", reason=" "),
     InvalidInput, "reason"),
    ("unknown severity", _NO_SETUP,
     lambda uow, org, i: commands.change_severity(uow, actor_id=org.alice, incident_id=i, severity="SEV9", reason="x"),
     InvalidInput, "SEV9"),
    ("acknowledge twice",
     lambda uow, org, i: commands.acknowledge(uow, actor_id=org.bob, incident_id=i),
     lambda uow, org, i: commands.acknowledge(uow, actor_id=org.bob, incident_id=i),
     InvalidTransition, "already acknowledged"),
    ("unknown incident", _NO_SETUP,
     lambda uow, org, i: commands.add_note(uow, actor_id=org.bob, incident_id=9999, text="x"),
     NotFound, "INC-9999"),
    ("unknown actor", _NO_SETUP,
     lambda uow, org, i: commands.add_note(uow, actor_id=4242, incident_id=i, text="x"),
     NotFound, "#4242"),
    ("stale version", _NO_SETUP,
     lambda uow, org, i: commands.resolve(uow, actor_id=org.alice, incident_id=i, summary="done", expected_version=99),
     Conflict, "changed since you looked"),
    ("empty resolution", _NO_SETUP,
     lambda uow, org, i: commands.resolve(uow, actor_id=org.alice, incident_id=i, summary=""),
     InvalidInput, "resolution summary"),
    ("assign to an unknown person", _NO_SETUP,
     lambda uow, org, i: commands.assign_owner(uow, actor_id=org.alice, incident_id=i, owner_id=999),
     NotFound, "#999"),
    ("commander who already is",
     lambda uow, org, i: commands.assign_commander(uow, actor_id=org.alice, incident_id=i, commander_id=org.alice),
     lambda uow, org, i: commands.assign_commander(uow, actor_id=org.alice, incident_id=i, commander_id=org.alice),
     InvalidInput, "already the commander"),
    ("status set by its own action", _NO_SETUP,
     lambda uow, org, i: commands.change_status(uow, actor_id=org.alice, incident_id=i, status="resolved"),
     InvalidInput, "its own action"),
    ("empty note", _NO_SETUP,
     lambda uow, org, i: commands.add_note(uow, actor_id=org.alice, incident_id=i, text="  "),
     InvalidInput, "the note is required"),
    ("next action too long", _NO_SETUP,
     lambda uow, org, i: commands.set_next_action(uow, actor_id=org.alice, incident_id=i, text="x" * 1001),
     InvalidInput, "limit is 1000"),
    ("take ownership twice",
     lambda uow, org, i: commands.take_ownership(uow, actor_id=org.bob, incident_id=i),
     lambda uow, org, i: commands.take_ownership(uow, actor_id=org.bob, incident_id=i),
     InvalidInput, "already the owner"),
    ("signal on a resolved incident",
     lambda uow, org, i: commands.resolve(uow, actor_id=org.alice, incident_id=i, summary="done"),
     lambda uow, org, i: commands.attach_signal(uow, actor_id=None, incident_id=i, signal=_signal(uow)),
     InvalidTransition, "already resolved"),
    ("unknown impacted service after the incident row was written", _NO_SETUP,
     lambda uow, org, i: commands.open_incident(uow, actor_id=org.alice, title="x", severity="SEV2",
                                                service_id=org.identity, impacted_service_ids=(777,)),
     NotFound, "service #777"),
]


@pytest.mark.parametrize("label,setup,call,error,fragment", FAILURES, ids=[f[0] for f in FAILURES])
def test_a_failing_command_leaves_nothing_behind(label, setup, call, error, fragment, db, uow, org):  # type: ignore[no-untyped-def]
    incident_id = _open(uow, org)
    if setup is not None:
        setup(uow, org, incident_id)
    before = _dump(db)
    with pytest.raises(error, match=fragment):
        call(uow, org, incident_id)
    assert _dump(db) == before
    with db.reader() as s:
        assert verify_chain(s).intact


def test_concurrent_edit_of_the_same_incident_is_a_conflict_not_an_overwrite(db, uow, org):  # type: ignore[no-untyped-def]
    incident_id = _open(uow, org)
    with db.reader() as s:
        seen_version = s.get(Incident, incident_id).version
    commands.set_next_action(uow, actor_id=org.bob, incident_id=incident_id, text="page payments",
                             expected_version=seen_version)
    with pytest.raises(Conflict):
        commands.set_next_action(uow, actor_id=org.alice, incident_id=incident_id, text="wait",
                                 expected_version=seen_version)
    with db.reader() as s:
        assert s.get(Incident, incident_id).next_action == "page payments"
