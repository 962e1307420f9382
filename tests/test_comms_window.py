"""Communications through the window, end to end: U sends the due customer update over real sockets to a
Statuspage fake and a real SMTP server; a failure is impossible to miss; the composer, the template editor,
the cadence countdown and the sandbox outbox behave as an operator expects."""
from __future__ import annotations

import uuid

import pytest
from PySide6.QtCore import QSettings, Qt
from sqlalchemy import select

from console import commands
from console.comms.endpoints import EndpointStore
from console.comms.wire import Endpoint
from console.queries import Reader
from console.sync.outbox import Outbox
from console.uow import UnitOfWork
from models.comms import Message, MessageTemplate
from models.enums import DeliveryState
from tests.comms_servers import HttpStub, SmtpStub, StatuspageFake
from ui.main_window import MainWindow
from ui.queue_model import COL_UPDATE
from ui.tasks import TaskRunner

WAIT = 8000


@pytest.fixture
def db_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture
def make_window(qtbot, db, clock, tmp_path):  # type: ignore[no-untyped-def]
    made: list[tuple[MainWindow, TaskRunner]] = []

    def make(**options) -> MainWindow:  # type: ignore[no-untyped-def]
        runner = TaskRunner()
        settings = QSettings(str(tmp_path / f"s-{uuid.uuid4().hex}.ini"), QSettings.Format.IniFormat)
        window = MainWindow(reader=Reader(db, clock), uow=UnitOfWork(db, clock), runner=runner, settings=settings,
                            outbox=Outbox(tmp_path / f"outbox-{uuid.uuid4().hex}.jsonl"), demo_feed=False,
                            feed_interval_ms=100, **options)
        qtbot.addWidget(window)
        made.append((window, runner))
        window.show()
        window.start(operator_handle="alice")
        qtbot.waitUntil(lambda: window.operator is not None and window.feed.cursor is not None, timeout=WAIT)
        return window

    yield make
    for window, runner in made:
        window.comms.shutdown()
        runner.shutdown()


@pytest.fixture
def incident(uow, org) -> int:  # type: ignore[no-untyped-def]
    return commands.open_incident(uow, actor_id=org.alice, title="Logins failing", severity="SEV1",
                                  service_id=org.identity, customer_impact="Nobody can sign in.").created_incident


def _select(qtbot, window: MainWindow, incident_id: int) -> None:  # type: ignore[no-untyped-def]
    qtbot.waitUntil(lambda: window.queue_panel.select_incident(incident_id), timeout=WAIT)
    qtbot.waitUntil(lambda: window.comms.view is not None and window.comms.view.incident_id == incident_id,
                    timeout=WAIT)
    window.detail_panel.tabs.setCurrentWidget(window.comms.panel)


def _states(window: MainWindow) -> dict[str, DeliveryState]:
    view = window.comms.view
    return {d.channel: d.state for m in (view.messages if view else ()) for d in m.deliveries}


def test_u_sends_the_customer_update_to_the_status_page_and_by_mail_and_shows_it_delivered(
        make_window, incident, qtbot) -> None:  # type: ignore[no-untyped-def]
    with HttpStub() as stub, SmtpStub() as smtp:
        page = StatuspageFake(stub, api_key="key-1")
        endpoints = EndpointStore()
        endpoints.put("status-page", Endpoint(url=page.url, token="key-1"), remember=False)
        endpoints.put("customer-email", Endpoint(host=smtp.host, port=smtp.port, security="none",
                                                 sender="status@example.com", recipients=("cto@example.com",)),
                      remember=False)
        window = make_window(sender=True, endpoints=endpoints)
        _select(qtbot, window, incident)
        qtbot.waitUntil(lambda: window.comms.sender is not None, timeout=WAIT)
        window.activateWindow()
        window.queue_panel.view.setFocus()
        qtbot.keyClick(window.queue_panel.view, Qt.Key.Key_U)
        qtbot.waitUntil(lambda: _states(window) == {"status-page": DeliveryState.DELIVERED,
                                                    "customer-email": DeliveryState.DELIVERED}, timeout=WAIT)
        (created,) = page.incidents.values()
        assert created["name"] == "Service disruption: Identity"
        (mail,) = smtp.wait_for_messages(1)
        assert b"Nobody can sign in." in mail.content and mail.rcpt_tos == ("cto@example.com",)
    text = window.comms.panel.tree.topLevelItem(0).text(1)
    assert text == "Customers: Service disruption: Identity"
    assert "Customers: next update due in 30:00" in window.comms.panel.cadence["customers"].text()


def test_a_failed_customer_update_raises_the_banner_and_marks_the_queue_until_dismissed(
        make_window, incident, uow, org, qtbot) -> None:  # type: ignore[no-untyped-def]
    window = make_window(sender=True, endpoints=EndpointStore())  # no endpoints on this machine
    _select(qtbot, window, incident)
    qtbot.waitUntil(lambda: window.comms.sender is not None, timeout=WAIT)
    window.comms.send_due_update()
    qtbot.waitUntil(lambda: window.comms.banner.isVisible(), timeout=WAIT)
    assert "CUSTOMER UPDATE(S) FAILED" in window.comms.banner.label.text()
    assert "no endpoint is set for channel" in window.comms.banner.label.text()
    row = window.queue_model.position_of(incident)
    assert window.queue_model.index(row, COL_UPDATE).data() == "✖ UPDATE FAILED"
    assert window.detail_panel.tabs.tabText(window.detail_panel.tabs.indexOf(window.comms.panel)) == "Updates ✖"
    qtbot.mouseClick(window.comms.banner.show_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.comms.panel.selected_delivery() is not None, timeout=WAIT)
    for _ in range(2):  # both channels failed: dismiss each
        qtbot.waitUntil(lambda: window.comms.panel.dismiss.isEnabled() or not window.comms.banner.isVisible(),
                        timeout=WAIT)
        if not window.comms.banner.isVisible():
            break
        failed = window.comms.panel.selected_delivery()
        qtbot.mouseClick(window.comms.panel.dismiss, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: window.comms.panel.selected_delivery() is None or
                        window.comms.panel.selected_delivery().dismissed, timeout=WAIT)
        other = next((d for m in window.comms.view.messages for d in m.deliveries
                      if d.needs_attention and d.id != failed.id), None)
        if other is not None:
            window.comms.panel.select_delivery(other.id)
    qtbot.waitUntil(lambda: not window.comms.banner.isVisible(), timeout=WAIT)
    qtbot.waitUntil(lambda: window.queue_model.index(window.queue_model.position_of(incident), COL_UPDATE).data()
                    .startswith("Customers in") or "Internal" in window.queue_model.index(
                        window.queue_model.position_of(incident), COL_UPDATE).data(), timeout=WAIT)


def test_the_composer_sends_the_edited_text_to_the_channels_ticked(make_window, incident, db, qtbot) -> None:  # type: ignore[no-untyped-def]
    window = make_window()
    _select(qtbot, window, incident)
    qtbot.keyClick(window, Qt.Key.Key_U, Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: window.comms.dialog is not None, timeout=WAIT)
    dialog = window.comms.dialog
    qtbot.waitUntil(lambda: dialog.send_button.isEnabled(), timeout=WAIT)
    assert dialog.chosen_channels() == ["status-page", "customer-email"]
    assert "We are investigating a problem with Identity" in dialog.body.toPlainText()
    dialog.body.setPlainText("Sign-in is failing for everyone. We are rolling back.")
    dialog.checks["customer-email"].setChecked(False)
    qtbot.mouseClick(dialog.send_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.comms.view is not None and len(window.comms.view.messages) == 1, timeout=WAIT)
    with db.reader() as s:
        message = s.execute(select(Message)).scalar_one()
    assert message.edited and message.body == "Sign-in is failing for everyone. We are rolling back."
    assert [d.channel for d in window.comms.view.messages[0].deliveries] == ["status-page"]


def test_the_template_editor_refuses_a_broken_template_with_its_line_and_saves_a_good_one(
        make_window, db, org, qtbot) -> None:  # type: ignore[no-untyped-def]
    window = make_window()
    window.comms.edit_templates()
    qtbot.waitUntil(lambda: window.comms.dialog is not None, timeout=WAIT)
    editor = window.comms.dialog
    qtbot.waitUntil(lambda: editor.history.count() == 1, timeout=WAIT)
    assert editor.current_name() == "customer_update" and "shipped" in editor.history.item(0).text()
    editor.body.setPlainText("Hello\n{{ incident.sevrity }}\n")
    editor.reason.setText("shorter")
    qtbot.mouseClick(editor.save, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "line 2" in editor.message.text(), timeout=WAIT)
    assert "customer_update" in editor.message.text() and "sevrity" in editor.message.text()
    editor.body.setPlainText("We are on it: {{ incident.public_summary }}.\n")
    qtbot.mouseClick(editor.save, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: editor.history.count() == 2, timeout=WAIT)
    assert editor.history.item(0).text().startswith("v2 ") and "shorter" in editor.history.item(0).text()
    with db.reader() as s:
        versions = s.execute(select(MessageTemplate.version, MessageTemplate.reason)
                             .order_by(MessageTemplate.version)).all()
    assert versions == [(1, "shipped with the console"), (2, "shorter")]


def test_the_cadence_counts_down_and_turns_overdue(make_window, incident, clock, qtbot) -> None:  # type: ignore[no-untyped-def]
    window = make_window()
    _select(qtbot, window, incident)
    label = window.comms.panel.cadence["customers"]
    qtbot.waitUntil(lambda: label.text() == "Customers: next update due in 30:00", timeout=WAIT)
    clock.advance(minutes=31)
    qtbot.waitUntil(lambda: label.text() == "⚠ Customers: update OVERDUE by 1:00", timeout=WAIT)
    assert label.property("overdue") == "true"
    row = window.queue_model.position_of(incident)
    # The queue repaints its time columns on the once-a-second tick; the panel may have redrawn sooner
    # (a view reload reads the clock too), so wait for the tick rather than race it.
    qtbot.waitUntil(lambda: "Internal OVERDUE" in window.queue_model.index(row, COL_UPDATE).data(),
                    timeout=WAIT)  # every 15 min at SEV1


def test_a_sandboxed_console_keeps_the_update_on_this_machine_and_shows_it(make_window, incident, qtbot) -> None:  # type: ignore[no-untyped-def]
    with HttpStub() as stub:
        endpoints = EndpointStore()
        endpoints.put("status-page", Endpoint(url=f"{stub.url}/v1/pages/p", token="k"), remember=False)
        window = make_window(sender=True, sandbox=True, endpoints=endpoints)
        _select(qtbot, window, incident)
        assert window.comms.panel.sandbox_notice.isVisibleTo(window.comms.panel)
        qtbot.waitUntil(lambda: window.comms.sender is not None, timeout=WAIT)
        window.comms.send_due_update()
        qtbot.waitUntil(lambda: set(_states(window).values()) == {DeliveryState.DELIVERED}, timeout=WAIT)
        assert stub.requests == []
    qtbot.waitUntil(lambda: window.comms.sandbox_panel.tree.topLevelItemCount() == 1, timeout=WAIT)
    assert window.comms.sandbox_panel.tree.topLevelItem(0).text(3) == "Service disruption: Identity"


def test_a_composed_update_goes_to_the_incident_it_was_composed_on_whatever_is_selected_at_send(
        make_window, incident, uow, org, db, qtbot) -> None:  # type: ignore[no-untyped-def]
    other = commands.open_incident(uow, actor_id=org.alice, title="Checkout slow", severity="SEV1",
                                   service_id=org.checkout).created_incident
    window = make_window()
    _select(qtbot, window, incident)
    window.comms.compose()
    qtbot.waitUntil(lambda: window.comms.dialog is not None and window.comms.dialog.send_button.isEnabled(),
                    timeout=WAIT)
    _select(qtbot, window, other)  # the queue moves on while the dialog is open
    qtbot.mouseClick(window.comms.dialog.send_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.comms.dialog is None, timeout=WAIT)

    def queued_on() -> list[int]:
        with db.reader() as s:
            return list(s.execute(select(Message.incident_id)).scalars())

    qtbot.waitUntil(lambda: queued_on() != [], timeout=WAIT)
    assert queued_on() == [incident]
