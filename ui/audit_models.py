"""The audit panel's two tables: entries newest first (pages appended as the operator loads more), and the
selected entry's fields before and after, changed fields marked by text as well as colour."""
from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor, QFont

from console.audit_dto import AuditRow, FieldChange, field_changes
from ui.table_model import NO_PARENT, ColumnsTableModel
from ui.timefmt import local_time

# Role constants looked up once: an unqualified enum lookup in data() costs ~10 µs a call (DESIGN.md).
DISPLAY = Qt.ItemDataRole.DisplayRole
TOOLTIP = Qt.ItemDataRole.ToolTipRole
FOREGROUND = Qt.ItemDataRole.ForegroundRole
FONT = Qt.ItemDataRole.FontRole
ALIGN = Qt.ItemDataRole.TextAlignmentRole
RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
CHANGED_FG = QBrush(QColor("#ffd43b"))


class AuditEntriesModel(ColumnsTableModel):
    columns = ("#", "Time", "Person", "Action", "Subject", "What changed")

    def __init__(self, parent=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(parent)
        self._rows: list[AuditRow] = []
        self._summaries: list[str] = []  # computed once per row: data() is called for every repaint

    def row_count(self) -> int:
        return len(self._rows)

    def set_rows(self, rows: Sequence[AuditRow]) -> None:
        """Show a first page (a new filter)."""
        self.beginResetModel()
        self._rows = list(rows)
        self._summaries = [row.summary for row in rows]
        self.endResetModel()

    def append_rows(self, rows: Sequence[AuditRow]) -> None:
        """Add an older page below the rows shown."""
        if not rows:
            return
        start = len(self._rows)
        self.beginInsertRows(NO_PARENT, start, start + len(rows) - 1)
        self._rows.extend(rows)
        self._summaries.extend(row.summary for row in rows)
        self.endInsertRows()

    def row_at(self, position: int) -> AuditRow | None:
        return self._rows[position] if 0 <= position < len(self._rows) else None

    @property
    def oldest_id(self) -> int | None:
        return self._rows[-1].id if self._rows else None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = DISPLAY):  # type: ignore[no-untyped-def]
        if not index.isValid():
            return None
        row, column = self._rows[index.row()], index.column()
        if role == DISPLAY:
            if column == 0:
                return str(row.id)
            if column == 1:
                return local_time(row.at, with_date=True)
            if column == 2:
                return row.actor
            if column == 3:
                return row.action
            if column == 4:
                return row.subject
            return self._summaries[index.row()]
        if role == TOOLTIP and column == 5:
            return self._summaries[index.row()]
        if role == ALIGN and column == 0:
            return RIGHT
        return None


class AuditDiffModel(ColumnsTableModel):
    columns = ("Field", "Before", "After")

    def __init__(self, parent=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(parent)
        self._changes: tuple[FieldChange, ...] = ()
        self._bold = QFont()  # made here, not at import: a QFont needs the application to exist
        self._bold.setBold(True)

    def row_count(self) -> int:
        return len(self._changes)

    def show_entry(self, row: AuditRow | None) -> None:
        """Show an entry's fields side by side (nothing for None)."""
        self.beginResetModel()
        self._changes = field_changes(before=row.before, after=row.after) if row is not None else ()
        self.endResetModel()

    def changes(self) -> tuple[FieldChange, ...]:
        return self._changes

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = DISPLAY):  # type: ignore[no-untyped-def]
        if not index.isValid():
            return None
        change, column = self._changes[index.row()], index.column()
        if role == DISPLAY:
            if column == 0:
                return f"● {change.name}" if change.changed else change.name
            return change.before if column == 1 else change.after
        if role == TOOLTIP and column > 0:
            return change.before if column == 1 else change.after
        if change.changed and role == FOREGROUND:
            return CHANGED_FG
        if change.changed and role == FONT and column == 0:
            return self._bold
        return None
