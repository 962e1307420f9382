"""The shared database goes away mid-session: the console says so, keeps the operator's actions on disk,
reconnects by itself, sends them exactly once, and catches up on everything it missed."""
from __future__ import annotations


import psycopg
import pytest
from PySide6.QtCore import QSettings, Qt
from sqlalchemy import func, select

from console import commands
from console.db import open_database
from console.dto import IncidentStatus
from console.queries import Reader
from console.sync.outbox import EntryState, Outbox
from console.uow import UnitOfWork
from models.audit import AuditEntry, AppliedAction
from models.incident import Incident
from tests.netproxy import TcpProxy
from ui.main_window import MainWindow
from ui.tasks import TaskRunner

pytestmark = [pytest.mark.postgres, pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)]
WAIT = 15_000


@pytest.fixture
def proxy():  # type: ignore[no-untyped-def]
    running = TcpProxy()
    yield running
    running.close()


@pytest.fixture
def console(qtbot, clock, tmp_path, db_url, proxy):  # type: ignore[no-untyped-def]
    """A console that reaches PostgreSQL only through the proxy; returns (window, outbox path)."""
    opened: list[tuple[MainWindow, TaskRunner, object]] = []
    outbox_file = tmp_path / "outbox.jsonl"

    def make() -> MainWindow:
        db = open_database(db_url.replace(":5432/", f":{proxy.port}/"))
        runner = TaskRunner()
        window = MainWindow(reader=Reader(db, clock), uow=UnitOfWork(db, clock), runner=runner, demo_feed=False,
                            outbox=Outbox(outbox_file),
                            settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
        qtbot.addWidget(window)
        window.show()
        window.start(operator_handle="alice")
        qtbot.waitUntil(lambda: window.info is not None and window.feed.cursor is not None, timeout=WAIT)
        opened.append((window, runner, db))
        window.setProperty("test_runner_index", len(opened) - 1)
        make.opened = opened  # type: ignore[attr-defined]
        return window

    yield make, outbox_file
    for window, runner, db in opened:
        window.close()
        runner.shutdown()
        db.dispose()  # type: ignore[attr-defined]


def _press_acknowledge(qtbot, window: MainWindow, incident: int) -> None:  # type: ignore[no-untyped-def]
    window.queue_panel.select_incident(incident)
    qtbot.waitUntil(lambda: window.actions_.actions["acknowledge"].isEnabled(), timeout=WAIT)
    window.activateWindow()
    qtbot.waitUntil(lambda: window.isActiveWindow(), timeout=WAIT)
    qtbot.keyClick(window.queue_panel.view, Qt.Key.Key_A)


def _acks(db, incident: int) -> int:  # type: ignore[no-untyped-def]
    with db.reader() as s:
        return s.execute(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "incident.acknowledge", AuditEntry.subject_id == str(incident))).scalar_one()


def test_lost_network_banner_outbox_reconnect_replay_and_catch_up(console, proxy, db, uow, org, qtbot) -> None:  # type: ignore[no-untyped-def]
    make, _ = console
    incident = commands.open_incident(uow, actor_id=org.bob, title="Login failures", severity="SEV2",
                                      service_id=org.identity).created_incident
    window = make()
    qtbot.waitUntil(lambda: window.queue_model.row_by_id(incident) is not None, timeout=WAIT)

    proxy.cut()
    qtbot.waitUntil(lambda: window.offline_bar.isVisible(), timeout=5000)  # said within a couple of seconds
    assert "DATABASE UNREACHABLE" in window.offline_banner.text()
    assert window.queue_model.row_by_id(incident) is not None  # the last known state stays on screen

    _press_acknowledge(qtbot, window, incident)  # not refused, not faked: kept
    qtbot.waitUntil(lambda: window.pending_panel.model.rowCount() == 1, timeout=WAIT)
    assert window.queue_model.data(window.queue_model.index(window.queue_model.position_of(incident), 1)).startswith("◔")
    assert _acks(db, incident) == 0
    # Meanwhile the rest of the war room carries on.
    missed = commands.open_incident(uow, actor_id=org.bob, title="Opened while we were away", severity="SEV1",
                                    service_id=org.checkout).created_incident

    proxy.restore()
    qtbot.mouseClick(window.retry_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.offline_bar.isVisible(), timeout=WAIT)
    qtbot.waitUntil(lambda: window.pending_panel.model.rowCount() == 0, timeout=WAIT)
    qtbot.waitUntil(lambda: window.queue_model.row_by_id(missed) is not None, timeout=WAIT)
    qtbot.waitUntil(lambda: window.queue_model.row_by_id(incident).status is IncidentStatus.ACKNOWLEDGED,
                    timeout=WAIT)
    assert _acks(db, incident) == 1


def test_killed_connections_with_pg_terminate_backend(console, proxy, db, db_url, uow, org, qtbot) -> None:  # type: ignore[no-untyped-def]
    make, _ = console
    incident = commands.open_incident(uow, actor_id=org.bob, title="Login failures", severity="SEV2",
                                      service_id=org.identity).created_incident
    window = make()
    qtbot.waitUntil(lambda: window.queue_model.row_by_id(incident) is not None, timeout=WAIT)
    ports = proxy.upstream_ports()
    assert ports
    proxy.refuse_new()  # they cannot come straight back
    plain = db_url.split("?")[0].replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as admin:
        killed = admin.execute("SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                               "WHERE client_port = ANY(%s)", (list(ports),)).fetchone()[0]
    assert killed >= 1
    qtbot.waitUntil(lambda: window.offline_bar.isVisible(), timeout=5000)
    _press_acknowledge(qtbot, window, incident)
    qtbot.waitUntil(lambda: window.pending_panel.model.rowCount() == 1, timeout=WAIT)
    commands.add_note(uow, actor_id=org.bob, incident_id=incident, text="noted while the console was cut off")
    proxy.restore()
    qtbot.mouseClick(window.retry_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.pending_panel.model.rowCount() == 0, timeout=WAIT)
    qtbot.waitUntil(lambda: window.queue_model.row_by_id(incident).status is IncidentStatus.ACKNOWLEDGED,
                    timeout=WAIT)
    window.queue_panel.select_incident(incident)
    qtbot.waitUntil(lambda: any("cut off" in i.text for i in window.detail_panel.timeline_model._items), timeout=WAIT)
    assert _acks(db, incident) == 1


def test_kept_actions_survive_a_restart_and_are_sent_exactly_once(console, proxy, db, uow, org, qtbot) -> None:  # type: ignore[no-untyped-def]
    make, outbox_file = console
    incident = commands.open_incident(uow, actor_id=org.bob, title="Login failures", severity="SEV2",
                                      service_id=org.identity).created_incident
    window = make()
    qtbot.waitUntil(lambda: window.queue_model.row_by_id(incident) is not None, timeout=WAIT)
    proxy.cut()
    qtbot.waitUntil(lambda: window.offline_bar.isVisible(), timeout=5000)
    _press_acknowledge(qtbot, window, incident)
    qtbot.waitUntil(lambda: window.pending_panel.model.rowCount() == 1, timeout=WAIT)
    window.close()  # the console goes away with the action still kept
    assert len(Outbox(outbox_file).entries()) == 1
    proxy.restore()
    again = make()
    qtbot.waitUntil(lambda: again.pending_panel.model.rowCount() == 0, timeout=WAIT)
    qtbot.waitUntil(lambda: again.queue_model.row_by_id(incident).status is IncidentStatus.ACKNOWLEDGED,
                    timeout=WAIT)
    assert _acks(db, incident) == 1
    assert Outbox(outbox_file).entries() == []


def test_a_crash_after_commit_does_not_send_an_action_twice(db, uow, org, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from console.commands.dispatch import CommandRequest, Outcome, replay, run_request
    from console.sync.outbox import OutboxEntry

    incident = commands.open_incident(uow, actor_id=org.bob, title="x", severity="SEV2",
                                      service_id=org.identity).created_incident
    request = CommandRequest(command="add_note", args={"actor_id": org.alice, "incident_id": incident, "text": "once"},
                             label="Note", incident_id=incident)
    outbox = Outbox(tmp_path / "o.jsonl")
    outbox.add(OutboxEntry(request=request.to_json(), created_at="2026-11-27T10:00:00+00:00"))
    run_request(uow, request=request)  # committed... and the console died before removing it from the outbox
    kept = CommandRequest.from_json(Outbox(tmp_path / "o.jsonl").entries()[0].request)
    assert replay(uow, request=kept).outcome is Outcome.ALREADY_APPLIED
    with db.reader() as s:
        assert s.get(AppliedAction, request.key) is not None
        notes = s.execute(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "incident.note")
                          ).scalar_one()
    assert notes == 1


def test_a_kept_action_that_no_longer_applies_waits_for_the_operator(console, proxy, db, uow, org, qtbot) -> None:  # type: ignore[no-untyped-def]
    make, _ = console
    incident = commands.open_incident(uow, actor_id=org.bob, title="Login failures", severity="SEV2",
                                      service_id=org.identity).created_incident
    window = make()
    qtbot.waitUntil(lambda: window.queue_model.row_by_id(incident) is not None, timeout=WAIT)
    proxy.cut()
    qtbot.waitUntil(lambda: window.offline_bar.isVisible(), timeout=5000)
    _press_acknowledge(qtbot, window, incident)
    qtbot.waitUntil(lambda: window.pending_panel.model.rowCount() == 1, timeout=WAIT)
    commands.acknowledge(uow, actor_id=org.bob, incident_id=incident)  # someone else got there first
    proxy.restore()
    qtbot.mouseClick(window.retry_button, Qt.MouseButton.LeftButton)
    panel = window.pending_panel
    qtbot.waitUntil(lambda: panel.model.rowCount() == 1 and panel.model.entry_at(0).state is EntryState.NEEDS_DECISION,
                    timeout=WAIT)
    assert window.pending_dock.isVisible()
    qtbot.waitUntil(lambda: "Now:" in panel.comparison.text(), timeout=WAIT)
    assert "Bob Burns" in panel.comparison.text()
    qtbot.mouseClick(panel.discard_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.model.rowCount() == 0, timeout=WAIT)
    with db.reader() as s:
        assert s.get(Incident, incident).owner_id == org.bob


def test_a_row_locked_by_another_session_does_not_stall_the_console(console, db_url, db, uow, org, qtbot) -> None:  # type: ignore[no-untyped-def]
    make, _ = console
    locked = commands.open_incident(uow, actor_id=org.bob, title="Locked by psql", severity="SEV2",
                                    service_id=org.identity).created_incident
    free = commands.open_incident(uow, actor_id=org.bob, title="Free", severity="SEV3",
                                  service_id=org.identity).created_incident
    window = make()
    qtbot.waitUntil(lambda: window.queue_model.row_by_id(free) is not None, timeout=WAIT)
    plain = db_url.replace("postgresql+psycopg://", "postgresql://")
    holder = psycopg.connect(plain)  # a psql session with the row locked and left open
    holder.execute("SELECT 1 FROM incidents WHERE id = %s FOR UPDATE", (locked,))
    try:
        with qtbot.waitSignal(window.outbox.kept, timeout=WAIT) as kept:
            _press_acknowledge(qtbot, window, locked)
        # Given up after the lock timeout, kept, and said why; the console goes on working.
        assert "another session is holding" in kept.args[1]
        assert window.pending_dock.isVisible() and window.pending_panel.model.rowCount() == 1
        _press_acknowledge(qtbot, window, free)
        qtbot.waitUntil(lambda: window.queue_model.row_by_id(free).status is IncidentStatus.ACKNOWLEDGED, timeout=WAIT)
        assert _acks(db, locked) == 0
    finally:
        holder.rollback()  # the session lets go
        holder.close()
    qtbot.waitUntil(lambda: window.pending_panel.model.rowCount() == 0, timeout=WAIT)
    qtbot.waitUntil(lambda: window.queue_model.row_by_id(locked).status is IncidentStatus.ACKNOWLEDGED, timeout=WAIT)
    assert _acks(db, locked) == 1



def test_an_action_in_flight_when_the_console_quits_is_sent_after_a_restart(console, db_url, db, uow, org,
                                                                             qtbot) -> None:  # type: ignore[no-untyped-def]
    make, outbox_file = console
    incident = commands.open_incident(uow, actor_id=org.bob, title="Held up", severity="SEV2",
                                      service_id=org.identity).created_incident
    window = make()
    qtbot.waitUntil(lambda: window.queue_model.row_by_id(incident) is not None, timeout=WAIT)
    runner = make.opened[window.property("test_runner_index")][1]
    with psycopg.connect(db_url.replace("postgresql+psycopg://", "postgresql://")) as holder:
        holder.execute("SELECT 1 FROM incidents WHERE id = %s FOR UPDATE", (incident,))
        _press_acknowledge(qtbot, window, incident)  # on its way, waiting for the lock...
        qtbot.waitUntil(lambda: window.outbox.sending is not None, timeout=WAIT)
        window.close()  # ...when the console is closed
        runner.shutdown()
        holder.rollback()
    assert [e.request["command"] for e in Outbox(outbox_file).entries()] == ["acknowledge"]  # written down first
    again = make()
    qtbot.waitUntil(lambda: again.queue_model.row_by_id(incident).status is IncidentStatus.ACKNOWLEDGED,
                    timeout=WAIT)
    qtbot.waitUntil(lambda: Outbox(outbox_file).entries() == [], timeout=WAIT)
    assert _acks(db, incident) == 1
