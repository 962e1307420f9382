"""Render the main window with its live data offscreen to a PNG (the `screenshot` command)."""
from __future__ import annotations

import tempfile
from pathlib import Path

from PySide6.QtCore import QDeadlineTimer, QEventLoop, QSettings
from PySide6.QtWidgets import QApplication

from console.dto import PersonRole
from console.queries import Reader
from console.sync.outbox import Outbox
from console.uow import UnitOfWork
from ui.app import create_application
from ui.main_window import MainWindow
from ui.tasks import TaskRunner

WAIT_MS = 15_000


def render_main_window(*, reader: Reader, uow: UnitOfWork, user: str | None, size: tuple[int, int], out: Path) -> Path:
    """Show the window offscreen, wait until the queue and the selected incident are loaded, save a PNG."""
    app = create_application(["screenshot"])
    runner = TaskRunner()
    with tempfile.TemporaryDirectory() as settings_dir:
        # A throwaway settings file: a screenshot must not change the operator's saved layout or identity.
        settings = QSettings(str(Path(settings_dir) / "screenshot.ini"), QSettings.Format.IniFormat)
        # Its own empty outbox too: a picture must never send actions an operator kept on this machine.
        window = MainWindow(reader=reader, uow=uow, runner=runner, settings=settings, demo_feed=False,
                            outbox=Outbox(Path(settings_dir) / "outbox.jsonl"))
        window.resize(*size)
        window.info_loaded.connect(lambda info: window.operator or window.set_operator(_default_operator(info, user)))
        window.show()
        window.start(operator_handle=user)
        _wait_until(app, lambda: window.info is not None and window.feed.cursor is not None
                    and (window.queue_model.rowCount() == 0 or window.detail_panel.detail is not None)
                    and window.ownership_panel.model.tree is not None)
        dialog = window.actions_.active_dialog
        if dialog is not None:
            dialog.reject()
        app.processEvents()
        pixmap = window.grab()
        if not pixmap.save(str(out), "PNG"):
            raise OSError(f"could not write PNG to {out}")
        window.close()
        runner.shutdown()
    return out


def _default_operator(info, user):  # type: ignore[no-untyped-def]
    """Without --user, the picture is taken as the first incident commander in the roster."""
    chosen = next((p for p in info.roster if p.handle == user), None)
    return chosen or next((p for p in info.roster if PersonRole.INCIDENT_COMMANDER in p.roles), info.roster[0])


def _wait_until(app: QApplication, done) -> None:  # type: ignore[no-untyped-def]
    deadline = QDeadlineTimer(WAIT_MS)
    while not done():
        if deadline.hasExpired():
            raise TimeoutError("the window did not finish loading its data within 15 s")
        # Sleep in the event loop until a worker posts its result (no busy spinning).
        app.processEvents(QEventLoop.ProcessEventsFlag.WaitForMoreEvents, 50)
