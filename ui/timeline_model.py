"""An incident's timeline as a read-only table: time, kind, who, what."""
from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt

from console.dto import TimelineItem, TimelineKind
from ui.table_model import NO_PARENT, ColumnsTableModel
from ui.timefmt import local_time

DISPLAY = Qt.ItemDataRole.DisplayRole
TOOLTIP = Qt.ItemDataRole.ToolTipRole

COLUMNS = ("Time", "Event", "Who", "What")
KIND_LABEL = {
    TimelineKind.OPENED: "Opened",
    TimelineKind.SIGNAL: "Signal",
    TimelineKind.ACKNOWLEDGED: "Acknowledged",
    TimelineKind.OWNER_CHANGED: "Owner",
    TimelineKind.COMMANDER_CHANGED: "Commander",
    TimelineKind.SEVERITY_CHANGED: "Severity",
    TimelineKind.STATUS_CHANGED: "Status",
    TimelineKind.NOTE: "Note",
    TimelineKind.NEXT_ACTION: "Next action",
    TimelineKind.RESOLVED: "Resolved",
    TimelineKind.PAGED: "Paged",
    TimelineKind.COMMUNICATION: "Update",
    TimelineKind.MITIGATION: "Mitigation",
}


class TimelineModel(ColumnsTableModel):
    columns = COLUMNS

    def __init__(self, parent=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(parent)
        self._items: list[TimelineItem] = []

    def row_count(self) -> int:
        return len(self._items)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = DISPLAY):  # type: ignore[no-untyped-def]
        if not index.isValid():
            return None
        item = self._items[index.row()]
        if role == DISPLAY:
            column = index.column()
            if column == 0:
                return local_time(item.at)
            if column == 1:
                if item.kind is TimelineKind.PAGED and item.text.startswith("Told"):
                    return "Told"  # informed, not woken
                return KIND_LABEL[item.kind]
            if column == 2:
                return item.actor
            return item.text
        if role == TOOLTIP:
            return f"{local_time(item.at, with_date=True)} — {item.text}"
        return None

    def set_items(self, items: Sequence[TimelineItem]) -> None:
        """Show a timeline: appended events are inserted, anything else replaces the list."""
        new = list(items)
        old_count = len(self._items)
        if old_count and new[:old_count] == self._items:
            if len(new) > old_count:
                self.beginInsertRows(NO_PARENT, old_count, len(new) - 1)
                self._items = new
                self.endInsertRows()
            return
        self.beginResetModel()
        self._items = new
        self.endResetModel()
