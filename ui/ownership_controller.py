"""Keeps the ownership panel current and the selected incident's blast radius on it.

The tree changes with the organisation (someone edits a rotation), with time (a handoff, a leave starting) and
with pages (fatigue), so it is re-read when the organisation changes, every minute, and when the panel is shown
after being hidden; never on the GUI thread, and never while a read is already under way.
"""
from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal

from console.ownership import BlastRadius, Gap, OwnershipTree
from console.queries import Reader
from ui.ownership_panel import OwnershipPanel
from ui.tasks import TaskRunner

REFRESH_MS = 60_000


class OwnershipController(QObject):
    gaps_changed = Signal(object)  # tuple[Gap, ...]: coverage gaps in the coming 7 days, for the status bar

    def __init__(self, *, panel: OwnershipPanel, reader: Reader, runner: TaskRunner,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.panel, self._reader, self._runner = panel, reader, runner
        self._reading = False
        self._again = False
        self._incident: int | None = None
        self.gaps: tuple[Gap, ...] = ()
        self._timer = QTimer(self, interval=REFRESH_MS)
        self._timer.timeout.connect(self.refresh)
        panel.refresh_requested.connect(self.refresh)

    def start(self) -> None:
        self._timer.start()
        self.refresh()

    def stop(self) -> None:
        self._timer.stop()

    def refresh(self) -> None:
        """Re-read the tree now if the panel is shown (the coverage gaps are wanted even when it is not)."""
        if self._reading:
            self._again = True  # one more read after this one: the change may have come after it started
            return
        self._reading = True
        self._runner.read(self._reader.ownership, on_done=self._on_tree_read, on_error=self._on_read_failed)

    def show_incident(self, incident_id: int | None) -> None:
        """Mark the blast radius of the incident the operator selected (None clears it)."""
        self._incident = incident_id
        if incident_id is None:
            self.panel.show_blast_radius(None)
            return
        self._runner.read(lambda: self._reader.blast_radius(incident_id=incident_id),
                          on_done=self._on_radius_read, on_error=lambda _error: None)

    def _on_tree_read(self, tree: OwnershipTree) -> None:
        self._reading = False
        self.panel.set_tree(tree)
        if tree.gaps != self.gaps:
            self.gaps = tree.gaps
            self.gaps_changed.emit(tree.gaps)
        if self._again:
            self._again = False
            self.refresh()

    def _on_read_failed(self, _error: BaseException) -> None:
        self._reading = False  # offline: the banner says so; the next minute or reconnect tries again
        self.panel.stale = True

    def _on_radius_read(self, radius: BlastRadius) -> None:
        if radius.incident_id == self._incident:  # the operator may have moved on
            self.panel.show_blast_radius(radius)
