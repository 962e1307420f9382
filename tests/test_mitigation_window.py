"""Mitigations through the window, as the people who use them: a responder asks, a leader reviews the request
and the incident on one screen and signs with their passphrase, the requester is told plainly why they cannot
approve, a leader without a key makes one, the commander pages a holder, and an approved mitigation's expiry
is impossible to miss until someone reverts it."""
from __future__ import annotations

import uuid

import pytest
from PySide6.QtCore import QSettings
from sqlalchemy import select

from console import commands, signing
from console.queries import Reader
from console.sync.outbox import Outbox
from console.uow import UnitOfWork
from models.enums import MitigationState
from models.routing import Page
from tests.mitigation_helpers import PASSPHRASE, ScratchKeyring, enrol, load_test_rights, request
from ui.main_window import MainWindow
from ui.mitigation_dialogs import ReasonDialog, RequestMitigationDialog
from ui.sign_off_dialog import SignOffDialog
from ui.tasks import TaskRunner

WAIT = 8000


@pytest.fixture
def db_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture
def keyring(monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setitem(signing._SCRYPT, "n", 2**12)  # cheaper for tests; the cost travels with each sealed key
    ring = ScratchKeyring()
    yield ring
    ring.cleanup()


@pytest.fixture
def incident(uow, org, tmp_path) -> int:  # type: ignore[no-untyped-def]
    load_test_rights(uow, tmp_path)
    return commands.open_incident(uow, actor_id=org.bob, title="Logins failing", severity="SEV1",
                                  service_id=org.identity, customer_impact="Nobody can sign in.").created_incident


@pytest.fixture
def make_window(qtbot, db, clock, tmp_path, keyring):  # type: ignore[no-untyped-def]
    made: list[tuple[MainWindow, TaskRunner]] = []

    def make(operator: str) -> MainWindow:
        runner = TaskRunner()
        settings = QSettings(str(tmp_path / f"s-{uuid.uuid4().hex}.ini"), QSettings.Format.IniFormat)
        window = MainWindow(reader=Reader(db, clock), uow=UnitOfWork(db, clock), runner=runner, settings=settings,
                            outbox=Outbox(tmp_path / f"outbox-{uuid.uuid4().hex}.jsonl"), demo_feed=False,
                            feed_interval_ms=100, signing_keyring=keyring)
        qtbot.addWidget(window)
        made.append((window, runner))
        window.show()
        window.start(operator_handle=operator)
        qtbot.waitUntil(lambda: window.operator is not None and window.feed.cursor is not None, timeout=WAIT)
        return window

    yield make
    for window, runner in made:
        runner.shutdown()


def _open_tab(qtbot, window: MainWindow, incident_id: int) -> None:  # type: ignore[no-untyped-def]
    qtbot.waitUntil(lambda: window.queue_panel.select_incident(incident_id), timeout=WAIT)
    qtbot.waitUntil(lambda: window.mitigations.view is not None and window.mitigations.view.incident_id == incident_id,
                    timeout=WAIT)
    window.detail_panel.tabs.setCurrentWidget(window.mitigations.panel)


def _items(window: MainWindow):  # type: ignore[no-untyped-def]
    return window.mitigations.view.items if window.mitigations.view else ()


def _review(qtbot, window: MainWindow) -> SignOffDialog:  # type: ignore[no-untyped-def]
    qtbot.waitUntil(lambda: any(i.pending for i in _items(window)), timeout=WAIT)
    window.mitigations.actions["review"].trigger()
    qtbot.waitUntil(lambda: window.mitigations.dialog is not None, timeout=WAIT)
    dialog = window.mitigations.dialog
    assert isinstance(dialog, SignOffDialog)
    qtbot.waitUntil(lambda: dialog.standing.text() != "checking…", timeout=WAIT)
    return dialog


def test_a_responder_asks_and_sees_it_waiting_with_who_can_approve(make_window, incident, qtbot) -> None:  # type: ignore[no-untyped-def]
    window = make_window("bob")
    _open_tab(qtbot, window, incident)
    window.mitigations.actions["request"].trigger()
    dialog = window.mitigations.dialog
    assert isinstance(dialog, RequestMitigationDialog)
    dialog.ask.click()  # nothing filled in yet: refused in place
    assert "Fill in the action, the evidence, the revert plan" in dialog.error.text()
    dialog.action.setText("Roll back identity to 2026.11.30")
    dialog.evidence.setPlainText("Errors began with the 10:02 deploy")
    dialog.revert_plan.setPlainText("Redeploy 2026.12.01")
    dialog.regions.setText("eu-west-1, us-east-1")
    assert dialog.minutes.maximum() == 240  # the rollback class allows 4 h
    dialog.ask.click()
    qtbot.waitUntil(lambda: len(_items(window)) == 1, timeout=WAIT)
    tree = window.mitigations.panel.tree
    assert tree.topLevelItem(0).text(1) == "◔ awaiting approval"
    html = window.mitigations.panel.details.toPlainText()
    assert "regions: eu-west-1, us-east-1" in html and "Who can approve" in html
    assert "Alice Ames (alice) — not on call, no signing key yet" in html
    assert window.detail_panel.tabs.tabText(window.detail_panel.tabs.indexOf(window.mitigations.panel)) == \
        "Mitigations (1 waiting)"


def test_a_leader_signs_off_on_one_screen_and_a_wrong_passphrase_signs_nothing(
        make_window, incident, uow, org, keyring, qtbot) -> None:  # type: ignore[no-untyped-def]
    enrol(uow, keyring, person_id=org.alice, handle="alice")
    request(uow, incident=incident, by=org.bob, minutes=60)
    window = make_window("alice")
    _open_tab(qtbot, window, incident)
    dialog = _review(qtbot, window)
    facts = dialog.facts.toPlainText()
    assert "Logins failing" in facts and "Nobody can sign in." in facts and "Errors began with the 10:02 deploy" in facts
    assert dialog.standing.text() == "✔ holds the decision right; signing key on this machine"
    dialog.reason.setPlainText("The deploy is the cause; roll it back")
    dialog.passphrase.setText("not my passphrase")
    dialog.approve.click()
    qtbot.waitUntil(lambda: dialog.error.text() == "that passphrase does not open your signing key", timeout=WAIT)
    assert dialog.passphrase.text() == "" and _items(window)[0].state is MitigationState.REQUESTED
    dialog.passphrase.setText(PASSPHRASE)
    dialog.approve.click()
    qtbot.waitUntil(lambda: _items(window)[0].state is MitigationState.ACTIVE, timeout=WAIT)
    assert window.mitigations.dialog is None
    details = window.mitigations.panel.details.toPlainText()
    assert "Approved by Alice Ames" in details and "✔ signature verified" in details
    assert window.mitigations.panel.tree.topLevelItem(0).text(2).startswith("in ")


def test_the_requester_is_told_why_they_cannot_approve(make_window, incident, uow, org, keyring, qtbot) -> None:  # type: ignore[no-untyped-def]
    enrol(uow, keyring, person_id=org.alice, handle="alice")
    request(uow, incident=incident, by=org.alice)
    window = make_window("alice")
    _open_tab(qtbot, window, incident)
    dialog = _review(qtbot, window)
    assert dialog.standing.text().startswith("✖ four eyes: you asked for this, so someone else must decide MIT-1")
    assert not dialog.approve.isEnabled() and not dialog.reject_button.isEnabled()
    assert [dialog.leader.itemText(i) for i in range(dialog.leader.count())] == ["Alice Ames (alice)",
                                                                                   "Carol Chen (carol)"]


def test_a_leader_without_a_key_makes_one_in_the_sign_off_and_then_rejects(make_window, incident, uow, org, db,
                                                                           qtbot) -> None:  # type: ignore[no-untyped-def]
    request(uow, incident=incident, by=org.bob)
    window = make_window("carol")
    _open_tab(qtbot, window, incident)
    dialog = _review(qtbot, window)
    assert "needs a signing key on this machine first" in dialog.standing.text()
    assert dialog.new_key.isVisibleTo(dialog) and not dialog.approve.isEnabled()
    dialog.new_passphrase.setText("carol's long passphrase")
    dialog.new_again.setText("carol's long passphrase")
    dialog.create_key.click()
    qtbot.waitUntil(lambda: dialog.standing.text() == "✔ holds the decision right; signing key on this machine",
                    timeout=WAIT)
    dialog.reason.setPlainText("Too risky during the peak")
    dialog.passphrase.setText("carol's long passphrase")
    dialog.reject_button.click()
    qtbot.waitUntil(lambda: bool(_items(window)) and _items(window)[0].state is MitigationState.REJECTED,
                    timeout=WAIT)


def test_the_commander_pages_a_holder_from_the_request(make_window, incident, uow, org, db, qtbot) -> None:  # type: ignore[no-untyped-def]
    request(uow, incident=incident, by=org.bob)
    window = make_window("bob")
    _open_tab(qtbot, window, incident)
    panel = window.mitigations.panel
    qtbot.waitUntil(lambda: panel.approvers.count() == 2, timeout=WAIT)
    panel.approvers.setCurrentIndex(panel.approvers.findData(org.carol))
    assert panel.approvers.currentText() == "Carol Chen — not on call"
    panel.page.click()

    def paged() -> list[int]:
        with db.reader() as s:
            return list(s.execute(select(Page.person_id).where(Page.reason == "manual")).scalars())

    qtbot.waitUntil(lambda: paged() == [org.carol], timeout=WAIT)


def test_an_expiring_mitigation_is_impossible_to_miss_until_it_is_reverted(
        make_window, incident, uow, org, keyring, clock, qtbot) -> None:  # type: ignore[no-untyped-def]
    from tests.mitigation_helpers import decide

    enrol(uow, keyring, person_id=org.alice, handle="alice")
    decide(uow, keyring, ask_id=request(uow, incident=incident, by=org.bob, minutes=30), leader=org.alice,
           handle="alice")
    window = make_window("bob")
    _open_tab(qtbot, window, incident)
    banner = window.mitigations.banner
    qtbot.waitUntil(lambda: bool(window.mitigations.live), timeout=WAIT)
    assert not banner.isVisible()  # 30 minutes left: not yet
    clock.advance(minutes=20)
    qtbot.waitUntil(lambda: banner.isVisible() and "MIT-1 on INC-1 expires in 10:00" in banner.label.text(),
                    timeout=WAIT)
    clock.advance(minutes=11)
    qtbot.waitUntil(lambda: "MIT-1 on INC-1 EXPIRED 1:00 ago and is still in place" in banner.label.text(),
                    timeout=WAIT)
    assert banner.label.property("expired") == "true"
    panel = window.mitigations.panel
    qtbot.waitUntil(lambda: panel.tree.topLevelItem(0).text(1) == "⚠ EXPIRED — revert", timeout=WAIT)
    panel.revert.click()
    dialog = window.mitigations.dialog
    assert isinstance(dialog, ReasonDialog) and not dialog.ok.isEnabled()
    dialog.reason.setPlainText("Redeployed 2026.12.01 with the fix")
    dialog.ok.click()
    qtbot.waitUntil(lambda: _items(window)[0].state is MitigationState.REVERTED, timeout=WAIT)
    qtbot.waitUntil(lambda: not banner.isVisible(), timeout=WAIT)
    assert panel.tree.topLevelItem(0).text(1) == "○ reverted"


def test_every_shortcut_in_the_window_belongs_to_one_action_only(make_window, incident) -> None:  # type: ignore[no-untyped-def]
    from PySide6.QtGui import QAction

    window = make_window("bob")
    keys: dict[str, list[str]] = {}
    for action in window.findChildren(QAction):
        for shortcut in action.shortcuts():
            keys.setdefault(shortcut.toString(), []).append(action.text())
    assert keys["Ctrl+M"] == ["Request a &mitigation…"] and keys["Ctrl+Shift+M"] == ["Re&view and sign a mitigation…"]
    assert {key: names for key, names in keys.items() if len(names) > 1} == {}  # Qt fires neither of two


def test_an_extension_is_asked_in_the_tab_and_signed_like_the_first_approval(
        make_window, incident, uow, org, keyring, qtbot) -> None:  # type: ignore[no-untyped-def]
    from tests.mitigation_helpers import decide

    enrol(uow, keyring, person_id=org.alice, handle="alice")
    decide(uow, keyring, ask_id=request(uow, incident=incident, by=org.bob, minutes=30), leader=org.alice,
           handle="alice")
    window = make_window("bob")
    _open_tab(qtbot, window, incident)
    panel = window.mitigations.panel
    qtbot.waitUntil(lambda: panel.extend.isEnabled(), timeout=WAIT)
    first_expiry = _items(window)[0].expires_at
    panel.extend.click()
    dialog = window.mitigations.dialog
    assert isinstance(dialog, ReasonDialog) and dialog.minutes.maximum() == 240
    dialog.minutes.setValue(45)
    dialog.reason.setPlainText("The fix needs another deploy")
    dialog.ok.click()
    qtbot.waitUntil(lambda: _items(window)[0].pending is not None, timeout=WAIT)
    assert "Waiting for an extension of 45 min (The fix needs another deploy)" in panel.details.toPlainText()
    assert _items(window)[0].expires_at == first_expiry and not panel.extend.isEnabled()
    sign_off = _review(qtbot, window)  # on bob's console: the leader called into the war room signs there
    assert sign_off.windowTitle() == "Decide the extension of MIT-1 on INC-1"
    assert sign_off.standing.text().startswith("✖ four eyes")  # bob asked for the extension
    sign_off.leader.setCurrentIndex(sign_off.leader.findData(org.alice))
    qtbot.waitUntil(lambda: sign_off.standing.text() == "✔ holds the decision right; signing key on this machine",
                    timeout=WAIT)
    sign_off.reason.setPlainText("One more deploy is fair")
    sign_off.passphrase.setText(PASSPHRASE)
    sign_off.approve.click()
    qtbot.waitUntil(lambda: _items(window)[0].pending is None, timeout=WAIT)
    assert (_items(window)[0].expires_at - first_expiry).total_seconds() == 45 * 60
