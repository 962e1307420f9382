"""The escalation ladder in the incident panel: who was paged, acknowledged or not, the countdown to the next
tier, the reasons; and Escalate now by its shortcut."""
from __future__ import annotations

import uuid

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QApplication

from console import commands
from console.queries import Reader
from console.sync.outbox import Outbox
from console.uow import UnitOfWork
from ui.main_window import MainWindow
from ui.tasks import TaskRunner

WAIT = 5000


@pytest.fixture
def db_url(sqlite_url: str) -> str:
    return sqlite_url


def test_the_ladder_counts_down_pages_the_next_tier_and_escalates_by_hand(qtbot, db, uow, org, clock, tmp_path,
                                                                          escalating) -> None:  # type: ignore[no-untyped-def]
    incident = commands.open_incident(uow, actor_id=org.alice, title="Card payments failing", severity="SEV1",
                                      service_id=org.checkout).created_incident
    runner = TaskRunner()
    window = MainWindow(reader=Reader(db, clock), uow=UnitOfWork(db, clock), runner=runner, demo_feed=False,
                        outbox=Outbox(tmp_path / f"o-{uuid.uuid4().hex}.jsonl"),
                        settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    window.show()
    window.start(operator_handle="alice")
    values = window.detail_panel.values
    try:
        qtbot.waitUntil(lambda: window.detail_panel.detail is not None, timeout=WAIT)
        assert "Bob Burns — ⚠ not acknowledged" in values["paged"].text()
        clock.advance(minutes=3)
        window._on_ticker_timeout()
        assert "next tier 2 (lead of Identity) in 2:00" in values["escalation"].text()
        assert "tier 1 of Checkout escalation" in values["why"].text()
        clock.advance(minutes=2)
        window._on_escalation_timer_timeout()  # the 5 s tick, now
        qtbot.waitUntil(lambda: "Alice Ames — ⚠ not acknowledged" in values["paged"].text(), timeout=WAIT)
        window.activateWindow()
        qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=WAIT)
        qtbot.waitUntil(lambda: window.actions_.actions["escalate"].isEnabled(), timeout=WAIT)
        qtbot.keyClick(window.queue_panel.view, Qt.Key.Key_E)  # more hands now, not in ten minutes
        qtbot.waitUntil(lambda: values["paged"].text().count("Bob Burns") == 2, timeout=WAIT)
        assert "escalated by hand by Alice Ames" in values["why"].text()
        window.queue_panel.select_incident(incident)
        qtbot.keyClick(window.queue_panel.view, Qt.Key.Key_A)
        qtbot.waitUntil(lambda: "stopped — acknowledged by Alice Ames" in values["escalation"].text(), timeout=WAIT)
        assert "not acknowledged" not in values["paged"].text()
    finally:
        runner.shutdown()
