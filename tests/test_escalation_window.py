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
    panel = window.detail_panel
    values = panel.values

    def ladder() -> str:
        return panel.ladder.toPlainText()

    try:
        qtbot.waitUntil(lambda: panel.detail is not None, timeout=WAIT)
        assert "Bob Burns" in ladder() and "⚠ no answer" in ladder()
        people = [(panel.engaged_model.page_at(r).person, panel.engaged_model.data(panel.engaged_model.index(r, 2)))
                  for r in range(panel.engaged_model.rowCount())]
        assert ("Bob Burns", "Paged · step 1") in people
        clock.advance(minutes=3)
        window._on_ticker_timeout()
        assert "next tier 2 (lead of Identity) in 2:00" in values["escalation"].text()
        assert "in 2:00" in ladder()
        assert "tier 1 of Checkout escalation" in panel.why.toPlainText()
        clock.advance(minutes=2)
        window.routing_jobs._on_tick_timer_timeout()  # the 5 s tick, now
        qtbot.waitUntil(lambda: ladder().count("Alice Ames") == 1, timeout=WAIT)
        window.activateWindow()
        qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=WAIT)
        qtbot.waitUntil(lambda: window.actions_.actions["escalate"].isEnabled(), timeout=WAIT)
        qtbot.keyClick(window.queue_panel.view, Qt.Key.Key_E)  # more hands now, not in ten minutes
        qtbot.waitUntil(lambda: ladder().count("Bob Burns") == 2, timeout=WAIT)  # step 3: tier 1, round 2
        assert "round 2" in ladder()
        assert "escalated by hand by Alice Ames" in panel.why.toPlainText()
        window.queue_panel.select_incident(incident)
        qtbot.keyClick(window.queue_panel.view, Qt.Key.Key_A)
        qtbot.waitUntil(lambda: "stopped — acknowledged by Alice Ames" in values["escalation"].text(), timeout=WAIT)
        assert "⚠ no answer" not in ladder()
    finally:
        runner.shutdown()
