"""Actions kept on this machine: waiting for the database, or waiting for the operator's decision because the
incident changed meanwhile (shown side by side: what they saw, what it is now)."""
from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from console.dto import IncidentRow
from console.sync.outbox import EntryState, OutboxEntry
from ui import theme
from ui.table_model import ColumnsTableModel
from ui.timefmt import local_time

DISPLAY = Qt.ItemDataRole.DisplayRole
FOREGROUND = Qt.ItemDataRole.ForegroundRole
TOOLTIP = Qt.ItemDataRole.ToolTipRole
STATE_TEXT = {EntryState.PENDING: "◔ waiting for the database", EntryState.NEEDS_DECISION: "⚠ your decision"}


class PendingModel(ColumnsTableModel):
    columns = ("Kept at", "Action", "State", "Why")

    def __init__(self, parent=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(parent)
        self._entries: list[OutboxEntry] = []
        self._warn = QBrush(QColor(theme.WARN_FG))

    def row_count(self) -> int:
        return len(self._entries)

    def entry_at(self, row: int) -> OutboxEntry:
        return self._entries[row]

    def set_entries(self, entries: list[OutboxEntry]) -> None:
        self.beginResetModel()  # a handful of rows, changed rarely: a reset is the honest update
        self._entries = list(entries)
        self.endResetModel()

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = DISPLAY):  # type: ignore[no-untyped-def]
        if not index.isValid():
            return None
        entry = self._entries[index.row()]
        if role == DISPLAY:
            return (local_time(datetime.fromisoformat(entry.created_at)), entry.label, STATE_TEXT[entry.state],
                    entry.reason)[index.column()]
        if role == FOREGROUND and entry.state is EntryState.NEEDS_DECISION:
            return self._warn
        if role == TOOLTIP:
            args = entry.request.get("args", {})
            typed = next((str(args[k]) for k in ("text", "summary", "reason") if args.get(k)), "")
            return "\n\n".join(part for part in (entry.label, typed, entry.reason) if part)
        return None


def describe_row(row: IncidentRow | None, *, seen: dict | None = None) -> str:
    """Summarise an incident (or what the operator saw of it) in one line."""
    if seen:
        return (f"{seen.get('severity', '?')} · {seen.get('status', '?')} · {seen.get('owner') or 'unowned'} "
                f"(version {seen.get('version', '?')})")
    if row is None:
        return "it no longer exists"
    return (f"{row.severity.value} · {theme.STATUS_LABEL[row.status]} · {row.owner or 'unowned'} "
            f"(version {row.version})")


class PendingPanel(QWidget):
    redo_requested = Signal(str, int)  # key, current version
    discard_requested = Signal(str)  # key
    current_wanted = Signal(int)  # incident id whose current row the panel needs

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = PendingModel(self)
        self.header = QLabel("No actions kept on this machine.", objectName="PanelHeader")
        self.view = QTableView(objectName="PendingView")
        self.view.setModel(self.model)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.verticalHeader().hide()
        self.view.setMinimumHeight(110)  # room for a few kept actions without scrolling
        self.view.horizontalHeader().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        for column, width in enumerate((80, 260, 170)):
            self.view.horizontalHeader().resizeSection(column, width)
        self.comparison = QLabel("", wordWrap=True, objectName="PendingComparison")
        self.redo_button = QPushButton("Apply to the current state", objectName="RedoButton")
        self.discard_button = QPushButton("Discard", objectName="DiscardButton")
        buttons = QHBoxLayout()
        buttons.addWidget(self.redo_button)
        buttons.addWidget(self.discard_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.header)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.comparison)
        layout.addLayout(buttons)
        self._current: IncidentRow | None = None
        self._sending: str | None = None
        self.view.selectionModel().currentRowChanged.connect(self._on_view_current_changed)
        self.redo_button.clicked.connect(self._on_redo_button_clicked)
        self.discard_button.clicked.connect(self._on_discard_button_clicked)
        self._update_buttons()

    def selected(self) -> OutboxEntry | None:
        index = self.view.selectionModel().currentIndex()
        return self.model.entry_at(index.row()) if index.isValid() else None

    def show_entries(self, entries: list[OutboxEntry], *, sending: str | None = None) -> None:
        """Show the kept actions, keeping the selection on the same one where it is still there."""
        self._sending = sending
        keep = self.selected().key if self.selected() else None
        self.model.set_entries(entries)
        waiting = sum(e.state is EntryState.PENDING for e in entries)
        deciding = len(entries) - waiting
        self.header.setText(f"{waiting} waiting for the database · {deciding} need your decision" if entries
                            else "No actions kept on this machine.")
        rows = [i for i, e in enumerate(entries) if e.key == keep] or ([0] if entries else [])
        if rows:
            self.view.selectRow(rows[0])
        else:
            self._current = None
            self.comparison.setText("")
        self._update_buttons()

    def show_current(self, row: IncidentRow | None, incident_id: int) -> None:
        """Show what the incident is now next to what the operator saw."""
        entry = self.selected()
        if entry is None or entry.request.get("incident_id") != incident_id:
            return
        self._current = row
        self.comparison.setText(f"You saw: {describe_row(None, seen=entry.request.get('seen'))}\n"
                                f"Now:     {describe_row(row)}")
        self._update_buttons()

    def _on_view_current_changed(self, current, _previous) -> None:  # type: ignore[no-untyped-def]
        self._current = None
        self.comparison.setText("")
        entry = self.model.entry_at(current.row()) if current.isValid() else None
        if entry is not None and entry.state is EntryState.NEEDS_DECISION and entry.request.get("incident_id"):
            self.current_wanted.emit(int(entry.request["incident_id"]))
        self._update_buttons()

    def _update_buttons(self) -> None:
        entry = self.selected()
        # The one being sent right now may already be in the database: too late to discard it.
        self.discard_button.setEnabled(entry is not None and entry.key != self._sending)
        self.redo_button.setEnabled(entry is not None and entry.state is EntryState.NEEDS_DECISION
                                    and self._current is not None and self._current.is_open)

    def _on_redo_button_clicked(self) -> None:
        entry = self.selected()
        if entry is not None and self._current is not None:
            self.redo_requested.emit(entry.key, self._current.version)

    def _on_discard_button_clicked(self) -> None:
        entry = self.selected()
        if entry is not None:
            self.discard_requested.emit(entry.key)


