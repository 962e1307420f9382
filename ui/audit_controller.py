"""The audit trail in the window: the Audit panel's reads, and the background check of the whole chain (at start
and every few minutes) whose verdict the status bar shows.

Every read runs on the task runner's reader pool; a long chain is hashed in worker processes, so the reader
thread only waits and the window never competes with the check for the interpreter lock. The newest head seen
intact is remembered in QSettings, keyed by the chain's first entry (a re-created database is another chain):
a later check that no longer finds it says the tail was cut off, in this session or since the last one.
"""
from __future__ import annotations

from PySide6.QtCore import QObject, QSettings, QTimer, Signal

from console.audit_dto import PAGE_SIZE, AuditFilter, AuditPage, ChainCheck
from console.audit_queries import AuditReader
from console.dto import FeedBatch
from ui.audit_panel import AuditPanel
from ui.tasks import TaskRunner

CHECK_INTERVAL_MS = 5 * 60 * 1000
FIRST_CHECK_DELAY_MS = 2000  # after the window's own first reads
HEADS_GROUP = "audit_heads"


class AuditController(QObject):
    chain_checked = Signal(object)  # ChainCheck
    check_failed = Signal(str)

    def __init__(self, *, reader: AuditReader, runner: TaskRunner, settings: QSettings, parent: QObject,
                 check_interval_ms: int = CHECK_INTERVAL_MS, first_check_ms: int = FIRST_CHECK_DELAY_MS) -> None:
        super().__init__(parent)
        self.reader, self.runner, self.settings = reader, runner, settings
        self.panel = AuditPanel()
        self.last_check: ChainCheck | None = None
        self.page_size = PAGE_SIZE
        self._checking = False
        self._shown = False
        self._where = AuditFilter()
        self._request = 0
        self._timer = QTimer(self, interval=check_interval_ms)
        self._timer.timeout.connect(self.check_now)
        self._first_check_ms = first_check_ms
        # Changes from the feed come in bursts: re-read the shown page at most once a second.
        self._refresh = QTimer(self, singleShot=True, interval=1000)
        self._refresh.timeout.connect(self.reload)
        self.panel.filter_changed.connect(self._on_panel_filter_changed)
        self.panel.more_requested.connect(self._on_panel_more_requested)

    def start(self) -> None:
        """Check the chain soon, then every few minutes."""
        QTimer.singleShot(self._first_check_ms, self, self.check_now)
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()
        self._refresh.stop()

    # --- the chain check ----------------------------------------------------------------------------

    def check_now(self) -> None:
        """Verify the whole chain off the GUI thread (one check at a time)."""
        if self._checking:
            return
        self._checking = True
        heads = self._remembered_heads()  # read here: QSettings belongs to the GUI thread
        self.runner.read(lambda: self.reader.check_chain(known_heads=heads), on_done=self._on_checked,
                         on_error=self._on_check_error)

    def _remembered_heads(self) -> dict[str, str]:
        self.settings.beginGroup(HEADS_GROUP)
        try:
            return {key: str(self.settings.value(key)) for key in self.settings.childKeys()}
        finally:
            self.settings.endGroup()

    def _on_checked(self, check: ChainCheck) -> None:
        self._checking = False
        self.last_check = check
        if check.intact and check.head and check.name:
            self.settings.setValue(f"{HEADS_GROUP}/{check.name}", check.head)
        self.chain_checked.emit(check)

    def _on_check_error(self, error: BaseException) -> None:
        self._checking = False
        self.check_failed.emit(str(error))

    # --- the panel ----------------------------------------------------------------------------------

    def set_shown(self, shown: bool) -> None:
        """Read the trail when the panel is shown and something changed since it last was."""
        self._shown = shown
        if shown and self.panel.stale:
            self.reload()

    def on_feed_changed(self, _batch: FeedBatch) -> None:
        """Another console or this one wrote: re-read soon if shown, else next time the panel is shown."""
        self.panel.stale = True
        if self._shown and not self._refresh.isActive():
            self._refresh.start()

    def reload(self) -> None:
        """Read the filters' choices and the first page for the current filter."""
        self.runner.read(self.reader.choices, on_done=self.panel.show_choices)
        self._read_page(before_id=None)

    def _read_page(self, *, before_id: int | None) -> None:
        self._request += 1
        request, where, limit = self._request, self._where, self.page_size
        self.runner.read(lambda: self.reader.page(where=where, before_id=before_id, limit=limit),
                         on_done=lambda page: self._on_page(page, request=request, first=before_id is None))

    def _on_page(self, page: AuditPage, *, request: int, first: bool) -> None:
        # Only the newest request counts: the operator may have changed the filter while it was read.
        if request == self._request:
            self.panel.show_page(page, first=first)

    def _on_panel_filter_changed(self, where: AuditFilter) -> None:
        self._where = where
        self._read_page(before_id=None)

    def _on_panel_more_requested(self) -> None:
        oldest = self.panel.entries.oldest_id
        if oldest is not None:
            self._read_page(before_id=oldest)
