"""The connect dialog: validation, recent connections without passwords, the keyring choice, what it returns.

The keyring is fixed per test (none at all, or an in-memory stand-in for an OS store) so that these tests
behave the same on a desktop, on a headless machine and under CI's gnome-keyring.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keyring
import keyring.backend
import keyring.errors
import pytest
from keyring.backends import fail
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QLineEdit
from pytestqt.qtbot import QtBot

from console.credentials import ConnectionRequest, PasswordStore, build_url, describe
from console.db import open_database
from console.errors import DatabaseUnavailable
from ui.connect_dialog import MAX_RECENT, RECENT_KEY, STORED_MARKER, ConnectDialog, RecentConnection, load_recent

SECRET = "S3cret-pw"


class _InstancePriority:
    """A priority only an instance has, so keyring never picks this test backend by itself."""

    def __get__(self, obj: Any, cls: type) -> float:
        if obj is None:
            raise RuntimeError("test backend, only used through keyring.set_keyring")
        return 5.0


class MemoryKeyring(keyring.backend.KeyringBackend):
    """Stands in for an OS store: the dialog only needs to know that one is there."""

    priority = _InstancePriority()  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.items.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.items[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.items.pop((service, username), None) is None:
            raise keyring.errors.PasswordDeleteError("not stored")


def _using(backend: keyring.backend.KeyringBackend) -> Iterator[keyring.backend.KeyringBackend]:
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


@pytest.fixture
def no_keyring() -> Iterator[keyring.backend.KeyringBackend]:
    yield from _using(fail.Keyring())


@pytest.fixture
def memory_keyring() -> Iterator[keyring.backend.KeyringBackend]:
    yield from _using(MemoryKeyring())


@pytest.fixture
def settings_path(tmp_path: Path) -> Path:
    return tmp_path / "console.ini"


@pytest.fixture
def settings(settings_path: Path) -> QSettings:
    return QSettings(str(settings_path), QSettings.Format.IniFormat)


def _dialog(qtbot: QtBot, settings: QSettings, store: PasswordStore) -> ConnectDialog:
    dialog = ConnectDialog(settings=settings, store=store)
    qtbot.addWidget(dialog)
    return dialog


def _fill(qtbot: QtBot, dialog: ConnectDialog, **values: str) -> None:
    for name, value in values.items():
        edit: QLineEdit = getattr(dialog, name)
        edit.clear()
        qtbot.keyClicks(edit, value)


def _connect_once(qtbot: QtBot, settings: QSettings, store: PasswordStore, **values: str) -> ConnectionRequest:
    dialog = _dialog(qtbot, settings, store)
    _fill(qtbot, dialog, **values)
    request = dialog.request()
    dialog.ok_button.click()
    assert dialog.result() == ConnectDialog.DialogCode.Accepted
    return request


def test_defaults_and_validation(qtbot: QtBot, settings: QSettings, no_keyring: object) -> None:
    dialog = _dialog(qtbot, settings, PasswordStore())
    assert dialog.windowTitle() == "Connect to shared database"
    assert (dialog.host.text(), dialog.port.text()) == ("127.0.0.1", "5432")
    assert dialog.password.echoMode() is QLineEdit.EchoMode.Password
    assert not dialog.recent_combo.isEnabled() and dialog.recent_combo.count() == 0
    assert not dialog.ok_button.isEnabled()
    _fill(qtbot, dialog, database="incidents")
    assert not dialog.ok_button.isEnabled()
    _fill(qtbot, dialog, user="alice")
    assert dialog.ok_button.isEnabled()
    for port, valid in [("0", False), ("65536", False), ("http", False), ("-1", False), ("", False),
                        ("1", True), ("65535", True), ("5433", True)]:
        _fill(qtbot, dialog, port=port)
        assert dialog.ok_button.isEnabled() is valid, port
    _fill(qtbot, dialog, host="   ")
    assert not dialog.ok_button.isEnabled()
    dialog.accept()  # refused: the form is not complete
    assert dialog.result() != ConnectDialog.DialogCode.Accepted
    assert load_recent(settings) == []


def test_request_carries_what_was_typed(qtbot: QtBot, settings: QSettings, memory_keyring: object) -> None:
    dialog = _dialog(qtbot, settings, PasswordStore())
    _fill(qtbot, dialog, host=" db.internal ", port="5433", database="war", user="alice", password=" pw with spaces ")
    assert dialog.request() == ConnectionRequest(host="db.internal", port=5433, database="war", user="alice",
                                                 password=" pw with spaces ", remember=False)
    dialog.remember.setChecked(True)
    assert dialog.request().remember is True


def test_recent_connections_are_saved_without_password_newest_first(
        qtbot: QtBot, settings: QSettings, settings_path: Path, no_keyring: object) -> None:
    store = PasswordStore()
    for database in ("alpha", "beta", "gamma", "alpha"):
        _connect_once(qtbot, settings, store, database=database, user="alice", password=SECRET)
    assert SECRET not in settings_path.read_text(encoding="utf-8")
    assert [c.database for c in load_recent(settings)] == ["alpha", "gamma", "beta"]

    dialog = _dialog(qtbot, QSettings(str(settings_path), QSettings.Format.IniFormat), store)
    labels = [dialog.recent_combo.itemText(i) for i in range(dialog.recent_combo.count())]
    assert labels == [describe(host="127.0.0.1", port=5432, database=d, user="alice")
                      for d in ("alpha", "gamma", "beta")]
    assert all(SECRET not in label for label in labels)


def test_at_most_eight_recent_connections_are_kept(qtbot: QtBot, settings: QSettings, no_keyring: object) -> None:
    store = PasswordStore()
    for n in range(MAX_RECENT + 3):
        _connect_once(qtbot, settings, store, database=f"db{n}", user="alice")
    recent = load_recent(settings)
    assert [c.database for c in recent] == [f"db{n}" for n in range(MAX_RECENT + 2, 2, -1)]


def test_unreadable_recent_entries_are_skipped(settings: QSettings) -> None:
    settings.setValue(RECENT_KEY, '[{"host": "h", "port": 5432, "database": "d", "user": "u"}, {"host": 1}, 7]')
    assert load_recent(settings) == [RecentConnection(host="h", port=5432, database="d", user="u")]
    settings.setValue(RECENT_KEY, "not json")
    assert load_recent(settings) == []


def test_choosing_a_recent_connection_fills_the_form_and_marks_a_stored_password(
        qtbot: QtBot, settings: QSettings, no_keyring: object) -> None:
    store = PasswordStore()
    _connect_once(qtbot, settings, store, host="db.internal", port="5433", database="war", user="bob")
    # The form opens on the newest connection (db.internal); type the whole of the second one.
    _connect_once(qtbot, settings, store, host="127.0.0.1", port="5432", database="incidents", user="alice")
    store.put(host="db.internal", port=5433, database="war", user="bob", password=SECRET, remember=False)

    dialog = _dialog(qtbot, settings, store)
    # The newest connection is filled in at once; nothing is stored for it.
    assert (dialog.host.text(), dialog.port.text(), dialog.database.text(), dialog.user.text()) == (
        "127.0.0.1", "5432", "incidents", "alice")
    assert dialog.password.text() == "" and not dialog.uses_stored_password()

    dialog.recent_combo.setCurrentIndex(1)
    assert (dialog.host.text(), dialog.port.text(), dialog.database.text(), dialog.user.text()) == (
        "db.internal", "5433", "war", "bob")
    assert dialog.password.text() == STORED_MARKER and SECRET not in dialog.password.text()
    assert dialog.ok_button.isEnabled()
    assert dialog.request().password is None  # "use the stored one"

    # Typing replaces the marker with exactly what was typed.
    qtbot.keyClicks(dialog.password, "new")
    assert dialog.password.text() == "new" and dialog.request().password == "new"

    # The stored password belongs to bob@db.internal: editing who or where drops the marker.
    dialog.recent_combo.setCurrentIndex(0)
    dialog.recent_combo.setCurrentIndex(1)
    assert dialog.uses_stored_password()
    qtbot.keyClicks(dialog.user, "by")
    assert dialog.password.text() == "" and dialog.request().password == ""


def test_without_a_keyring_remember_is_disabled_with_the_reason(
        qtbot: QtBot, settings: QSettings, no_keyring: object) -> None:
    store = PasswordStore()
    reason = store.status().reason
    dialog = _dialog(qtbot, settings, store)
    dialog.show()
    qtbot.waitExposed(dialog)
    assert not dialog.remember.isEnabled()
    assert dialog.remember.toolTip() == reason and "session only" in reason
    assert dialog.keyring_note.isVisible() and "session only" in dialog.keyring_note.text()
    dialog.remember.setChecked(True)  # even if something ticks it, nothing is remembered
    _fill(qtbot, dialog, database="incidents", user="alice")
    assert dialog.request().remember is False


def test_with_a_keyring_remember_is_offered_and_reflects_what_is_stored(
        qtbot: QtBot, settings: QSettings, memory_keyring: MemoryKeyring) -> None:
    store = PasswordStore()
    _connect_once(qtbot, settings, store, database="incidents", user="alice")
    dialog = _dialog(qtbot, settings, store)
    dialog.show()
    qtbot.waitExposed(dialog)
    assert dialog.remember.isEnabled() and not dialog.remember.isChecked()
    assert not dialog.keyring_note.isVisible()
    dialog.close()

    store.put(host="127.0.0.1", port=5432, database="incidents", user="alice", password=SECRET, remember=True)
    later = _dialog(qtbot, settings, PasswordStore())  # a new session: only the keyring knows it
    assert later.uses_stored_password() and later.remember.isChecked()
    assert later.request() == ConnectionRequest(host="127.0.0.1", port=5432, database="incidents", user="alice",
                                                password=None, remember=True)


def test_the_password_reaches_no_settings_file_description_error_or_log(
        qtbot: QtBot, settings: QSettings, settings_path: Path, caplog: pytest.LogCaptureFixture,
        no_keyring: object) -> None:
    caplog.set_level(logging.DEBUG)
    store = PasswordStore()
    request = _connect_once(qtbot, settings, store, port="1", database="incidents", user="alice", password=SECRET)
    assert request.password == SECRET
    where: dict[str, Any] = {"host": request.host, "port": request.port, "database": request.database,
                             "user": request.user}
    assert store.put(**where, password=SECRET, remember=True) is False
    with pytest.raises(DatabaseUnavailable) as raised:
        open_database(build_url(**where, password=SECRET))
    later = _dialog(qtbot, settings, store)
    assert later.password.text() == STORED_MARKER

    assert SECRET not in settings_path.read_text(encoding="utf-8")
    assert SECRET not in describe(**where)
    assert SECRET not in str(raised.value) and "127.0.0.1:1" in str(raised.value)
    assert SECRET not in repr(request)
    assert SECRET not in caplog.text
    assert all(SECRET not in record.getMessage() for record in caplog.records)
    assert any("session only" in record.getMessage() for record in caplog.records)
