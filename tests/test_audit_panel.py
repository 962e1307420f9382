"""The Audit panel and the background chain check in the real window: filters, pages, before and after side by
side, and a status bar that turns red when someone rewrites the trail behind the console's back."""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone

import pytest
from PySide6.QtCore import QDateTime, QSettings

from console import commands
from console.audit_dto import AuditRow, field_changes
from console.queries import Reader
from console.sync.outbox import Outbox
from console.uow import UnitOfWork
from tests.audit_tamper import entry_count, tamper
from ui import theme
from ui.audit_models import AuditDiffModel, AuditEntriesModel
from ui.main_window import MainWindow
from ui.tasks import TaskRunner

WAIT = 10000


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

    def make() -> MainWindow:
        runner = TaskRunner()
        runners.append(runner)
        window = MainWindow(outbox=Outbox(tmp_path / f"outbox-{uuid.uuid4().hex}.jsonl"), reader=Reader(db, clock),
                            uow=UnitOfWork(db, clock), runner=runner, settings=settings, demo_feed=False,
                            feed_interval_ms=100)
        qtbot.addWidget(window)
        window.show()
        window.start(operator_handle="alice")
        qtbot.waitUntil(lambda: window.info is not None and window.feed.cursor is not None, timeout=WAIT)
        return window

    yield make
    for runner in runners:
        runner.shutdown()


@pytest.fixture
def history(uow, org, clock):  # type: ignore[no-untyped-def]
    """Two incidents worked by three people an hour apart: (first incident, second incident, time between)."""
    first = commands.open_incident(uow, actor_id=org.alice, title="Login failures", severity="SEV3",
                                   service_id=org.identity).created_incident
    commands.acknowledge(uow, actor_id=org.bob, incident_id=first)
    commands.add_note(uow, actor_id=org.carol, incident_id=first, text="rolled back")
    clock.advance(hours=1)
    middle = clock.now()
    clock.advance(minutes=1)
    second = commands.open_incident(uow, actor_id=org.bob, title="Checkout slow", severity="SEV4",
                                    service_id=org.checkout).created_incident
    commands.set_next_action(uow, actor_id=org.carol, incident_id=second, text="check the CDN")
    return first, second, middle


def _row(n: int, **kw) -> AuditRow:  # type: ignore[no-untyped-def]
    fields = dict(id=n, at=datetime(2026, 11, 27, 10, n % 60, tzinfo=timezone.utc), actor_id=None, actor="system",
                  action="incident.note", subject_type="incident", subject_id="3", before="{}",
                  after=json.dumps({"note": f"n{n}"}), prev_hash="0" * 64, hash=f"{n:064x}")
    fields.update(kw)
    return AuditRow(**fields)  # type: ignore[arg-type]


def test_the_entries_model_passes_the_model_tester_through_pages(qtmodeltester) -> None:  # type: ignore[no-untyped-def]
    model = AuditEntriesModel()
    model.set_rows([_row(n) for n in range(20, 10, -1)])
    qtmodeltester.check(model)
    model.append_rows([_row(n) for n in range(10, 0, -1)])
    qtmodeltester.check(model)
    assert model.row_count() == 20 and model.oldest_id == 1
    assert model.data(model.index(0, 5)) == "note: n20" and model.data(model.index(0, 4)) == "INC-3"


def test_the_diff_model_passes_the_model_tester_and_marks_changed_fields(qtmodeltester) -> None:  # type: ignore[no-untyped-def]
    model = AuditDiffModel()
    entry = _row(1, before='{"owner_id":null,"status":"triggered"}',
                 after='{"owner_id":2,"status":"acknowledged","ack":"2026-11-27T10:00:00+00:00"}')
    model.show_entry(entry)
    qtmodeltester.check(model)
    shown = [[model.data(model.index(r, c)) for c in range(3)] for r in range(model.rowCount())]
    assert shown == [["● owner_id", "—", "2"], ["● status", "triggered", "acknowledged"],
                     ["● ack", "", "2026-11-27T10:00:00+00:00"]]
    assert field_changes(before='{"a":1}', after='{"a":1}')[0].changed is False
    assert field_changes(before="not json", after="{}")[0].name == "(text)"
    model.show_entry(None)
    qtmodeltester.check(model)


def _show_audit(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    window.audit_dock.toggleViewAction().trigger()  # what Ctrl+6 does
    qtbot.waitUntil(lambda: window.audit.panel.entries.row_count() > 0, timeout=WAIT)


def _shown(window: MainWindow) -> list[AuditRow]:
    model = window.audit.panel.entries
    return [model.row_at(n) for n in range(model.row_count())]  # type: ignore[misc]


def test_the_panel_lists_newest_first_and_filters_by_incident_person_action_and_time(qtbot, make_window, db,
                                                                                       history) -> None:  # type: ignore[no-untyped-def]
    first, second, middle = history
    window = make_window()
    assert window.audit_dock.toggleViewAction().shortcut().toString() == "Ctrl+6"
    _show_audit(qtbot, window)
    panel = window.audit.panel
    ids = [row.id for row in _shown(window)]
    assert ids == sorted(ids, reverse=True) and len(ids) == entry_count(db)

    panel.incident_edit.setText(f"INC-{first}")
    qtbot.waitUntil(lambda: {r.subject for r in _shown(window)} == {f"INC-{first}"}, timeout=WAIT)
    panel.incident_edit.setText("")
    qtbot.waitUntil(lambda: len(_shown(window)) == entry_count(db), timeout=WAIT)
    panel.incident_edit.setText("INC-x")
    qtbot.waitUntil(lambda: "INC-12 or 12" in panel.problem_label.text(), timeout=WAIT)
    panel.incident_edit.setText(str(second))
    qtbot.waitUntil(lambda: {r.subject for r in _shown(window)} == {f"INC-{second}"}, timeout=WAIT)
    panel.incident_edit.clear()

    qtbot.waitUntil(lambda: panel.person_combo.findText("carol") >= 0, timeout=WAIT)
    panel.person_combo.setCurrentText("carol")
    qtbot.waitUntil(lambda: _shown(window) and {r.actor for r in _shown(window)} == {"carol"}, timeout=WAIT)
    assert {r.action for r in _shown(window)} == {"incident.note", "incident.next_action"}
    panel.action_combo.setCurrentText("incident.note")
    qtbot.waitUntil(lambda: [r.action for r in _shown(window)] == ["incident.note"], timeout=WAIT)
    panel.person_combo.setCurrentIndex(0)
    panel.action_combo.setCurrentIndex(0)

    panel.since_edit.setDateTime(QDateTime(middle.astimezone().replace(tzinfo=None)))
    panel.since_check.setChecked(True)
    qtbot.waitUntil(lambda: _shown(window) and all(r.at >= middle for r in _shown(window)), timeout=WAIT)
    assert {r.subject for r in _shown(window) if r.subject_type == "incident"} == {f"INC-{second}"}
    panel.since_check.setChecked(False)
    panel.until_edit.setDateTime(QDateTime(middle.astimezone().replace(tzinfo=None)))
    panel.until_check.setChecked(True)
    qtbot.waitUntil(lambda: _shown(window) and all(r.at < middle for r in _shown(window)), timeout=WAIT)


def test_selecting_an_entry_shows_its_fields_before_and_after(qtbot, make_window, history) -> None:  # type: ignore[no-untyped-def]
    window = make_window()
    _show_audit(qtbot, window)
    panel = window.audit.panel
    panel.action_combo.setCurrentText("incident.acknowledge")
    qtbot.waitUntil(lambda: [r.action for r in _shown(window)] == ["incident.acknowledge"], timeout=WAIT)
    panel.table.selectRow(0)
    changes = {c.name: c for c in panel.diff.changes()}
    assert (changes["status"].before, changes["status"].after, changes["status"].changed) == ("triggered",
                                                                                          "acknowledged", True)
    assert panel.diff_table.model().data(panel.diff_table.model().index(0, 0)).startswith("●")
    assert "#" in panel.entry_label.text() and "by bob" in panel.entry_label.text()
    assert _shown(window)[0].hash in panel.hash_label.toolTip() and _shown(window)[0].hash[:20] in panel.hash_label.text()


def test_older_entries_load_a_page_at_a_time(qtbot, make_window, uow, org, history) -> None:  # type: ignore[no-untyped-def]
    first = history[0]
    for n in range(12):
        commands.add_note(uow, actor_id=org.bob, incident_id=first, text=f"note {n}")
    window = make_window()
    window.audit.page_size = 5
    _show_audit(qtbot, window)
    panel = window.audit.panel
    total = entry_count(window.uow.db)
    assert len(_shown(window)) == 5 and panel.more_button.isEnabled() and "older ones match" in panel.count_label.text()
    while panel.more_button.isEnabled():
        before = len(_shown(window))
        panel.more_button.click()
        qtbot.waitUntil(lambda: len(_shown(window)) > before, timeout=WAIT)
    ids = [r.id for r in _shown(window)]
    assert len(ids) == total and ids == sorted(ids, reverse=True) and len(set(ids)) == total


def test_a_new_entry_appears_while_the_panel_is_shown(qtbot, make_window, uow, org, history) -> None:  # type: ignore[no-untyped-def]
    window = make_window()
    _show_audit(qtbot, window)
    commands.add_note(uow, actor_id=org.alice, incident_id=history[0], text="from another console")
    qtbot.waitUntil(lambda: "note: from another console" in _shown(window)[0].summary, timeout=WAIT)


def test_the_status_bar_turns_red_after_a_raw_sql_tamper_and_a_recheck(qtbot, make_window, db, history) -> None:  # type: ignore[no-untyped-def]
    window = make_window()
    label = window.status.audit_label
    window.audit.check_now()
    qtbot.waitUntil(lambda: label.text() == f"Audit ✓ {entry_count(db):,} entries", timeout=WAIT)
    assert "intact" in label.toolTip()
    tamper(db, "UPDATE audit_entries SET \"after\" = '{\"note\":\"all fine\"}' WHERE id = 3")
    qtbot.waitUntil(lambda: not window.audit._checking, timeout=WAIT)
    window.audit.check_now()
    qtbot.waitUntil(lambda: label.text() == "⚠ Audit chain broken at #3", timeout=WAIT)
    assert "altered" in label.toolTip() and "#3 does not match its hash" in label.toolTip()
    assert "checked" in label.toolTip() and theme.BREACH_BG in label.styleSheet()


def test_a_tail_cut_off_between_sessions_is_noticed_from_the_remembered_head(qtbot, make_window, db, settings,
                                                                             history) -> None:  # type: ignore[no-untyped-def]
    window = make_window()
    window.audit.check_now()
    qtbot.waitUntil(lambda: window.status.audit_label.text().startswith("Audit ✓"), timeout=WAIT)
    head = window.audit.last_check.head  # type: ignore[union-attr]
    window.close()
    count = entry_count(db)
    tamper(db, f"DELETE FROM audit_entries WHERE id > {count - 2}")
    later = make_window()
    later.audit.check_now()
    qtbot.waitUntil(lambda: later.status.audit_label.text() == f"⚠ Audit chain broken at #{count}", timeout=WAIT)
    assert "truncated" in later.status.audit_label.toolTip()
    assert head.startswith(f"{count}:")
