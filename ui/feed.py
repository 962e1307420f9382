"""Follows the database's change log past a cursor and hands fresh queue rows to the GUI.

The queue is loaded once with the cursor it is consistent with; afterwards only what changed is read.
Local commands ask for an immediate poll so the operator sees their action at once; a timer catches what
other consoles and processes wrote.
"""
from __future__ import annotations

import time

from PySide6.QtCore import QObject, QTimer, Signal

from console.dto import FeedBatch, QueueSnapshot
from console.queries import Reader
from ui.tasks import TaskRunner


class ChangeFeed(QObject):
    loaded = Signal(object)  # QueueSnapshot
    changed = Signal(object)  # FeedBatch
    health_changed = Signal(str)  # "" when healthy, else what went wrong

    def __init__(self, reader: Reader, runner: TaskRunner, *, interval_ms: int = 1000, parent: QObject | None = None):
        super().__init__(parent)
        self._reader = reader
        self._runner = runner
        self.cursor: int | None = None
        self.last_success: float | None = None
        self._in_flight = False
        self._again = False
        self._error = ""
        self._timer = QTimer(self, interval=interval_ms)
        self._timer.timeout.connect(self.poll_now)

    def start(self) -> None:
        """Load the whole queue once, then follow changes."""
        self._in_flight = True
        self._runner.read(self._reader.open_queue, on_done=self._on_loaded, on_error=self._on_failed)
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def poll_now(self) -> None:
        """Read what changed past the cursor now (coalesced if a read is already running)."""
        if self._in_flight:
            self._again = True
            return
        if self.cursor is None:
            self.start()
            return
        self._in_flight = True
        cursor = self.cursor
        self._runner.read(lambda: self._reader.changes_since(cursor=cursor), on_done=self._on_batch,
                          on_error=self._on_failed)

    def _on_loaded(self, snapshot: QueueSnapshot) -> None:
        self.cursor = snapshot.cursor
        self._succeeded()
        self.loaded.emit(snapshot)
        self._finish()

    def _on_batch(self, batch: FeedBatch) -> None:
        self.cursor = batch.cursor
        self._succeeded()
        if batch.incident_ids or batch.other_entities:
            self.changed.emit(batch)
        self._again = self._again or batch.more
        self._finish()

    def _on_failed(self, error: BaseException) -> None:
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        if message != self._error:
            self._error = message
            self.health_changed.emit(message)
        self._in_flight = False
        self._again = False

    def _succeeded(self) -> None:
        self.last_success = time.monotonic()
        if self._error:
            self._error = ""
            self.health_changed.emit("")

    def _finish(self) -> None:
        self._in_flight = False
        if self._again:
            self._again = False
            self.poll_now()
