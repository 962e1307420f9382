"""The console's workspace: the window and what it runs on (database, reader, writer thread, outbox).

Connecting to another database builds a new set and retires the old one after its queued commands finish,
so switching never drops an action and never mixes two databases in one window.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, Qt
from PySide6.QtWidgets import QMessageBox

from console.clock import Clock
from console.comms.endpoints import EndpointStore
from console.db import Database
from console.errors import ConsoleError
from console.queries import Reader
from console.sync.outbox import Outbox, outbox_path
from console.uow import UnitOfWork
from ui.main_window import MainWindow
from ui.tasks import TaskRunner

if TYPE_CHECKING:
    from console.credentials import ConnectionRequest, PasswordStore
    from ui.connect_dialog import ConnectDialog


@dataclass
class _Console:
    db: Database
    runner: TaskRunner
    window: MainWindow


class Workspace(QObject):
    def __init__(self, *, clock: Clock, settings: QSettings, data_dir: Path, demo_feed: bool = True,
                 store: PasswordStore | None = None, window_options: dict | None = None, sandbox: bool = False,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._clock = clock
        self._settings = settings
        self._data_dir = data_dir
        self._demo_feed = demo_feed
        self._options = window_options or {}
        # Endpoints stay known across a switch of database; sandbox is this console's choice, not the database's.
        self._options.setdefault("sandbox", sandbox)
        self._options.setdefault("endpoints", EndpointStore())
        self._options.setdefault("sender", True)  # a real console delivers the outbox; tests and pictures do not
        self._store = store
        self.current: _Console | None = None
        self._connector = TaskRunner(self, readers=1)  # connection attempts never wait behind a busy console
        self.connect_dialog: ConnectDialog | None = None
        self.on_switched: Callable[[MainWindow], None] | None = None

    @property
    def store(self) -> PasswordStore:
        # keyring (and D-Bus) are loaded when someone first connects, not at start-up.
        if self._store is None:
            from console.credentials import PasswordStore

            self._store = PasswordStore()
        return self._store

    @property
    def window(self) -> MainWindow | None:
        return self.current.window if self.current else None

    def open(self, db: Database, *, operator_handle: str | None = None) -> MainWindow:
        """Show a console window on a database."""
        runner = TaskRunner()
        outbox = Outbox(outbox_path(data_dir=self._data_dir, database=db.identity))
        window = MainWindow(reader=Reader(db, self._clock), uow=UnitOfWork(db, self._clock), runner=runner,
                            settings=self._settings, outbox=outbox, demo_feed=self._demo_feed, **self._options)
        window.connect_requested.connect(self.ask_to_connect)
        previous, self.current = self.current, _Console(db, runner, window)
        window.show()
        window.start(operator_handle=operator_handle)
        if previous is not None:
            self._retire(previous)
        if self.on_switched is not None:
            self.on_switched(window)
        return window

    def ask_to_connect(self) -> None:
        """Ask where to connect, then connect off the GUI thread; first say if actions are still kept here."""
        window = self.window
        kept = len(window.outbox.entries()) if window is not None else 0
        if kept and window is not None:
            box = QMessageBox(QMessageBox.Icon.Question, "Actions still kept",
                              f"{kept} action(s) are kept for {window.status.database_label.text()} and not yet in "
                              f"that database. They stay on this machine and are sent the next time you connect to "
                              f"it.\n\nConnect to another database anyway?",
                              QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, window)
            box.setObjectName("KeptActionsBox")
            box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            box.accepted.connect(self._ask_where)
            box.open()
            return
        self._ask_where()

    def _ask_where(self) -> None:
        from ui.connect_dialog import ConnectDialog

        dialog = ConnectDialog(settings=self._settings, store=self.store, parent=self.window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.connect_dialog = dialog
        dialog.accepted.connect(lambda: self._connect(dialog.request()))
        dialog.finished.connect(lambda _result: setattr(self, "connect_dialog", None))
        dialog.open()

    def _connect(self, request: ConnectionRequest) -> None:
        from console.connection import open_shared

        if self.window is not None:
            self.window.status.showMessage(f"Connecting to {request.host}:{request.port}/{request.database}…")
        self._connector.read(lambda: open_shared(request=request, store=self.store),
                             on_done=self._on_connected, on_error=self._on_connect_failed)

    def _on_connected(self, db: Database) -> None:
        operator = self.window.operator.handle if self.window and self.window.operator else None
        self.open(db, operator_handle=operator)

    def _on_connect_failed(self, error: BaseException) -> None:
        message = str(error) if isinstance(error, ConsoleError) else f"{type(error).__name__}: {error}"
        box = QMessageBox(QMessageBox.Icon.Warning, "Not connected", message.splitlines()[0],
                          QMessageBox.StandardButton.Ok, self.window)
        box.setObjectName("ConnectErrorBox")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(lambda _result: self.ask_to_connect())  # let them correct it
        box.open()

    def _retire(self, old: _Console, *, wait: bool = False) -> None:
        old.window.close()

        def finish() -> None:
            old.runner.shutdown()  # lets a command already on its way finish (bounded by the database timeouts)
            old.db.dispose()

        if wait:
            finish()
        else:
            # Switching away from a database that hangs must not freeze the window: every action is on disk in
            # the old database's outbox already, so the old console can wind down on its own.
            threading.Thread(target=finish, name="icc-retire", daemon=True).start()

    def shutdown(self) -> None:
        """Close everything (at exit)."""
        if self.current is not None:
            self._retire(self.current, wait=True)
            self.current = None
        self._connector.shutdown()
