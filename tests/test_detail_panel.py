"""The incident panel: its timeline model honours Qt's contract, and a hidden panel refreshes when shown again."""
from __future__ import annotations

import uuid

from datetime import datetime, timedelta, timezone

import pytest
from PySide6.QtCore import QSettings

from console import commands
from console.dto import TimelineItem, TimelineKind
from console.queries import Reader
from console.sync.outbox import Outbox
from console.uow import UnitOfWork
from ui.main_window import MainWindow
from ui.tasks import TaskRunner
from ui.timeline_model import TimelineModel

T = datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)


def _item(minutes: int, text: str) -> TimelineItem:
    return TimelineItem(at=T + timedelta(minutes=minutes), kind=TimelineKind.NOTE, actor="Alice Ames", text=text)


def test_timeline_model_appends_and_replaces(qtmodeltester) -> None:  # type: ignore[no-untyped-def]
    model = TimelineModel()
    qtmodeltester.check(model)
    inserted = []
    model.rowsInserted.connect(lambda *_: inserted.append(1))
    model.set_items([_item(0, "opened")])
    model.set_items([_item(0, "opened"), _item(1, "rolled back")])  # appended: an insert, not a reset
    assert model.rowCount() == 2 and len(inserted) == 1
    assert model.data(model.index(1, 3)) == "rolled back" and model.data(model.index(1, 2)) == "Alice Ames"
    model.set_items([_item(5, "another incident")])
    assert model.rowCount() == 1
    qtmodeltester.check(model)


@pytest.fixture
def db_url(sqlite_url: str) -> str:
    return sqlite_url


def test_a_hidden_incident_panel_catches_up_when_shown(qtbot, db, clock, uow, org, tmp_path) -> None:  # type: ignore[no-untyped-def]
    incident = commands.open_incident(uow, actor_id=org.bob, title="Login failures", severity="SEV2",
                                      service_id=org.identity).created_incident
    runner = TaskRunner()
    window = MainWindow(
            outbox=Outbox(tmp_path / f"outbox-{uuid.uuid4().hex}.jsonl"), reader=Reader(db, clock), uow=UnitOfWork(db, clock), runner=runner, demo_feed=False,
                        settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat), feed_interval_ms=100)
    qtbot.addWidget(window)
    window.show()
    window.start(operator_handle="alice")
    try:
        qtbot.waitUntil(lambda: window.detail_panel.detail is not None, timeout=5000)
        shown = window.detail_panel.timeline_model.rowCount()
        window.detail_dock.hide()
        commands.add_note(uow, actor_id=org.bob, incident_id=incident, text="seen from another desk")
        qtbot.waitUntil(lambda: window.detail_panel.stale, timeout=5000)
        assert window.detail_panel.timeline_model.rowCount() == shown  # not fetched while hidden
        window.detail_dock.show()
        qtbot.waitUntil(lambda: window.detail_panel.timeline_model.rowCount() == shown + 1, timeout=5000)
        assert not window.detail_panel.stale
    finally:
        runner.shutdown()
