"""The console window end to end on a real database: live queue, detail, every action by its shortcut,
conflicts, changes from other consoles, operator identity, saved layout, and the exception dialog."""
from __future__ import annotations

import uuid

import sys

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QMessageBox
from sqlalchemy import select

from console import commands
from console.dto import IncidentStatus, Severity, TimelineKind
from console.queries import Reader
from console.sync.outbox import Outbox
from console.uow import UnitOfWork
from models.audit import AuditEntry, Meta
from ui.main_window import MainWindow
from ui.tasks import TaskRunner

WAIT = 5000


@pytest.fixture
def db_url(sqlite_url: str) -> str:
    """Window tests run on SQLite; the domain beneath them is tested on both backends."""
    return sqlite_url


@pytest.fixture
def settings(tmp_path) -> QSettings:  # type: ignore[no-untyped-def]
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def make_window(qtbot, db, clock, settings, tmp_path):  # type: ignore[no-untyped-def]
    runners: list[TaskRunner] = []

    def make(*, user: str | None = "alice") -> MainWindow:
        runner = TaskRunner()
        runners.append(runner)
        window = MainWindow(
            outbox=Outbox(tmp_path / f"outbox-{uuid.uuid4().hex}.jsonl"), reader=Reader(db, clock), uow=UnitOfWork(db, clock), runner=runner, settings=settings,
                            demo_feed=False, feed_interval_ms=100)
        qtbot.addWidget(window)
        window.show()
        window.start(operator_handle=user)
        qtbot.waitUntil(lambda: window.info is not None and window.feed.cursor is not None, timeout=WAIT)
        return window

    yield make
    for runner in runners:
        runner.shutdown()


def _open(uow, org, **kw) -> int:  # type: ignore[no-untyped-def]
    args = dict(actor_id=org.bob, title="Login failures", severity="SEV2", service_id=org.identity)
    args.update(kw)
    return commands.open_incident(uow, **args).created_incident  # type: ignore[return-value]


def _press(qtbot, window: MainWindow, key: Qt.Key, modifier=Qt.KeyboardModifier.NoModifier) -> None:  # type: ignore[no-untyped-def]
    # Offscreen has no window manager to re-activate the window when a dialog closes; a desktop does.
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=WAIT)
    window.queue_panel.view.setFocus()
    qtbot.keyClick(window.queue_panel.view, key, modifier)


def _accept(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    qtbot.waitUntil(lambda: window.actions_.active_dialog is not None, timeout=WAIT)
    dialog = window.actions_.active_dialog
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    assert ok.isEnabled()
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)


def _selected_row(window: MainWindow):  # type: ignore[no-untyped-def]
    return window.queue_model.row_by_id(window.queue_panel.selected_id())


def test_queue_and_detail_show_the_open_incidents(make_window, uow, org, qtbot) -> None:  # type: ignore[no-untyped-def]
    _open(uow, org, title="Checkout 502s", severity="SEV1", service_id=org.checkout, customer_impact="EU cannot pay")
    _open(uow, org, title="Slow logins", severity="SEV3")
    window = make_window()
    qtbot.waitUntil(lambda: window.queue_model.rowCount() == 2, timeout=WAIT)
    assert window.queue_model.row_at(0).title == "Checkout 502s"
    assert "▲ SEV1 1" in window.queue_panel.header.text() and "2 awaiting ack" in window.queue_panel.header.text()
    qtbot.waitUntil(lambda: window.detail_panel.detail is not None, timeout=WAIT)
    values = window.detail_panel.values
    assert "EU cannot pay" in values["customer_impact"].text()
    assert "Bob Burns" in values["on_call"].text()  # first in the rotation on its first day
    assert "unowned" in values["owner"].text()
    assert [item.kind for item in window.detail_panel.detail.timeline][0] is TimelineKind.OPENED
    assert not window.banner_bar.isVisible()  # not a demo database


def test_every_action_by_its_shortcut_updates_queue_and_detail(make_window, uow, org, db, qtbot) -> None:  # type: ignore[no-untyped-def]
    incident = _open(uow, org)
    _open(uow, org, title="Other", severity="SEV3")
    window = make_window(user="alice")
    qtbot.waitUntil(lambda: window.queue_panel.selected_id() == incident, timeout=WAIT)

    _press(qtbot, window, Qt.Key.Key_A)
    qtbot.waitUntil(lambda: _selected_row(window).status is IncidentStatus.ACKNOWLEDGED, timeout=WAIT)
    qtbot.waitUntil(lambda: "Alice Ames" in window.detail_panel.values["owner"].text(), timeout=WAIT)

    _press(qtbot, window, Qt.Key.Key_S)
    qtbot.waitUntil(lambda: window.actions_.active_dialog is not None, timeout=WAIT)
    dialog = window.actions_.active_dialog
    assert not dialog.ok_button.isEnabled()  # a reason is required
    dialog.combo.setCurrentIndex(0)
    qtbot.keyClicks(dialog.reason, "checkout also failing")
    _accept(qtbot, window)
    qtbot.waitUntil(lambda: _selected_row(window).severity is Severity.SEV1, timeout=WAIT)
    assert window.queue_model.row_at(0).id == incident  # moved to the top and still selected

    _press(qtbot, window, Qt.Key.Key_M)
    qtbot.waitUntil(lambda: _selected_row(window).status is IncidentStatus.MITIGATING, timeout=WAIT)

    _press(qtbot, window, Qt.Key.Key_X)
    qtbot.waitUntil(lambda: window.actions_.active_dialog is not None, timeout=WAIT)
    qtbot.keyClicks(window.actions_.active_dialog.editor, "Roll back identity 4.2")
    _accept(qtbot, window)
    qtbot.waitUntil(lambda: "Roll back identity 4.2" in window.detail_panel.values["next_action"].text(), timeout=WAIT)

    _press(qtbot, window, Qt.Key.Key_N)
    qtbot.waitUntil(lambda: window.actions_.active_dialog is not None, timeout=WAIT)
    qtbot.keyClicks(window.actions_.active_dialog.editor, "Rollback started")
    _accept(qtbot, window)
    qtbot.waitUntil(lambda: window.actions_.actions["assign"].isEnabled(), timeout=WAIT)

    _press(qtbot, window, Qt.Key.Key_O)
    qtbot.waitUntil(lambda: window.actions_.active_dialog is not None, timeout=WAIT)
    qtbot.keyClicks(window.actions_.active_dialog.filter, "carol")
    _accept(qtbot, window)
    qtbot.waitUntil(lambda: _selected_row(window).owner == "Carol Chen", timeout=WAIT)

    _press(qtbot, window, Qt.Key.Key_T)
    qtbot.waitUntil(lambda: _selected_row(window).owner == "Alice Ames", timeout=WAIT)

    qtbot.waitUntil(lambda: window.actions_.actions["commander"].isEnabled(), timeout=WAIT)
    _press(qtbot, window, Qt.Key.Key_C)
    qtbot.waitUntil(lambda: window.actions_.active_dialog is not None, timeout=WAIT)
    qtbot.keyClicks(window.actions_.active_dialog.filter, "bob")
    _accept(qtbot, window)
    qtbot.waitUntil(lambda: "Bob Burns" in window.detail_panel.values["commander"].text(), timeout=WAIT)

    _press(qtbot, window, Qt.Key.Key_M, Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: _selected_row(window).status is IncidentStatus.MONITORING, timeout=WAIT)
    qtbot.waitUntil(lambda: "monitoring" in window.detail_panel.detail.timeline[-1].text, timeout=WAIT)

    _press(qtbot, window, Qt.Key.Key_R)
    qtbot.waitUntil(lambda: window.actions_.active_dialog is not None, timeout=WAIT)
    assert not window.actions_.active_dialog.ok_button.isEnabled()  # a summary is required
    qtbot.keyClicks(window.actions_.active_dialog.editor, "Rolled back; error rate normal")
    _accept(qtbot, window)
    qtbot.waitUntil(lambda: window.queue_model.row_by_id(incident) is None, timeout=WAIT)

    with db.reader() as s:
        actors = s.execute(select(AuditEntry.actor).where(AuditEntry.subject_id == str(incident),
                                                          AuditEntry.action != "incident.page")).scalars().all()
    # Opened by bob, every action since recorded under the operator (pages a command causes carry its actor too).
    assert actors == ["bob"] + ["alice"] * 10


def test_declare_incident_selects_it(make_window, org, qtbot) -> None:  # type: ignore[no-untyped-def]
    window = make_window()
    window.activateWindow()
    qtbot.keyClick(window, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: window.actions_.active_dialog is not None, timeout=WAIT)
    qtbot.keyClicks(window.actions_.active_dialog.title, "Payments webhook backlog")
    _accept(qtbot, window)
    qtbot.waitUntil(lambda: window.queue_model.rowCount() == 1, timeout=WAIT)
    qtbot.waitUntil(lambda: window.detail_panel.detail is not None, timeout=WAIT)
    assert window.detail_panel.detail.commander.name == "Alice Ames"


def test_changes_from_another_console_appear_without_a_user_action(make_window, uow, org, qtbot) -> None:  # type: ignore[no-untyped-def]
    window = make_window()
    incident = _open(uow, org, title="From the other console")
    qtbot.waitUntil(lambda: window.queue_model.row_by_id(incident) is not None, timeout=WAIT)
    window.queue_panel.select_incident(incident)
    qtbot.waitUntil(lambda: "unowned" in window.detail_panel.values["owner"].text(), timeout=WAIT)
    commands.acknowledge(uow, actor_id=org.bob, incident_id=incident)
    qtbot.waitUntil(lambda: window.queue_model.row_by_id(incident).status is IncidentStatus.ACKNOWLEDGED, timeout=WAIT)
    qtbot.waitUntil(lambda: "Bob Burns" in window.detail_panel.values["owner"].text(), timeout=WAIT)
    commands.resolve(uow, actor_id=org.bob, incident_id=incident, summary="fixed at the other desk")
    qtbot.waitUntil(lambda: window.queue_model.row_by_id(incident) is None, timeout=WAIT)
    assert f"INC-{incident} was resolved" in window.status.currentMessage()


def test_quick_successive_actions_never_conflict_with_each_other(make_window, uow, org, clock, qtbot) -> None:  # type: ignore[no-untyped-def]
    incident = _open(uow, org)
    window = make_window()
    qtbot.waitUntil(lambda: window.queue_panel.selected_id() == incident, timeout=WAIT)
    clock.advance(seconds=30)
    _press(qtbot, window, Qt.Key.Key_A)
    # Until the acknowledged row is on screen, nothing can be sent with the old version.
    assert not window.actions_.actions["mitigating"].isEnabled()
    qtbot.waitUntil(lambda: window.actions_.actions["mitigating"].isEnabled(), timeout=WAIT)
    assert _selected_row(window).status is IncidentStatus.ACKNOWLEDGED
    assert not window.actions_.actions["acknowledge"].isEnabled()
    failures: list[str] = []
    window.actions_.command_failed.connect(failures.append)
    _press(qtbot, window, Qt.Key.Key_M)
    qtbot.waitUntil(lambda: _selected_row(window).status is IncidentStatus.MITIGATING, timeout=WAIT)
    assert failures == []


def test_a_colleagues_note_does_not_block_the_operators_action(make_window, uow, org, clock, qtbot) -> None:  # type: ignore[no-untyped-def]
    incident = _open(uow, org)
    window = make_window()
    qtbot.waitUntil(lambda: window.queue_panel.selected_id() == incident, timeout=WAIT)
    window.feed.stop()  # the note lands before this console hears of it
    clock.advance(seconds=30)
    commands.add_note(uow, actor_id=org.bob, incident_id=incident, text="customer on the phone")
    _press(qtbot, window, Qt.Key.Key_A)
    window.feed.poll_now()
    qtbot.waitUntil(lambda: _selected_row(window).status is IncidentStatus.ACKNOWLEDGED, timeout=WAIT)


def test_a_lost_race_is_shown_with_what_changed_and_can_be_reapplied(make_window, uow, org, db, qtbot) -> None:  # type: ignore[no-untyped-def]
    incident = _open(uow, org)
    window = make_window()
    qtbot.waitUntil(lambda: window.queue_panel.selected_id() == incident, timeout=WAIT)
    window.feed.stop()  # the other console's change lands before this one hears of it
    commands.change_severity(uow, actor_id=org.bob, incident_id=incident, severity="SEV1", reason="checkout too")
    _press(qtbot, window, Qt.Key.Key_R)
    qtbot.waitUntil(lambda: window.actions_.active_dialog is not None, timeout=WAIT)
    qtbot.keyClicks(window.actions_.active_dialog.editor, "Rolled back the deploy")
    with qtbot.waitSignal(window.actions_.command_failed, timeout=WAIT) as failed:
        _accept(qtbot, window)
    assert "changed since you looked" in failed.args[0]
    # Told, and shown the current state beside what they saw; nothing was overwritten.
    panel = window.pending_panel
    assert window.pending_dock.isVisible() and panel.model.rowCount() == 1
    qtbot.waitUntil(lambda: "Now:" in panel.comparison.text() and "SEV1" in panel.comparison.text(), timeout=WAIT)
    assert "You saw: SEV2" in panel.comparison.text()
    with db.reader() as s:
        assert s.execute(select(AuditEntry.actor).order_by(AuditEntry.id.desc())).scalars().first() == "bob"
    # They re-apply it on the current state, with the text they typed.
    qtbot.mouseClick(panel.redo_button, Qt.MouseButton.LeftButton)
    window.feed.poll_now()
    qtbot.waitUntil(lambda: window.queue_model.row_by_id(incident) is None, timeout=WAIT)
    qtbot.waitUntil(lambda: panel.model.rowCount() == 0, timeout=WAIT)
    with db.reader() as s:
        from models.incident import Incident
        assert s.get(Incident, incident).resolution == "Rolled back the deploy"


def test_operator_is_chosen_from_the_roster_and_remembered(make_window, settings, org, qtbot) -> None:  # type: ignore[no-untyped-def]
    window = make_window(user=None)
    qtbot.waitUntil(lambda: window.actions_.active_dialog is not None, timeout=WAIT)
    dialog = window.actions_.active_dialog
    assert dialog.objectName() == "OperatorDialog"
    qtbot.keyClicks(dialog.filter, "bob")
    _accept(qtbot, window)
    assert window.operator.handle == "bob"
    assert "Bob Burns" in window.status.operator_label.text()
    assert settings.value("operator/handle") == "bob"
    again = make_window(user=None)
    assert again.operator is not None and again.operator.handle == "bob"
    assert again.actions_.active_dialog is None


def test_layout_is_restored(make_window, qtbot) -> None:  # type: ignore[no-untyped-def]
    window = make_window()
    window.resize(640, 480)  # the offscreen screen is 800x600
    window.detail_dock.hide()
    window.close()
    again = make_window()
    assert (again.size().width(), again.size().height()) == (640, 480)
    assert not again.detail_dock.isVisible()


def test_demo_database_says_so(make_window, db, org, qtbot) -> None:  # type: ignore[no-untyped-def]
    with db.writer() as s:
        s.add(Meta(key="demo", value="2026-11-27T10:00:00+00:00"))
        s.commit()
    window = make_window()
    assert window.banner_bar.isVisible()
    assert "DEMO DATA" in window.banner_bar.label.text()


@pytest.mark.qt_no_exception_capture
def test_an_exception_in_a_slot_is_logged_shown_once_and_the_console_keeps_running(make_window, tmp_path, qtbot,
                                                                                    caplog) -> None:  # type: ignore[no-untyped-def]
    from PySide6.QtCore import QTimer

    from ui.app import install_exception_dialog

    window = make_window()
    previous = sys.excepthook
    install_exception_dialog(parent=window, log_file=str(tmp_path / "console.log"))
    failing = QTimer(window, interval=10)

    def boom() -> None:
        raise ValueError("boom")

    failing.timeout.connect(boom)
    try:
        failing.start()
        qtbot.waitUntil(lambda: "3 times" in getattr(window.findChild(QMessageBox, "UnexpectedErrorBox"), "text",
                                                    lambda: "")(), timeout=WAIT)
        failing.stop()
    finally:
        sys.excepthook = previous
    boxes = window.findChildren(QMessageBox, "UnexpectedErrorBox")
    assert len(boxes) == 1 and "ValueError: boom" in boxes[0].text()
    assert "boom" in caplog.text and "Traceback" in caplog.text
    assert window.isVisible()
