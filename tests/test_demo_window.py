"""The demo as a user meets it: a demo database says so, and the queue moves by itself while the operator watches."""
from __future__ import annotations

import uuid

import pytest
from PySide6.QtCore import QSettings, Qt, QTimer
from sqlalchemy import select

from console import commands
from console.queries import Reader
from console.sync.outbox import Outbox
from console.uow import UnitOfWork
from models.audit import AuditEntry
from ui.main_window import MainWindow
from ui.tasks import TaskRunner


@pytest.fixture
def db_url(sqlite_url: str) -> str:
    return sqlite_url


def test_the_demo_queue_lives_and_the_operators_incident_is_left_alone(qtbot, db, clock, tmp_path) -> None:  # type: ignore[no-untyped-def]
    uow = UnitOfWork(db, clock)
    commands.seed_demo(uow)
    runner = TaskRunner()
    window = MainWindow(
            outbox=Outbox(tmp_path / f"outbox-{uuid.uuid4().hex}.jsonl"), reader=Reader(db, clock), uow=uow, runner=runner, demo_feed=True, feed_interval_ms=50,
                        demo_interval_ms=(5, 15), settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    window.show()
    window.start(operator_handle="jcarter")
    # Virtual time: twenty seconds pass every few milliseconds, so the simulated colleagues get on with it.
    ticker = QTimer(window, interval=5)
    ticker.timeout.connect(lambda: clock.advance(seconds=20))
    try:
        qtbot.waitUntil(lambda: window.demo_driver is not None and window.queue_model.rowCount() > 0, timeout=5000)
        assert window.banner_bar.isVisible()
        mine = window.queue_model.row_at(window.queue_model.rowCount() - 1)
        commands.take_ownership(uow, actor_id=window.operator.id, incident_id=mine.id)
        with db.reader() as s:
            start = s.execute(select(AuditEntry.id).order_by(AuditEntry.id.desc())).scalar()
        changed: list[object] = []
        window.feed.changed.connect(changed.append)
        ticker.start()
        qtbot.waitUntil(lambda: len(changed) >= 15, timeout=20000)
        ticker.stop()
        window.demo_driver.stop()
        qtbot.waitUntil(lambda: runner.pending == 0, timeout=5000)
    finally:
        runner.shutdown()
    with db.reader() as s:
        entries = s.execute(select(AuditEntry).where(AuditEntry.id > start)).scalars().all()
    assert entries and all(e.actor != "jcarter" for e in entries)  # simulated colleagues acted, not the operator
    assert all(e.subject_id != str(mine.id) for e in entries)  # and never on the operator's incident
    actions = {e.action for e in entries}
    assert {"incident.open", "incident.acknowledge"} & actions


def test_view_shortcuts_show_and_hide_panels(qtbot, db, clock, org, tmp_path) -> None:  # type: ignore[no-untyped-def]
    runner = TaskRunner()
    window = MainWindow(
            outbox=Outbox(tmp_path / f"outbox-{uuid.uuid4().hex}.jsonl"), reader=Reader(db, clock), uow=UnitOfWork(db, clock), runner=runner, demo_feed=False,
                        settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    window.show()
    window.start(operator_handle="alice")
    try:
        qtbot.waitUntil(lambda: window.info is not None, timeout=5000)
        window.activateWindow()
        qtbot.waitUntil(lambda: window.isActiveWindow(), timeout=5000)
        qtbot.keyClick(window, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)
        assert not window.detail_dock.isVisible()
        qtbot.keyClick(window, Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)
        assert window.detail_dock.isVisible()
        qtbot.keyClick(window, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
        assert not window.queue_dock.isVisible()
    finally:
        runner.shutdown()
