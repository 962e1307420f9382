"""Base of our read-only table models: fixed column titles, a flat list of rows, no children."""
from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

DISPLAY = Qt.ItemDataRole.DisplayRole
HORIZONTAL = Qt.Orientation.Horizontal
NO_PARENT = QModelIndex()


class ColumnsTableModel(QAbstractTableModel):
    """Subclasses set `columns` and implement `row_count()` and `data()`."""

    columns: tuple[str, ...] = ()

    def row_count(self) -> int:
        raise NotImplementedError

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = NO_PARENT) -> int:
        return 0 if parent.isValid() else self.row_count()

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = NO_PARENT) -> int:
        return 0 if parent.isValid() else len(self.columns)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = DISPLAY):  # type: ignore[no-untyped-def]
        if role == DISPLAY and orientation == HORIZONTAL and 0 <= section < len(self.columns):
            return self.columns[section]
        return None
