"""Everyone engaged on an incident, as a read-only table: when, who, how (paged or told, and as what), answered
and fatigue; the reason is each row's tooltip. A person past the fatigue limit is marked so the commander can hand over."""
from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor

from console.dto import PageItem
from ui import theme
from ui.explain import how_engaged
from ui.table_model import ColumnsTableModel
from ui.timefmt import local_time

DISPLAY = Qt.ItemDataRole.DisplayRole
TOOLTIP = Qt.ItemDataRole.ToolTipRole
FOREGROUND = Qt.ItemDataRole.ForegroundRole

# The reason is long: it shows under the table for the selected row, and as each row's tooltip.
COLUMNS = ("When", "Who", "How", "Answered", "Fatigue")
COL_WHEN, COL_WHO, COL_HOW, COL_ANSWERED, COL_FATIGUE = range(len(COLUMNS))


class EngagedModel(ColumnsTableModel):
    columns = COLUMNS

    def __init__(self, parent=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(parent)
        self._pages: list[PageItem] = []
        self._warn = QBrush(QColor(theme.WARN_FG))
        self._muted = QBrush(QColor(theme.MUTED_FG))

    def row_count(self) -> int:
        return len(self._pages)

    def page_at(self, row: int) -> PageItem:
        return self._pages[row]

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = DISPLAY):  # type: ignore[no-untyped-def]
        if not index.isValid():
            return None
        page = self._pages[index.row()]
        column = index.column()
        if role == DISPLAY:
            return self._text(page, column)
        if role == FOREGROUND:
            if column == COL_FATIGUE and page.over_limit:
                return self._warn
            if not page.urgent:
                return self._muted  # told, not woken: quieter on screen too
            return None
        if role == TOOLTIP:
            return page.why
        return None

    @staticmethod
    def _text(page: PageItem, column: int) -> str:
        if column == COL_WHEN:
            return local_time(page.paged_at) + (" ☾" if page.night else "")
        if column == COL_WHO:
            return page.person
        if column == COL_HOW:
            return how_engaged(page)
        if column == COL_ANSWERED:
            if not page.urgent:
                return "—"
            return local_time(page.acknowledged_at) if page.acknowledged_at else "⚠ not yet"
        return ("⚠ " if page.over_limit else "") + page.fatigue

    def set_pages(self, pages: Sequence[PageItem]) -> None:
        """Show the people engaged, newest last (the order they were engaged in)."""
        self.beginResetModel()
        self._pages = list(pages)
        self.endResetModel()
