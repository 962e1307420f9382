"""Connecting to a shared database from the window: File ▸ Connect, the dialog, the switch, and the password
appearing nowhere but in the connection itself."""
from __future__ import annotations

import logging
import uuid

import psycopg
import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QMessageBox

from console import commands
from console.db import open_database
from console.schema import upgrade
from console.uow import UnitOfWork
from tests.conftest import PG_URL, REQUIRE_POSTGRES
from ui.workspace import Workspace

PASSWORD = "S3cret-pw-do-not-log"
WAIT = 10_000


@pytest.fixture
def db_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture
def shared_database():  # type: ignore[no-untyped-def]
    """A whole PostgreSQL database of its own, migrated and seeded, as a war room's shared database would be."""
    plain = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    try:
        admin = psycopg.connect(plain, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as error:
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL not reachable: {error}")
        pytest.skip(f"PostgreSQL not reachable: {error}")
    name = f"icc_connect_{uuid.uuid4().hex[:8]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_URL.rsplit("/", 1)[0]
    db = open_database(f"{base}/{name}")
    upgrade(db)
    from console.clock import SystemClock

    commands.seed_demo(UnitOfWork(db, SystemClock()))
    db.dispose()
    yield name
    admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    admin.close()


@pytest.mark.postgres
def test_connect_switches_the_console_and_never_shows_the_password(qtbot, db, clock, tmp_path, shared_database,
                                                                   caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG)
    commands.seed_demo(UnitOfWork(db, clock))
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    workspace = Workspace(clock=clock, settings=settings, data_dir=tmp_path / "data", demo_feed=False)
    try:
        first = workspace.open(db, operator_handle="jcarter")
        qtbot.waitUntil(lambda: first.info is not None, timeout=WAIT)
        first.connect_action.trigger()
        qtbot.waitUntil(lambda: workspace.connect_dialog is not None, timeout=WAIT)
        dialog = workspace.connect_dialog
        for field, value in ((dialog.host, "127.0.0.1"), (dialog.port, "5432"), (dialog.database, "no_such_db"),
                             (dialog.user, "postgres"), (dialog.password, PASSWORD)):
            field.clear()
            qtbot.keyClicks(field, value)
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
        # A wrong database: told in one line, still on the first database, asked again.
        qtbot.waitUntil(lambda: first.findChild(QMessageBox, "ConnectErrorBox") is not None, timeout=WAIT)
        box = first.findChild(QMessageBox, "ConnectErrorBox")
        assert "no_such_db" in box.text() and PASSWORD not in box.text()
        assert workspace.window is first
        box.accept()
        qtbot.waitUntil(lambda: workspace.connect_dialog is not None, timeout=WAIT)
        dialog = workspace.connect_dialog
        dialog.database.clear()
        qtbot.keyClicks(dialog.database, shared_database)
        dialog.password.clear()
        qtbot.keyClicks(dialog.password, PASSWORD)
        qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: workspace.window is not first, timeout=WAIT)
        second = workspace.window
        qtbot.waitUntil(lambda: second.info is not None and second.queue_model.rowCount() > 0, timeout=WAIT)
        assert shared_database in second.status.database_label.text()
        assert PASSWORD not in second.status.database_label.text()
        assert second.operator is not None and second.operator.handle == "jcarter"  # the same person at the keyboard
        assert not first.isVisible()
    finally:
        workspace.shutdown()
    settings.sync()
    assert PASSWORD not in (tmp_path / "settings.ini").read_text()
    assert PASSWORD not in caplog.text
    assert all(PASSWORD not in p.read_text(errors="replace") for p in (tmp_path / "data").rglob("*") if p.is_file())


def test_switching_away_with_kept_actions_asks_first(qtbot, db, clock, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from console.commands.dispatch import CommandRequest
    from console.sync.outbox import OutboxEntry

    commands.seed_demo(UnitOfWork(db, clock))
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    workspace = Workspace(clock=clock, settings=settings, data_dir=tmp_path / "data", demo_feed=False)
    try:
        window = workspace.open(db, operator_handle="jcarter")
        qtbot.waitUntil(lambda: window.info is not None, timeout=WAIT)
        window.feed.stop()
        request = CommandRequest(command="add_note", args={"actor_id": 1, "incident_id": 1, "text": "kept"},
                                 label="Note on INC-1", incident_id=1)
        window.outbox.outbox.add(OutboxEntry(request=request.to_json(), created_at="2026-11-27T10:00:00+00:00"))
        window.connect_action.trigger()
        box = window.findChild(QMessageBox, "KeptActionsBox")
        assert box is not None and "1 action(s) are kept" in box.text()
        box.button(QMessageBox.StandardButton.No).click()
        qtbot.waitUntil(lambda: window.findChild(QMessageBox, "KeptActionsBox") is None, timeout=WAIT)
        assert workspace.connect_dialog is None  # they stay
        window.connect_action.trigger()
        qtbot.waitUntil(lambda: window.findChild(QMessageBox, "KeptActionsBox") is not None, timeout=WAIT)
        window.findChild(QMessageBox, "KeptActionsBox").button(QMessageBox.StandardButton.Yes).click()
        qtbot.waitUntil(lambda: workspace.connect_dialog is not None, timeout=WAIT)
    finally:
        workspace.shutdown()
