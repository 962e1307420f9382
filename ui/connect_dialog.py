"""The "Connect to shared database" dialog: host, port, database, user, password, and recent connections.

It only collects what the operator wants; the window connects off the GUI thread. Recent connections are
kept in QSettings without any password. A password the store already knows is never put into the widget:
the field shows a marker instead, and the request then carries `password=None` ("use the stored one").
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QCheckBox, QComboBox, QFormLayout, QLabel, QLineEdit, QWidget

from console.credentials import ConnectionRequest, PasswordStore, describe
from ui.dialogs import _FormDialog

__all__ = ["ConnectDialog", "ConnectionRequest", "RecentConnection", "load_recent", "save_recent"]

RECENT_KEY = "connections/recent"
MAX_RECENT = 8
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5432
# Shown (as dots) in place of a stored password. Word joiners cannot be typed, so whatever else is in the
# field after an edit is exactly what the operator typed.
_MARKER_CHAR = "\u2060"
STORED_MARKER = _MARKER_CHAR * 8


@dataclass(frozen=True)
class RecentConnection:
    """A connection used before: where and as whom, never with a password."""

    host: str
    port: int
    database: str
    user: str

    @property
    def label(self) -> str:
        return describe(host=self.host, port=self.port, database=self.database, user=self.user)


def load_recent(settings: QSettings) -> list[RecentConnection]:
    """Return the recent connections in the settings, most recent first; unreadable entries are skipped."""
    raw = settings.value(RECENT_KEY, "[]")
    try:
        entries = json.loads(raw) if isinstance(raw, str) else []
    except ValueError:
        entries = []
    recent: list[RecentConnection] = []
    for entry in entries if isinstance(entries, list) else []:
        try:
            item = RecentConnection(host=str(entry["host"]), port=int(entry["port"]),
                                    database=str(entry["database"]), user=str(entry["user"]))
        except (KeyError, TypeError, ValueError):
            continue
        if item not in recent:
            recent.append(item)
    return recent[:MAX_RECENT]


def save_recent(settings: QSettings, connection: RecentConnection) -> None:
    """Put a connection first in the recent list (no duplicates, at most MAX_RECENT), without any password."""
    recent = [connection, *(c for c in load_recent(settings) if c != connection)][:MAX_RECENT]
    settings.setValue(RECENT_KEY, json.dumps([asdict(c) for c in recent]))
    settings.sync()


class ConnectDialog(_FormDialog):
    def __init__(self, *, settings: QSettings, store: PasswordStore, parent: QWidget | None = None) -> None:
        super().__init__("Connect to shared database",
                         "Connect this console to the shared PostgreSQL database your team works on.", parent)
        self.setObjectName("ConnectDialog")
        self.settings, self.store = settings, store
        self._uses_stored_password = False
        self.keyring = store.status()
        self.recent = load_recent(settings)

        self.recent_combo = QComboBox(objectName="RecentConnections")
        for connection in self.recent:
            self.recent_combo.addItem(connection.label)
        self.recent_combo.setEnabled(bool(self.recent))
        self.recent_combo.setPlaceholderText("no recent connections")
        self.host = QLineEdit(DEFAULT_HOST, objectName="ConnectHost")
        self.port = QLineEdit(str(DEFAULT_PORT), objectName="ConnectPort", maxLength=5)
        self.database = QLineEdit(objectName="ConnectDatabase", placeholderText="database name")
        self.user = QLineEdit(objectName="ConnectUser", placeholderText="database user")
        self.password = QLineEdit(objectName="ConnectPassword")
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.remember = QCheckBox("Remember the password in the system keyring", objectName="RememberPassword")
        self.keyring_note = QLabel(objectName="KeyringNote", wordWrap=True)

        form = QFormLayout()
        form.addRow("Recent", self.recent_combo)
        form.addRow("Host", self.host)
        form.addRow("Port", self.port)
        form.addRow("Database", self.database)
        form.addRow("User", self.user)
        form.addRow("Password", self.password)
        self.layout_.addLayout(form)
        self.layout_.addWidget(self.remember)
        self.layout_.addWidget(self.keyring_note)
        self._show_keyring_status()

        for edit in (self.host, self.port, self.database, self.user):
            edit.textChanged.connect(self.validate)
            # The stored password belongs to the connection it was shown for, not to an edited one.
            edit.textEdited.connect(self._on_identity_edited)
        self.password.textEdited.connect(self._on_password_edited)
        self.recent_combo.currentIndexChanged.connect(self._on_recent_combo_index_changed)
        self.finish_layout()
        if self.recent:
            # Adding the items already made the first one current, without a signal we were connected to.
            self._on_recent_combo_index_changed(0)
        (self.password if self.recent else self.database).setFocus()

    # --- values ---------------------------------------------------------------------------------------

    def port_number(self) -> int | None:
        text = self.port.text().strip()
        if not text.isdigit():
            return None
        number = int(text)
        return number if 1 <= number <= 65535 else None

    def is_valid(self) -> bool:
        return (bool(self.host.text().strip()) and self.port_number() is not None
                and bool(self.database.text().strip()) and bool(self.user.text().strip()))

    def uses_stored_password(self) -> bool:
        return self._uses_stored_password

    def request(self) -> ConnectionRequest:
        """What the operator asked for; password None means the one the store already has."""
        port = self.port_number()
        if port is None or not self.is_valid():
            raise ValueError("the connection form is not complete")
        return ConnectionRequest(
            host=self.host.text().strip(), port=port, database=self.database.text().strip(),
            user=self.user.text().strip(),
            password=None if self._uses_stored_password else self.password.text(),
            remember=self.keyring.available and self.remember.isChecked())

    def accept(self) -> None:
        if not self.is_valid():
            return
        request = self.request()
        save_recent(self.settings, RecentConnection(host=request.host, port=request.port,
                                                    database=request.database, user=request.user))
        super().accept()

    # --- behaviour ------------------------------------------------------------------------------------

    def _show_keyring_status(self) -> None:
        status = self.keyring
        self.remember.setEnabled(status.available)
        if status.available:
            self.remember.setToolTip(f"Stored by {status.backend}, under the name of this connection.")
            self.keyring_note.hide()
        else:
            self.remember.setChecked(False)
            self.remember.setToolTip(status.reason)
            self.keyring_note.setText(f"⚠ {status.reason[:1].upper()}{status.reason[1:]}.")
            self.keyring_note.show()

    def _on_recent_combo_index_changed(self, index: int) -> None:
        if not 0 <= index < len(self.recent):
            return
        connection = self.recent[index]
        self.host.setText(connection.host)
        self.port.setText(str(connection.port))
        self.database.setText(connection.database)
        self.user.setText(connection.user)
        where = {"host": connection.host, "port": connection.port, "database": connection.database,
                 "user": connection.user}
        stored = self.store.get(**where) is not None
        self._set_stored_password(stored)
        if self.keyring.available:
            self.remember.setChecked(stored and self.store.is_remembered(**where))
        self.validate()

    def _set_stored_password(self, stored: bool) -> None:
        self._uses_stored_password = stored
        self.password.setText(STORED_MARKER if stored else "")
        self.password.setToolTip("A password is stored for this connection; type to replace it." if stored else "")

    def _on_identity_edited(self, _text: str) -> None:
        if self._uses_stored_password:
            self._set_stored_password(False)

    def _on_password_edited(self, text: str) -> None:
        if self._uses_stored_password:
            self._uses_stored_password = False
            self.password.setToolTip("")
            self.password.setText(text.replace(_MARKER_CHAR, ""))
