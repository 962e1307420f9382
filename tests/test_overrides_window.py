"""Why and who, on screen: the incident panel explains the severity and the people, shows everyone engaged with
fatigue, and a person overrides automation from the keyboard (split a grouped service off, stop the paging)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from PySide6.QtCore import Qt
from sqlalchemy import select

from console.commands.routing import route_signals
from console.dto import DecisionItem, IncidentDetail, IncidentRow, IncidentStatus, PageItem, Severity
from console.ingest.events import EventAction, SignalEvent, SignalKind, SignalSource
from models.incident import Incident
from models.routing import Decision, Page
from tests.conftest import T0
from tests.test_main_window import WAIT, _accept, _press, make_window, settings  # noqa: F401 - fixtures
from ui.engaged_model import COL_ANSWERED, COL_FATIGUE, COL_HOW, EngagedModel
from ui.explain import engaged_line, severity_line, why_html


@pytest.fixture
def db_url(sqlite_url: str) -> str:
    return sqlite_url


def _alert(clock, service: str, key: str) -> SignalEvent:  # type: ignore[no-untyped-def]
    return SignalEvent(source=SignalSource.ALERTMANAGER, action=EventAction.TRIGGER, dedup_key=key, service=service,
                       summary=f"{service} 5xx above 5%", severity_hint="error", value=None,
                       observed_at=clock.now(), kind=SignalKind.ALERT, labels={}, attributes={}, raw_ref="")


def _detail(*, decisions: tuple[DecisionItem, ...] = (), pages: tuple[PageItem, ...] = ()) -> IncidentDetail:
    row = IncidentRow(id=7, title="Checkout 502s", severity=Severity.SEV1, status=IncidentStatus.TRIGGERED,
                      service="checkout", owner="", opened_at=T0, ack_deadline=T0 + timedelta(minutes=5), version=1)
    return IncidentDetail(row=row, owner=None, commander=None, team="Payments", team_lead="Dan", service_tier="edge",
                          impacted_services=(), customer_impact="", next_action="", resolution="",
                          acknowledged_at=None, resolved_at=None, on_call=(), timeline=(), signal_count=1,
                          pages=pages, decisions=decisions)


def test_the_why_tab_gives_the_rule_its_inputs_thresholds_and_policy_and_a_persons_override() -> None:
    rule = DecisionItem(at=T0, kind="severity", rule_id="availability-foundational", policy_version="2026-11-27.1",
                        summary="identity availability 92.0% over 5 min, below 99.0% — page SEV1", by="",
                        inputs='{"availability":92.0}', thresholds='{"threshold":99.0,"window":"5m"}')
    override = DecisionItem(at=T0 + timedelta(minutes=3), kind="override", rule_id="manual", policy_version="manual",
                            summary="SEV1 → SEV2 by Alice Ames, overriding automation: only EU affected", by="Alice Ames")
    detail = _detail(decisions=(rule, override))
    html = why_html(detail)
    assert "availability-foundational" in html and "policy 2026-11-27.1" in html
    assert "availability 92.0" in html and "threshold 99.0" in html  # the evidence, not only the verdict
    assert html.index("Alice Ames") < html.index("availability-foundational")  # what holds now comes first
    assert severity_line(detail).startswith("SEV1 → SEV2 by Alice Ames")


def test_the_people_table_marks_who_was_woken_who_was_told_and_who_is_too_tired(qtmodeltester) -> None:  # type: ignore[no-untyped-def]
    pages = (
        PageItem(person="Bob Burns", why="tier 1", paged_at=T0, acknowledged_at=None, night=True, urgent=True,
                 reason="escalation", step=1, fatigue="7 pages this shift (3 at night): over the limit of 6",
                 over_limit=True),
        PageItem(person="Grace Morris", why="a support lead", paged_at=T0, acknowledged_at=None, night=False,
                 urgent=False, reason="support"),
    )
    model = EngagedModel()
    model.set_pages(pages)
    qtmodeltester.check(model)
    text = [[model.data(model.index(r, c)) for c in range(model.columnCount())] for r in range(model.rowCount())]
    assert text[0][COL_HOW] == "Paged · step 1" and text[0][COL_ANSWERED] == "⚠ not yet"
    assert text[0][COL_FATIGUE].startswith("⚠ 7 pages this shift")
    assert text[1][COL_HOW] == "Told · support" and text[1][COL_ANSWERED] == "—"
    assert model.data(model.index(0, COL_FATIGUE), Qt.ItemDataRole.ForegroundRole) is not None
    assert "⚠ Bob Burns: 7 pages this shift" in engaged_line(_detail(pages=pages))


def test_splitting_a_grouped_service_off_from_the_keyboard(make_window, db, uow, org, clock, qtbot) -> None:  # type: ignore[no-untyped-def]
    route_signals(uow, events=[_alert(clock, "identity", "idp-down")])
    route_signals(uow, events=[_alert(clock, "checkout", "checkout-502")])  # grouped under identity's incident
    window = make_window(user="alice")
    panel = window.detail_panel
    qtbot.waitUntil(lambda: panel.detail is not None and panel.detail.impacted_services == ("checkout",), timeout=WAIT)
    assert "checkout depends on identity (foundational)" in panel.why.toPlainText()
    qtbot.waitUntil(lambda: window.actions_.actions["ungroup"].isEnabled(), timeout=WAIT)
    _press(qtbot, window, Qt.Key.Key_G)
    qtbot.waitUntil(lambda: window.actions_.active_dialog is not None, timeout=WAIT)
    dialog = window.actions_.active_dialog
    assert not dialog.ok_button.isEnabled()  # a reason is required
    assert dialog.combo.currentText() == "checkout"
    qtbot.keyClicks(dialog.reason, "checkout fails on its own deploy, not identity")
    _accept(qtbot, window)
    qtbot.waitUntil(lambda: window.queue_model.rowCount() == 2, timeout=WAIT)
    with db.reader() as s:
        split = s.execute(select(Incident).where(Incident.service_id == org.checkout)).scalar_one()
        parent_why = s.execute(select(Decision.summary).where(Decision.rule_id == "ungroup",
                                                              Decision.incident_id != split.id)).scalar_one()
    assert split.title == "checkout 5xx above 5%"
    assert "Alice Ames took checkout out" in parent_why and "its own deploy" in parent_why
    # The new incident is selected: it says where it came from, and its own team is paged.
    qtbot.waitUntil(lambda: panel.detail is not None and panel.detail.row.id == split.id, timeout=WAIT)
    assert "Split from INC-" in panel.why.toPlainText()
    route_signals(uow, events=[_alert(clock, "checkout", "checkout-502")])  # its repeat joins the split incident
    with db.reader() as s:
        assert len(s.execute(select(Incident)).scalars().all()) == 2


def test_stopping_the_escalation_from_the_keyboard_pages_nobody_further(make_window, db, uow, org, clock, qtbot,
                                                                         escalating) -> None:  # type: ignore[no-untyped-def]
    route_signals(uow, events=[_alert(clock, "checkout", "checkout-502")])
    window = make_window(user="alice")
    panel = window.detail_panel
    qtbot.waitUntil(lambda: panel.detail is not None and panel.detail.escalation is not None, timeout=WAIT)
    qtbot.waitUntil(lambda: window.actions_.actions["stop_escalation"].isEnabled(), timeout=WAIT)
    _press(qtbot, window, Qt.Key.Key_E, Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: window.actions_.active_dialog is not None, timeout=WAIT)
    qtbot.keyClicks(window.actions_.active_dialog.editor, "Bob is on it; the lead is at a wedding")
    _accept(qtbot, window)
    qtbot.waitUntil(lambda: "stopped by hand by Alice Ames" in panel.values["escalation"].text(), timeout=WAIT)
    assert not window.actions_.actions["stop_escalation"].isEnabled()
    clock.advance(minutes=30)
    window.routing_jobs._on_tick_timer_timeout()
    qtbot.waitUntil(lambda: not window.routing_jobs._busy["tick"], timeout=WAIT)
    with db.reader() as s:
        escalation_pages = s.execute(select(Page).where(Page.reason == "escalation")).scalars().all()
    assert len(escalation_pages) == 1  # tier 1 only: nobody further was woken
